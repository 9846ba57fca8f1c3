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
from keras import layers

# The frame layers and the normalisation presets are tfvideo.layers'; models use them from here.
from tfvideo.layers import (  # noqa: F401
    FoldFrames,
    FusedBatchNormalization,
    Normalize,
    TemporalMean,
    UnfoldFrames,
)
from tfvideo.layers.normalization import IMAGENET, INCEPTION, KINETICS_S3D, TADA  # noqa: F401


def clip_input(num_frames: int, input_size: int | tuple, name: str = "frames"):
    """`keras.Input` for clips `[batch, num_frames, H, W, 3]` with values in [0, 255]."""
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    return keras.Input(shape=(num_frames, height, width, 3), name=name)


def torch_padded_conv2d(
    x,
    filters,
    kernel_size,
    strides=1,
    groups=1,
    use_bias=False,
    name=None,
    kernel_initializer="he_normal",
):
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
    return layers.Conv2D(
        filters,
        (kh, kw),
        strides=strides,
        padding=padding,
        groups=groups,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        name=name,
    )(x)


def batch_norm(x, name=None, epsilon=1e-5, momentum=0.9, zero_init=False):
    """BatchNormalization with PyTorch's defaults (eps 1e-5, momentum 0.1 = Keras 0.9)."""
    return FusedBatchNormalization(
        epsilon=epsilon,
        momentum=momentum,
        name=name,
        gamma_initializer="zeros" if zero_init else "ones",
    )(x)


def conv_bn_relu(
    x,
    filters,
    kernel_size,
    strides=1,
    name=None,
    relu=True,
    epsilon=1e-5,
    momentum=0.9,
    zero_init_bn=False,
):
    """`torch_padded_conv2d` (no bias) -> BatchNorm -> optional ReLU."""
    x = torch_padded_conv2d(x, filters, kernel_size, strides=strides, name=name)
    x = batch_norm(
        x, name=name and f"{name}_bn", epsilon=epsilon, momentum=momentum, zero_init=zero_init_bn
    )
    return layers.ReLU(name=name and f"{name}_relu")(x) if relu else x


def classifier_head(features, num_classes, dropout=0.5, name="head", kernel_initializer=None):
    """Dropout then Dense logits (float32 under mixed precision)."""
    if dropout:
        features = layers.Dropout(dropout, name=f"{name}_dropout")(features)
    return layers.Dense(
        num_classes,
        name=name,
        dtype="float32",
        kernel_initializer=kernel_initializer or "glorot_uniform",
    )(features)
