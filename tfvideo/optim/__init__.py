"""Optimizers and learning-rate schedules, without TensorFlow.

Everything a training run's compiled `model.keras` holds (its optimizer and schedule) lives here,
so `import tfvideo` registers it on every backend and `keras.saving.load_model` reads the file
back, optimizer state included. `tfvideo.training` re-exports these names.

Example:

>>> from tfvideo.optim import WarmupCosine, scaled_learning_rate
>>> scaled_learning_rate(0.1, global_batch=64)
0.025
>>> round(float(WarmupCosine(peak_lr=0.1, total_steps=100, warmup_steps=10)(10)), 4)
0.1
"""

from tfvideo.optim.optimizers import (
    SGDL2,
    AdamWL,
    build_optimizer,
    no_decay_variables,
    optimizer_step,
    swap_in_ema,
)
from tfvideo.optim.schedules import (
    PerUpdate,
    WarmupCosine,
    WarmupStep,
    build_schedule,
    scaled_learning_rate,
)

__all__ = [
    "AdamWL",
    "PerUpdate",
    "SGDL2",
    "WarmupCosine",
    "WarmupStep",
    "build_optimizer",
    "build_schedule",
    "no_decay_variables",
    "optimizer_step",
    "scaled_learning_rate",
    "swap_in_ema",
]
