"""TEINet's temporal modules (Liu et al., AAAI 2020): MEM, TIM and TEI."""

import math

import keras
import numpy as np
from keras import ops

from tfvideo.layers._common import (
    TemporalLayer,
    check_choice,
    check_divisible,
    check_odd,
    check_positive_int,
    folded_call,
    from_time_view,
    serializable,
    temporal_depthwise_conv,
    to_time_view,
)

TIM_INITIALIZERS = ("shift", "identity", "random")


@serializable
class MotionEnhancement(TemporalLayer):
    """TEINet's Motion Enhanced Module (MEM): difference-driven channel attention.

    On input `[batch * num_frames, H, W, C]`, with `s_t = mean_{H,W}(x_t)`:

        d_t = fc2(s_{t+1}) - fc1(s_t)           (difference = next - current)
        a_t = sigmoid(fc3(d_t))                 (sigmoid last, as in the paper)
        y_t = a_t * x_t                         for t < T - 1
        y_{T-1} = x_{T-1}                       (last frame: attention 1)

    `fc1`, `fc2` map `C -> C / reduction` and `fc3` maps `C / reduction -> C`,
    all with bias; there is no BN. The last frame has no successor, so it
    passes through unchanged (attention exactly 1) rather than being scaled by
    `sigmoid(fc3(0))`.

    Args:
        num_frames: frames per clip, folded into the batch.
        reduction: channel reduction of the bottleneck (default 8).

    Example:
    >>> import keras
    >>> from tfvideo.layers import MotionEnhancement
    >>> x = keras.random.normal((2 * 8, 7, 7, 64))
    >>> tuple(MotionEnhancement(num_frames=8)(x).shape)
    (16, 7, 7, 64)
    """

    def __init__(self, num_frames, reduction=8, **kwargs):
        super().__init__(num_frames, **kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.fc1 = self.fc2 = self.fc3 = None

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        channels = input_shape[-1]
        hidden = check_divisible(
            "MotionEnhancement: input channels", channels, "reduction", self.reduction
        )
        self.fc1 = keras.layers.Dense(hidden, **self.sublayer_kwargs("fc1"))
        self.fc2 = keras.layers.Dense(hidden, **self.sublayer_kwargs("fc2"))
        self.fc3 = keras.layers.Dense(channels, **self.sublayer_kwargs("fc3"))
        self.fc1.build((None, self.num_frames, channels))
        self.fc2.build((None, self.num_frames, channels))
        self.fc3.build((None, self.num_frames - 1, hidden))

    def _attention(self, x):
        """Channel attention `[B, T, 1, C]` of a `[B, T, H*W, C]` view."""
        s = ops.mean(x, axis=2)
        d = self.fc2(s[:, 1:]) - self.fc1(s[:, :-1])
        a = ops.sigmoid(self.fc3(d))
        a = ops.concatenate([a, ops.ones_like(s[:, :1])], axis=1)
        return ops.expand_dims(a, 2)

    @folded_call
    def call(self, inputs):
        x = to_time_view(inputs, self.num_frames)
        return from_time_view(x * self._attention(x), inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"reduction": self.reduction})
        return config


def _tim_initializer(kind, kernel_size, shift_div):
    """Returns the initial `[kernel_size, C]` TIM kernel as a callable."""
    centre = kernel_size // 2

    def init(shape, dtype=None):
        k, channels = shape
        if kind == "random":
            # PyTorch's default for a depthwise conv: U(-1/sqrt(fan_in), +).
            bound = 1.0 / math.sqrt(k)
            return keras.random.uniform(shape, -bound, bound, dtype=dtype)
        w = np.zeros(shape, dtype="float32")
        if kind == "identity":
            w[centre] = 1.0
        else:  # "shift": the TSM pattern.
            fold = channels // shift_div
            w[centre + 1, :fold] = 1.0  # frame t reads t + 1
            w[centre - 1, fold : 2 * fold] = 1.0  # frame t reads t - 1
            w[centre, 2 * fold :] = 1.0
        return ops.convert_to_tensor(w, dtype=dtype)

    return init


@serializable
class TemporalInteraction(TemporalLayer):
    """TEINet's Temporal Interaction Module (TIM): channel-wise temporal conv.

    `y[t, c] = sum_i kernel[i, c] * x[t + i - k // 2, c]`, no bias, zero padding
    in time. Runs as one depthwise conv with a `(k, 1)` kernel over a
    `[batch, frames, H*W, C]` view (TFLite builtin).

    Initialisations (the paper's ablation):
    - `"shift"` (default, best in the paper): the TSM pattern; with
      `fold = C // shift_div`, channels `[0, fold)` read frame `t + 1`,
      channels `[fold, 2 fold)` read frame `t - 1`, the rest read frame `t`.
      At init the layer equals `TemporalShift(num_frames, shift_div)` exactly.
    - `"identity"` ("TSN"): centre tap 1, so the layer returns its input.
    - `"random"`: uniform in `+-1/sqrt(kernel_size)` (PyTorch's default).

    Args:
        num_frames: frames per clip, folded into the batch.
        kernel_size: odd temporal kernel size (default 3).
        initializer: `"shift"`, `"identity"` or `"random"`.
        shift_div: channel fraction of each shifted slice for `"shift"`.

    Example:
    >>> import keras
    >>> from tfvideo.layers import TemporalInteraction
    >>> x = keras.random.normal((2 * 8, 7, 7, 64))
    >>> tuple(TemporalInteraction(num_frames=8)(x).shape)
    (16, 7, 7, 64)
    """

    def __init__(self, num_frames, kernel_size=3, initializer="shift", shift_div=8, **kwargs):
        super().__init__(num_frames, **kwargs)
        self.kernel_size = check_odd("kernel_size", kernel_size)
        self.initializer = check_choice("initializer", initializer, TIM_INITIALIZERS)
        self.shift_div = check_positive_int("shift_div", shift_div)
        if initializer == "shift" and kernel_size < 3:
            raise ValueError(
                "`kernel_size` must be at least 3 for initializer='shift' (the "
                f"shift reads frames t-1 and t+1), got {kernel_size}."
            )
        if initializer == "shift" and shift_div < 2:
            raise ValueError(f"`shift_div` must be at least 2, got {shift_div}.")

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        if self.initializer == "shift" and input_shape[-1] < self.shift_div:
            raise ValueError(
                f"TemporalInteraction: channels ({input_shape[-1]}) must be at "
                f"least `shift_div` ({self.shift_div}) for initializer='shift'."
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, input_shape[-1]),
            initializer=_tim_initializer(self.initializer, self.kernel_size, self.shift_div),
        )

    @folded_call
    def call(self, inputs):
        x = to_time_view(inputs, self.num_frames)
        pad = self.kernel_size // 2
        return from_time_view(temporal_depthwise_conv(x, self.kernel, pad, pad), inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "initializer": self.initializer,
                "shift_div": self.shift_div,
            }
        )
        return config


@serializable
class TemporalEnhancementInteraction(TemporalLayer):
    """TEINet's TEI module: `TIM(MEM(x))`.

    See `MotionEnhancement` (attributes `mem`) and `TemporalInteraction`
    (attribute `tim`) for the exact equations; the last frame passes MEM
    unchanged (attention 1).

    Args:
        num_frames: frames per clip, folded into the batch.
        reduction: MEM channel reduction (default 8).
        tim_initializer: `"shift"`, `"identity"` or `"random"`.
        tim_kernel_size: odd TIM temporal kernel size (default 3).
        shift_div: TIM shift fraction for `"shift"` (default 8).

    Example:
    >>> import keras
    >>> from tfvideo.layers import TemporalEnhancementInteraction
    >>> x = keras.random.normal((2 * 8, 7, 7, 64))
    >>> tuple(TemporalEnhancementInteraction(num_frames=8)(x).shape)
    (16, 7, 7, 64)
    """

    def __init__(
        self,
        num_frames,
        reduction=8,
        tim_initializer="shift",
        tim_kernel_size=3,
        shift_div=8,
        **kwargs,
    ):
        super().__init__(num_frames, **kwargs)
        self.reduction = reduction
        self.tim_initializer = tim_initializer
        self.tim_kernel_size = tim_kernel_size
        self.shift_div = shift_div
        self.mem = MotionEnhancement(num_frames, reduction=reduction, **self.sublayer_kwargs("mem"))
        self.tim = TemporalInteraction(
            num_frames,
            kernel_size=tim_kernel_size,
            initializer=tim_initializer,
            shift_div=shift_div,
            **self.sublayer_kwargs("tim"),
        )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.mem.build(input_shape)
        self.tim.build(input_shape)

    @folded_call
    def call(self, inputs):
        return self.tim(self.mem(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "tim_initializer": self.tim_initializer,
                "tim_kernel_size": self.tim_kernel_size,
                "shift_div": self.shift_div,
            }
        )
        return config
