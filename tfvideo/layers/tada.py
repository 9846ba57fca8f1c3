"""TAdaConv layers (Huang et al., ICLR 2022): temporally adaptive 2D convolution."""

import keras
from keras import ops

from tfvideo.layers._common import (
    TemporalLayer,
    check_choice,
    check_divisible,
    check_odd,
    check_positive_int,
    clone_initializer,
    conv_output_length,
    folded_call,
    from_time_view,
    history_state_shapes,
    int_pair,
    prefixed_state_shapes,
    serializable,
    split_states,
    temporal_avg_pool3,
    to_time_view,
    with_history,
)
from tfvideo.layers.normalization import FusedBatchNormalization

CALIBRATIONS = ("cin", "cout")


def _msra_fill():
    """c2_msra_fill: kaiming-normal, fan-out (TAdaConv's conv init)."""
    return keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


@serializable
class RouteFunc(TemporalLayer):
    """TAdaConv's calibration-weight generator (`RouteFuncMLP`).

    On input `[batch * num_frames, H, W, C]` (the *input* of the TAdaConv):

        v_t   = mean_{H,W}(x_t)                 per-frame descriptor  [B, T, C]
        g     = mean_{T,H,W}(x)                 global context        [B, 1, C]
        h     = relu(BN(conv_a(v + dense_g(g))))   conv_a: temporal k0, C -> C/r
        alpha = conv_b(h) + 1                   conv_b: temporal k1, C/r -> C_out

    `g` (attribute `g`, a Dense with bias) is added to every frame; `conv_a`
    (attribute `a`, a Conv1D over time with bias) and `conv_b` (attribute `b`,
    Conv1D, no bias, zero-initialised) pad time with zeros. So alpha is exactly
    1 at init. With `bias_calibration` a second zero-initialised conv
    (`b_bias`) gives `beta = conv_b_bias(h) + 1` (TAdaConvNeXt v1).

    `causal=True`: `conv_a` and `conv_b` are left-padded (Keras `padding="causal"`:
    frames `t - k + 1 .. t`), and the global context is the running mean of the
    frames so far, `g_t = mean_{s <= t, H, W}(x_s)`. Streaming carries `"sum"`
    `[B, 1, C]` and `"count"` `[B, 1]` (frames seen) for `g`, and the last
    `k - 1` inputs of each conv, `"a_history"` `[B, k0 - 1, C]` and `"b_history"`
    `[B, k1 - 1, C/r]`.

    Args:
        num_frames: frames per clip, folded into the batch.
        reduction: channel reduction `r` of the hidden layer (default 4); the
            input channels must be divisible by it.
        kernel_sizes: odd temporal kernel sizes `(k0, k1)` of `a` and `b`.
        bias_calibration: also return `beta`.
        epsilon, momentum: BN settings (PyTorch momentum 0.1 = Keras 0.9).
        output_channels: channels of alpha/beta (default: input channels).
        causal: causal convs and running-mean context (see above).

    Returns:
        alpha `[batch * num_frames, C_out]`, or `(alpha, beta)` with
        `bias_calibration=True`.

    Example:
    >>> import keras
    >>> from tfvideo.layers import RouteFunc
    >>> x = keras.random.normal((2 * 8, 7, 7, 64))
    >>> tuple(RouteFunc(num_frames=8)(x).shape)
    (16, 64)
    """

    def __init__(
        self,
        num_frames,
        reduction=4,
        kernel_sizes=(3, 3),
        bias_calibration=False,
        epsilon=1e-5,
        momentum=0.9,
        output_channels=None,
        causal=False,
        **kwargs,
    ):
        super().__init__(num_frames, causal=causal, **kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.kernel_sizes = int_pair("kernel_sizes", kernel_sizes)
        for k in self.kernel_sizes:
            (check_positive_int if causal else check_odd)("kernel_sizes", k)
        self.bias_calibration = bool(bias_calibration)
        self.epsilon = epsilon
        self.momentum = momentum
        if output_channels is not None:
            check_positive_int("output_channels", output_channels)
        self.output_channels = output_channels
        self.g = self.a = self.bn = self.b = self.b_bias = None

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        channels = input_shape[-1]
        hidden = check_divisible("RouteFunc: input channels", channels, "reduction", self.reduction)
        out = self.output_channels or channels
        k0, k1 = self.kernel_sizes
        padding = "causal" if self.causal else "same"
        self.g = keras.layers.Dense(
            channels, kernel_initializer=_msra_fill(), **self.sublayer_kwargs("g")
        )
        self.a = keras.layers.Conv1D(
            hidden,
            k0,
            padding=padding,
            kernel_initializer=_msra_fill(),
            **self.sublayer_kwargs("a"),
        )
        self.bn = FusedBatchNormalization(
            epsilon=self.epsilon, momentum=self.momentum, **self.sublayer_kwargs("bn")
        )

        def zero_conv(name):
            return keras.layers.Conv1D(
                out,
                k1,
                padding=padding,
                use_bias=False,
                kernel_initializer="zeros",
                **self.sublayer_kwargs(name),
            )

        self.b = zero_conv("b")
        if self.bias_calibration:
            self.b_bias = zero_conv("b_bias")
        self.g.build((None, 1, channels))
        self.a.build((None, self.num_frames, channels))
        self.bn.build((None, self.num_frames, hidden))
        for conv in (self.b, self.b_bias):
            if conv is not None:
                conv.build((None, self.num_frames, hidden))

    def _outputs(self, h, convs):
        """alpha (and beta) `[B*T, C_out]` from the hidden `h`, `convs(layer, h)` running b."""
        alpha = ops.reshape(convs(self.b, h) + 1.0, (-1, self.b.filters))
        if not self.bias_calibration:
            return alpha
        return alpha, ops.reshape(convs(self.b_bias, h) + 1.0, (-1, self.b.filters))

    @folded_call
    def call(self, inputs, training=None):
        v = ops.mean(to_time_view(inputs, self.num_frames), axis=2)
        if self.causal:  # running mean of the frames so far
            frames = ops.arange(1, self.num_frames + 1, dtype=v.dtype)
            g = ops.cumsum(v, axis=1) / ops.reshape(frames, (1, -1, 1))
        else:
            g = ops.mean(v, axis=1, keepdims=True)
        h = ops.relu(self.bn(self.a(v + self.g(g)), training=training))
        return self._outputs(h, lambda conv, x: conv(x))

    def stream_state_shapes(self, input_shape, step_frames=1):
        self._check_streamable()
        channels = input_shape[-1]
        k0, k1 = self.kernel_sizes
        shapes = {"sum": (1, channels), "count": (1,)}
        for name, keep, width in (("a", k0 - 1, channels), ("b", k1 - 1, self.a.filters)):
            if keep:
                shapes[f"{name}_history"] = (keep, width)
        return shapes

    def stream_step(self, inputs, states, step_frames=1, training=False):
        self._check_streamable()
        k0, k1 = self.kernel_sizes
        v = ops.mean(to_time_view(inputs, step_frames), axis=2)
        # ops.add, not `+`: a NumPy state plus a torch tensor is not a tensor
        total = ops.add(states["sum"], ops.cumsum(v, axis=1))
        count = ops.add(states["count"], ops.arange(1, step_frames + 1, dtype=v.dtype))
        new = {"sum": total[:, -1:], "count": count[:, -1:]}
        u, a_history = with_history(
            states.get("a_history"), v + self.g(total / ops.expand_dims(count, -1)), k0 - 1
        )
        h = ops.conv(u, self.a.kernel, padding="valid") + self.a.bias
        h = ops.relu(self.bn(h, training=training))
        h, b_history = with_history(states.get("b_history"), h, k1 - 1)
        for name, history in (("a_history", a_history), ("b_history", b_history)):
            if history is not None:
                new[name] = history
        return self._outputs(h, lambda conv, x: ops.conv(x, conv.kernel, padding="valid")), new

    def compute_output_shape(self, input_shape):
        out = (input_shape[0], self.output_channels or input_shape[-1])
        return (out, out) if self.bias_calibration else out

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "kernel_sizes": self.kernel_sizes,
                "bias_calibration": self.bias_calibration,
                "epsilon": self.epsilon,
                "momentum": self.momentum,
                "output_channels": self.output_channels,
            }
        )
        return config


@serializable
class TAdaConv2D(TemporalLayer):
    """Temporally adaptive 2D convolution (TAdaConv).

    Each frame `t` of each clip `b` is convolved with the base kernel calibrated
    by `alpha[b, t]` from a `RouteFunc` (attribute `route`) that sees the
    unpadded input. Both modes are computed exactly, by linearity, with one
    shared convolution (no per-sample kernels):

    - `calibration="cin"`: `W_bt[..., i, o] = alpha_bt[i] * W[..., i, o]`, i.e.
      `y = conv2d(x * alpha[:, None, None, :])` (+ bias). Exact with zero
      padding (a padded zero stays zero). `groups` must be 1.
    - `calibration="cout"`: `W_bt[..., o] = alpha_bt[o] * W[..., o]`, i.e.
      `y = conv2d(x) * alpha + bias * beta` (beta = 1 unless
      `bias_calibration`, as in TAdaConvNeXt v1).

    alpha (and beta) are exactly 1 at init, so the layer then equals a plain
    `Conv2D` with the same `kernel`/`bias`.

    Args:
        filters: output channels.
        kernel_size: int or `(kh, kw)`.
        num_frames: frames per clip, folded into the batch.
        strides: int or pair.
        padding: `"same"`, `"valid"` or an int `p`: PyTorch-style symmetric
            zero padding by `p` pixels, then VALID.
        groups: 1, or `filters == in_channels == groups` for a depthwise conv
            (only with `calibration="cout"`; `kernel` then has the depthwise
            layout `(kh, kw, C, 1)`).
        calibration: `"cin"` (TAda2D) or `"cout"` (TAdaConvNeXt).
        use_bias: add a bias (`bias`, shape `(filters,)`).
        bias_calibration: calibrate the bias with the route's beta ("cout" and
            `use_bias` only).
        route_reduction, route_kernel_sizes: `RouteFunc` settings.
        route_epsilon, route_momentum: the route's BN settings.
        kernel_initializer, bias_initializer: initializers of the base weights.
        causal: a causal route (`RouteFunc(causal=True)`: causal convs, running-mean
            context), so frame t's kernel depends on frames `<= t` only. Streaming
            carries the route's states, named `"route_{state}"`.

    Example:
    >>> import keras
    >>> from tfvideo.layers import TAdaConv2D
    >>> x = keras.random.normal((2 * 8, 14, 14, 64))
    >>> tuple(TAdaConv2D(64, 3, num_frames=8)(x).shape)
    (16, 14, 14, 64)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        num_frames,
        strides=1,
        padding="same",
        groups=1,
        calibration="cin",
        use_bias=False,
        bias_calibration=False,
        route_reduction=4,
        route_kernel_sizes=(3, 3),
        route_epsilon=1e-5,
        route_momentum=0.9,
        kernel_initializer=None,
        bias_initializer="zeros",
        causal=False,
        **kwargs,
    ):
        super().__init__(num_frames, causal=causal, **kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = int_pair("kernel_size", kernel_size)
        self.strides = int_pair("strides", strides)
        if isinstance(padding, bool) or not (
            padding in ("same", "valid") or (isinstance(padding, int) and padding >= 0)
        ):
            raise ValueError(
                "`padding` must be 'same', 'valid' or a non-negative int (PyTorch "
                f"symmetric padding), got {padding!r}."
            )
        self.padding = padding
        self.groups = check_positive_int("groups", groups)
        self.calibration = check_choice("calibration", calibration, CALIBRATIONS)
        if groups > 1 and calibration == "cin":
            raise ValueError(
                "`groups` > 1 needs calibration='cout': 'cin' calibrates the input "
                "channels of a full kernel and is only defined for groups=1."
            )
        if groups > 1 and groups != filters:
            raise ValueError(
                f"Only depthwise grouping is supported: `groups` ({groups}) must "
                f"equal `filters` ({filters}) and the input channels."
            )
        self.use_bias = bool(use_bias)
        self.bias_calibration = bool(bias_calibration)
        if bias_calibration and not (use_bias and calibration == "cout"):
            raise ValueError(
                "`bias_calibration=True` needs `use_bias=True` and calibration='cout'."
            )
        self.route_reduction = route_reduction
        self.route_kernel_sizes = int_pair("route_kernel_sizes", route_kernel_sizes)
        self.route_epsilon = route_epsilon
        self.route_momentum = route_momentum
        if kernel_initializer is None:
            kernel_initializer = _msra_fill()
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.route = RouteFunc(
            num_frames,
            reduction=route_reduction,
            kernel_sizes=route_kernel_sizes,
            bias_calibration=bias_calibration,
            epsilon=route_epsilon,
            momentum=route_momentum,
            output_channels=filters if calibration == "cout" else None,
            causal=causal,
            **self.sublayer_kwargs("route"),
        )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        in_channels = input_shape[-1]
        if self.groups > 1 and in_channels != self.groups:
            raise ValueError(
                f"TAdaConv2D: depthwise `groups` ({self.groups}) must equal the "
                f"input channels ({in_channels})."
            )
        kh, kw = self.kernel_size
        shape = (kh, kw, in_channels, 1 if self.groups > 1 else self.filters)
        self.kernel = self.add_weight(
            name="kernel",
            shape=shape,
            initializer=clone_initializer(self.kernel_initializer),
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.filters,), initializer=self.bias_initializer
            )
        self.route.build(input_shape)

    @folded_call
    def call(self, inputs, training=None):
        return self._convolve(inputs, self.route(inputs, training=training))

    def stream_state_shapes(self, input_shape, step_frames=1):
        return prefixed_state_shapes(self, (self.route,), input_shape, step_frames)

    def stream_step(self, inputs, states, step_frames=1):
        self._check_streamable()
        inputs = ops.convert_to_tensor(inputs)  # multiplied below: NumPy * torch fails
        route, route_states = self.route.stream_step(
            inputs, split_states(states, self.route.name), step_frames
        )
        new = {f"{self.route.name}_{k}": v for k, v in route_states.items()}
        return self._convolve(inputs, route), new

    def _convolve(self, inputs, route):
        """The calibrated convolution of `inputs` given the route's alpha (and beta)."""
        alpha, beta = route if self.bias_calibration else (route, None)
        x = inputs
        if self.calibration == "cin":
            x = x * ops.reshape(alpha, (-1, 1, 1, inputs.shape[-1]))
        padding = self.padding
        if isinstance(padding, int):
            if padding:
                p = padding
                x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
            padding = "valid"
        conv = ops.depthwise_conv if self.groups > 1 else ops.conv
        y = conv(x, self.kernel, strides=self.strides, padding=padding)
        if self.calibration == "cout":
            y = y * ops.reshape(alpha, (-1, 1, 1, self.filters))
        if self.use_bias:
            bias = self.bias
            if beta is not None:
                bias = ops.reshape(beta * bias, (-1, 1, 1, self.filters))
            y = y + bias
        return y

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        return (
            n,
            conv_output_length(h, kh, sh, self.padding),
            conv_output_length(w, kw, sw, self.padding),
            self.filters,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "groups": self.groups,
                "calibration": self.calibration,
                "use_bias": self.use_bias,
                "bias_calibration": self.bias_calibration,
                "route_reduction": self.route_reduction,
                "route_kernel_sizes": self.route_kernel_sizes,
                "route_epsilon": self.route_epsilon,
                "route_momentum": self.route_momentum,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config


@serializable
class TAdaAggregation(TemporalLayer):
    """TAda2D's temporal feature aggregation: `BN(y) + BN_0(AvgPool_t3(y))`.

    `AvgPool_t3` is PyTorch's `AvgPool3d((3, 1, 1), stride 1, padding (1, 0, 0))`
    with `count_include_pad=True`: `(y[t-1] + y[t] + y[t+1]) / 3` with zero
    frames outside the clip (the end frames are divided by 3 too). `BN_0`
    (attribute `avgpool_bn`) starts with `gamma = beta = 0`, so the branch is
    exactly zero at init and the layer equals `bn` (attribute `bn`). No ReLU:
    the block applies it.

    `causal=True` averages frames `t-2..t` instead: `(y[t-2] + y[t-1] + y[t]) / 3`,
    zero frames before the clip (still divided by 3). Streaming carries the last two
    input frames, `"history"` `[B, 2, H*W, C]`.

    Args:
        num_frames: frames per clip, folded into the batch.
        epsilon, momentum: BN settings (PyTorch momentum 0.1 = Keras 0.9).
        causal: average the current and the two previous frames.

    Example:
    >>> import keras
    >>> from tfvideo.layers import TAdaAggregation
    >>> x = keras.random.normal((2 * 8, 7, 7, 64))
    >>> tuple(TAdaAggregation(num_frames=8)(x).shape)
    (16, 7, 7, 64)
    """

    def __init__(self, num_frames, epsilon=1e-5, momentum=0.9, causal=False, **kwargs):
        super().__init__(num_frames, causal=causal, **kwargs)
        self.epsilon = epsilon
        self.momentum = momentum
        bn = {"epsilon": epsilon, "momentum": momentum}
        self.bn = FusedBatchNormalization(**bn, **self.sublayer_kwargs("bn"))
        self.avgpool_bn = FusedBatchNormalization(
            gamma_initializer="zeros",
            beta_initializer="zeros",
            **bn,
            **self.sublayer_kwargs("avgpool_bn"),
        )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.bn.build(input_shape)
        self.avgpool_bn.build(input_shape)

    def _aggregate(self, x, pooled, training):
        return self.bn(x, training=training) + self.avgpool_bn(pooled, training=training)

    @folded_call
    def call(self, inputs, training=None):
        x = to_time_view(inputs, self.num_frames)
        pooled = temporal_avg_pool3(x, *((2, 0) if self.causal else (1, 1)))
        return from_time_view(self._aggregate(x, pooled, training), inputs)

    def stream_state_shapes(self, input_shape, step_frames=1):
        self._check_streamable()
        return history_state_shapes(input_shape, 2)

    def stream_step(self, inputs, states, step_frames=1):
        self._check_streamable()
        x = to_time_view(inputs, step_frames)
        full, history = with_history(states["history"], x, 2)
        y = self._aggregate(x, temporal_avg_pool3(full, 0, 0), False)
        return from_time_view(y, inputs), {"history": history}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon, "momentum": self.momentum})
        return config
