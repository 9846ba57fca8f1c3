"""The training run as named stages: `prepare` (strategy, data, steps, learning rate) -> `build`
(model, optimizer, restored backup) -> `fit` (exact resumption) -> `save_trained` -> `evaluate`
-> `complete`. `train(TrainConfig(...))` runs them; the `tfvideo train` job
(`scripts/train.py`) adds the export between `evaluate` and `complete`.

Output directory:

```
<output_dir>/
  model.keras              final model, with its ModelSpec (evaluated and exported)
  checkpoints/last.keras   after every epoch (atomic)      checkpoints/best.keras, best.json
  backup/                  step-level backup while the run is unfinished (removed at the end)
  history.csv              one row per epoch               training_curves.png
  logs/                    TensorBoard                     train_config.json
  classes.json             tfvideo_metadata.json (written by the job after training)
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

from tfvideo._atomic import atomic_save, atomic_write_text
from tfvideo.data import mixing, pipeline, randaugment
from tfvideo.data.errors import DecodeErrorReport, ErrorLog
from tfvideo.optim import optimizers as optim
from tfvideo.optim import schedules
from tfvideo.training import callbacks as cb
from tfvideo.training import datasets as data_setup
from tfvideo.training import evaluation, finetune
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
    num_frames: int = 0  # 0: the model's default
    input_size: int = 0  # 0: the model's default (SYNTHETIC_INPUT_SIZE on synthetic)
    sampling: str = "auto"  # auto (model default) | segments | dense
    frame_interval: int = 1  # dense sampling stride
    # data
    data: data_setup.DataConfig = dataclasses.field(default_factory=data_setup.DataConfig)
    max_train_videos: int = 0  # 0: all
    max_val_videos: int = 0
    crop: str = "multi_scale"
    short_side: int = 0  # 0: round(input_size * 8 / 7)
    flip: bool = True
    color_jitter: float = 0.0  # brightness/contrast/saturation strength per clip (0: off)
    randaugment: str = ""  # "N,M": N RandAugment ops of magnitude M per clip ("": off)
    repeat_aug: int = 1  # K augmented views of every decoded clip
    mixup: float = 0.0  # MixUp Beta alpha (0: off)
    cutmix: float = 0.0  # CutMix Beta alpha (0: off; with --mixup: one of the two per batch)
    on_error: str = "skip"
    # optimisation
    batch_size: int = 16  # per replica
    epochs: int = 20
    steps_per_epoch: int = 0  # 0: train videos // global batch
    optimizer: str = "adamw"
    base_lr: float = 0.032  # for a global batch of lr_reference_batch (2e-3 at 16)
    lr_scaling: str = "linear"
    lr_reference_batch: int = schedules.REFERENCE_BATCH
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    warmup_start_factor: float = 0.1  # warmup starts at this fraction of the peak rate
    final_lr_factor: float = 0.0  # cosine ends at this fraction of the peak rate
    lr_steps: tuple = ()  # step schedule: epochs at which lr *= lr_factor
    lr_factor: float = 0.1
    weight_decay: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    label_smoothing: float = 0.0
    clipnorm: float = 0.0  # 0: no clipping
    grad_accum: int = 1  # micro-batches per optimizer step (effective batch x K)
    ema: bool = False  # EMA of the weights (evaluated, saved in model.keras, exported)
    ema_momentum: float = 0.999
    # fine-tuning
    init_from: str = ""  # preset dir, .keras, .weights.h5 or PyTorch checkpoint
    reset_head: bool = False  # a fresh classifier even when the class counts match
    partial_bn: bool = False  # TSN: freeze every BatchNormalization but the first
    backbone_lr_mult: float = 1.0  # backbone learning rate = this x the head's
    mixed_precision: str = "float32"
    jit_compile: str = "auto"
    # distribution
    num_cpu_devices: int = 0
    # bookkeeping
    output_dir: str = ""
    backup_every: int = 50  # optimizer steps between backups
    val_every: int = 1  # epochs between validations (0: never)
    seed: int = 0
    deterministic: bool = False  # op determinism + deterministic tf.data: same weights per seed
    verbose: int = -1  # -1: progress bar on a terminal, one line per epoch otherwise
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
    return ds.map(
        lambda x, y: (x, pipeline.label_vectors(y, num_classes)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def _check_recipes(config, global_batch):
    """Fails early, naming the flag, on a bad augmentation recipe."""
    randaugment.parse_rand_augment(config.randaugment)
    mixing.check_mix(config.mixup, config.cutmix)
    repeat = pipeline.check_repeat_aug(config.repeat_aug)
    if global_batch % repeat:
        raise ValueError(
            f"--repeat_aug={repeat} must divide the global batch ({global_batch}): a batch holds "
            "whole groups of views of one video."
        )


def loss_and_metrics(num_classes, multi_label, label_smoothing=0.0):
    """`(loss, metrics, monitor)` of a run: softmax cross-entropy with accuracy (and top-5 over
    5 classes), monitored on `val_accuracy`; for multi-label data (several labels per video)
    binary cross-entropy on the sigmoid of every class, with the binary accuracy and the area
    under the precision-recall curves (`pr_auc`, Keras' interpolated estimate of mAP; the
    evaluation computes the exact mAP), monitored on `val_pr_auc`. Both losses take soft labels
    (MixUp, CutMix, label smoothing)."""
    if multi_label:
        loss = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=label_smoothing)
        metrics = [
            keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy"),
            keras.metrics.AUC(
                curve="PR",
                multi_label=True,
                num_labels=num_classes,
                from_logits=True,
                name="pr_auc",
            ),
        ]
        return loss, metrics, "val_pr_auc"
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)
    metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    if num_classes > 5:
        metrics.append(keras.metrics.TopKCategoricalAccuracy(k=5, name="top5"))
    return loss, metrics, "val_accuracy"


def build_model(config, class_names, num_frames, input_size, sampling, multi_label=False):
    from tfvideo import models

    return models.create(
        config.model,
        num_classes=len(class_names),
        num_frames=num_frames,
        input_size=input_size,
        class_names=list(class_names),
        sampling=sampling,
        multi_label=multi_label,
        frame_interval=config.frame_interval,
        short_side=config.short_side or None,
        **config.model_options,
    )


def _model_settings(config):
    from tfvideo import models

    defaults = models.defaults(config.model)
    num_frames = config.num_frames or defaults["num_frames"]
    input_size = config.input_size or (
        SYNTHETIC_INPUT_SIZE if config.data.dataset == "synthetic" else defaults["input_size"]
    )
    if isinstance(input_size, (tuple, list)):
        input_size = int(input_size[0])
    sampling = (
        defaults.get("sampling", "segments") if config.sampling == "auto" else config.sampling
    )
    return int(num_frames), int(input_size), sampling


def _schedule(config, peak_lr, steps_per_epoch, total_steps):
    warmup = min(int(round(config.warmup_epochs * steps_per_epoch)), total_steps)
    boundaries = [int(e * steps_per_epoch) for e in config.lr_steps]
    return schedules.build_schedule(
        config.schedule,
        peak_lr,
        total_steps,
        warmup_steps=warmup,
        warmup_start_lr=peak_lr * config.warmup_start_factor,
        final_lr=peak_lr * config.final_lr_factor,
        boundaries=boundaries,
        factor=config.lr_factor,
    )


def enable_determinism(seed):
    """Seeds Python, NumPy and the backend (`keras.utils.set_random_seed`) and makes the
    TensorFlow ops and tf.data deterministic (`tf.config.experimental.enable_op_determinism`:
    ordered parallel maps, deterministic kernels or an error naming the op); on the PyTorch
    backend also `torch.use_deterministic_algorithms`. JAX on the CPU is deterministic as is."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    if keras.backend.backend() == "torch":
        import torch

        torch.use_deterministic_algorithms(True)


def _verbose(config, chief):
    if not chief:
        return 0
    if config.verbose >= 0:
        return config.verbose
    return 1 if sys.stdout.isatty() else 2


@dataclasses.dataclass
class Run:
    """What the stages of one training run share (set up by `prepare`)."""

    config: TrainConfig
    strategy: object
    chief: bool
    output_dir: str
    started: float
    num_frames: int
    input_size: int
    sampling: str
    short_side: int
    sampler: object
    train_set: object
    val_set: object
    global_batch: int
    steps_per_epoch: int  # optimizer steps
    total_steps: int
    peak_lr: float
    jit_compile: bool
    grad_accum: int = 1  # micro-batches of global_batch per optimizer step
    state: dict | None = None  # the backup restored by `build`, if any
    backup: object = None
    model_path: str | None = None  # model.keras, once `save_trained` wrote it
    init_report: dict | None = None  # what `--init_from` loaded (`finetune.initialise`)

    @property
    def micro_steps_per_epoch(self):
        """Batches Keras' `fit` runs per epoch (optimizer steps x `grad_accum`)."""
        return self.steps_per_epoch * self.grad_accum

    @property
    def csv_path(self):
        return os.path.join(self.output_dir, "history.csv")

    @property
    def png_path(self):
        return os.path.join(self.output_dir, "training_curves.png")


def train(config, strategy=None):
    """Trains and evaluates: `prepare` -> `build` -> `fit` -> `save_trained` -> `evaluate`.
    Returns `(run, model, summary)`; `complete(run, summary)` ends the run (the job calls it
    after exporting, `tfvideo.cli`).

    Raises:
        NonFiniteLossError: the loss became NaN/inf; the message names the step, and the last
            finite state (step backup, last checkpoint, history) is kept.
        AfterTrainingError: evaluation failed after training (the model is saved).
    """
    run = prepare(config, strategy)
    model = build(run)
    fit(run, model)
    summary = save_trained(run, model)
    if run.chief and config.evaluate:
        try:
            summary["evaluation"] = evaluate(run, model)
        except Exception as error:  # noqa: BLE001 - the trained model must not be lost with it
            raise AfterTrainingError("evaluation", error, run.model_path, config) from error
    return run, model, summary


def prepare(config, strategy=None) -> Run:
    """Precision, seed, output directory, data, sampling, steps and the learning rate."""
    started = time.time()
    strategy = strategy or strategy_lib.select_strategy(config.num_cpu_devices)
    chief = strategy_lib.is_chief(strategy)
    if config.mixed_precision not in PRECISIONS:
        raise ValueError(
            f"`mixed_precision` must be one of {PRECISIONS}, got {config.mixed_precision!r}."
        )
    keras.mixed_precision.set_global_policy(config.mixed_precision)
    if config.deterministic:
        enable_determinism(config.seed)
    else:
        keras.utils.set_random_seed(config.seed)
    if config.grad_accum < 1:
        raise ValueError(f"`grad_accum` must be >= 1, got {config.grad_accum}.")
    output_dir = config.resolved_output_dir()
    os.makedirs(output_dir, exist_ok=True)

    num_frames, input_size, sampling = _model_settings(config)
    short_side = data_setup.resize_size(input_size, config.short_side)
    sampler = data_setup.make_sampler(sampling, num_frames, config.frame_interval)
    train_set, val_set = data_setup.load_datasets(config.data, verbose=chief)
    train_set = _subset(train_set, config.max_train_videos)
    val_set = _subset(val_set, config.max_val_videos)

    replicas = strategy.num_replicas_in_sync
    global_batch = config.batch_size * replicas
    step_batch = global_batch * config.grad_accum  # clips per optimizer step
    _check_recipes(config, global_batch)
    # Repeated augmentation: an epoch decodes every video once and trains on its K views.
    steps_per_epoch = config.steps_per_epoch or len(train_set) * config.repeat_aug // step_batch
    if steps_per_epoch < 1:
        raise ValueError(
            f"{len(train_set)} training videos do not fill one optimizer step of {step_batch} "
            f"({config.batch_size} x {replicas} replicas x {config.grad_accum} accumulated); "
            "lower --batch_size or --grad_accum."
        )
    peak_lr = schedules.scaled_learning_rate(
        config.base_lr, step_batch, config.lr_scaling, config.lr_reference_batch
    )
    run = Run(
        config=config,
        strategy=strategy,
        chief=chief,
        output_dir=output_dir,
        started=started,
        num_frames=num_frames,
        input_size=input_size,
        sampling=sampling,
        short_side=short_side,
        sampler=sampler,
        train_set=train_set,
        val_set=val_set,
        global_batch=global_batch,
        steps_per_epoch=steps_per_epoch,
        total_steps=config.epochs * steps_per_epoch,
        peak_lr=peak_lr,
        jit_compile=strategy_lib.resolve_jit_compile(config.jit_compile, strategy),
        grad_accum=config.grad_accum,
    )
    _log(
        f"{config.model}: {num_frames} frames x {input_size}px, {sampling} sampling | "
        f"{len(train_set)} train / {len(val_set)} val videos, {train_set.num_classes} classes | "
        f"{replicas} replica(s) ({type(strategy).__name__}), global batch {global_batch}"
        + (f" x {config.grad_accum} accumulated" if config.grad_accum > 1 else "")
        + f", {steps_per_epoch} steps/epoch x {config.epochs} epochs | lr {peak_lr:.4g} "
        f"(= {config.base_lr:g} x {step_batch}/{config.lr_reference_batch}, "
        f"{config.lr_scaling}) | {config.mixed_precision}, jit_compile={run.jit_compile}"
        + (", deterministic" if config.deterministic else ""),
        chief,
    )
    return run


def build(run):
    """The model, its optimizer and loss, compiled; the backup (if any) restored into them."""
    config, num_classes = run.config, run.train_set.num_classes
    with run.strategy.scope():
        model = build_model(
            config,
            run.train_set.class_names,
            run.num_frames,
            run.input_size,
            run.sampling,
            run.train_set.multi_label,
        )
        if config.init_from:
            run.init_report = finetune.initialise(model, config.init_from, config.reset_head)
            _log(finetune.describe(run.init_report), run.chief)
        if config.partial_bn:
            frozen = finetune.partial_bn(model)
            _log(f"Partial BN: {len(frozen)} BatchNormalization layers frozen.", run.chief)
        schedule = _schedule(config, run.peak_lr, run.steps_per_epoch, run.total_steps)
        optimizer = optim.build_optimizer(
            config.optimizer,
            schedule,
            model,
            weight_decay=config.weight_decay,
            momentum=config.momentum,
            nesterov=config.nesterov,
            clipnorm=config.clipnorm,
            ema_momentum=config.ema_momentum if config.ema else None,
            grad_accum=config.grad_accum,
            scaled=finetune.backbone_variables(model) if config.backbone_lr_mult != 1 else (),
            lr_scale=config.backbone_lr_mult,
        )
        if config.ema:
            # Keras' fit swaps the EMA in at its end; a run is several fits (resumption): the
            # loop swaps it in once, after training (`optim.swap_in_ema` in `save_trained`).
            optimizer.finalize_variable_values = lambda var_list: None
        loss, metrics, _ = loss_and_metrics(
            num_classes, run.train_set.multi_label, config.label_smoothing
        )
        model.compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            jit_compile=run.jit_compile,
        )
        run.backup = cb.StepBackup(
            os.path.join(run.output_dir, "backup"),
            config.backup_every * run.grad_accum,  # Keras counts micro-batches
            write=run.chief,
            verbose=run.chief,
        )
        run.state = run.backup.restore(model)
    if run.state:
        _log(
            f"Resuming from the backup at optimizer step {run.state['step']} (epoch "
            f"{run.state['epoch'] + 1}, batch {run.state['batch']}) of {run.total_steps}.",
            run.chief,
        )
    if run.chief:
        atomic_write_text(
            os.path.join(run.output_dir, "train_config.json"),
            json.dumps(config.to_dict(), indent=1, default=str),
        )
        atomic_write_text(
            os.path.join(run.output_dir, "classes.json"),
            json.dumps({"class_names": list(run.train_set.class_names)}, indent=1),
        )
    return model


def fit(run, model):
    """The resumable fit: first the rest of an interrupted epoch, then the remaining epochs."""
    config, state = run.config, run.state
    steps = run.micro_steps_per_epoch
    epoch, batch = cb.resume_position(state, steps) if state else (0, 0)
    error_log = ErrorLog("train")
    num_classes = run.train_set.num_classes

    def train_data(position):
        # One seeded stream for the whole run; a resumed run skips the clips it has trained on
        # (file names and seeds only), so it sees what the uninterrupted run would have.
        ds = pipeline.build_train_dataset(
            run.train_set,
            run.sampler,
            run.global_batch,
            crop_size=run.input_size,
            short_side=run.short_side,
            crop=config.crop,
            flip=config.flip,
            on_error=config.on_error,
            error_log=error_log,
            # "jitter" crops: short side in [S, 1.25 S] (SlowFast/TAda's 256..320 at 224 px).
            jitter=(run.short_side, int(round(run.short_side * 1.25))),
            seed=config.seed,
            repeat=True,
            start=position * run.global_batch // config.repeat_aug,  # videos, K views each
            color_jitter=config.color_jitter,
            randaugment=randaugment.parse_rand_augment(config.randaugment),
            repeat_aug=config.repeat_aug,
            mixup=config.mixup,
            cutmix=config.cutmix,
            deterministic=True if config.deterministic else None,
        )
        return _one_hot(ds, num_classes)

    val_data, val_steps = None, None
    if config.val_every:
        # Repeated with a fixed number of steps: Keras then neither warns that the input "ran
        # out of data" nor needs the (unknown, because of skipped videos) cardinality.
        val_data = _one_hot(
            pipeline.as_keras_inputs(
                pipeline.build_eval_dataset(
                    run.val_set,
                    run.sampler,
                    run.global_batch,
                    crop_size=run.input_size,
                    short_side=run.short_side,
                    on_error=config.on_error,
                )
            ),
            num_classes,
        ).repeat()
        val_steps = math.ceil(len(run.val_set) / run.global_batch)

    nonfinite = cb.StopOnNonFiniteLoss()
    _, _, monitor = loss_and_metrics(num_classes, run.train_set.multi_label)
    callbacks = [nonfinite, cb.LearningRateLogger(), DecodeErrorReport(error_log, verbose=False)]
    if run.chief:
        if state:
            cb.truncate_history(run.csv_path, epoch)
        callbacks += [
            cb.AtomicCheckpoint(
                os.path.join(run.output_dir, "checkpoints"),
                monitor=monitor if val_data is not None else "loss",
                mode="max" if val_data is not None else None,
                best=_previous_best(run.output_dir) if state else None,
            ),
            keras.callbacks.CSVLogger(run.csv_path, append=bool(state)),
            cb.EpochSummaries(os.path.join(run.output_dir, "logs")),
            cb.PlotHistory(run.csv_path, run.png_path, title=config.model),
        ]
    callbacks.append(run.backup)  # last: an epoch is backed up once the others are done with it
    fit_kwargs = dict(
        validation_data=val_data,
        validation_steps=val_steps,
        validation_freq=max(config.val_every, 1),
        shuffle=False,  # tf.data shuffles
        callbacks=callbacks,
        verbose=_verbose(config, run.chief),
    )
    if batch > 0 and epoch < config.epochs:
        # Finish the interrupted epoch with exactly its remaining steps.
        run.backup.batch_offset = batch
        model.fit(
            train_data(epoch * steps + batch),
            initial_epoch=epoch,
            epochs=epoch + 1,
            steps_per_epoch=steps - batch,
            **fit_kwargs,
        )
        epoch += 1
    if nonfinite.event is None and epoch < config.epochs:
        model.fit(
            train_data(epoch * steps),
            initial_epoch=epoch,
            epochs=config.epochs,
            steps_per_epoch=steps,
            **fit_kwargs,
        )
    if nonfinite.event is not None:
        _stop_on_nonfinite(run, nonfinite.event)


def _stop_on_nonfinite(run, event):
    saved = []
    if run.chief:
        atomic_write_text(os.path.join(run.output_dir, "nonfinite.json"), json.dumps(event))
        if cb.draw_history(run.csv_path, run.png_path, run.config.model):
            saved.append(run.png_path)
        saved += [
            p
            for p in (
                run.csv_path,
                os.path.join(run.output_dir, "checkpoints", "last.keras"),
                os.path.join(run.backup.backup_dir, cb.BACKUP_WEIGHTS),
            )
            if os.path.exists(p)
        ]
    raise cb.NonFiniteLossError(
        event["step"], event["epoch"], event["batch"], event["value"], saved
    )


def save_trained(run, model):
    """Writes `model.keras` (chief) and returns the summary of the training part."""
    config = run.config
    optim.swap_in_ema(model)
    summary = {
        "model": config.model,
        "dataset": config.data.dataset,
        "optimizer_steps": optim.optimizer_step(model.optimizer),
        "expected_steps": run.total_steps,
        "resumed_from_step": run.state["step"] if run.state else 0,
        "replicas": run.strategy.num_replicas_in_sync,
        "global_batch": run.global_batch,
        "peak_lr": run.peak_lr,
        "grad_accum": run.grad_accum,
        "ema": config.ema,
        "deterministic": config.deterministic,
        "init_from": run.init_report,
        "train_seconds": round(time.time() - run.started, 1),
    }
    if os.path.isfile(run.csv_path):
        from tfvideo.training.plots import read_history_csv

        history = read_history_csv(run.csv_path)
        summary["final_epoch_logs"] = {k: v[-1] for k, v in history.items() if v}
    if run.chief:
        run.model_path = os.path.join(run.output_dir, "model.keras")
        atomic_save(run.model_path, model.save)
        summary["model_path"] = run.model_path
        summary["training_curves"] = run.png_path if os.path.exists(run.png_path) else None
    return summary


def complete(run, summary):
    """Ends a run: `summary.json`, the backup removed (kept until now, so a job killed during
    evaluation or export resumes after its last step), the printed summary. Chief only."""
    if not run.chief:
        return summary
    summary["total_seconds"] = round(time.time() - run.started, 1)
    atomic_write_text(
        os.path.join(run.output_dir, "summary.json"), json.dumps(summary, indent=1, default=str)
    )
    run.backup.delete()
    print_summary(summary)
    return summary


def _previous_best(output_dir):
    path = os.path.join(output_dir, "checkpoints", "best.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("value")
    return None


def evaluate(run, model):
    """Multi-view evaluation after training (and with frames reversed, if asked); reports in
    the run directory."""
    config = run.config
    aggregation = (
        evaluation.default_view_aggregation(model)
        if config.view_aggregation == "auto"
        else config.view_aggregation
    )
    results = {}
    for reverse in (False, True) if config.eval_reverse_frames else (False,):
        result = evaluation.evaluate_model(
            model,
            run.val_set,
            run.sampler,
            config.eval_num_clips,
            config.eval_num_crops,
            aggregation,
            batch_size=config.batch_size,
            crop_size=run.input_size,
            short_side=run.short_side,
            reverse_frames=reverse,
            on_error=config.on_error,
        )
        prefix = "eval_reversed" if reverse else "eval"
        paths = evaluation.write_report(
            result,
            run.output_dir,
            prefix,
            title=f"{config.model}" + (" (reversed)" if reverse else ""),
        )
        key = "reversed" if reverse else "normal"
        keys = ("mAP",) if result.get("multi_label") else ("top1", "top5", "mean_class_accuracy")
        results[key] = {k: result[k] for k in keys + ("num_videos", "skipped_videos")}
        results[key]["report"] = paths["json"]
        print(
            ("Reversed frames: " if reverse else "Validation: ")
            + evaluation.format_summary(result),
            flush=True,
        )
    return results


class AfterTrainingError(RuntimeError):
    """Evaluation or export failed after training finished; the message says where the trained
    model is and the command that exports it. Re-running the same job resumes after training."""

    def __init__(self, stage, cause, model_path, config):
        self.stage, self.cause, self.model_path = stage, cause, model_path
        cause_text = " ".join(str(cause).split()) or type(cause).__name__
        super().__init__(
            f"{stage} failed after training: {cause_text}. The trained model is saved at "
            f"{model_path}. Export it with: tfvideo export --model {model_path} --output_dir "
            f"{config.export_dir} (or re-run the same command: it goes on after training)."
        )


def print_summary(summary):
    lines = [
        "",
        "=" * 72,
        f"Summary: {summary['model']} on {summary['dataset']}",
        f"  optimizer steps {summary['optimizer_steps']} (expected "
        f"{summary['expected_steps']}), {summary['replicas']} replica(s), global batch "
        f"{summary['global_batch']}, training {summary['train_seconds']:.0f} s",
    ]
    logs = summary.get("final_epoch_logs", {})
    if "accuracy" in logs:
        lines.append(
            f"  last epoch: loss {logs.get('loss', math.nan):.4f}, train acc "
            f"{100 * logs['accuracy']:.1f}%"
            + (
                f", val acc {100 * logs['val_accuracy']:.1f}%"
                if "val_accuracy" in logs and math.isfinite(logs["val_accuracy"])
                else ""
            )
        )
    for key, result in summary.get("evaluation", {}).items():
        if "mAP" in result:
            lines.append(
                f"  {key:>8} frames: mAP {100 * result['mAP']:.1f}% on "
                f"{result['num_videos']} videos"
            )
            continue
        lines.append(
            f"  {key:>8} frames: top-1 {100 * result['top1']:.1f}%, top-5 "
            f"{100 * result['top5']:.1f}%, mean class {100 * result['mean_class_accuracy']:.1f}%"
            f" on {result['num_videos']} videos"
        )
    for kind, path in summary.get("export", {}).items():
        lines.append(f"  {kind}: {path}")
    lines.append(
        f"  model: {summary.get('model_path')}  (total {summary.get('total_seconds', 0):.0f} s)"
    )
    lines.append("=" * 72)
    print("\n".join(lines), flush=True)
