"""`python benchmarks/zoo.py`: speed and memory of the zoo (`benchmarks.runtimes`).

Writes `benchmark.json` and `benchmark.md` into --output_dir. With --reference_* paths (local
checkouts of the official code, never part of tfvideo) it also times the official PyTorch
models on the same CPU and reports the ratio tfvideo / reference of forward latency.

Example:
    python benchmarks/zoo.py --models tsm_tiny,tada2d_tiny --batch_sizes 1 --repeats 2
    python benchmarks/zoo.py --models s3d,tada2d_r50,blvnet_tam_r50 --modes tf_function \\
        --batch_sizes 1 --compare_reference --reference_tadaconv ~/src/TAdaConv \\
        --reference_blvnet ~/src/bLVNet-TAM
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import logging  # noqa: E402

from benchmarks.runtimes import MODES  # noqa: E402
from tfvideo.cli.flags import CommandFlags  # noqa: E402

FLAGS = CommandFlags()

FLAGS.define(
    "list",
    "models",
    ["s3d", "s3dg", "tsm_r50", "teinet_r50", "tada2d_r50", "blvnet_tam_r50", "tadaconvnext_t"],
    "Registered model names.",
)
FLAGS.define(
    "list",
    "modes",
    None,
    f"Subset of modes (default: all): {', '.join(MODES)}.",
)
FLAGS.define("list", "batch_sizes", ["1", "8"], "Batch sizes: latency at 1, throughput at 8.")
FLAGS.define("integer", "repeats", 3, "Timed repetitions (the median is reported).")
FLAGS.define("integer", "warmup", 1, "Untimed calls before timing.")
FLAGS.define("string", "output_dir", "runs/benchmark", "Where benchmark.json/.md are written.")
FLAGS.define("bool", "compare_reference", False, "Also time the official PyTorch models.")
FLAGS.define("string", "reference_tadaconv", None, "Checkout of alibaba-mmai-research/TAdaConv.")
FLAGS.define("string", "reference_blvnet", None, "Checkout of IBM/bLVNet-TAM.")
FLAGS.define("integer", "torch_threads", None, "PyTorch threads (default: all cores).")
FLAGS.define(
    "bool", "peaks", True, "Measure the machine's matmul peaks and each row's fraction of them."
)


def main(argv):
    del argv
    from benchmarks import peak, references, runtimes

    modes = tuple(FLAGS.modes or runtimes.MODES)
    batch_sizes = tuple(int(b) for b in FLAGS.batch_sizes)
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    report = {"machine": runtimes.machine_description(), "models": [], "references": []}
    if FLAGS.peaks:
        report["peaks"] = peak.measure_peaks()
        print(json.dumps({"peaks_gflops": report["peaks"]}))
    for name in FLAGS.models:
        logging.info("benchmarking %s", name)
        row = runtimes.measure_in_subprocess(
            name, modes=modes, batch_sizes=batch_sizes, repeats=FLAGS.repeats, warmup=FLAGS.warmup
        )
        report["models"].append(row)
        print(json.dumps({k: row[k] for k in ("model", "params", "gmacs", "latency_s")}))
    if FLAGS.compare_reference:
        rows = {row["model"]: row for row in report["models"]}
        report["references"] = references.compare(
            rows,
            tadaconv_checkout=FLAGS.reference_tadaconv,
            blvnet_checkout=FLAGS.reference_blvnet,
            threads=FLAGS.torch_threads,
            repeats=FLAGS.repeats,
        )
    with open(os.path.join(FLAGS.output_dir, "benchmark.json"), "w") as file:
        json.dump(report, file, indent=1)
    table = runtimes.markdown_table(report["models"], batch_sizes)
    if report.get("peaks"):
        table += "\n\n" + runtimes.peak_table(report["models"], report["peaks"], batch_sizes)
    if report["references"]:
        table += "\n\n" + references.markdown_table(report["references"])
    table = f"Measured on: {report['machine']}\n\n{table}\n"
    with open(os.path.join(FLAGS.output_dir, "benchmark.md"), "w") as file:
        file.write(table)
    print(table)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    from tfvideo.cli import run_command

    sys.exit(run_command("__main__", sys.argv))
