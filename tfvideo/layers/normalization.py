"""Input normalisation inside the model: clips in [0, 255] (uint8 or float) -> the paper's
per-channel mean/std, so every exported artifact takes raw frames; and the models' batch norm,
`FusedBatchNormalization`.

Example:
    >>> import numpy as np
    >>> from tfvideo.layers import Normalize
    >>> tuple(Normalize(*IMAGENET)(np.full((1, 2, 4, 4, 3), 255.0, "float32")).shape)
    (1, 2, 4, 4, 3)
"""

import keras
from keras import layers, ops

from tfvideo.layers._common import serializable

# (mean, std) per channel, for inputs scaled to [0, 1].
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
TADA = ((0.45, 0.45, 0.45), (0.225, 0.225, 0.225))
KINETICS_S3D = ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))
INCEPTION = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # maps [0, 255] to [-1, 1]


def check_clip_channels(shape):
    """Raises a ValueError unless the last axis of `shape` holds 3 (RGB) channels.

    Keras checks a model's frames, height, width and rank against its `keras.Input`, but lets
    a last axis of 1 through (it squeezes it); `Normalize`, the first layer of every model,
    calls this so a one- or four-channel clip fails instead of broadcasting to 3 channels.
    """
    if len(shape) < 1 or shape[-1] != 3:
        raise ValueError(
            f"expected clips [batch, frames, height, width, 3] (RGB, channels "
            f"last), got shape {tuple(shape)}"
        )


@serializable
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
        offset = ops.convert_to_tensor(
            [m / s for m, s in zip(self.mean, self.std)], self.compute_dtype
        )
        return x * scale - offset

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@serializable
class FusedBatchNormalization(layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training call is one fused kernel on TensorFlow.

    Keras 3 normalises a training batch with separate moments, normalisation and, backwards,
    their gradients: about ten passes over the activations, a third of a ResNet training step's
    op time on the CPU. On the TensorFlow backend this layer runs the same math as one
    `FusedBatchNormV3` kernel forward and one gradient kernel backward (oneDNN on the CPU),
    and updates the moving statistics exactly as Keras does (biased batch variance). Every
    other case is `keras.layers.BatchNormalization` itself: inference, the JAX and PyTorch
    backends, masks, renorm, `synchronized`, an axis other than the last, float64. Same
    arguments, variables and config, so weights move between the two freely.

    Example:
        >>> import numpy as np
        >>> from tfvideo.layers import FusedBatchNormalization
        >>> y = FusedBatchNormalization()(np.ones((2, 4, 4, 8), "float32"), training=True)
        >>> tuple(y.shape)
        (2, 4, 4, 8)
    """

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # the fusable case runs on the TensorFlow backend only

        x = tf.convert_to_tensor(inputs)
        channels = x.shape[-1]
        # The kernel normalises NHWC over N, H and W: any rank reshapes to [n, 1, 1, C]
        # (a 4-D tensor goes as it is).
        x4 = x if x.shape.rank == 4 else tf.reshape(x, [-1, 1, 1, channels])
        if x4.dtype not in (tf.bfloat16, tf.float16):
            x4 = tf.cast(x4, tf.float32)
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
        # The raw op: tf.nn.fused_batch_norm raises epsilon to at least 1.001e-5 (cuDNN's floor).
        y, mean, variance = tf.raw_ops.FusedBatchNormV3(
            x=x4,
            scale=gamma,
            offset=beta,
            mean=tf.zeros([0]),
            variance=tf.zeros([0]),
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=True,
        )[:3]
        # The kernel returns the unbiased (n - 1) variance; Keras keeps the biased one.
        count = tf.cast(tf.size(x4, out_type=tf.int64) // channels, tf.float32)
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
        )
        if x.shape.rank != 4:
            y = tf.reshape(y, tf.shape(x))
        return tf.cast(y, self.compute_dtype)

    def _fusable(self, inputs, mask):
        rank = len(inputs.shape)
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.renorm
            and not self.synchronized
            and self.axis in (-1, rank - 1)
            and rank >= 2
            and inputs.shape[-1] is not None
            and keras.backend.standardize_dtype(inputs.dtype) != "float64"
        )
