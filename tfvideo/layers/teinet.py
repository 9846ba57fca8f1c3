"""TEINet's temporal modules (Liu et al., AAAI 2020): MEM, TIM and TEI."""

import math

import keras
import numpy as np
from keras import ops

from tfvideo.layers._common import (
    TemporalLayer,
    causal_conv_step,
    check_choice,
    check_divisible,
    check_odd,
    check_positive_int,
    folded_call,
    from_time_view,
    history_state_shapes,
    prefixed_state_shapes,
    serializable,
    split_states,
    temporal_depthwise_conv,
    to_time_view,
    with_history,
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

    `causal=True`: the difference is current minus previous, with the same roles
    (`fc2` reads the later frame), and the *first* frame passes unchanged:

        d_t = fc2(s_t) - fc1(s_{t-1}),  a_t = sigmoid(fc3(d_t))   for t >= 1
        y_0 = x_0

    Streaming carries `"prev"` = `fc1(s_{t-1})` `[B, 1, C / reduction]` and
    `"seen"` `[B, 1]` (0 before the first frame of a stream, then 1).

    Args:
        num_frames: frames per clip, folded into the batch.
        reduction: channel reduction of the bottleneck (default 8).
        causal: difference with the previous frame (see above).

    Example:
    >>> import keras
    >>> from tfvideo.layers import MotionEnhancement
    >>> x = keras.random.normal((2 * 8, 7, 7, 64))
    >>> tuple(MotionEnhancement(num_frames=8)(x).shape)
    (16, 7, 7, 64)
    """

    def __init__(self, num_frames, reduction=8, causal=False, **kwargs):
        super().__init__(num_frames, causal=causal, **kwargs)
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
        ones = ops.ones_like(s[:, :1])
        if self.causal:
            a = ops.sigmoid(self.fc3(self.fc2(s[:, 1:]) - self.fc1(s[:, :-1])))
            return ops.expand_dims(ops.concatenate([ones, a], axis=1), 2)
        d = self.fc2(s[:, 1:]) - self.fc1(s[:, :-1])
        a = ops.sigmoid(self.fc3(d))
        a = ops.concatenate([a, ones], axis=1)
        return ops.expand_dims(a, 2)

    @folded_call
    def call(self, inputs):
        x = to_time_view(inputs, self.num_frames)
        return from_time_view(x * self._attention(x), inputs)

    def stream_state_shapes(self, input_shape, step_frames=1):
        self._check_streamable()
        return {"prev": (1, self.fc1.units), "seen": (1,)}

    def stream_step(self, inputs, states, step_frames=1):
        self._check_streamable()
        x = to_time_view(inputs, step_frames)
        s = ops.mean(x, axis=2)
        full, prev = with_history(states["prev"], self.fc1(s), 1)
        a = ops.sigmoid(self.fc3(self.fc2(s) - full[:, :-1]))
        # The first frame of a stream passes unchanged: attention 1 where nothing was seen.
        seen = ops.expand_dims(states["seen"], -1)
        a = ops.concatenate([a[:, :1] * seen + (1.0 - seen), a[:, 1:]], axis=1)
        y = x * ops.expand_dims(a, 2)
        return from_time_view(y, inputs), {"prev": prev, "seen": ops.ones_like(states["seen"])}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"reduction": self.reduction})
        return config


def _tim_initializer(kind, kernel_size, shift_div, causal=False):
    """Returns the initial `[kernel_size, C]` TIM kernel as a callable (the current frame's
    tap is the centre row, or the last row when causal)."""
    centre = kernel_size - 1 if causal else kernel_size // 2

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
            if causal:  # the online TSM pattern
                w[centre - 1, :fold] = 1.0  # frame t reads t - 1
                w[centre, fold:] = 1.0
                return ops.convert_to_tensor(w, dtype=dtype)
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

    `causal=True` left-pads the kernel: `y[t, c] = sum_i kernel[i, c] *
    x[t - (k - 1) + i, c]` (row `k - 1` is frame t; zeros before the clip). Its
    `"shift"` init is the online TSM pattern (channels `[0, fold)` read `t - 1`,
    the rest read `t`), equal to `TemporalShift(..., causal=True)`; `"identity"`
    puts 1 on the last row. Any `kernel_size >= 2` (`>= 1` unless "shift").
    Streaming carries the last `k - 1` frames, `"history"` `[B, k - 1, H*W, C]`.

    Args:
        num_frames: frames per clip, folded into the batch.
        kernel_size: odd temporal kernel size (default 3).
        initializer: `"shift"`, `"identity"` or `"random"`.
        shift_div: channel fraction of each shifted slice for `"shift"`.
        causal: left-padded kernel (see above).

    Example:
    >>> import keras
    >>> from tfvideo.layers import TemporalInteraction
    >>> x = keras.random.normal((2 * 8, 7, 7, 64))
    >>> tuple(TemporalInteraction(num_frames=8)(x).shape)
    (16, 7, 7, 64)
    """

    def __init__(
        self, num_frames, kernel_size=3, initializer="shift", shift_div=8, causal=False, **kwargs
    ):
        super().__init__(num_frames, causal=causal, **kwargs)
        check = check_positive_int if causal else check_odd
        self.kernel_size = check("kernel_size", kernel_size)
        self.initializer = check_choice("initializer", initializer, TIM_INITIALIZERS)
        self.shift_div = check_positive_int("shift_div", shift_div)
        needed = 2 if causal else 3
        if initializer == "shift" and kernel_size < needed:
            raise ValueError(
                f"`kernel_size` must be at least {needed} for initializer='shift' (the "
                f"shift reads frame t-1{'' if causal else ' and t+1'}), got {kernel_size}."
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
            initializer=_tim_initializer(
                self.initializer, self.kernel_size, self.shift_div, self.causal
            ),
        )

    @folded_call
    def call(self, inputs):
        x = to_time_view(inputs, self.num_frames)
        k = self.kernel_size
        pads = (k - 1, 0) if self.causal else (k // 2, k // 2)
        return from_time_view(temporal_depthwise_conv(x, self.kernel, *pads), inputs)

    def stream_state_shapes(self, input_shape, step_frames=1):
        self._check_streamable()
        return history_state_shapes(input_shape, self.kernel_size - 1)

    def stream_step(self, inputs, states, step_frames=1):
        self._check_streamable()
        return causal_conv_step(inputs, states, self.kernel, step_frames)

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
    unchanged (attention 1). `causal=True` makes both causal (MEM: current minus
    previous, the first frame unchanged; TIM: left-padded kernel); streaming
    carries their states as `"mem_prev"`, `"mem_seen"` and `"tim_history"`.

    Args:
        num_frames: frames per clip, folded into the batch.
        reduction: MEM channel reduction (default 8).
        tim_initializer: `"shift"`, `"identity"` or `"random"`.
        tim_kernel_size: odd TIM temporal kernel size (default 3).
        shift_div: TIM shift fraction for `"shift"` (default 8).
        causal: causal MEM and TIM.

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
        causal=False,
        **kwargs,
    ):
        super().__init__(num_frames, causal=causal, **kwargs)
        self.reduction = reduction
        self.tim_initializer = tim_initializer
        self.tim_kernel_size = tim_kernel_size
        self.shift_div = shift_div
        self.mem = MotionEnhancement(
            num_frames, reduction=reduction, causal=causal, **self.sublayer_kwargs("mem")
        )
        self.tim = TemporalInteraction(
            num_frames,
            kernel_size=tim_kernel_size,
            initializer=tim_initializer,
            shift_div=shift_div,
            causal=causal,
            **self.sublayer_kwargs("tim"),
        )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.mem.build(input_shape)
        self.tim.build(input_shape)

    @folded_call
    def call(self, inputs):
        return self.tim(self.mem(inputs))

    def stream_state_shapes(self, input_shape, step_frames=1):
        return prefixed_state_shapes(self, (self.mem, self.tim), input_shape, step_frames)

    def stream_step(self, inputs, states, step_frames=1):
        self._check_streamable()
        new = {}
        x = inputs
        for part in (self.mem, self.tim):
            x, part_states = part.stream_step(x, split_states(states, part.name), step_frames)
            new.update({f"{part.name}_{k}": v for k, v in part_states.items()})
        return x, new

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
