"""`SeparablePooling3D`: 3D max/avg pooling as a spatial 2D pool then a temporal pool (max and
mean are separable), with PyTorch's explicit padding, so it lowers to TFLite builtin ops.
"""

from keras import layers, ops

from tfvideo.layers._common import serializable


def _triple(name, value):
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * 3
    value = tuple(value)
    if len(value) != 3 or any(not isinstance(v, int) or v < 0 for v in value):
        raise ValueError(f"`{name}` must be an int or 3 non-negative ints (t, h, w), got {value!r}")
    return value


def _pooled_size(size, kernel, stride, padding):
    if padding == "same":
        return -(-size // stride)
    pad = 0 if padding == "valid" else padding
    return (size + 2 * pad - kernel) // stride + 1


@serializable
class SeparablePooling3D(layers.Layer):
    """3D max or average pooling computed as a spatial 2D pool, then a temporal pool.

    Max and mean over a `kt x kh x kw` box factor into a pool over `kh x kw` per frame and a
    pool over `kt` per position, so this equals `MaxPool3D`/`AveragePool3D` while lowering to
    TFLite MAX_POOL_2D/AVERAGE_POOL_2D (3D pools need Flex ops).

    Args:
        pool_size: int or `(t, h, w)` window.
        strides: int or `(t, h, w)`; defaults to `pool_size`.
        padding: `"same"` (TensorFlow: padding ignored), `"valid"`, or an int / `(t, h, w)`
            of PyTorch-style symmetric padding: for max pooling the border values mirrored
            (exact, as padding never exceeds half the window: every window that reaches the
            padding holds the values mirrored into it; a -inf fill would make an int8
            TFLite model's range unbounded), zeros that count in the average for average
            pooling (`count_include_pad=True`), output sizes rounded down (`ceil_mode=False`).
        pool_type: `"max"` or `"avg"`.

    Example:
        >>> import numpy as np
        >>> pool = SeparablePooling3D((3, 3, 3), strides=2, padding=1)
        >>> tuple(pool(np.zeros((1, 8, 56, 56, 4), "float32")).shape)
        (1, 4, 28, 28, 4)
    """

    def __init__(
        self, pool_size=(1, 3, 3), strides=None, padding="same", pool_type="max", **kwargs
    ):
        super().__init__(**kwargs)
        self.pool_size = _triple("pool_size", pool_size)
        if min(self.pool_size) < 1:
            raise ValueError(f"`pool_size` must be positive, got {self.pool_size}")
        self.strides = self.pool_size if strides is None else _triple("strides", strides)
        if min(self.strides) < 1:
            raise ValueError(f"`strides` must be positive, got {self.strides}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"`padding` must be 'same', 'valid' or explicit sizes, got {padding!r}"
                )
            self.padding = padding
        else:
            self.padding = _triple("padding", padding)
            if any(2 * p > k for p, k in zip(self.padding, self.pool_size)):
                raise ValueError(
                    f"`padding` {self.padding} must be at most half of "
                    f"`pool_size` {self.pool_size} (as in PyTorch)"
                )
        if pool_type not in ("max", "avg"):
            raise ValueError(f"`pool_type` must be 'max' or 'avg', got {pool_type!r}")
        self.pool_type = pool_type

    def _axis_padding(self, axis):
        return self.padding if isinstance(self.padding, str) else self.padding[axis]

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 5:
            raise ValueError(
                f"SeparablePooling3D expects [batch, frames, height, width, "
                f"channels], got shape {tuple(input_shape)}"
            )
        sizes = []
        for axis in range(3):
            size = input_shape[axis + 1]
            if size is None:
                raise ValueError(
                    f"SeparablePooling3D needs static frames/height/width, got "
                    f"shape {tuple(input_shape)}"
                )
            out = _pooled_size(
                size, self.pool_size[axis], self.strides[axis], self._axis_padding(axis)
            )
            if out < 1:
                raise ValueError(
                    f"SeparablePooling3D: pool_size {self.pool_size} does not fit "
                    f"the input {tuple(input_shape[1:4])}"
                )
            sizes.append(out)
        return (input_shape[0], *sizes, input_shape[4])

    def _pool(self, x, window, strides, pads):
        """Pools a 4D tensor over axes 1 and 2 with `pads = (pad_1, pad_2)` when explicit."""
        if isinstance(self.padding, str):
            mode = self.padding
        else:
            mode = "valid"
            if any(pads):
                widths = [[0, 0], [pads[0]] * 2, [pads[1]] * 2, [0, 0]]
                if self.pool_type == "max":
                    x = ops.pad(x, widths, mode="symmetric")
                else:
                    x = ops.pad(x, widths, constant_values=0.0)
        fn = ops.max_pool if self.pool_type == "max" else ops.average_pool
        return fn(x, window, strides=strides, padding=mode)

    def call(self, inputs):
        self.compute_output_shape(inputs.shape)  # checks rank, static sizes, fit
        _, t, h, w, c = inputs.shape
        (kt, kh, kw), (st, sh, sw) = self.pool_size, self.strides
        pad = (0, 0, 0) if isinstance(self.padding, str) else self.padding
        x = inputs
        if (kh, kw, sh, sw) != (1, 1, 1, 1):
            y = self._pool(ops.reshape(x, (-1, h, w, c)), (kh, kw), (sh, sw), pad[1:])
            h, w = y.shape[1], y.shape[2]
            x = ops.reshape(y, (-1, t, h, w, c))
        if (kt, st) != (1, 1):
            y = self._pool(ops.reshape(x, (-1, t, h * w, c)), (kt, 1), (st, 1), (pad[0], 0))
            x = ops.reshape(y, (-1, y.shape[1], h, w, c))
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "pool_type": self.pool_type,
        }
