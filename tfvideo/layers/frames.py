"""Frame bookkeeping layers: folding frames into the batch for 2D backbones and back, the
temporal mean, bLVNet's frame subsampling/repetition and TAdaConvNeXt's temporal windows.

Example:
    >>> import numpy as np
    >>> from tfvideo.layers import FoldFrames, UnfoldFrames
    >>> x = np.zeros((2, 4, 8, 8, 3), "float32")
    >>> tuple(UnfoldFrames(4)(FoldFrames()(x)).shape)
    (2, 4, 8, 8, 3)
"""

from keras import layers, ops

from tfvideo.layers._common import serializable


@serializable
class FoldFrames(layers.Layer):
    """`[B, T, ...]` -> `[B*T, ...]`: frames become batch items for a 2D backbone."""

    def call(self, inputs):
        return ops.reshape(inputs, (-1,) + tuple(inputs.shape[2:]))

    def compute_output_shape(self, input_shape):
        batch, frames = input_shape[0], input_shape[1]
        folded = None if batch is None or frames is None else batch * frames
        return (folded,) + tuple(input_shape[2:])


@serializable
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


@serializable
class TemporalMean(layers.Layer):
    """Mean over axis 1 (frames): the TSN consensus on per-frame logits `[B, T, K]`."""

    def call(self, inputs):
        return ops.mean(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])


@serializable
class FrameSubsample(layers.Layer):
    """Keeps every `stride`-th frame of folded clips, starting at `offset`.

    Input `[B*T, ...]` with the frames of each clip contiguous and T divisible by `stride`; output
    `[B*T/stride, ...]` holding frames `offset, offset + stride, ...` of every clip. It is a
    reshape and a slice (TFLite builtin ops). bLVNet-TAM takes its big branch with
    `FrameSubsample(2, 1)` (odd frames) and its little branch with `FrameSubsample(2, 0)`.

    Args:
        stride: keep one frame in `stride` (>= 1).
        offset: index of the first kept frame, `0 <= offset < stride`.

    Example:
        >>> import numpy as np
        >>> x = np.arange(8, dtype="float32").reshape(8, 1, 1, 1)   # 2 clips of 4 frames
        >>> np.asarray(FrameSubsample(2, 1)(x))[:, 0, 0, 0].tolist()
        [1.0, 3.0, 5.0, 7.0]
    """

    def __init__(self, stride: int = 2, offset: int = 0, **kwargs):
        super().__init__(**kwargs)
        if int(stride) < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if not 0 <= int(offset) < int(stride):
            raise ValueError(f"offset must be in [0, stride={stride}), got {offset}")
        self.stride = int(stride)
        self.offset = int(offset)

    def call(self, inputs):
        if self.stride == 1:
            return inputs
        grouped = ops.reshape(inputs, (-1, self.stride) + tuple(inputs.shape[1:]))
        return grouped[:, self.offset]

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return (None if batch is None else batch // self.stride,) + tuple(input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "stride": self.stride, "offset": self.offset}


@serializable
class FrameRepeat(layers.Layer):
    """Repeats every folded frame `repeats` times in place: `[N, ...]` -> `[N*repeats, ...]`.

    Frame `i` becomes frames `i*repeats ... i*repeats + repeats - 1`. bLVNet-TAM writes each fused
    big-little map back to both frames of its pair with `FrameRepeat(2)`.

    Args:
        repeats: copies of each frame (>= 1).

    Example:
        >>> import numpy as np
        >>> x = np.arange(3, dtype="float32").reshape(3, 1, 1, 1)
        >>> np.asarray(FrameRepeat(2)(x))[:, 0, 0, 0].tolist()
        [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
    """

    def __init__(self, repeats: int = 2, **kwargs):
        super().__init__(**kwargs)
        if int(repeats) < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        self.repeats = int(repeats)

    def call(self, inputs):
        if self.repeats == 1:
            return inputs
        stacked = ops.stack([inputs] * self.repeats, axis=1)
        return ops.reshape(stacked, (-1,) + tuple(inputs.shape[1:]))

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return (None if batch is None else batch * self.repeats,) + tuple(input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "repeats": self.repeats}


@serializable
class TemporalWindows(layers.Layer):
    """Stacks the frames of each temporal conv window on the channel axis.

    `[B, T, H, W, C]` -> `[B, T', H, W, kernel_size * C]` with
    `T' = (T + 2 * padding - kernel_size) // strides + 1`: output frame `t` holds input frames
    `t * strides - padding + j`, `j = 0 .. kernel_size - 1` (zeros outside the clip), tap `j` in
    channels `[j*C, (j+1)*C)`. A 2D conv on the result is a 3D conv with temporal kernel
    `kernel_size`, stride `strides` and zero padding `padding`. Pad, reshape, unit-stride
    slices and a concat (TFLite builtins): the padded frames are viewed as
    `[B, T'', s, H * W, C]` (`s = strides`), so tap `j` is the unit-stride slice
    `[:, j // s : j // s + T', j % s]` (TensorFlow's slices with a stride > 1 copy element by
    element: this layer's three took 56 ms of op time per TAdaConvNeXt-T forward before).

    Args:
        kernel_size: temporal taps per window (>= 1).
        strides: temporal stride (>= 1).
        padding: zero frames added at each end of the clip (>= 0).

    Example:
        >>> import numpy as np
        >>> x = np.arange(4, dtype="float32").reshape(1, 4, 1, 1, 1)
        >>> np.asarray(TemporalWindows(3, 2, 1)(x))[0, :, 0, 0].tolist()
        [[0.0, 0.0, 1.0], [1.0, 2.0, 3.0]]
    """

    def __init__(self, kernel_size: int = 3, strides: int = 2, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        if int(kernel_size) < 1 or int(strides) < 1 or int(padding) < 0:
            raise ValueError(
                f"kernel_size and strides must be >= 1 and padding >= 0, got "
                f"kernel_size={kernel_size}, strides={strides}, padding={padding}"
            )
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.padding = int(padding)

    def _output_frames(self, frames):
        out = (frames + 2 * self.padding - self.kernel_size) // self.strides + 1
        if out < 1:
            raise ValueError(
                f"TemporalWindows: {frames} frames are too few for a window of "
                f"{self.kernel_size} with padding {self.padding}"
            )
        return out

    def call(self, inputs):
        if len(inputs.shape) != 5 or inputs.shape[1] is None:
            raise ValueError(
                f"TemporalWindows expects [batch, frames, H, W, C] with known "
                f"frames, got shape {inputs.shape}"
            )
        _, frames, height, width, channels = inputs.shape
        out_frames = self._output_frames(frames)
        s = self.strides
        x = ops.reshape(inputs, (-1, frames, height * width, channels))
        # frames padded to (groups x s): `padding` zeros at each end, then zeros never read
        groups = out_frames + (self.kernel_size - 1) // s
        end = groups * s - frames - self.padding
        x = ops.pad(x, [[0, 0], [self.padding, max(end, 0)], [0, 0], [0, 0]])
        x = ops.reshape(x[:, : groups * s], (-1, groups, s, height * width, channels))
        taps = [x[:, j // s : j // s + out_frames, j % s] for j in range(self.kernel_size)]
        x = ops.concatenate(taps, axis=-1) if len(taps) > 1 else taps[0]
        return ops.reshape(x, (-1, out_frames, height, width, self.kernel_size * channels))

    def compute_output_shape(self, input_shape):
        batch, frames, height, width, channels = input_shape
        return (batch, self._output_frames(frames), height, width, self.kernel_size * channels)

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
        }
