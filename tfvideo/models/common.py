"""Pieces shared by every model family: input, normalisation, frame folding, conv helpers.

Example:
    >>> import keras, numpy as np
    >>> from tfvideo.models import common
    >>> clips = common.clip_input(num_frames=4, input_size=32)
    >>> x = common.Normalize(*common.IMAGENET)(clips)
    >>> frames = common.FoldFrames()(x)           # [B*T, H, W, 3]
    >>> y = common.conv_bn_relu(frames, 8, 3, strides=2, name="stem")
    >>> keras.Model(clips, y)(np.zeros((2, 4, 32, 32, 3))).shape
    TensorShape([8, 16, 16, 8])
"""

import keras
from keras import layers, ops

register = keras.saving.register_keras_serializable(package="tfvideo")

# (mean, std) per channel, for inputs scaled to [0, 1].
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
TADA = ((0.45, 0.45, 0.45), (0.225, 0.225, 0.225))
KINETICS_S3D = ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))
INCEPTION = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # maps [0, 255] to [-1, 1]


def clip_input(num_frames: int, input_size: int | tuple, name: str = "frames"):
    """`keras.Input` for clips `[batch, num_frames, H, W, 3]` with values in [0, 255]."""
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    return keras.Input(shape=(num_frames, height, width, 3), name=name)


def check_clip_channels(shape):
    """Raises a ValueError unless the last axis of `shape` holds 3 (RGB) channels.

    Keras checks a model's frames, height, width and rank against its `keras.Input`, but lets
    a last axis of 1 through (it squeezes it); `Normalize`, the first layer of every model,
    calls this so a one- or four-channel clip fails instead of broadcasting to 3 channels.
    """
    if len(shape) < 1 or shape[-1] != 3:
        raise ValueError(f"expected clips [batch, frames, height, width, 3] (RGB, channels "
                         f"last), got shape {tuple(shape)}")


@register
class Normalize(layers.Layer):
    """Maps [0, 255] pixels to `(x / 255 - mean) / std`, per channel, in the compute dtype.

    Args:
        mean: three channel means for pixels in [0, 1].
        std: three channel standard deviations for pixels in [0, 1].
    """

    def __init__(self, mean=IMAGENET[0], std=IMAGENET[1], **kwargs):
        super().__init__(**kwargs)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"mean and std need 3 values each, got mean={mean}, std={std}")
        if min(std) <= 0:
            raise ValueError(f"std must be positive, got {std}")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def build(self, input_shape):
        check_clip_channels(input_shape)

    def call(self, inputs):
        # Checked on every call too: a model is built once, with its input shape, and a
        # one-channel clip would otherwise broadcast against the three means.
        check_clip_channels(inputs.shape)
        x = ops.cast(inputs, self.compute_dtype)
        scale = ops.convert_to_tensor([1.0 / (255.0 * s) for s in self.std], self.compute_dtype)
        offset = ops.convert_to_tensor([m / s for m, s in zip(self.mean, self.std)],
                                       self.compute_dtype)
        return x * scale - offset

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@register
class FoldFrames(layers.Layer):
    """`[B, T, ...]` -> `[B*T, ...]`: frames become batch items for a 2D backbone."""

    def call(self, inputs):
        return ops.reshape(inputs, (-1,) + tuple(inputs.shape[2:]))

    def compute_output_shape(self, input_shape):
        batch, frames = input_shape[0], input_shape[1]
        folded = None if batch is None or frames is None else batch * frames
        return (folded,) + tuple(input_shape[2:])


@register
class UnfoldFrames(layers.Layer):
    """`[B*T, ...]` -> `[B, T, ...]`, the inverse of `FoldFrames`.

    Args:
        num_frames: T, the number of frames per clip.
    """

    def __init__(self, num_frames: int, **kwargs):
        super().__init__(**kwargs)
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        self.num_frames = int(num_frames)

    def call(self, inputs):
        return ops.reshape(inputs, (-1, self.num_frames) + tuple(inputs.shape[1:]))

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        clips = None if batch is None else batch // self.num_frames
        return (clips, self.num_frames) + tuple(input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "num_frames": self.num_frames}


@register
class TemporalMean(layers.Layer):
    """Mean over axis 1 (frames): the TSN consensus on per-frame logits `[B, T, K]`."""

    def call(self, inputs):
        return ops.mean(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])


def torch_padded_conv2d(x, filters, kernel_size, strides=1, groups=1, use_bias=False,
                        name=None, kernel_initializer="he_normal"):
    """Conv2D with PyTorch's symmetric `padding=kernel_size // 2`.

    Stride 1 with an odd kernel is exactly Keras "same"; otherwise the input is zero-padded
    explicitly and convolved "valid", as PyTorch does (Keras "same" pads asymmetrically).
    """
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    if strides == 1 and kh % 2 == 1 and kw % 2 == 1:
        padding = "same"
    else:
        if kh // 2 or kw // 2:
            x = layers.ZeroPadding2D((kh // 2, kw // 2), name=name and f"{name}_pad")(x)
        padding = "valid"
    return layers.Conv2D(filters, (kh, kw), strides=strides, padding=padding, groups=groups,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         name=name)(x)


def batch_norm(x, name=None, epsilon=1e-5, momentum=0.9, zero_init=False):
    """BatchNormalization with PyTorch's defaults (eps 1e-5, momentum 0.1 = Keras 0.9)."""
    return layers.BatchNormalization(
        epsilon=epsilon, momentum=momentum, name=name,
        gamma_initializer="zeros" if zero_init else "ones")(x)


def conv_bn_relu(x, filters, kernel_size, strides=1, name=None, relu=True,
                 epsilon=1e-5, momentum=0.9, zero_init_bn=False):
    """`torch_padded_conv2d` (no bias) -> BatchNorm -> optional ReLU."""
    x = torch_padded_conv2d(x, filters, kernel_size, strides=strides, name=name)
    x = batch_norm(x, name=name and f"{name}_bn", epsilon=epsilon, momentum=momentum,
                   zero_init=zero_init_bn)
    return layers.ReLU(name=name and f"{name}_relu")(x) if relu else x


def classifier_head(features, num_classes, dropout=0.5, name="head", kernel_initializer=None):
    """Dropout then Dense logits (float32 under mixed precision)."""
    if dropout:
        features = layers.Dropout(dropout, name=f"{name}_dropout")(features)
    return layers.Dense(num_classes, name=name, dtype="float32",
                        kernel_initializer=kernel_initializer or "glorot_uniform")(features)
