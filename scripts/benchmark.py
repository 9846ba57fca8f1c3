#!/usr/bin/env python
"""Benchmark the zoo (= `tfvideo benchmark`; `--help` lists the flags)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfvideo.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["tfvideo", "benchmark"] + sys.argv[1:]))
