#!/usr/bin/env python
"""A trained model to TF Serving's SavedModel layout or TFLite (= `tfvideo export`; `--help`
lists the flags)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfvideo.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["tfvideo", "export"] + sys.argv[1:]))
