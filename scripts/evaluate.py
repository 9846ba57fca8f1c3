#!/usr/bin/env python
"""Multi-view evaluation of a trained model (same flags as `tfvideo evaluate`).

    python scripts/evaluate.py --model_path runs/tsm_tiny_synthetic --num_clips 2 --num_crops 3
    python scripts/evaluate.py --model_path runs/tsm_tiny_synthetic --reverse_frames
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow C++ start-up chatter

from absl import app, flags  # noqa: E402

from tfvideo.training import evaluate_main  # noqa: E402

if __name__ == "__main__":
    flags.adopt_module_key_flags(evaluate_main)
    app.run(evaluate_main.main)
