"""Training callbacks: step-level backup/restore with exact resumption, atomic best/last
checkpoints, non-finite loss stop, learning-rate logging and the training-curve PNG.

Resumption (`StepBackup`): every `save_freq` optimizer steps and at every epoch end, the model and
optimizer state are written to `backup_dir/latest.weights.h5` and the position in the run
(`epoch`, `batch` within the epoch, global `step`) to `backup_dir/training_metadata.json`, the
random-seed states of dropout and drop-path (`SeedGenerator`s, which Keras' weight files leave
out) to `backup_dir/seed_states.json`, each as
a temporary file renamed over the old one (`os.replace`, atomic on POSIX), so a crash at any
instant leaves either the old or the new complete backup. Keras' own `BackupAndRestore` restores
only whole epochs (it replays a partially done epoch, i.e. more optimizer steps than an
uninterrupted run); `tfvideo.training.loop` reads `batch` and first finishes the interrupted epoch
with its remaining `steps_per_epoch - batch` steps, so the resumed run ends with exactly
`epochs x steps_per_epoch` optimizer steps.
"""

import json
import math
import os
import sys

import keras
import numpy as np

from tfvideo._atomic import atomic_save, atomic_write_text
from tfvideo.optim.optimizers import optimizer_step
from tfvideo.training import plots

BACKUP_WEIGHTS = "latest.weights.h5"
BACKUP_METADATA = "training_metadata.json"
BACKUP_SEEDS = "seed_states.json"


def _seed_variables(model):
    """The random-seed state of `model` (the `SeedGenerator`s of dropout, drop-path, ...):
    `model.variables` that are not weights, which `save_weights` does not write."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def read_backup_state(backup_dir):
    """`{"epoch", "batch", "step"}` of the backup in `backup_dir`, or None when there is none."""
    meta = os.path.join(backup_dir, BACKUP_METADATA)
    weights = os.path.join(backup_dir, BACKUP_WEIGHTS)
    if not (os.path.isfile(meta) and os.path.isfile(weights)):
        return None
    with open(meta, encoding="utf-8") as f:
        state = json.load(f)
    return {k: int(state[k]) for k in ("epoch", "batch", "step")}


def _is_finite(value):
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


class StepBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that saves every `save_freq` steps, atomically, with the exact position.

    Args:
        backup_dir: folder of the backup (only this run's backup goes there).
        save_freq: optimizer steps between backups (an epoch end always saves).
        write: False on non-chief workers of a multi-worker run (they keep no backup; all workers
            restore from the chief's, which must be on a shared file system).
        verbose: print one line per backup (`[backup] step S (epoch E, batch B)`), flushed; the
            resume test waits for it.

    The loop restores with `restore(model)` before `fit` and sets `batch_offset` when it resumes
    inside an epoch (Keras numbers the batches of that shortened epoch from 0). Put it last in the
    callback list: its epoch-end backup then records an epoch only once every other callback
    (checkpoint, history row, plot) has finished with it.
    """

    def __init__(self, backup_dir, save_freq=50, write=True, verbose=True):
        if not isinstance(save_freq, int) or isinstance(save_freq, bool) or save_freq < 1:
            raise ValueError(f"`save_freq` must be a positive number of steps, got {save_freq!r}.")
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=False)
        self.write = write
        self.verbose = verbose
        self.batch_offset = 0
        self.stopped_non_finite = False

    # Restoring is done explicitly by the loop (it must know the position before calling fit).
    def on_train_begin(self, logs=None):
        self._last_batch_seen = -1
        self._batches_seen_since_last_saving = 0

    def restore(self, model):
        """Loads the backup into `model` (weights and optimizer); returns its state or None."""
        state = read_backup_state(self.backup_dir)
        if state is None:
            return None
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(self._weights_path)
        seeds_path = os.path.join(self.backup_dir, BACKUP_SEEDS)
        if os.path.isfile(seeds_path):
            with open(seeds_path, encoding="utf-8") as f:
                seeds = json.load(f)
            variables = _seed_variables(model)
            if len(seeds) == len(variables):
                for variable, value in zip(variables, seeds):
                    variable.assign(np.asarray(value, dtype=variable.dtype))
        return state

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if logs is not None and not _is_finite(logs.get("loss")):
            self.stopped_non_finite = True  # never back up non-finite weights
            return
        if batch + 1 == (self.params or {}).get("steps"):
            # The epoch's last batch: the epoch-end backup follows validation and the epoch's
            # checkpoint and history row, so a kill in between redoes the end of the epoch
            # instead of resuming at a position no `fit` can start from (0 steps left).
            return
        if self._should_save_on_batch(batch):
            self._save(self._current_epoch, self.batch_offset + batch + 1)

    def on_test_begin(self, logs=None):
        if self.verbose and self.model is not None and self.model.optimizer is not None:
            print(
                f"[validate] epoch {self._current_epoch + 1} (after step "
                f"{optimizer_step(self.model.optimizer)})",
                flush=True,
            )

    def on_epoch_end(self, epoch, logs=None):
        self.batch_offset = 0
        self._last_batch_seen = -1
        self._batches_seen_since_last_saving = 0
        if self.stopped_non_finite or (logs is not None and not _is_finite(logs.get("loss"))):
            return
        self._save(epoch + 1, 0)

    def _save(self, epoch, batch):
        if not self.write:
            return
        step = optimizer_step(self.model.optimizer)
        atomic_save(self._weights_path, self.model.save_weights)
        seeds = [np.asarray(v).tolist() for v in _seed_variables(self.model)]
        atomic_write_text(os.path.join(self.backup_dir, BACKUP_SEEDS), json.dumps(seeds))
        atomic_write_text(
            self._training_metadata_path, json.dumps({"epoch": epoch, "batch": batch, "step": step})
        )
        if self.verbose:
            print(
                f"[backup] step {step} (epoch {epoch + (1 if batch else 0)}, batch {batch})",
                flush=True,
            )

    def on_train_end(self, logs=None):
        pass  # the loop deletes the backup once the whole run (all fit phases) has finished

    def delete(self):
        if self.write and os.path.isdir(self.backup_dir):
            for name in (BACKUP_WEIGHTS, BACKUP_METADATA, BACKUP_SEEDS):
                path = os.path.join(self.backup_dir, name)
                if os.path.exists(path):
                    os.remove(path)
            try:
                os.rmdir(self.backup_dir)
            except OSError:
                pass


def resume_position(state, steps_per_epoch):
    """`(epoch, batch)` at which a run restored from backup `state` goes on.

    A backup taken after an epoch's last batch (written by earlier versions, or when
    `--steps_per_epoch` shrank) has no steps left in that epoch: it goes on at the next one.

        >>> resume_position({"epoch": 0, "batch": 6, "step": 6}, steps_per_epoch=6)
        (1, 0)
    """
    if state["batch"] >= steps_per_epoch:
        return state["epoch"] + 1, 0
    return state["epoch"], state["batch"]


def truncate_history(csv_path, epochs_done):
    """Drops the rows of epochs >= `epochs_done` from a `CSVLogger` file: an epoch written
    before a kill whose end the backup did not record is trained again and logged again."""
    if not os.path.isfile(csv_path):
        return
    with open(csv_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    kept = lines[:1] + [
        line for line in lines[1:] if line and int(float(line.split(",", 1)[0])) < epochs_done
    ]
    if kept != lines:
        atomic_write_text(csv_path, "\n".join(kept) + "\n")


class NonFiniteLossError(RuntimeError):
    """Raised by the loop after a run stopped on a NaN/inf loss."""

    def __init__(self, step, epoch, batch, value, saved=()):
        self.step, self.epoch, self.batch, self.value = step, epoch, batch, value
        self.saved = list(saved)
        message = (
            f"Non-finite loss ({value}) at optimizer step {step} (epoch {epoch + 1}, batch "
            f"{batch + 1}); training stopped."
        )
        if self.saved:
            message += " Saved: " + ", ".join(self.saved) + "."
        super().__init__(message)


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first step whose loss is NaN or infinite and records where.

    `keras.callbacks.TerminateOnNaN` only names the batch; this records the optimizer step,
    epoch and batch (`self.event`) so the loop can save what is valid and raise
    `NonFiniteLossError`. Place it first in the callback list.
    """

    def __init__(self):
        super().__init__()
        self.event = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if self.event is None and loss is not None and not _is_finite(loss):
            step = optimizer_step(self.model.optimizer)
            self.event = {"step": step, "epoch": self._epoch, "batch": batch, "value": float(loss)}
            print(
                f"\nNon-finite loss ({float(loss)}) at optimizer step {step} "
                f"(epoch {self._epoch + 1}, batch {batch + 1}); stopping.",
                file=sys.stderr,
                flush=True,
            )
            self.model.stop_training = True


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the current `learning_rate` to the epoch logs (CSV, TensorBoard, plot)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            optimizer = self.model.optimizer
            optimizer = getattr(optimizer, "inner_optimizer", optimizer)
            logs["learning_rate"] = float(np.asarray(optimizer.learning_rate))


class AtomicCheckpoint(keras.callbacks.Callback):
    """Writes `last.keras` after every epoch and `best.keras` when `monitor` improves, each
    through a temporary file and `os.replace`. Skips non-finite epochs.

    Args:
        directory: where the two files go.
        monitor: metric name in the epoch logs (falls back to `loss` when absent).
        mode: "max" or "min" (None: max for accuracies, min otherwise).
        best: best value of a previous (resumed) run, if known.
    """

    def __init__(self, directory, monitor="val_accuracy", mode=None, best=None):
        super().__init__()
        self.directory = directory
        self.monitor = monitor
        self.mode = mode
        self.best = best
        self.last_path = os.path.join(directory, "last.keras")
        self.best_path = os.path.join(directory, "best.keras")
        self.best_epoch = None

    def _mode(self, name):
        if self.mode:
            return self.mode
        return "max" if ("acc" in name or "top" in name) else "min"

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not _is_finite(logs.get("loss")):
            return
        atomic_save(self.last_path, self.model.save)
        name = self.monitor if self.monitor in logs else "loss"
        value = logs.get(name)
        if value is None or not _is_finite(value):
            return
        value = float(value)
        better = self.best is None or (
            value > self.best if self._mode(name) == "max" else value < self.best
        )
        if better:
            self.best, self.best_epoch = value, epoch
            atomic_save(self.best_path, self.model.save)
            atomic_write_text(
                os.path.join(self.directory, "best.json"),
                json.dumps({"epoch": epoch + 1, "monitor": name, "value": value}),
            )


class PlotHistory(keras.callbacks.Callback):
    """Redraws the training-curve PNG from the CSV history after every epoch."""

    def __init__(self, csv_path, png_path, title=None):
        super().__init__()
        self.csv_path, self.png_path, self.title = csv_path, png_path, title

    def on_epoch_end(self, epoch, logs=None):
        draw_history(self.csv_path, self.png_path, self.title)


def draw_history(csv_path, png_path, title=None):
    """Plots a CSV history to PNG if it has rows; returns the path or None."""
    if not os.path.isfile(csv_path):
        return None
    history = plots.read_history_csv(csv_path)
    if not history or not any(history.values()):
        return None
    return plots.plot_history(history, png_path, title=title)


class EpochSummaries(keras.callbacks.Callback):
    """TensorBoard scalars per epoch, like `keras.callbacks.TensorBoard(update_freq="epoch")`
    (`<log_dir>/train` and `<log_dir>/validation`, tags `epoch_<metric>`), written with TF core's
    `tf.summary.write` and the scalars plugin metadata, so it needs no `tensorboard` package
    (Keras' callback does, for `tf.summary.scalar`)."""

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = log_dir
        self._writers = {}

    def _writer(self, name):
        import tensorflow as tf

        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(os.path.join(self.log_dir, name))
        return self._writers[name]

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        )
        metadata = metadata.SerializeToString()
        for key, value in (logs or {}).items():
            split = "validation" if key.startswith("val_") else "train"
            tag = "epoch_" + (key[4:] if split == "validation" else key)
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            with self._writer(split).as_default():
                tf.summary.write(tag, tf.constant(value, tf.float32), step=epoch, metadata=metadata)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
