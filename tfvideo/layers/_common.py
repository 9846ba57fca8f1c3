"""Shared argument checks and temporal tensor helpers for `tfvideo.layers`.

Everything here is written with `keras.ops` only, so the layers run on the
TensorFlow, JAX and PyTorch backends, and every op lowers to a TFLite builtin
(reshape, pad, strided slice, concatenation, depthwise conv).
"""

import functools

import keras
import numpy as np
from keras import ops


# ---------------------------------------------------------------------------
# Argument checks: every one raises a ValueError naming the argument and why.
# ---------------------------------------------------------------------------
def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return value


def check_odd(name, value):
    check_positive_int(name, value)
    if value % 2 == 0:
        raise ValueError(
            f"`{name}` must be odd (the kernel is centred on the current frame "
            f"or pixel and padded symmetrically), got {value}."
        )
    return value


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {value!r}.")
    return value


def check_divisible(channels_name, channels, divisor_name, divisor):
    if channels % divisor != 0:
        raise ValueError(
            f"{channels_name} ({channels}) must be divisible by `{divisor_name}` ({divisor})."
        )
    return channels // divisor


def int_pair(name, value):
    """Returns `(a, b)` from an int or a length-2 sequence of positive ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    try:
        value = tuple(value)
    except TypeError:
        raise ValueError(f"`{name}` must be an int or a pair of ints, got {value!r}.") from None
    if len(value) != 2:
        raise ValueError(f"`{name}` must be an int or a pair of ints, got {value!r}.")
    for v in value:
        check_positive_int(name, v)
    return value


def check_rank(layer, input_shape, rank, layout):
    if len(input_shape) != rank:
        raise ValueError(
            f"{type(layer).__name__} expects a {rank}D input {layout}, got shape "
            f"{tuple(input_shape)}."
        )
    if input_shape[-1] is None:
        raise ValueError(
            f"{type(layer).__name__} needs a known channel dimension, got shape "
            f"{tuple(input_shape)}."
        )


def check_folded_batch(layer, batch, num_frames):
    """Raises when a statically known folded batch is not a multiple of frames."""
    if isinstance(batch, int) and batch % num_frames != 0 and not _is_shape_only_trace(batch):
        raise ValueError(
            f"{type(layer).__name__}: the folded batch (batch * frames = {batch}) is "
            f"not divisible by `num_frames` ({num_frames}); the input must be "
            f"[batch * {num_frames}, height, width, channels]."
        )


def conv_output_length(size, kernel, stride, padding):
    """Output length of a conv/pool; `padding` is "same", "valid" or an int
    (symmetric explicit padding, then VALID). `None` stays `None`."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    pad = 0 if padding == "valid" else 2 * padding
    return (size + pad - kernel) // stride + 1


def clone_initializer(initializer):
    """A fresh copy, so two weights never share one unseeded initializer
    (a shared instance returns identical values on every call)."""
    return initializer.__class__.from_config(initializer.get_config())


# ---------------------------------------------------------------------------
# Temporal views and ops on a [batch, frames, positions, channels] view.
# ---------------------------------------------------------------------------
def to_time_view(x, num_frames):
    """`[B*T, H, W, C]` -> `[B, T, H*W, C]` (a free reshape, no transpose)."""
    _, h, w, c = ops.shape(x)
    return ops.reshape(x, (-1, num_frames, h * w, c))


def from_time_view(x4, like):
    """`[B, T, H*W, C]` -> `[B*T, H, W, C]` with the spatial shape of `like`."""
    _, h, w, _ = ops.shape(like)
    return ops.reshape(x4, (-1, h, w, ops.shape(x4)[-1]))


def shift_time(x, offset, axis=1):
    """`y[:, t] = x[:, t + offset]`, zero where `t + offset` is outside the clip.

    Built from a strided slice and a zero pad (TFLite builtins). `offset > 0`
    reads later frames ("shift left"), `offset < 0` earlier frames.
    """
    if offset == 0:
        return x
    frames = x.shape[axis]
    if frames is not None and abs(offset) >= frames:
        return ops.zeros_like(x)
    index = [slice(None)] * len(x.shape)
    pad = [[0, 0] for _ in x.shape]
    if offset > 0:
        index[axis] = slice(offset, None)
        pad[axis] = [0, offset]
    else:
        index[axis] = slice(None, offset)
        pad[axis] = [-offset, 0]
    return ops.pad(x[tuple(index)], pad)


def temporal_depthwise_conv(x4, kernel, pad_before, pad_after):
    """Channel-wise temporal convolution of a `[B, T, P, C]` view.

    `y[:, t, :, c] = sum_i kernel[i, c] * x[:, t + i - pad_before, :, c]`, with
    zeros outside the clip. Runs as one depthwise conv with a `(k, 1)` kernel
    (TFLite DEPTHWISE_CONV_2D).

    Args:
        x4: `[B, T, P, C]` tensor.
        kernel: `[k, C]` per-channel temporal weights.
        pad_before, pad_after: zero frames added before / after the clip;
            `pad_before + pad_after == k - 1` keeps the number of frames.
    """
    k, c = kernel.shape
    kernel = ops.reshape(kernel, (k, 1, c, 1))
    if pad_before == pad_after and pad_before + pad_after == k - 1:
        padding = "same"
    else:
        if pad_before or pad_after:
            x4 = ops.pad(x4, [[0, 0], [pad_before, pad_after], [0, 0], [0, 0]])
        padding = "valid"
    return ops.depthwise_conv(x4, kernel, strides=1, padding=padding)


def temporal_avg_pool3(x4, pad_before=1, pad_after=1):
    """PyTorch `AvgPool(3, stride 1, padding 1)` over axis 1 of `[B, T, P, C]`,
    counting the padding: `y[t] = (x[t-1] + x[t] + x[t+1]) / 3` with zero
    frames outside the clip, so the end frames are divided by 3 too
    (`count_include_pad=True`). Zero pad + VALID `(3, 1)` 2D average pool
    (TFLite builtins; faster on CPU than a shifted sum). `pad_before=2,
    pad_after=0` is the causal form `(x[t-2] + x[t-1] + x[t]) / 3`; `0, 0`
    pools a clip whose first two frames are the history.
    """
    if pad_before or pad_after:
        x4 = ops.pad(x4, [[0, 0], [pad_before, pad_after], [0, 0], [0, 0]])
    return ops.average_pool(x4, (3, 1), strides=1, padding="valid")


# ---------------------------------------------------------------------------
# Streaming: a causal layer carries the last frames it needs from step to step.
# ---------------------------------------------------------------------------
def with_history(history, x, keep):
    """`concat([history, x], axis=1)` and its last `keep` frames (the next history).

    `history` is None when `keep == 0` (a kernel of one frame needs no state).
    """
    if not keep:
        return x, None
    full = ops.concatenate([history, x], axis=1)
    return full, full[:, -keep:]


def history_state_shapes(input_shape, frames):
    """The `"history"` state of a causal temporal kernel that reads the last `frames` frames
    besides the current one: `{"history": (frames, H*W, C)}`, none for `frames == 0`."""
    _, h, w, c = input_shape
    return {"history": (frames, h * w, c)} if frames else {}


def causal_conv_step(inputs, states, kernel, step_frames):
    """One streaming step of a left-padded temporal depthwise conv `kernel` `[k, C]`:
    `(y, new_states)`, `y` of the `step_frames` new frames `[B * step_frames, H, W, C]`."""
    keep = kernel.shape[0] - 1
    full, history = with_history(states.get("history"), to_time_view(inputs, step_frames), keep)
    y = from_time_view(temporal_depthwise_conv(full, kernel, 0, 0), inputs)
    return y, ({"history": history} if keep else {})


def prefixed_state_shapes(layer, parts, input_shape, step_frames):
    """The states of a layer made of causal `parts` that all see `input_shape`, each named
    `{part.name}_{state}`."""
    layer._check_streamable()
    return {
        f"{part.name}_{key}": shape
        for part in parts
        for key, shape in part.stream_state_shapes(input_shape, step_frames).items()
    }


def split_states(states, prefix):
    """The states named `{prefix}_{state}`, keyed by `state`."""
    start = len(prefix) + 1
    return {k[start:]: v for k, v in states.items() if k.startswith(f"{prefix}_")}


def _is_shape_only_trace(batch):
    """True while Keras infers output shapes on JAX or PyTorch for an unknown batch.

    Keras traces a subclassed layer's `call` to infer shapes: JAX with `jax.eval_shape` and
    a symbolic batch `d`, PyTorch on "meta" tensors whose unknown batch is replaced by 83.
    Neither batch is a multiple of `num_frames`, so the `[-1, T, H*W, C]` reshape would
    fail; only shapes are used in such a trace, so the guarded layers return zeros of the
    output shape instead.
    """
    backend = keras.backend.backend()
    if backend not in ("jax", "torch"):
        return False
    from keras.src.backend.common.symbolic_scope import in_symbolic_scope

    if not in_symbolic_scope():
        return False
    return backend == "torch" or not isinstance(batch, int)


def folded_call(call):
    """Decorates `call` of a frame-folded layer: validates the input shape and
    answers Keras' shape-only traces on JAX and PyTorch (see `_is_shape_only_trace`)."""

    @functools.wraps(call)
    def wrapper(self, inputs, *args, **kwargs):
        self._check_input_shape(inputs.shape)
        if _is_shape_only_trace(inputs.shape[0]):
            shape = self.compute_output_shape(inputs.shape)
            zeros = lambda s: ops.zeros(s, dtype=self.compute_dtype)  # noqa: E731
            if isinstance(shape[0], tuple):
                return tuple(zeros(s) for s in shape)
            return zeros(shape)
        return call(self, inputs, *args, **kwargs)

    return wrapper


class TemporalLayer(keras.layers.Layer):
    """Base for layers on frame-folded `[batch * num_frames, H, W, C]` input.

    With `causal=True` a layer's output at frame `t` depends on frames `<= t` only, and it can
    stream: `stream_state_shapes(input_shape, step_frames)` names the states it carries (each
    at most 4-D, batch first, zeros at the start of a stream) and
    `stream_step(inputs, states, step_frames)` maps `step_frames` new frames
    `[batch * step_frames, H, W, C]` and the states to the outputs and the new states, equal
    to the clip output at those frames (`tfvideo.models.streaming` builds whole models so).
    """

    def __init__(self, num_frames, causal=False, **kwargs):
        super().__init__(**kwargs)
        self.num_frames = check_positive_int("num_frames", num_frames)
        self.causal = bool(causal)

    def _check_streamable(self):
        if not self.causal:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} is not causal: only layers built with "
                "causal=True stream (their outputs at frame t must not read later frames)."
            )

    def stream_state_shapes(self, input_shape, step_frames=1):
        """`{state name: shape without the batch axis}` for inputs `[batch * step_frames,
        H, W, C]`. A parameter-free, time-independent layer has none."""
        self._check_streamable()
        raise NotImplementedError(f"{type(self).__name__} does not implement streaming")

    def stream_step(self, inputs, states, step_frames=1):
        """`(outputs, new_states)` for `step_frames` new frames per clip (see the class)."""
        self._check_streamable()
        raise NotImplementedError(f"{type(self).__name__} does not implement streaming")

    def _check_input_shape(self, input_shape):
        check_rank(self, input_shape, 4, "[batch * num_frames, height, width, channels]")
        check_folded_batch(self, input_shape[0], self.num_frames)

    def sublayer_kwargs(self, name):
        """kwargs that make a sublayer follow this layer's dtype policy."""
        return {"name": name, "dtype": self.dtype_policy}

    def get_config(self):
        config = super().get_config()
        config.update({"num_frames": self.num_frames, "causal": self.causal})
        return config


# The one registration decorator of every tfvideo Layer, Model, schedule and optimizer:
# `.keras` files name them `tfvideo>ClassName`.
serializable = keras.saving.register_keras_serializable(package="tfvideo")


def folded_conv_weights(conv, norm) -> list:
    """`[kernel, bias]` of the convolution that computes `norm(conv(x))` in inference."""

    def value(variable, default):
        return default if variable is None else keras.ops.convert_to_numpy(variable)

    kernel = value(conv.kernel, None).astype(np.float64)
    if isinstance(conv, keras.layers.DepthwiseConv2D):  # [kh, kw, C, m]: output channel c * m + k
        kernel = kernel.reshape(*kernel.shape[:2], -1)
    bias = value(conv.bias if conv.use_bias else None, 0.0)
    gamma = value(norm.gamma if norm.scale else None, 1.0)
    beta = value(norm.beta if norm.center else None, 0.0)
    mean = value(norm.moving_mean, None).astype(np.float64)
    variance = value(norm.moving_variance, None).astype(np.float64)
    scale = np.asarray(gamma, np.float64) / np.sqrt(variance + norm.epsilon)
    return [
        (kernel * scale).reshape(conv.kernel.shape).astype(np.float32),
        ((bias - mean) * scale + beta).astype(np.float32),
    ]
