"""`tfvideo train` / `python scripts/train.py`: train, evaluate and export a video model.

With no flags: generates the synthetic motion dataset (cached), trains the tiny temporal model on
the CPU, evaluates it (normal and reversed frames), exports a SavedModel under `saved_models/` and
a `.tflite`, and prints a summary. Re-running an interrupted command resumes it.
"""

import dataclasses
import os
import sys

from tfvideo.cli.flags import CommandFlags, no_arguments
from tfvideo.training.loop import TrainConfig

FLAGS = CommandFlags()
FLAGS.define_dataclass(TrainConfig)
FLAGS.define(
    "string",
    "backbone",
    "",
    "A keras.applications backbone turned into a video model with --module "
    "(tfvideo.temporalize): resnet50, mobilenet_v2, mobilenet_v3_small, mobilenet_v3_large, "
    "efficientnet_v2_b0, convnext_tiny. Sets --model to the named configuration (mobilenet_v2 "
    "+ tsm: mobilenetv2_tsm); '': --model.",
)
FLAGS.define(
    "string", "module", "tsm", "Temporal module of --backbone: tsm, tei, tim, tam, tada or tsn."
)


def train_config():
    """The `TrainConfig` of the parsed flags (`--backbone`/`--module` choose `model`)."""
    config = FLAGS.config(TrainConfig)
    if FLAGS.backbone:
        from tfvideo.models.temporalized import configuration_name

        config = dataclasses.replace(config, model=configuration_name(FLAGS.backbone, FLAGS.module))
    return config


def main(args):
    no_arguments(args)
    try:
        config = train_config()
    except ValueError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        return 2
    # The strategy must exist before TensorFlow runs any op (logical CPUs, multi-worker).
    from tfvideo.training import strategy as strategy_lib

    strategy = strategy_lib.select_strategy(config.num_cpu_devices)
    from tfvideo.training.callbacks import NonFiniteLossError
    from tfvideo.training.loop import AfterTrainingError

    try:
        train_and_export(config, strategy)
    except NonFiniteLossError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        return 3
    except AfterTrainingError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        return 4
    return 0


def train_and_export(config, strategy=None):
    """The `tfvideo train` job: train and evaluate (`tfvideo.training.loop.train`), write the
    run's `tfvideo_metadata.json`, export (SavedModel, `.tflite`), then end the run. Returns the
    summary."""
    from tfvideo.training import loop

    run, model, summary = loop.train(config, strategy)
    if run.chief:
        try:
            from tfvideo.export.metadata import METADATA_FILENAME
            from tfvideo.export.source import metadata_for_model

            meta = metadata_for_model(model)
            meta.write(os.path.join(run.output_dir, METADATA_FILENAME))
            if config.export:
                summary["export"] = _export(config, model, meta, run.model_path)
        except Exception as error:  # noqa: BLE001 - the trained model must not be lost with it
            raise loop.AfterTrainingError("export", error, run.model_path, config) from error
    return loop.complete(run, summary)


def _export_in_tensorflow(config, model_path, name):
    """Export needs the TensorFlow backend (SavedModel, TFLite): on JAX or PyTorch the job
    exports the saved `.keras` file with `tfvideo export` in a TensorFlow subprocess."""
    import subprocess

    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    command = [sys.executable, "-m", "tfvideo.cli", "export", f"--model={model_path}"]
    out = {"saved_model": os.path.join(config.export_dir, name)}
    jobs = [command + [f"--output_dir={config.export_dir}", f"--name={name}"]]
    if config.tflite:
        out["tflite"] = os.path.join(config.export_dir, f"{name}.tflite")
        jobs.append(command + ["--format=tflite", f"--output={out['tflite']}"])
    for job in jobs:
        result = subprocess.run(job, env=env, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(
                f"the export in a TensorFlow subprocess ({' '.join(job[2:])}) failed: "
                + (result.stderr.strip().splitlines() or ["no output"])[-1]
            )
    for kind, path in out.items():
        print(f"Exported {kind} (TensorFlow subprocess): {path}", flush=True)
    return out


def _export(config, model, meta, model_path=None):
    import keras

    if keras.backend.backend() != "tensorflow":
        return _export_in_tensorflow(config, model_path, config.export_name or config.model)
    from tfvideo import export as export_lib
    from tfvideo.export.tflite import export_tflite

    name = config.export_name or config.model
    out = {
        "saved_model": export_lib.export_saved_model(
            model, export_dir=config.export_dir, name=name, metadata=meta
        )
    }
    if config.tflite:
        path = os.path.join(config.export_dir, f"{name}.tflite")
        out["tflite"] = export_tflite(model, path, metadata=meta)
    for kind, path in out.items():
        print(f"Exported {kind}: {path}", flush=True)
    return out
