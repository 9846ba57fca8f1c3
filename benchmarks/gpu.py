"""`python benchmarks/gpu.py`: tfvideo (Keras on JAX, bf16) against the official PyTorch
code (bf16 autocast) on the accelerator, training and inference throughput at batch 32
(`benchmarks.accelerator`).

Writes `benchmark_gpu.json` and `benchmark_gpu.md` into --output_dir. Runs where only JAX and
PyTorch are installed (no TensorFlow needed).

Example:
    KERAS_BACKEND=jax python benchmarks/gpu.py --reference_tadaconv ~/src/TAdaConv \\
        --reference_blvnet ~/src/bLVNet-TAM --output_dir runs/benchmark_gpu
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")  # before anything imports Keras
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfvideo.cli.flags import CommandFlags  # noqa: E402

FLAGS = CommandFlags()

FLAGS.define(
    "list",
    "models",
    None,
    "Registered model names (default: the five of the GPU "
    "comparison: tada2d_r50, teinet_r50, blvnet_tam_r50, s3d, s3dg).",
)
FLAGS.define("integer", "batch_size", 32, "Clips per step, both sides.")
FLAGS.define("integer", "steps", 20, "Timed steps (inference batches and training steps).")
FLAGS.define("integer", "warmup", 5, "Untimed steps first (compilation, cuDNN autotuning).")
FLAGS.define(
    "string", "output_dir", "runs/benchmark_gpu", "Where benchmark_gpu.json/.md are written."
)
FLAGS.define("string", "reference_tadaconv", None, "Checkout of alibaba-mmai-research/TAdaConv.")
FLAGS.define("string", "reference_blvnet", None, "Checkout of IBM/bLVNet-TAM.")


def main(argv):
    del argv
    from benchmarks import accelerator as acc

    names = tuple(FLAGS.models or acc.MODELS)
    rows = acc.compare(
        names,
        {"tadaconv": FLAGS.reference_tadaconv, "blvnet": FLAGS.reference_blvnet},
        batch_size=FLAGS.batch_size,
        steps=FLAGS.steps,
        warmup=FLAGS.warmup,
    )
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    with open(os.path.join(FLAGS.output_dir, "benchmark_gpu.json"), "w") as file:
        json.dump({"rows": rows}, file, indent=1)
    devices = sorted(
        {row["tfvideo"]["device"] for row in rows}
        | {row["reference"]["device"] for row in rows if "reference" in row}
    )
    table = (
        f"Devices: {', '.join(devices)}; clips/s, batch {FLAGS.batch_size}, "
        f"{FLAGS.steps} timed steps after {FLAGS.warmup} warm-up steps.\n\n"
        + acc.markdown_table(rows)
        + "\n"
    )
    with open(os.path.join(FLAGS.output_dir, "benchmark_gpu.md"), "w") as file:
        file.write(table)
    print(table)


if __name__ == "__main__":
    from tfvideo.cli import run_command

    sys.exit(run_command("__main__", sys.argv))
