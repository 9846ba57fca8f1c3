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
    from tfvideo.training.loop import AfterTrainingError

    try:
        train_and_export(config, strategy)
    except NonFiniteLossError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        sys.exit(3)
    except AfterTrainingError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        sys.exit(4)


def train_and_export(config, strategy=None):
    """The `tfvideo train` job: train and evaluate (`tfvideo.training.loop.train`), write the
    run's `tfvideo_metadata.json`, export (SavedModel, `.tflite`), then end the run. Returns the
    summary."""
    import os

    from tfvideo.training import loop

    run, model, summary = loop.train(config, strategy)
    if run.chief:
        try:
            from tfvideo.export.metadata import METADATA_FILENAME
            from tfvideo.export.source import metadata_for_model

            meta = metadata_for_model(model)
            meta.write(os.path.join(run.output_dir, METADATA_FILENAME))
            if config.export:
                summary["export"] = _export(config, model, meta)
        except Exception as error:  # noqa: BLE001 - the trained model must not be lost with it
            raise loop.AfterTrainingError("export", error, run.model_path, config) from error
    return loop.complete(run, summary)


def _export(config, model, meta):
    import os

    from tfvideo import export as export_lib
    from tfvideo.export.tflite import export_tflite

    name = config.export_name or config.model
    out = {"saved_model": export_lib.export_saved_model(
        model, export_dir=config.export_dir, name=name, metadata=meta)}
    if config.tflite:
        path = os.path.join(config.export_dir, f"{name}.tflite")
        out["tflite"] = export_tflite(model, path, metadata=meta)
    for kind, path in out.items():
        print(f"Exported {kind}: {path}", flush=True)
    return out


def run():
    app.run(main)


if __name__ == "__main__":
    run()
