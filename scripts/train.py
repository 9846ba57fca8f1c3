#!/usr/bin/env python
"""Train, evaluate and export a video model (= `tfvideo train`; `--help` lists the flags).

python scripts/train.py                      # the embedded synthetic demo (CPU, < 10 min)
python scripts/train.py --model tsn_tiny     # the same recipe without temporal modelling
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfvideo.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["tfvideo", "train"] + sys.argv[1:]))
