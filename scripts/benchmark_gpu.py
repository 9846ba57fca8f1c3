"""tfvideo on JAX (bf16) vs the official PyTorch code (bf16 autocast): training and inference
throughput on the accelerator; see `tfvideo.benchmark_accelerator_main` for the flags."""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")  # before anything imports Keras
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfvideo.cli import run_command

if __name__ == "__main__":
    run_command("tfvideo.benchmark_accelerator_main", ["benchmark_gpu"] + sys.argv[1:])
