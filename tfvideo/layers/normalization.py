"""Input normalisation inside the model: clips in [0, 255] (uint8 or float) -> the paper's
per-channel mean/std, so every exported artifact takes raw frames.

Example:
    >>> import numpy as np
    >>> from tfvideo.layers import Normalize
    >>> tuple(Normalize(*IMAGENET)(np.full((1, 2, 4, 4, 3), 255.0, "float32")).shape)
    (1, 2, 4, 4, 3)
"""

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
