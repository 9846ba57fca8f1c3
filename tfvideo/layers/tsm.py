"""Temporal Shift Module (TSM, Lin et al., ICCV 2019): the TEINet baseline."""

from keras import ops

from tfvideo.layers._common import (
    TemporalLayer,
    check_positive_int,
    folded_call,
    from_time_view,
    serializable,
    shift_time,
    to_time_view,
)


@serializable
class TemporalShift(TemporalLayer):
    """Temporal shift of a channel slice (TSM), parameter-free.

    With `fold = channels // shift_div`, on input `[batch * num_frames, H, W, C]`:

    - channels `[0, fold)` take frame `t + 1` ("shift left"; zero at the last
      frame),
    - channels `[fold, 2 * fold)` take frame `t - 1` ("shift right"; zero at the
      first frame),
    - the remaining channels are unchanged.

    This is the convention of the TSM reference code and of TEINet's
    shift-initialised TIM. It is built from slices, zero pads and one concat
    (TFLite builtins). "Residual" vs "in-place" TSM is where a model puts the
    layer: residual TSM shifts the input of the residual branch only (the
    shortcut keeps the unshifted tensor), in-place TSM shifts the block input.

    Args:
        num_frames: frames per clip, folded into the batch.
        shift_div: `1 / shift_div` of the channels moves each way (default 8,
            i.e. 1/4 of the channels move in total).

    Example:
    >>> import keras
    >>> from tfvideo.layers import TemporalShift
    >>> x = keras.random.normal((2 * 8, 7, 7, 64))
    >>> tuple(TemporalShift(num_frames=8)(x).shape)
    (16, 7, 7, 64)
    """

    def __init__(self, num_frames, shift_div=8, **kwargs):
        super().__init__(num_frames, **kwargs)
        self.shift_div = check_positive_int("shift_div", shift_div)
        if shift_div < 2:
            raise ValueError(
                f"`shift_div` must be at least 2 (two channel slices move), got {shift_div}."
            )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        if input_shape[-1] < self.shift_div:
            raise ValueError(
                f"TemporalShift: channels ({input_shape[-1]}) must be at least "
                f"`shift_div` ({self.shift_div}) so that at least one channel "
                f"shifts each way."
            )
        self.fold = input_shape[-1] // self.shift_div

    @folded_call
    def call(self, inputs):
        x = to_time_view(inputs, self.num_frames)
        fold = self.fold
        x = ops.concatenate(
            [
                shift_time(x[..., :fold], 1),
                shift_time(x[..., fold : 2 * fold], -1),
                x[..., 2 * fold :],
            ],
            axis=-1,
        )
        return from_time_view(x, inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"shift_div": self.shift_div})
        return config
