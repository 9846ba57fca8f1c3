"""`python benchmarks/temporalize.py`: temporalized keras.applications MobileNets next to tsm_r50.

Params, MACs and CPU latency per clip (batch 1, 8 frames, 224 px) of `mobilenetv2_tsm` and
`mobilenetv3small_tsm` (`tfvideo.temporalize` on keras.applications' MobileNetV2 and
MobileNetV3-Small) beside TSM's ResNet-50, through the zoo's harness (`benchmarks.runtimes`, one
fresh process per model). Writes `temporalize.json` and `temporalize.md` into --output_dir.

Example:
    python benchmarks/temporalize.py --modes tf_function,litert_float,litert_int8 --repeats 5
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfvideo.cli.flags import CommandFlags  # noqa: E402

FLAGS = CommandFlags()
FLAGS.define(
    "list", "models", ["mobilenetv2_tsm", "mobilenetv3small_tsm", "tsm_r50"], "Registered models."
)
FLAGS.define(
    "list",
    "modes",
    ["tf_function", "litert_float", "litert_int8"],
    "benchmarks.runtimes modes (tf_function, litert_float, litert_int8, ...).",
)
FLAGS.define("integer", "repeats", 3, "Timed repetitions (the median is reported).")
FLAGS.define("string", "output_dir", "runs/benchmark", "Where temporalize.json/.md are written.")


def main(argv):
    del argv
    from benchmarks import runtimes

    rows = [
        runtimes.measure_in_subprocess(
            name, modes=tuple(FLAGS.modes), batch_sizes=(1,), repeats=FLAGS.repeats, warmup=1
        )
        for name in FLAGS.models
    ]
    report = {"machine": runtimes.machine_description(), "models": rows}
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    with open(os.path.join(FLAGS.output_dir, "temporalize.json"), "w") as file:
        json.dump(report, file, indent=1)
    table = f"Measured on: {report['machine']}\n\n{runtimes.markdown_table(rows, (1,))}\n"
    with open(os.path.join(FLAGS.output_dir, "temporalize.md"), "w") as file:
        file.write(table)
    print(table)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfvideo.cli import run_command

    sys.exit(run_command("__main__", sys.argv))
