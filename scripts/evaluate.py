#!/usr/bin/env python
"""Multi-view evaluation of a trained model (= `tfvideo evaluate`; `--help` lists the flags).

python scripts/evaluate.py --model_path runs/tsm_tiny_synthetic --num_clips 2 --num_crops 3
python scripts/evaluate.py --model_path runs/tsm_tiny_synthetic --reverse_frames
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfvideo.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["tfvideo", "evaluate"] + sys.argv[1:]))
