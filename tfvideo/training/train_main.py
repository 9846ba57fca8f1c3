"""`tfvideo train` / `python scripts/train.py`: train, evaluate and export a video model.

With no flags: generates the synthetic motion dataset (cached), trains the tiny temporal model on
the CPU, evaluates it (normal and reversed frames), exports a SavedModel under `saved_models/` and
a `.tflite`, and prints a summary. Re-running an interrupted command resumes it.
"""

import sys

from absl import app, flags

from tfvideo.training import flags as flag_lib
from tfvideo.training.loop import TrainConfig

flag_lib.define_dataclass_flags(TrainConfig)
flags.adopt_module_key_flags(flag_lib)  # `--help` lists them for this job


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    config = flag_lib.config_from_flags(TrainConfig, flags.FLAGS)
    flag_lib.quiet_logging()
    # The strategy must exist before TensorFlow runs any op (logical CPUs, multi-worker).
    from tfvideo.training import strategy as strategy_lib

    strategy = strategy_lib.select_strategy(config.num_cpu_devices)
    from tfvideo.training.callbacks import NonFiniteLossError
    from tfvideo.training.loop import AfterTrainingError, train

    try:
        train(config, strategy)
    except NonFiniteLossError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        sys.exit(3)
    except AfterTrainingError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        sys.exit(4)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
