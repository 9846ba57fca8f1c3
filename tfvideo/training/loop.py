"""The training job: strategy, data, model, optimizer, fit with exact resumption, evaluation,
export. `train(TrainConfig(...))` is what `scripts/train.py` / `tfvideo train` run.

Output directory:

```
<output_dir>/
  model.keras              final model (evaluated and exported)
  checkpoints/last.keras   after every epoch (atomic)      checkpoints/best.keras, best.json
  backup/                  step-level backup while the run is unfinished (removed at the end)
  history.csv              one row per epoch               training_curves.png
  logs/                    TensorBoard                     train_config.json
  classes.json, tfvideo_metadata.json (read by tfvideo.export)
  eval_report.json, eval_per_class.txt, eval_confusion_matrix.png (+ eval_reversed_*)
  summary.json
```
"""

import dataclasses
import json
import math
import os
import sys
import time

import keras
import tensorflow as tf

from tfvideo.data import pipeline
from tfvideo.data.errors import DecodeErrorReport, ErrorLog
from tfvideo.training import callbacks as cb
from tfvideo.training import datasets as data_setup
from tfvideo.training import evaluation, optim, schedules
from tfvideo.training import strategy as strategy_lib

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# The synthetic demo videos are small moving shapes: 32 px crops keep the CPU demo fast.
SYNTHETIC_INPUT_SIZE = 32


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a training run (the absl flags of `scripts/train.py` map 1:1)."""

    # model
    model: str = "tsm_tiny"
    model_options: dict = dataclasses.field(default_factory=dict)
    num_frames: int = 0              # 0: the model's default
    input_size: int = 0              # 0: the model's default (SYNTHETIC_INPUT_SIZE on synthetic)
    sampling: str = "auto"           # auto (model default) | segments | dense
    frame_interval: int = 1          # dense sampling stride
    # data
    data: data_setup.DataConfig = dataclasses.field(default_factory=data_setup.DataConfig)
    max_train_videos: int = 0        # 0: all
    max_val_videos: int = 0
    crop: str = "multi_scale"
    short_side: int = 0              # 0: round(input_size * 8 / 7)
    flip: bool = True
    on_error: str = "skip"
    # optimisation
    batch_size: int = 16             # per replica
    epochs: int = 20
    steps_per_epoch: int = 0         # 0: train videos // global batch
    optimizer: str = "adamw"
    base_lr: float = 0.032           # for a global batch of lr_reference_batch (2e-3 at 16)
    lr_scaling: str = "linear"
    lr_reference_batch: int = schedules.REFERENCE_BATCH
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    warmup_start_factor: float = 0.1  # warmup starts at this fraction of the peak rate
    final_lr_factor: float = 0.0      # cosine ends at this fraction of the peak rate
    lr_steps: tuple = ()              # step schedule: epochs at which lr *= lr_factor
    lr_factor: float = 0.1
    weight_decay: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    label_smoothing: float = 0.0
    clipnorm: float = 0.0             # 0: no clipping
    mixed_precision: str = "float32"
    jit_compile: str = "auto"
    # distribution
    num_cpu_devices: int = 0
    # bookkeeping
    output_dir: str = ""
    backup_every: int = 50            # optimizer steps between backups
    val_every: int = 1                # epochs between validations (0: never)
    seed: int = 0
    verbose: int = -1                 # -1: progress bar on a terminal, one line per epoch otherwise
    # after training
    evaluate: bool = True
    eval_num_clips: int = 2
    eval_num_crops: int = 3
    view_aggregation: str = "auto"
    eval_reverse_frames: bool = True
    export: bool = True
    export_dir: str = "saved_models"
    export_name: str = ""
    tflite: bool = True

    def resolved_output_dir(self):
        return self.output_dir or os.path.join("runs", f"{self.model}_{self.data.dataset}")

    def to_dict(self):
        return dataclasses.asdict(self)


def _log(message, chief=True):
    if chief:
        print(message, flush=True)


def _subset(dataset, limit):
    if limit and len(dataset) > limit:
        return dataset.subset(range(limit))
    return dataset


def _one_hot(ds, num_classes):
    return ds.map(lambda x, y: (x, tf.one_hot(y, num_classes)),
                  num_parallel_calls=tf.data.AUTOTUNE)


def build_model(config, class_names, num_frames, input_size, sampling):
    from tfvideo import models

    return models.create(config.model, num_classes=len(class_names), num_frames=num_frames,
                         input_size=input_size, class_names=list(class_names), sampling=sampling,
                         frame_interval=config.frame_interval,
                         short_side=config.short_side or None, **config.model_options)


def _model_settings(config):
    from tfvideo import models

    defaults = models.defaults(config.model)
    num_frames = config.num_frames or defaults["num_frames"]
    input_size = config.input_size or (
        SYNTHETIC_INPUT_SIZE if config.data.dataset == "synthetic" else defaults["input_size"])
    if isinstance(input_size, (tuple, list)):
        input_size = int(input_size[0])
    sampling = defaults.get("sampling", "segments") if config.sampling == "auto" else config.sampling
    return int(num_frames), int(input_size), sampling


def _schedule(config, peak_lr, steps_per_epoch, total_steps):
    warmup = min(int(round(config.warmup_epochs * steps_per_epoch)), total_steps)
    boundaries = [int(e * steps_per_epoch) for e in config.lr_steps]
    return schedules.build_schedule(
        config.schedule, peak_lr, total_steps, warmup_steps=warmup,
        warmup_start_lr=peak_lr * config.warmup_start_factor,
        final_lr=peak_lr * config.final_lr_factor, boundaries=boundaries,
        factor=config.lr_factor)


def _verbose(config, chief):
    if not chief:
        return 0
    if config.verbose >= 0:
        return config.verbose
    return 1 if sys.stdout.isatty() else 2


def export_metadata(model, config, class_names, sampler, short_side):
    """The `tfvideo.export.ExportMetadata` of a trained model (how to feed it)."""
    from tfvideo.export import metadata_for_model

    return metadata_for_model(model, class_names, config.model, sampling=sampler.get_config(),
                              short_side=short_side)


def _write_metadata(output_dir, meta):
    cb.atomic_write_text(os.path.join(output_dir, "tfvideo_metadata.json"), meta.to_json())
    cb.atomic_write_text(os.path.join(output_dir, "classes.json"),
                         json.dumps({"class_names": list(meta.class_names)}, indent=1))
    return meta


def train(config, strategy=None):
    """Runs the whole job; returns the summary dict (also written to `summary.json`).

    Raises:
        NonFiniteLossError: the loss became NaN/inf; the message names the step, and the last
            finite state (step backup, last checkpoint, history) is kept.
    """
    started = time.time()
    strategy = strategy or strategy_lib.select_strategy(config.num_cpu_devices)
    chief = strategy_lib.is_chief(strategy)
    if config.mixed_precision not in PRECISIONS:
        raise ValueError(f"`mixed_precision` must be one of {PRECISIONS}, got "
                         f"{config.mixed_precision!r}.")
    keras.mixed_precision.set_global_policy(config.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    output_dir = config.resolved_output_dir()
    os.makedirs(output_dir, exist_ok=True)

    num_frames, input_size, sampling = _model_settings(config)
    short_side = data_setup.resize_size(input_size, config.short_side)
    sampler = data_setup.make_sampler(sampling, num_frames, config.frame_interval)
    train_set, val_set = data_setup.load_datasets(config.data, verbose=chief)
    train_set = _subset(train_set, config.max_train_videos)
    val_set = _subset(val_set, config.max_val_videos)
    num_classes = train_set.num_classes

    replicas = strategy.num_replicas_in_sync
    global_batch = config.batch_size * replicas
    steps_per_epoch = config.steps_per_epoch or len(train_set) // global_batch
    if steps_per_epoch < 1:
        raise ValueError(
            f"{len(train_set)} training videos do not fill one global batch of {global_batch} "
            f"({config.batch_size} x {replicas} replicas); lower --batch_size.")
    total_steps = config.epochs * steps_per_epoch
    peak_lr = schedules.scaled_learning_rate(config.base_lr, global_batch, config.lr_scaling,
                                             config.lr_reference_batch)
    jit = strategy_lib.resolve_jit_compile(config.jit_compile, strategy)
    _log(f"{config.model}: {num_frames} frames x {input_size}px, {sampling} sampling | "
         f"{len(train_set)} train / {len(val_set)} val videos, {num_classes} classes | "
         f"{replicas} replica(s) ({type(strategy).__name__}), global batch {global_batch}, "
         f"{steps_per_epoch} steps/epoch x {config.epochs} epochs | lr {peak_lr:.4g} "
         f"(= {config.base_lr:g} x {global_batch}/{config.lr_reference_batch}, "
         f"{config.lr_scaling}) | {config.mixed_precision}, jit_compile={jit}", chief)

    with strategy.scope():
        model = build_model(config, train_set.class_names, num_frames, input_size, sampling)
        schedule = _schedule(config, peak_lr, steps_per_epoch, total_steps)
        optimizer = optim.build_optimizer(
            config.optimizer, schedule, model, weight_decay=config.weight_decay,
            momentum=config.momentum, nesterov=config.nesterov, clipnorm=config.clipnorm)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if num_classes > 5:
            metrics.append(keras.metrics.TopKCategoricalAccuracy(k=5, name="top5"))
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.CategoricalCrossentropy(
                from_logits=True, label_smoothing=config.label_smoothing),
            metrics=metrics, jit_compile=jit)
        backup = cb.StepBackup(os.path.join(output_dir, "backup"), config.backup_every,
                               write=chief, verbose=chief)
        state = backup.restore(model)
    start_step = state["step"] if state else 0
    epoch, batch = cb.resume_position(state, steps_per_epoch) if state else (0, 0)
    if state:
        _log(f"Resuming from the backup at optimizer step {state['step']} (epoch "
             f"{state['epoch'] + 1}, batch {state['batch']}) of {total_steps}.", chief)
    if chief:
        cb.atomic_write_text(os.path.join(output_dir, "train_config.json"),
                             json.dumps(config.to_dict(), indent=1, default=str))
        _write_metadata(output_dir, export_metadata(model, config, train_set.class_names,
                                                    sampler, short_side))

    error_log = ErrorLog("train")

    def train_data(seed_offset):
        ds = pipeline.build_train_dataset(
            train_set, sampler, global_batch, crop_size=input_size, short_side=short_side,
            crop=config.crop, flip=config.flip, on_error=config.on_error, error_log=error_log,
            # "jitter" crops: short side in [S, 1.25 S] (SlowFast/TAda's 256..320 at 224 px).
            jitter=(short_side, int(round(short_side * 1.25))),
            seed=config.seed + seed_offset, repeat=True)
        return _one_hot(ds, num_classes)

    val_data, val_steps = None, None
    if config.val_every:
        # Repeated with a fixed number of steps: Keras then neither warns that the input "ran
        # out of data" nor needs the (unknown, because of skipped videos) cardinality.
        val_data = _one_hot(pipeline.as_keras_inputs(pipeline.build_eval_dataset(
            val_set, sampler, global_batch, crop_size=input_size, short_side=short_side,
            on_error=config.on_error)), num_classes).repeat()
        val_steps = math.ceil(len(val_set) / global_batch)

    nonfinite = cb.StopOnNonFiniteLoss()
    callbacks = [nonfinite, cb.LearningRateLogger(), DecodeErrorReport(
        error_log, verbose=False)]
    csv_path = os.path.join(output_dir, "history.csv")
    png_path = os.path.join(output_dir, "training_curves.png")
    if chief:
        if state:
            cb.truncate_history(csv_path, epoch)
        callbacks += [
            cb.AtomicCheckpoint(os.path.join(output_dir, "checkpoints"),
                                monitor="val_accuracy" if val_data is not None else "loss",
                                best=_previous_best(output_dir) if state else None),
            keras.callbacks.CSVLogger(csv_path, append=bool(state)),
            cb.EpochSummaries(os.path.join(output_dir, "logs")),
            cb.PlotHistory(csv_path, png_path, title=config.model),
        ]
    callbacks.append(backup)  # last: an epoch is backed up once the others are done with it
    verbose = _verbose(config, chief)
    fit_kwargs = dict(validation_data=val_data, validation_steps=val_steps,
                      validation_freq=max(config.val_every, 1), shuffle=False,  # tf.data shuffles
                      callbacks=callbacks, verbose=verbose)
    if batch > 0 and epoch < config.epochs:
        # Finish the interrupted epoch with exactly its remaining steps.
        backup.batch_offset = batch
        model.fit(train_data(start_step), initial_epoch=epoch, epochs=epoch + 1,
                  steps_per_epoch=steps_per_epoch - batch, **fit_kwargs)
        epoch += 1
    if nonfinite.event is None and epoch < config.epochs:
        model.fit(train_data(epoch * steps_per_epoch), initial_epoch=epoch,
                  epochs=config.epochs, steps_per_epoch=steps_per_epoch, **fit_kwargs)
    steps_done = int(model.optimizer.iterations.numpy())

    if nonfinite.event is not None:
        saved = []
        if chief:
            event = dict(nonfinite.event)
            cb.atomic_write_text(os.path.join(output_dir, "nonfinite.json"), json.dumps(event))
            if cb.draw_history(csv_path, png_path, config.model):
                saved.append(png_path)
            saved += [p for p in (csv_path, os.path.join(output_dir, "checkpoints", "last.keras"),
                                  os.path.join(backup.backup_dir, cb.BACKUP_WEIGHTS))
                      if os.path.exists(p)]
        raise cb.NonFiniteLossError(nonfinite.event["step"], nonfinite.event["epoch"],
                                    nonfinite.event["batch"], nonfinite.event["value"], saved)

    train_seconds = time.time() - started
    summary = {"model": config.model, "dataset": config.data.dataset,
               "optimizer_steps": steps_done, "expected_steps": total_steps,
               "resumed_from_step": start_step, "replicas": replicas,
               "global_batch": global_batch, "peak_lr": peak_lr,
               "train_seconds": round(train_seconds, 1)}
    if os.path.isfile(csv_path):
        from tfvideo.training.plots import read_history_csv

        history = read_history_csv(csv_path)
        summary["final_epoch_logs"] = {k: v[-1] for k, v in history.items() if v}
    if not chief:
        return summary
    final_path = os.path.join(output_dir, "model.keras")
    cb.atomic_save_model(model, final_path)
    summary["model_path"] = final_path
    summary["training_curves"] = png_path if os.path.exists(png_path) else None

    stage = "evaluation"
    try:
        if config.evaluate:
            summary["evaluation"] = _evaluate(config, model, val_set, sampler, input_size,
                                              short_side, output_dir)
        stage = "export"
        if config.export:
            summary["export"] = _export(config, model, export_metadata(
                model, config, train_set.class_names, sampler, short_side))
    except Exception as error:  # noqa: BLE001 - the trained model must not be lost with it
        raise AfterTrainingError(stage, error, final_path, config) from error
    summary["total_seconds"] = round(time.time() - started, 1)
    cb.atomic_write_text(os.path.join(output_dir, "summary.json"),
                         json.dumps(summary, indent=1, default=str))
    # Kept until here: a run killed during evaluation or export resumes after its last step.
    backup.delete()
    print_summary(summary)
    return summary


class AfterTrainingError(RuntimeError):
    """Evaluation or export failed after training finished; the message says where the trained
    model is and the command that exports it. Re-running the same job resumes after training."""

    def __init__(self, stage, cause, model_path, config):
        self.stage, self.cause, self.model_path = stage, cause, model_path
        cause_text = " ".join(str(cause).split()) or type(cause).__name__
        super().__init__(
            f"{stage} failed after training: {cause_text}. The trained model is saved at "
            f"{model_path}. Export it with: tfvideo export --model {model_path} --output_dir "
            f"{config.export_dir} (or re-run the same command: it goes on after training).")


def _previous_best(output_dir):
    path = os.path.join(output_dir, "checkpoints", "best.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("value")
    return None


def _evaluate(config, model, val_set, sampler, input_size, short_side, output_dir):
    aggregation = (evaluation.default_view_aggregation(model)
                   if config.view_aggregation == "auto" else config.view_aggregation)
    results = {}
    for reverse in ((False, True) if config.eval_reverse_frames else (False,)):
        result = evaluation.evaluate_model(
            model, val_set, sampler, config.eval_num_clips, config.eval_num_crops, aggregation,
            batch_size=config.batch_size, crop_size=input_size, short_side=short_side,
            reverse_frames=reverse, on_error=config.on_error)
        prefix = "eval_reversed" if reverse else "eval"
        paths = evaluation.write_report(result, output_dir, prefix,
                                        title=f"{config.model}" + (" (reversed)" if reverse else ""))
        key = "reversed" if reverse else "normal"
        results[key] = {k: result[k] for k in ("top1", "top5", "mean_class_accuracy",
                                               "num_videos", "skipped_videos")}
        results[key]["report"] = paths["json"]
        print(("Reversed frames: " if reverse else "Validation: ") +
              evaluation.format_summary(result), flush=True)
    return results


def _export(config, model, meta):
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


def print_summary(summary):
    lines = ["", "=" * 72, f"Summary: {summary['model']} on {summary['dataset']}",
             f"  optimizer steps {summary['optimizer_steps']} (expected "
             f"{summary['expected_steps']}), {summary['replicas']} replica(s), global batch "
             f"{summary['global_batch']}, training {summary['train_seconds']:.0f} s"]
    logs = summary.get("final_epoch_logs", {})
    if "accuracy" in logs:
        lines.append(f"  last epoch: loss {logs.get('loss', math.nan):.4f}, train acc "
                     f"{100 * logs['accuracy']:.1f}%"
                     + (f", val acc {100 * logs['val_accuracy']:.1f}%"
                        if "val_accuracy" in logs and math.isfinite(logs["val_accuracy"]) else ""))
    for key, result in summary.get("evaluation", {}).items():
        lines.append(f"  {key:>8} frames: top-1 {100 * result['top1']:.1f}%, top-5 "
                     f"{100 * result['top5']:.1f}%, mean class {100 * result['mean_class_accuracy']:.1f}%"
                     f" on {result['num_videos']} videos")
    for kind, path in summary.get("export", {}).items():
        lines.append(f"  {kind}: {path}")
    lines.append(f"  model: {summary.get('model_path')}  (total {summary.get('total_seconds', 0):.0f} s)")
    lines.append("=" * 72)
    print("\n".join(lines), flush=True)
