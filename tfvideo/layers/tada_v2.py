"""TAdaConvV2 layers (Huang et al., "Temporally-Adaptive Models for Efficient Video
Understanding", arXiv 2308.05787): the route function with temporal self-attention, the
calibrated depthwise conv that takes its calibration as an input, and TAdaConvNeXtV2's
LayerNorm temporal aggregation.

The equations follow `tadaconv/models/module_zoo/ops/tadaconv_v2.py` (`RouteFuncwTransformer`,
`TAdaConv2dV2`) and `tadaconv/models/module_zoo/branches/tadaconvnextv2.py` of
alibaba-mmai-research/TAdaConv. Every op lowers to a TFLite builtin (mean, conv, layer norm
arithmetic, logistic, batch matmul, softmax, transpose, reshape, pad, average pool).
"""

import keras
from keras import ops

from tfvideo.layers._common import (
    TemporalLayer,
    check_divisible,
    check_odd,
    check_positive_int,
    conv_output_length,
    folded_call,
    from_time_view,
    int_pair,
    serializable,
    temporal_avg_pool3,
    to_time_view,
)

_TRUNC_NORMAL = {"class_name": "TruncatedNormal", "config": {"mean": 0.0, "stddev": 0.02}}
QUICK_GELU_SCALE = 1.702


def quick_gelu(x):
    """CLIP's QuickGELU, `x * sigmoid(1.702 x)` (TAdaConvV2's `QuickGELU`)."""
    return x * ops.sigmoid(QUICK_GELU_SCALE * x)


@serializable
class QuickGELU(keras.layers.Layer):
    """`x * sigmoid(1.702 x)`: the activation of TAdaConvNeXtV2's MLP and route function.

    Example:
    >>> import numpy as np
    >>> from tfvideo.layers import QuickGELU
    >>> y = np.asarray(QuickGELU()(np.array([-1.0, 0.0, 2.0], "float32")))
    >>> [round(float(v), 4) for v in y]
    [-0.1542, 0.0, 1.9357]
    """

    def call(self, inputs):
        return quick_gelu(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@serializable
class RouteFuncTransformer(TemporalLayer):
    """TAdaConvV2's calibration generator (`RouteFuncwTransformer`).

    On the TAdaConv's input `[batch * num_frames, H, W, C]`, with `C' = C // reduction`:

        v     = mean_{H,W}(x)                       per-frame descriptor  [B, T, C]
        h     = QuickGELU(LN(conv_a(v)))            conv_a: temporal k0, C -> C', bias
        h     = h + attn_out(MHSA(LN_t(h)))         self-attention over the T frames
        alpha = conv_b(h) + 1,  beta = conv_b_bias(h) + 1     temporal k1, C' -> C, no bias

    Sublayers carry the release's names: `a`, `norm`, `norm_transformer`, `qkv_proj` (a Dense
    `C' -> 3C'`), `attn_out` (Dense `C' -> C'`), `b`, `b_bias`. The temporal convs pad time with
    zeros (`padding=k // 2`); both LayerNorms use eps 1e-6. The attention follows the release
    exactly, including two details that differ from textbook MHSA:

    - the `C'` channels of each of q, k, v are split as `(head_dim, heads)` (channel
      `d * heads + h` belongs to head `h`), while the attention output is merged back as
      `(heads, head_dim)` (channel `h * head_dim + d`);
    - the logits are scaled by `C' ** -0.5` (all heads' width), not `head_dim ** -0.5`.

    `b` and `b_bias` are zero-initialised, so alpha = beta = 1 at init; `a`, `qkv_proj` and
    `attn_out` start from a truncated normal (std 0.02), biases from 0.

    Args:
        num_frames: frames per clip, folded into the batch.
        reduction: channel reduction `r` (TAdaConvNeXtV2: 2); C must be divisible by it.
        kernel_sizes: odd temporal kernels `(k0, k1)` of `a` and `b` (TAdaConvNeXtV2: 3, 3).
        head_dim: width of one attention head; `C'` must be divisible by it (T/S: 48, B: 64).
        bias_calibration: also return beta (from `b_bias`), as for a conv with a bias.
        epsilon: LayerNorm epsilon.

    Returns:
        `(alpha, beta)`, each `[batch * num_frames, C]` (alpha alone without bias_calibration).

    Example:
    >>> import keras
    >>> from tfvideo.layers import RouteFuncTransformer
    >>> x = keras.random.normal((2 * 8, 7, 7, 96))
    >>> alpha, beta = RouteFuncTransformer(8, head_dim=48)(x)
    >>> tuple(alpha.shape), float(keras.ops.max(keras.ops.abs(alpha - 1)))
    ((16, 96), 0.0)
    """

    def __init__(
        self,
        num_frames,
        reduction=2,
        kernel_sizes=(3, 3),
        head_dim=48,
        bias_calibration=True,
        epsilon=1e-6,
        **kwargs,
    ):
        super().__init__(num_frames, **kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.kernel_sizes = int_pair("kernel_sizes", kernel_sizes)
        for k in self.kernel_sizes:
            check_odd("kernel_sizes", k)
        self.head_dim = check_positive_int("head_dim", head_dim)
        self.bias_calibration = bool(bias_calibration)
        self.epsilon = epsilon
        self.channels = self.hidden = self.heads = None
        self.a = self.norm = self.norm_transformer = self.qkv_proj = self.attn_out = None
        self.b = self.b_bias = None

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.channels = channels = input_shape[-1]
        self.hidden = hidden = check_divisible(
            "RouteFuncTransformer: input channels", channels, "reduction", self.reduction
        )
        self.heads = check_divisible(
            "RouteFuncTransformer: channels // reduction", hidden, "head_dim", self.head_dim
        )
        k0, k1 = self.kernel_sizes
        init = {"kernel_initializer": _TRUNC_NORMAL}
        self.a = keras.layers.Conv1D(
            hidden, k0, padding="same", **init, **self.sublayer_kwargs("a")
        )
        norm = {"epsilon": self.epsilon}
        self.norm = keras.layers.LayerNormalization(**norm, **self.sublayer_kwargs("norm"))
        self.norm_transformer = keras.layers.LayerNormalization(
            **norm, **self.sublayer_kwargs("norm_transformer")
        )
        self.qkv_proj = keras.layers.Dense(3 * hidden, **init, **self.sublayer_kwargs("qkv_proj"))
        self.attn_out = keras.layers.Dense(hidden, **init, **self.sublayer_kwargs("attn_out"))

        def zero_conv(name):
            return keras.layers.Conv1D(
                channels,
                k1,
                padding="same",
                use_bias=False,
                kernel_initializer="zeros",
                **self.sublayer_kwargs(name),
            )

        self.b = zero_conv("b")
        self.b_bias = zero_conv("b_bias") if self.bias_calibration else None
        frames = self.num_frames
        self.a.build((None, frames, channels))
        for layer in (self.norm, self.norm_transformer, self.qkv_proj, self.attn_out):
            layer.build((None, frames, hidden))
        for conv in self._calibrations():
            conv.build((None, frames, hidden))

    def _calibrations(self):
        return (self.b, self.b_bias) if self.bias_calibration else (self.b,)

    def attention(self, u):
        """Multi-head self-attention over time of `u` `[B, T, C']` (release layout, above)."""
        frames, heads, head_dim, hidden = self.num_frames, self.heads, self.head_dim, self.hidden
        qkv = self.qkv_proj(u)

        def split(part):  # [B, T, C'] part -> [B, heads, T, head_dim]
            x = qkv[..., part * hidden : (part + 1) * hidden]
            return ops.transpose(ops.reshape(x, (-1, frames, head_dim, heads)), (0, 3, 1, 2))

        q, k, v = split(0), split(1), split(2)
        logits = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * (hidden**-0.5)
        out = ops.matmul(ops.softmax(logits, axis=-1), v)  # [B, heads, T, head_dim]
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, frames, hidden))
        return self.attn_out(out)

    @folded_call
    def call(self, inputs):
        v = ops.mean(to_time_view(inputs, self.num_frames), axis=2)
        h = quick_gelu(self.norm(self.a(v)))
        h = h + self.attention(self.norm_transformer(h))
        outs = [ops.reshape(conv(h) + 1.0, (-1, self.channels)) for conv in self._calibrations()]
        return tuple(outs) if self.bias_calibration else outs[0]

    def compute_output_shape(self, input_shape):
        out = (input_shape[0], input_shape[-1])
        return (out, out) if self.bias_calibration else out

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "kernel_sizes": self.kernel_sizes,
                "head_dim": self.head_dim,
                "bias_calibration": self.bias_calibration,
                "epsilon": self.epsilon,
            }
        )
        return config


@serializable
class TAdaConv2DV2(keras.layers.Layer):
    """TAdaConvV2's calibrated depthwise conv (`TAdaConv2dV2`, `cal_dim="cout"`), given alpha.

    Called on `[x, alpha, beta]` (or `[x, alpha]`): `x` `[batch * T, H, W, C]`, alpha and
    beta `[batch * T, C]` from a route function that saw `x` (TAdaConvNeXtV2 computes them
    outside the conv: `dwconv(x, alpha=dwconv_rf(x))`). Frame `t` of clip `b` is convolved
    with the output-channel-calibrated kernel `W_bt[..., c] = alpha_bt[c] * W[..., c]` and
    bias `beta_bt[c] * bias[c]`; by linearity this is one shared depthwise conv:

        y = depthwise_conv(pad(x), W) * alpha + bias * beta

    with PyTorch's symmetric zero padding `padding` (TAdaConvNeXtV2: 7x7, padding 3, stride 1).
    Without beta the bias is not calibrated. With alpha = beta = 1 this is a plain
    `DepthwiseConv2D`.

    Args:
        kernel_size: int or `(kh, kw)`.
        strides: int or pair.
        padding: symmetric zero padding in pixels (int), then VALID.
        use_bias: a bias (`bias`, `(C,)`, initialised to 0).
        kernel_initializer: of the depthwise kernel `(kh, kw, C, 1)` (truncated normal, std
            0.02, as the release).

    Example:
    >>> import numpy as np
    >>> from tfvideo.layers import TAdaConv2DV2
    >>> x, alpha = np.ones((2 * 4, 14, 14, 8), "float32"), np.ones((8, 8), "float32")
    >>> tuple(TAdaConv2DV2(7, padding=3)([x, alpha, alpha]).shape)
    (8, 14, 14, 8)
    """

    def __init__(
        self,
        kernel_size=7,
        strides=1,
        padding=3,
        use_bias=True,
        kernel_initializer=_TRUNC_NORMAL,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_size = int_pair("kernel_size", kernel_size)
        self.strides = int_pair("strides", strides)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"`padding` must be a non-negative int (pixels), got {padding!r}.")
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        x_shape, alpha_shape = input_shape[0], input_shape[1]
        if len(x_shape) != 4 or len(alpha_shape) != 2 or x_shape[-1] != alpha_shape[-1]:
            raise ValueError(
                "TAdaConv2DV2 takes [x [N, H, W, C], alpha [N, C](, beta [N, C])], got shapes "
                f"{[tuple(s) for s in input_shape]}."
            )
        channels = x_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, channels, 1),
            initializer=self.kernel_initializer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros")

    def call(self, inputs):
        x, alpha = inputs[0], inputs[1]
        beta = inputs[2] if len(inputs) > 2 else None
        p = self.padding
        if p:
            x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        y = ops.depthwise_conv(x, self.kernel, strides=self.strides, padding="valid")
        y = y * alpha[:, None, None, :]
        if self.use_bias:
            y = y + (self.bias if beta is None else beta * self.bias)[..., None, None, :]
        return y

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape[0]
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        height = conv_output_length(h, kh, sh, self.padding)
        return (n, height, conv_output_length(w, kw, sw, self.padding), c)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config


@serializable
class TAdaLayerNormAggregation(TemporalLayer):
    """TAdaConvNeXtV2's temporal aggregation: `LN(y) + LN_0(AvgPool_t3(y))`.

    `AvgPool_t3` is PyTorch's `AvgPool3d((3, 1, 1), stride 1, padding (1, 0, 0))`
    (`count_include_pad=True`: `(y[t-1] + y[t] + y[t+1]) / 3`, zero frames outside the clip).
    Both LayerNorms normalise over channels with eps 1e-6; `LN_0` (attribute `norm_avgpool`)
    starts with weight = bias = 0, so the layer equals `norm` at initialisation. It replaces
    the ConvNeXt block's LayerNorm after the depthwise conv.

    Args:
        num_frames: frames per clip, folded into the batch.
        epsilon: LayerNorm epsilon.

    Example:
    >>> import keras
    >>> from tfvideo.layers import TAdaLayerNormAggregation
    >>> x = keras.random.normal((2 * 8, 7, 7, 64))
    >>> tuple(TAdaLayerNormAggregation(num_frames=8)(x).shape)
    (16, 7, 7, 64)
    """

    def __init__(self, num_frames, epsilon=1e-6, **kwargs):
        super().__init__(num_frames, **kwargs)
        self.epsilon = epsilon
        self.norm = keras.layers.LayerNormalization(epsilon=epsilon, **self.sublayer_kwargs("norm"))
        self.norm_avgpool = keras.layers.LayerNormalization(
            epsilon=epsilon,
            gamma_initializer="zeros",
            beta_initializer="zeros",
            **self.sublayer_kwargs("norm_avgpool"),
        )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.norm.build(input_shape)
        self.norm_avgpool.build(input_shape)

    @folded_call
    def call(self, inputs):
        x = to_time_view(inputs, self.num_frames)
        y = self.norm(x) + self.norm_avgpool(temporal_avg_pool3(x))
        return from_time_view(y, inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
