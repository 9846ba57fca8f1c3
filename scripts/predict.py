#!/usr/bin/env python
"""Top-k labels of video files (= `tfvideo predict`; `--help` lists the flags)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfvideo.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["tfvideo", "predict"] + sys.argv[1:]))
