"""Optimizers: SGD (momentum / Nesterov) with PyTorch-style L2, AdamW with decoupled decay.

Weight decay skips every variable of rank <= 1: BatchNorm / LayerNorm scales and offsets and all
biases (`no_decay_variables`), as the TAda, TSM and TEINet recipes do (TAda: "BN wd 0").

- `sgd`: `SGDL2`, the update of `torch.optim.SGD(momentum, nesterov, weight_decay=wd)`: the
  decay is added to the gradient (`g + wd * w`) before momentum, so the recipes' values
  (1e-4 .. 5e-4) mean what they mean in the papers, and the learning rate multiplies the buffer
  at each step (`buf = m * buf + g; w -= lr * buf`, Nesterov `w -= lr * (g + m * buf)`), so a
  warmup or cosine schedule acts as in torch. (Keras' SGD folds the rate into the buffer,
  `v = m * v - lr * g`, which departs from torch from step 2 when the rate changes; its
  `weight_decay` argument is decoupled, `w -= lr * wd * w`, ~1/(1-momentum) = 10x weaker with
  momentum 0.9.)
- `adamw`: `keras.optimizers.AdamW` (decoupled, `w -= lr * wd * w`, like `torch.optim.AdamW`).

Gradient clipping is by global norm over all gradients (`global_clipnorm`).

Both take a learning-rate multiplier for a set of variables (`lr_scale`, `lr_scaled`: the
backbone under `--backbone_lr_mult`, as torch's parameter groups do): those variables step with
`lr_scale x lr`, their decay included (AdamW's decoupled `w -= lr_scale x lr x wd x w`). EMA of the
weights (`use_ema`) and gradient accumulation (`gradient_accumulation_steps`) are Keras' own.

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
from tfvideo.optim import schedules


class _ScaledRates:
    """Per-variable learning-rate multiplier (a mixin before the Keras optimizer class):
    variables whose path is in `lr_scaled` use `lr_scale` x the learning rate."""

    def _init_scaled_rates(self, lr_scale, lr_scaled):
        if lr_scale <= 0:
            raise ValueError(f"`lr_scale` must be > 0, got {lr_scale}.")
        self.lr_scale = float(lr_scale)
        self.lr_scaled = sorted(set(lr_scaled))

    def scale_learning_rate(self, var_list, scale):
        """Makes `var_list` step with `scale` x the learning rate (before `build`)."""
        self.lr_scale = float(scale)
        self.lr_scaled = sorted(set(self.lr_scaled) | {v.path for v in var_list})

    def _build_scaled_rates(self, variables):
        scaled = set(self.lr_scaled)
        self._scaled_keys = {self._var_key(v) for v in variables if v.path in scaled}

    def _scaled(self, variable):
        return self.lr_scale != 1.0 and self._var_key(variable) in self._scaled_keys

    def _rate(self, variable, learning_rate):
        if self._scaled(variable):
            return ops.multiply(learning_rate, ops.cast(self.lr_scale, learning_rate.dtype))
        return learning_rate

    def _scaled_rates_config(self, config):
        config["lr_scale"] = self.lr_scale
        config["lr_scaled"] = list(self.lr_scaled)
        return config


@serializable
class SGDL2(_ScaledRates, keras.optimizers.SGD):
    """SGD with momentum / Nesterov and coupled L2 decay, the update of `torch.optim.SGD`.

    Per step, with `lr` the current rate (`dampening` 0, as in torch's default):

        g <- g + l2 * w                    (variables not excluded from weight decay)
        buf <- momentum * buf + g          (buf starts at 0, so buf = g at step 1, as torch)
        w <- w - lr * (g + momentum * buf)  if nesterov,  else  w <- w - lr * buf

    The state (`momentums`) is torch's `momentum_buffer`, not Keras' velocity (`-lr * buf`
    while the rate is constant). Variables excluded with `exclude_from_weight_decay(var_list)`
    are remembered by path in the config (`l2_exclude`), so a `.keras` model reloaded with its
    optimizer still skips them.

    Args:
        l2: decay coefficient added to the gradient, `g <- g + l2 * w`, for variables not
            excluded with `exclude_from_weight_decay`.
        l2_exclude: variable paths (`Variable.path`) excluded from the decay (the config form
            of `exclude_from_weight_decay(var_list=...)`).
        lr_scale, lr_scaled: learning-rate multiplier and the variable paths it applies to
            (`scale_learning_rate`).
        **kwargs: `keras.optimizers.SGD` arguments (learning_rate, momentum, nesterov,
            global_clipnorm, use_ema, gradient_accumulation_steps, ...). `weight_decay`
            (Keras' decoupled decay) is not allowed.
    """

    def __init__(self, l2=0.0, l2_exclude=(), lr_scale=1.0, lr_scaled=(), **kwargs):
        if kwargs.get("weight_decay"):
            raise ValueError("SGDL2 takes `l2`, not Keras' decoupled `weight_decay`.")
        kwargs.pop("weight_decay", None)
        super().__init__(**kwargs)
        if l2 < 0:
            raise ValueError(f"`l2` must be >= 0, got {l2}.")
        self.l2 = float(l2)
        self.l2_exclude = sorted(set(l2_exclude))
        self._init_scaled_rates(lr_scale, lr_scaled)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        super().exclude_from_weight_decay(var_list=var_list, var_names=var_names)
        paths = [getattr(v, "path", None) for v in var_list or ()]
        self.l2_exclude = sorted(set(self.l2_exclude) | {p for p in paths if p})

    def build(self, variables):
        if not self.built and self.l2_exclude:
            excluded = set(self.l2_exclude)
            keys = getattr(self, "_exclude_from_weight_decay", set())
            self._exclude_from_weight_decay = keys | {
                self._var_key(v) for v in variables if getattr(v, "path", None) in excluded
            }
            self._exclude_from_weight_decay_cache = {}
        self._build_scaled_rates(variables)
        super().build(variables)

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(self._rate(variable, learning_rate), variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.l2 and self._use_weight_decay(variable):
            gradient = ops.add(gradient, ops.multiply(ops.cast(self.l2, variable.dtype), variable))
        if self.momentum != 0:
            buffer = self.momentums[self._get_variable_index(variable)]
            momentum = ops.cast(self.momentum, variable.dtype)
            new_buffer = ops.add(ops.multiply(buffer, momentum), gradient)
            self.assign(buffer, new_buffer)
            if self.nesterov:
                gradient = ops.add(gradient, ops.multiply(new_buffer, momentum))
            else:
                gradient = new_buffer
        self.assign_sub(variable, ops.multiply(gradient, learning_rate))

    def get_config(self):
        config = super().get_config()
        config["l2"] = self.l2
        config["l2_exclude"] = list(self.l2_exclude)
        return self._scaled_rates_config(config)


@serializable
class AdamWL(_ScaledRates, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with a learning-rate multiplier for some variables (`lr_scale`,
    `lr_scaled`), their decoupled decay scaled too (`w -= lr_scale x lr x wd x w`, torch's
    AdamW with a parameter group at `lr_scale x lr`). Equal to AdamW when nothing is scaled."""

    def __init__(self, lr_scale=1.0, lr_scaled=(), **kwargs):
        super().__init__(**kwargs)
        self._init_scaled_rates(lr_scale, lr_scaled)

    def build(self, variables):
        self._build_scaled_rates(variables)
        # The scaled variables decay in `update_step`, at their own rate.
        self._scaled_decay_keys = {
            self._var_key(v) for v in variables if self._scaled(v) and self._use_weight_decay(v)
        }
        excluded = getattr(self, "_exclude_from_weight_decay", set())
        self._exclude_from_weight_decay = excluded | self._scaled_decay_keys
        self._exclude_from_weight_decay_cache = {}
        super().build(variables)

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = self._rate(variable, learning_rate)
        if self._var_key(variable) in self._scaled_decay_keys:
            rate = ops.cast(learning_rate, variable.dtype)
            decay = ops.cast(self.weight_decay, variable.dtype)
            self.assign(variable, variable - variable * decay * rate)
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return self._scaled_rates_config(super().get_config())


def no_decay_variables(model):
    """Trainable variables that weight decay skips: rank <= 1 (norm scales/offsets, biases)."""
    return [v for v in model.trainable_variables if len(v.shape) <= 1]


def build_optimizer(
    name,
    learning_rate,
    model,
    weight_decay=0.0,
    momentum=0.9,
    nesterov=True,
    clipnorm=None,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-8,
    ema_momentum=None,
    grad_accum=1,
    scaled=(),
    lr_scale=1.0,
):
    """Builds `sgd` (SGDL2) or `adamw` with weight decay excluded from `no_decay_variables(model)`.

    Args:
        name: "sgd" or "adamw".
        learning_rate: float or a `LearningRateSchedule`.
        model: the model to be trained (built), for the exclusion list.
        weight_decay: L2 (sgd) or decoupled (adamw) coefficient.
        momentum, nesterov: SGD.
        clipnorm: clip gradients to this global norm (None / 0: no clipping).
        beta_1, beta_2, epsilon: AdamW.
        ema_momentum: keep an EMA of the weights with this momentum (Keras' `use_ema`;
            None: no EMA).
        grad_accum: average the gradients of this many batches per update (Keras'
            `gradient_accumulation_steps`; 1: none). `optimizer.iterations` counts updates,
            and so does a schedule (`schedules.PerUpdate`: Keras evaluates it per batch).
        scaled, lr_scale: variables stepping at `lr_scale` x the learning rate.
    """
    clip = float(clipnorm) if clipnorm else None
    name = name.lower()
    schedule_type = keras.optimizers.schedules.LearningRateSchedule
    if grad_accum > 1 and isinstance(learning_rate, schedule_type):
        learning_rate = schedules.PerUpdate(learning_rate, grad_accum)
    common = dict(
        learning_rate=learning_rate,
        global_clipnorm=clip,
        use_ema=ema_momentum is not None,
        ema_momentum=0.99 if ema_momentum is None else float(ema_momentum),
        gradient_accumulation_steps=int(grad_accum) if grad_accum > 1 else None,
    )
    # Keras' own AdamW unless rates are scaled (a .keras file then loads without tfvideo).
    rates = dict(lr_scale=lr_scale, lr_scaled=[v.path for v in scaled]) if lr_scale != 1 else {}
    if name == "sgd":
        optimizer = SGDL2(momentum=momentum, nesterov=nesterov, l2=weight_decay, **common, **rates)
    elif name == "adamw":
        optimizer = (AdamWL if rates else keras.optimizers.AdamW)(
            weight_decay=weight_decay,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            **common,
            **rates,
        )
    else:
        raise ValueError(f"`optimizer` must be sgd or adamw, got {name!r}.")
    optimizer.exclude_from_weight_decay(var_list=no_decay_variables(model))
    return optimizer


def swap_in_ema(model):
    """Writes the optimizer's EMA of the weights into `model`'s trainable variables (what
    Keras' `fit` does at its end with `use_ema`; the loop defers it to the end of the run, so
    a run resumed in several `fit` calls keeps training the raw weights). No-op without EMA."""
    optimizer = model.optimizer
    if optimizer is not None and getattr(optimizer, "use_ema", False) and optimizer.built:
        optimizer._overwrite_model_variables_with_average_value(optimizer._trainable_variables)


def optimizer_step(optimizer):
    """`optimizer.iterations` as an int on every backend (with gradient accumulation Keras
    returns a tensor: batches // accumulation steps)."""
    return int(ops.convert_to_numpy(optimizer.iterations))
