#!/usr/bin/env python
"""Train, evaluate and export a video model (same flags as `tfvideo train`; `--help` lists them).

    python scripts/train.py                      # the embedded synthetic demo (CPU, < 10 min)
    python scripts/train.py --model tsn_tiny     # the same recipe without temporal modelling
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow C++ start-up chatter

from absl import app, flags  # noqa: E402

from tfvideo.training import train_main  # noqa: E402

if __name__ == "__main__":
    flags.adopt_module_key_flags(train_main)
    app.run(train_main.main)
