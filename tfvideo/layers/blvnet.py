"""bLVNet-TAM's Temporal Aggregation Module (Fan et al., NeurIPS 2019)."""

import keras
from keras import ops

from tfvideo.layers._common import (
    TemporalLayer,
    causal_conv_step,
    check_positive_int,
    folded_call,
    from_time_view,
    history_state_shapes,
    serializable,
    temporal_depthwise_conv,
    to_time_view,
)


@serializable
class TemporalAggregation(TemporalLayer):
    """Temporal Aggregation Module (TAM) of bLVNet-TAM.

    Each channel blends `blending_frames` neighbouring frames with its own
    weights, then applies a ReLU. With `k = blending_frames` and
    `offset_i = i - k // 2`:

        y[t, c] = relu(sum_i kernel[i, c] * x[t + offset_i, c])

    with zeros for frames outside the clip. For the default `k = 3` the rows
    of `kernel` are the reference's `prev`, `curr` and `next` weights:
    `y[t] = relu(w_prev * x[t-1] + w_curr * x[t] + w_next * x[t+1])`.
    Even `k` follows the reference's offsets too (`k = 2`: frames t-1 and t).
    Runs as one depthwise conv with a `(k, 1)` kernel over a
    `[batch, frames, H*W, C]` view (no transposes; TFLite builtin).

    There is no identity initialisation: like the reference, the weights are
    kaiming-normal with fan-out (std `sqrt(2 / channels)`).

    `causal=True` left-pads the kernel: `y[t, c] = relu(sum_i kernel[i, c] *
    x[t - (k - 1) + i, c])`, so for `k = 3` the rows blend frames `t-2, t-1, t`.
    Streaming carries the last `k - 1` input frames, `"history"`
    `[B, k - 1, H*W, C]`.

    Args:
        num_frames: frames per clip, folded into the batch.
        blending_frames: number of blended frames `k` (default 3).
        kernel_initializer: initializer of the `[k, channels]` kernel.
        causal: left-padded kernel (see above).

    Example:
    >>> import keras
    >>> from tfvideo.layers import TemporalAggregation
    >>> x = keras.random.normal((2 * 8, 7, 7, 64))
    >>> tuple(TemporalAggregation(num_frames=8)(x).shape)
    (16, 7, 7, 64)
    """

    def __init__(
        self,
        num_frames,
        blending_frames=3,
        kernel_initializer=None,
        causal=False,
        **kwargs,
    ):
        super().__init__(num_frames, causal=causal, **kwargs)
        self.blending_frames = check_positive_int("blending_frames", blending_frames)
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.VarianceScaling(
                2.0, mode="fan_out", distribution="untruncated_normal"
            )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.blending_frames, input_shape[-1]),
            initializer=self.kernel_initializer,
        )

    @folded_call
    def call(self, inputs):
        k = self.blending_frames
        x = to_time_view(inputs, self.num_frames)
        pads = (k - 1, 0) if self.causal else (k // 2, k - 1 - k // 2)
        x = temporal_depthwise_conv(x, self.kernel, *pads)
        return from_time_view(ops.relu(x), inputs)

    def stream_state_shapes(self, input_shape, step_frames=1):
        self._check_streamable()
        return history_state_shapes(input_shape, self.blending_frames - 1)

    def stream_step(self, inputs, states, step_frames=1):
        self._check_streamable()
        y, states = causal_conv_step(inputs, states, self.kernel, step_frames)
        return ops.relu(y), states

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "blending_frames": self.blending_frames,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
