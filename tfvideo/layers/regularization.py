"""ConvNeXt's per-channel `LayerScale` and stochastic depth (`DropPath`)."""

import keras
from keras import layers, ops

from tfvideo.layers._common import serializable


@serializable
class LayerScale(layers.Layer):
    """Per-channel learnable scale `x * gamma` (ConvNeXt's layer scale), gamma initialised to
    `init_value`.

    Args:
        init_value: initial value of every entry of `gamma`.

    Example:
        >>> tuple(LayerScale(1e-6)(keras.ops.ones((2, 4))).shape)
        (2, 4)
    """

    def __init__(self, init_value: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.init_value = float(init_value)

    def build(self, input_shape):
        self.gamma = self.add_weight(
            name="gamma",
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.init_value),
        )

    def call(self, inputs):
        return inputs * ops.cast(self.gamma, inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value}


@serializable
class DropPath(layers.Layer):
    """Stochastic depth on frame-folded clips: in training, zeroes a residual branch for a whole
    clip with probability `rate` and scales kept clips by `1 / (1 - rate)`; identity otherwise.

    Args:
        rate: drop probability in [0, 1).
        num_frames: frames per clip folded into the batch axis (all frames of a clip share one
            decision, like PyTorch's DropPath on `[B, C, T, H, W]`).
        seed: optional seed of the random draws.

    Example:
        >>> x = keras.ops.ones((4, 2, 2, 3))
        >>> bool(keras.ops.all(DropPath(0.5, num_frames=2)(x) == x))  # inference: identity
        True
    """

    def __init__(self, rate: float, num_frames: int = 1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        if int(num_frames) < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        self.rate = float(rate)
        self.num_frames = int(num_frames)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        clips = ops.reshape(inputs, (-1, self.num_frames) + tuple(inputs.shape[1:]))
        mask_shape = (ops.shape(clips)[0],) + (1,) * (len(clips.shape) - 1)
        keep = 1.0 - self.rate
        noise = keras.random.uniform(mask_shape, seed=self.seed_generator, dtype=inputs.dtype)
        mask = ops.cast(noise < keep, inputs.dtype) / keep
        return ops.reshape(clips * mask, ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "num_frames": self.num_frames,
            "seed": self.seed,
        }
