"""Benchmark the zoo (see `tfvideo.benchmark_main`); same flags as `tfvideo benchmark`."""

import sys

from tfvideo.cli import main

if __name__ == "__main__":
    sys.exit(main(["tfvideo", "benchmark"] + sys.argv[1:]))
