#!/usr/bin/env python
"""Official PyTorch checkpoint -> Keras weights (= `tfvideo convert`; `--help` lists the flags)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfvideo.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["tfvideo", "convert"] + sys.argv[1:]))
