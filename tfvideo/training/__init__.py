"""Training and evaluation: strategies, schedules, optimizers, callbacks, the fit loop with exact
step-level resumption, multi-view evaluation metrics and plots.

Example:

>>> from tfvideo.training import TrainConfig, scaled_learning_rate
>>> scaled_learning_rate(0.1, global_batch=64)
0.025
>>> TrainConfig().optimizer
'sgd'
"""

from tfvideo.optim.optimizers import SGDL2, build_optimizer, no_decay_variables
from tfvideo.optim.schedules import (
    WarmupCosine,
    WarmupStep,
    build_schedule,
    scaled_learning_rate,
)
from tfvideo.training.callbacks import (
    AtomicCheckpoint,
    NonFiniteLossError,
    StepBackup,
    StopOnNonFiniteLoss,
    read_backup_state,
)
from tfvideo.training.datasets import DataConfig, load_datasets, make_sampler
from tfvideo.training.evaluation import evaluate_model, write_report
from tfvideo.training.loop import TrainConfig, train
from tfvideo.training.metrics import (
    confusion_matrix,
    mean_class_accuracy,
    per_class_report,
    summarize,
    top_k_accuracy,
)
from tfvideo.training.strategy import configure_cpu_devices, select_strategy

__all__ = [
    "AtomicCheckpoint",
    "DataConfig",
    "NonFiniteLossError",
    "SGDL2",
    "StepBackup",
    "StopOnNonFiniteLoss",
    "TrainConfig",
    "WarmupCosine",
    "WarmupStep",
    "build_optimizer",
    "build_schedule",
    "configure_cpu_devices",
    "confusion_matrix",
    "evaluate_model",
    "load_datasets",
    "make_sampler",
    "mean_class_accuracy",
    "no_decay_variables",
    "per_class_report",
    "read_backup_state",
    "scaled_learning_rate",
    "select_strategy",
    "summarize",
    "top_k_accuracy",
    "train",
    "write_report",
]
