"""Optimizers: SGD (momentum / Nesterov) with PyTorch-style L2, AdamW with decoupled decay.

Weight decay skips every variable of rank <= 1: BatchNorm / LayerNorm scales and offsets and all
biases (`no_decay_variables`), as the TAda, TSM and TEINet recipes do (TAda: "BN wd 0").

- `sgd`: `SGDL2`, the update of `torch.optim.SGD(weight_decay=wd)`: the decay is added to the
  gradient (`g + wd * w`) before momentum, so the recipes' values (1e-4 .. 5e-4) mean what they
  mean in the papers. (Keras' own `weight_decay` argument is decoupled, `w -= lr * wd * w`, which
  is ~1/(1-momentum) = 10x weaker with momentum 0.9.)
- `adamw`: `keras.optimizers.AdamW` (decoupled, `w -= lr * wd * w`, like `torch.optim.AdamW`).

Gradient clipping is by global norm over all gradients (`global_clipnorm`).

Example:

>>> import keras
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
...                           keras.layers.BatchNormalization()])
>>> opt = build_optimizer("sgd", 0.1, model, weight_decay=1e-4)
>>> sorted(v.name for v in no_decay_variables(model))
['beta', 'bias', 'gamma']
"""

import keras
from keras import ops

from tfvideo.layers._common import serializable


@serializable
class SGDL2(keras.optimizers.SGD):
    """`keras.optimizers.SGD` with coupled L2 weight decay (`torch.optim.SGD` semantics).

    Args:
        l2: decay coefficient added to the gradient, `g <- g + l2 * w`, for variables not
            excluded with `exclude_from_weight_decay`.
        **kwargs: `keras.optimizers.SGD` arguments (learning_rate, momentum, nesterov,
            global_clipnorm, ...). `weight_decay` (Keras' decoupled decay) is not allowed.
    """

    def __init__(self, l2=0.0, **kwargs):
        if kwargs.get("weight_decay"):
            raise ValueError("SGDL2 takes `l2`, not Keras' decoupled `weight_decay`.")
        kwargs.pop("weight_decay", None)
        super().__init__(**kwargs)
        if l2 < 0:
            raise ValueError(f"`l2` must be >= 0, got {l2}.")
        self.l2 = float(l2)

    def update_step(self, gradient, variable, learning_rate):
        if self.l2 and self._use_weight_decay(variable):
            gradient = ops.add(ops.cast(gradient, variable.dtype),
                               ops.multiply(ops.cast(self.l2, variable.dtype), variable))
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["l2"] = self.l2
        return config


def no_decay_variables(model):
    """Trainable variables that weight decay skips: rank <= 1 (norm scales/offsets, biases)."""
    return [v for v in model.trainable_variables if len(v.shape) <= 1]


def build_optimizer(name, learning_rate, model, weight_decay=0.0, momentum=0.9, nesterov=True,
                    clipnorm=None, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    """Builds `sgd` (SGDL2) or `adamw` with weight decay excluded from `no_decay_variables(model)`.

    Args:
        name: "sgd" or "adamw".
        learning_rate: float or a `LearningRateSchedule`.
        model: the model to be trained (built), for the exclusion list.
        weight_decay: L2 (sgd) or decoupled (adamw) coefficient.
        momentum, nesterov: SGD.
        clipnorm: clip gradients to this global norm (None / 0: no clipping).
        beta_1, beta_2, epsilon: AdamW.
    """
    clip = float(clipnorm) if clipnorm else None
    name = name.lower()
    if name == "sgd":
        optimizer = SGDL2(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
                          l2=weight_decay, global_clipnorm=clip)
    elif name == "adamw":
        optimizer = keras.optimizers.AdamW(
            learning_rate=learning_rate, weight_decay=weight_decay, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon, global_clipnorm=clip)
    else:
        raise ValueError(f"`optimizer` must be sgd or adamw, got {name!r}.")
    optimizer.exclude_from_weight_decay(var_list=no_decay_variables(model))
    return optimizer
