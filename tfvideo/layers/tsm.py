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
    with_history,
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

    `causal=True` is the TSM paper's online (uni-directional) variant: channels
    `[0, fold)` take frame `t - 1` (zero at the first frame), all other channels
    are unchanged, so nothing reads a later frame. Streaming carries the
    previous frame's `fold` channels, state `"prev"` of shape `[B, 1, H*W, fold]`.

    Args:
        num_frames: frames per clip, folded into the batch.
        shift_div: `1 / shift_div` of the channels moves each way (default 8,
            i.e. 1/4 of the channels move in total; 1/8 from the past when causal).
        causal: shift from the past only (online TSM).

    Example:
    >>> import keras
    >>> from tfvideo.layers import TemporalShift
    >>> x = keras.random.normal((2 * 8, 7, 7, 64))
    >>> tuple(TemporalShift(num_frames=8)(x).shape)
    (16, 7, 7, 64)
    """

    def __init__(self, num_frames, shift_div=8, causal=False, **kwargs):
        super().__init__(num_frames, causal=causal, **kwargs)
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
        if self.causal:
            past = shift_time(x[..., :fold], -1)
            return from_time_view(ops.concatenate([past, x[..., fold:]], axis=-1), inputs)
        x = ops.concatenate(
            [
                shift_time(x[..., :fold], 1),
                shift_time(x[..., fold : 2 * fold], -1),
                x[..., 2 * fold :],
            ],
            axis=-1,
        )
        return from_time_view(x, inputs)

    def stream_state_shapes(self, input_shape, step_frames=1):
        self._check_streamable()
        _, h, w, c = input_shape
        return {"prev": (1, h * w, c // self.shift_div)}

    def stream_step(self, inputs, states, step_frames=1):
        self._check_streamable()
        x = to_time_view(inputs, step_frames)
        full, prev = with_history(states["prev"], x[..., : self.fold], 1)
        y = ops.concatenate([full[:, :-1], x[..., self.fold :]], axis=-1)
        return from_time_view(y, inputs), {"prev": prev}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"shift_div": self.shift_div})
        return config
