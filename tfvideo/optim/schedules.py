"""Learning-rate schedules (per optimizer step) and the learning-rate scaling rule.

Scaling rule (linear, Goyal et al. 2017): the learning rate given on the command line is the rate
for a *reference* global batch of 256 clips, and the rate used is

    lr = base_lr x global_batch / 256,     global_batch = per_replica_batch x replicas

(`scaled_learning_rate`). `--lr_scaling=sqrt` uses sqrt(global_batch / 256) (common with AdamW),
`--lr_scaling=none` uses `base_lr` as given.

Example:

>>> schedule = WarmupCosine(peak_lr=0.1, total_steps=100, warmup_steps=10)
>>> round(float(schedule(0)), 4), round(float(schedule(10)), 4), round(float(schedule(100)), 6)
(0.0, 0.1, 0.0)
"""

import math

import keras
from keras import ops

from tfvideo.layers._common import serializable

REFERENCE_BATCH = 256


def scaled_learning_rate(base_lr, global_batch, rule="linear", reference_batch=REFERENCE_BATCH):
    """`base_lr` scaled from `reference_batch` to `global_batch` by `rule` (linear|sqrt|none)."""
    if global_batch <= 0 or reference_batch <= 0:
        raise ValueError(
            f"batch sizes must be positive, got global_batch={global_batch}, "
            f"reference_batch={reference_batch}."
        )
    ratio = global_batch / reference_batch
    if rule == "linear":
        return base_lr * ratio
    if rule == "sqrt":
        return base_lr * math.sqrt(ratio)
    if rule == "none":
        return base_lr
    raise ValueError(f"`lr_scaling` must be linear, sqrt or none, got {rule!r}.")


def _warmup(step, peak_lr, warmup_steps, warmup_start_lr):
    fraction = step / ops.maximum(float(warmup_steps), 1.0)
    return warmup_start_lr + (peak_lr - warmup_start_lr) * fraction


@serializable
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from `warmup_start_lr` to `peak_lr`, then cosine decay to `final_lr`.

    Args:
        peak_lr: rate reached at the end of warmup.
        total_steps: optimizer steps of the whole run (warmup included).
        warmup_steps: steps of linear warmup (0: none).
        warmup_start_lr: rate at step 0.
        final_lr: rate at `total_steps` (and after).
    """

    def __init__(self, peak_lr, total_steps, warmup_steps=0, warmup_start_lr=0.0, final_lr=0.0):
        if total_steps <= 0:
            raise ValueError(f"`total_steps` must be positive, got {total_steps}.")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"`warmup_steps` must be in [0, total_steps={total_steps}], got {warmup_steps}."
            )
        self.peak_lr = float(peak_lr)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.warmup_start_lr = float(warmup_start_lr)
        self.final_lr = float(final_lr)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        progress = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        cosine = self.final_lr + 0.5 * (self.peak_lr - self.final_lr) * (
            1.0 + ops.cos(math.pi * progress)
        )
        if self.warmup_steps == 0:
            return cosine
        warm = _warmup(step, self.peak_lr, self.warmup_steps, self.warmup_start_lr)
        return ops.where(step < self.warmup_steps, warm, cosine)

    def get_config(self):
        return dict(
            peak_lr=self.peak_lr,
            total_steps=self.total_steps,
            warmup_steps=self.warmup_steps,
            warmup_start_lr=self.warmup_start_lr,
            final_lr=self.final_lr,
        )


@serializable
class WarmupStep(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup, then `peak_lr x factor^k` after the k-th boundary (in steps).

    Args:
        peak_lr: rate after warmup, before the first boundary.
        boundaries: increasing optimizer steps where the rate is multiplied by `factor`.
        factor: multiplier at each boundary (0.1 in the S3D / TSN recipes).
        warmup_steps: steps of linear warmup (0: none).
        warmup_start_lr: rate at step 0.
    """

    def __init__(self, peak_lr, boundaries, factor=0.1, warmup_steps=0, warmup_start_lr=0.0):
        boundaries = [int(b) for b in boundaries]
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"`boundaries` must be strictly increasing, got {boundaries}.")
        self.peak_lr = float(peak_lr)
        self.boundaries = boundaries
        self.factor = float(factor)
        self.warmup_steps = int(warmup_steps)
        self.warmup_start_lr = float(warmup_start_lr)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        passed = ops.zeros((), "float32")
        for boundary in self.boundaries:
            passed = passed + ops.cast(step >= boundary, "float32")
        stepped = self.peak_lr * ops.power(self.factor, passed)
        if self.warmup_steps == 0:
            return stepped
        warm = _warmup(step, self.peak_lr, self.warmup_steps, self.warmup_start_lr)
        return ops.where(step < self.warmup_steps, warm, stepped)

    def get_config(self):
        return dict(
            peak_lr=self.peak_lr,
            boundaries=list(self.boundaries),
            factor=self.factor,
            warmup_steps=self.warmup_steps,
            warmup_start_lr=self.warmup_start_lr,
        )


@serializable
class PerUpdate(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule` counted in optimizer updates under gradient accumulation: Keras evaluates a
    schedule at its batch counter (`optimizer._iterations`), which runs `accumulation` times
    faster than the updates (`optimizer.iterations`); this divides it back.

        >>> float(PerUpdate(WarmupCosine(1.0, 4), 2)(5)) == float(WarmupCosine(1.0, 4)(2))
        True
    """

    def __init__(self, schedule, accumulation):
        if isinstance(schedule, dict):
            schedule = keras.saving.deserialize_keras_object(schedule)
        self.schedule = schedule
        self.accumulation = int(accumulation)

    def __call__(self, step):
        return self.schedule(ops.floor_divide(ops.cast(step, "int64"), self.accumulation))

    def get_config(self):
        return dict(
            schedule=keras.saving.serialize_keras_object(self.schedule),
            accumulation=self.accumulation,
        )


def build_schedule(
    name,
    peak_lr,
    total_steps,
    warmup_steps=0,
    warmup_start_lr=0.0,
    final_lr=0.0,
    boundaries=(),
    factor=0.1,
):
    """`"cosine"` -> `WarmupCosine`, `"step"` -> `WarmupStep`, `"constant"` -> float."""
    if name == "cosine":
        return WarmupCosine(peak_lr, total_steps, warmup_steps, warmup_start_lr, final_lr)
    if name == "step":
        return WarmupStep(peak_lr, boundaries, factor, warmup_steps, warmup_start_lr)
    if name == "constant":
        return float(peak_lr)
    raise ValueError(f"`schedule` must be cosine, step or constant, got {name!r}.")
