"""S3D / S3D-G layers (Xie et al., ECCV 2018): separable 3D conv and gating."""

import keras
import numpy as np
from keras import ops

from tfvideo.layers._common import (
    check_choice,
    check_odd,
    check_positive_int,
    check_rank,
    clone_initializer,
    conv_output_length,
    folded_conv_weights,
    int_pair,
    serializable,
)
from tfvideo.layers.normalization import FusedBatchNormalization

FLAVOURS = ("slim", "torchvision")
PADDINGS = ("same", "torch")


@serializable
class CentreInitializer(keras.initializers.Initializer):
    """Identity at the centre tap of a `(kt, 1, C, C)` kernel (slim's
    `center_initializer`): the temporal conv starts as the identity map."""

    def __call__(self, shape, dtype=None):
        kt, _, cin, cout = shape
        w = np.zeros(shape, dtype="float32")
        w[kt // 2, 0] = np.eye(cin, cout, dtype="float32")
        return ops.convert_to_tensor(w, dtype=dtype)


def _default_kernel_initializer(flavour):
    if flavour == "slim":
        return keras.initializers.TruncatedNormal(stddev=0.01)
    # PyTorch's default conv init: kaiming_uniform(a=sqrt(5)).
    return keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")


@serializable
class SeparableConv3D(keras.layers.Layer):
    """S3D's separable 3D convolution: spatial `1 x k x k`, then temporal `kt x 1 x 1`.

    Input and output are `[batch, frames, height, width, channels]`. Both halves
    output `filters` channels and run as 2D convolutions on free reshapes (no
    transposes, no Conv3D): the spatial half on `[batch * frames, H, W, C]`,
    the temporal half as a `(kt, 1)` conv on `[batch, frames, H * W, filters]`.

    1. spatial conv (stride `(1, s, s)`, no bias) -> BN -> ReLU
    2. temporal conv (stride `(st, 1, 1)`) -> ...
       - `flavour="slim"` (TF-slim S3D-G): + bias, no BN, ReLU. The kernel is
         initialised to the identity at the centre tap (`center_initializer`),
         so at init the temporal half is the identity on the (non-negative)
         spatial output. slim's BN has no scale (`gamma`), only an offset.
       - `flavour="torchvision"`: no bias, BN, ReLU; BN with scale.
    With `kt == 1` there is no temporal half (a `1 x k x k` conv + BN + ReLU;
    a temporal stride then keeps every `st`-th frame).

    Args:
        filters: output channels of both halves.
        kernel_size: `(kt, k)` or an int for both; both must be odd.
        strides: `(st, s)` or an int for both.
        flavour: `"slim"` or `"torchvision"` (see above).
        padding: `"same"` (TF SAME, exact for slim checkpoints) or `"torch"`
            (symmetric `k // 2` zero padding then VALID, exact for torchvision).
        epsilon, momentum: BatchNormalization settings (Keras convention;
            slim's decay 0.999 is `momentum=0.999`, torchvision's PyTorch
            momentum 1e-3 is `momentum=0.999` too).
        kernel_initializer: initializer of the spatial kernel (and of the
            torchvision temporal kernel). Default: slim trunc-normal(0.01),
            torchvision PyTorch's default conv init.
        batch_norm_folded: the inference form (`tfvideo.models.inference`): each
            batch norm folded into the convolution before it, which gets a bias;
            `folded_weights()` computes that form's weights from a trained layer.

    Example:
    >>> import keras
    >>> from tfvideo.layers import SeparableConv3D
    >>> x = keras.random.normal((2, 8, 28, 28, 16))
    >>> tuple(SeparableConv3D(32, kernel_size=(3, 3), strides=(2, 2))(x).shape)
    (2, 4, 14, 14, 32)
    """

    def __init__(
        self,
        filters,
        kernel_size=(3, 3),
        strides=(1, 1),
        flavour="slim",
        padding="same",
        epsilon=1e-3,
        momentum=0.999,
        kernel_initializer=None,
        batch_norm_folded=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.batch_norm_folded = bool(batch_norm_folded)
        self.kernel_size = int_pair("kernel_size", kernel_size)
        for k in self.kernel_size:
            check_odd("kernel_size", k)
        self.strides = int_pair("strides", strides)
        self.flavour = check_choice("flavour", flavour, FLAVOURS)
        self.padding = check_choice("padding", padding, PADDINGS)
        self.epsilon = epsilon
        self.momentum = momentum
        if kernel_initializer is None:
            kernel_initializer = _default_kernel_initializer(flavour)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        kt, k = self.kernel_size
        st, s = self.strides
        conv_padding = "valid" if padding == "torch" else "same"
        slim = flavour == "slim"
        sub = {"dtype": self.dtype_policy}
        bn = {"epsilon": epsilon, "momentum": momentum, **sub}
        self.spatial_conv = keras.layers.Conv2D(
            filters,
            k,
            strides=s,
            padding=conv_padding,
            use_bias=self.batch_norm_folded,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            name="spatial_conv",
            **sub,
        )
        self.spatial_bn = self.temporal_conv = self.temporal_bn = None
        if not self.batch_norm_folded:
            self.spatial_bn = FusedBatchNormalization(scale=not slim, name="spatial_bn", **bn)
        if kt > 1:
            self.temporal_conv = keras.layers.Conv2D(
                filters,
                (kt, 1),
                strides=(st, 1),
                padding=conv_padding,
                use_bias=slim or self.batch_norm_folded,
                kernel_initializer=(
                    CentreInitializer() if slim else clone_initializer(self.kernel_initializer)
                ),
                name="temporal_conv",
                **sub,
            )
            if not slim and not self.batch_norm_folded:
                self.temporal_bn = FusedBatchNormalization(name="temporal_bn", **bn)

    def build(self, input_shape):
        check_rank(self, input_shape, 5, "[batch, frames, height, width, channels]")
        self.spatial_conv.build((None, None, None, input_shape[-1]))
        filters_shape = (None, None, None, self.filters)
        if self.spatial_bn is not None:
            self.spatial_bn.build(filters_shape)
        if self.temporal_conv is not None:
            self.temporal_conv.build(filters_shape)
        if self.temporal_bn is not None:
            self.temporal_bn.build(filters_shape)

    def call(self, inputs, training=None):
        check_rank(self, inputs.shape, 5, "[batch, frames, height, width, channels]")
        kt, k = self.kernel_size
        st, _ = self.strides
        _, t, h, w, c = ops.shape(inputs)
        x = ops.reshape(inputs, (-1, h, w, c))
        if self.padding == "torch" and k > 1:
            p = k // 2
            x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        x = self.spatial_conv(x)
        if self.spatial_bn is not None:
            x = self.spatial_bn(x, training=training)
        x = ops.relu(x)
        _, h, w, f = ops.shape(x)
        if self.temporal_conv is None:
            x = ops.reshape(x, (-1, t, h, w, f))
            return x[:, ::st] if st > 1 else x
        x = ops.reshape(x, (-1, t, h * w, f))
        if self.padding == "torch":
            p = kt // 2
            x = ops.pad(x, [[0, 0], [p, p], [0, 0], [0, 0]])
        x = self.temporal_conv(x)
        if self.temporal_bn is not None:
            x = self.temporal_bn(x, training=training)
        x = ops.relu(x)
        return ops.reshape(x, (-1, ops.shape(x)[1], h, w, f))

    def compute_output_shape(self, input_shape):
        n, t, h, w, _ = input_shape
        (kt, k), (st, s) = self.kernel_size, self.strides
        pad = "same" if self.padding == "same" else None
        return (
            n,
            conv_output_length(t, kt, st, pad or kt // 2),
            conv_output_length(h, k, s, pad or k // 2),
            conv_output_length(w, k, s, pad or k // 2),
            self.filters,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "flavour": self.flavour,
                "padding": self.padding,
                "epsilon": self.epsilon,
                "momentum": self.momentum,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "batch_norm_folded": self.batch_norm_folded,
            }
        )
        return config

    def folded_weights(self):
        """The weights of this layer's `batch_norm_folded=True` twin, which computes this
        layer in inference (`tfvideo.models.inference`)."""
        if self.batch_norm_folded:
            return self.get_weights()
        weights = folded_conv_weights(self.spatial_conv, self.spatial_bn)
        if self.temporal_conv is not None:
            weights += (
                folded_conv_weights(self.temporal_conv, self.temporal_bn)
                if self.temporal_bn is not None
                else self.temporal_conv.get_weights()
            )
        return weights


@serializable
class SpatioTemporalGating(keras.layers.Layer):
    """S3D-G self-gating: `y = sigmoid(mean_{T,H,W}(x) @ kernel) * x`.

    A per-channel gate computed from the global spatio-temporal average through
    a `C x C` fully connected map without bias (slim's `transformer_W`, a
    `1x1x1` conv; its kernel reshaped to `(C, C)` loads directly).

    Args:
        kernel_initializer: default trunc-normal(0.01) as in slim.

    Example:
    >>> import keras
    >>> from tfvideo.layers import SpatioTemporalGating
    >>> x = keras.random.normal((2, 8, 7, 7, 32))
    >>> tuple(SpatioTemporalGating()(x).shape)
    (2, 8, 7, 7, 32)
    """

    def __init__(self, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.TruncatedNormal(stddev=0.01)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        check_rank(self, input_shape, 5, "[batch, frames, height, width, channels]")
        c = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=(c, c), initializer=self.kernel_initializer
        )

    def call(self, inputs):
        check_rank(self, inputs.shape, 5, "[batch, frames, height, width, channels]")
        c = inputs.shape[-1]
        gate = ops.sigmoid(ops.matmul(ops.mean(inputs, axis=(1, 2, 3)), self.kernel))
        return inputs * ops.reshape(gate, (-1, 1, 1, 1, c))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config
