"""TAdaConvNeXt (Huang et al., ICLR 2022, "TAda! Temporally-Adaptive Convolutions"), v1.

ConvNeXt-T on frame-folded video: a (3, 4, 4) / (2, 4, 4) space-time patchify stem halves the
frames (16 -> 8), three LayerNorm + 2x2/2 conv downsamplers and four stages of ConvNeXt blocks
(depths 3, 3, 9, 3; widths 96, 192, 384, 768) whose 7x7 depthwise conv is a temporally adaptive
`tfvideo.layers.TAdaConv2D`: per-frame output-channel calibration `alpha` and bias calibration
`beta` from a route function (reduction 4, temporal kernels 3 and 3) on the conv input. Both are
exactly 1 at initialisation, so an untrained TAdaConvNeXt equals the plain ConvNeXt with the same
weights (`build_tadaconvnext(..., adaptive=False)`). Features are averaged over T, H, W, then
LayerNorm, dropout 0.5 and a linear classifier.

The layout follows `alibaba-mmai-research/Masked-Action-Recognition` (`models/base/convnext.py`,
`TAdaConvNeXtBlock` in `models/module_zoo/branches/tada_convnext.py`); Keras layer names are the
PyTorch module paths with "." replaced by "_" (`stages_2_5_dwconv`, `downsample_layers_1_0`,
`norm`, `head_out`); the route function `stages.i.j.dwconv_rf` is the `route` sublayer of
`stages_i_j_dwconv` (`g`, `a`, `bn`, `b`, `b_bias`).

The stem's 3D conv runs as 2D: the 3 frames of each temporal window are stacked on channels
(`TemporalWindows`) and one 4x4/4 `Conv2D` with 9 input channels patchifies them. This is exactly
the Conv3d (kernel tap `j`, colour `c` -> input channel `3 * j + c`) with builtin TFLite ops only.

Example:
    >>> import numpy as np, tfvideo
    >>> model = tfvideo.models.create("tadaconvnext_tiny", num_classes=5)
    >>> model(np.zeros((1, 8, 64, 64, 3), "float32")).shape
    TensorShape([1, 5])
"""

import keras
from keras import layers, ops

from tfvideo.layers import TAdaConv2D
from tfvideo.models import common
from tfvideo.models.registry import register

_LN_EPSILON = 1e-6
_INIT = {"class_name": "TruncatedNormal", "config": {"mean": 0.0, "stddev": 0.02}}


@keras.saving.register_keras_serializable(package="tfvideo")
class TemporalWindows(layers.Layer):
    """Stacks the frames of each temporal conv window on the channel axis.

    `[B, T, H, W, C]` -> `[B, T', H, W, kernel_size * C]` with
    `T' = (T + 2 * padding - kernel_size) // strides + 1`: output frame `t` holds input frames
    `t * strides - padding + j`, `j = 0 .. kernel_size - 1` (zeros outside the clip), tap `j` in
    channels `[j*C, (j+1)*C)`. A 2D conv on the result is a 3D conv with temporal kernel
    `kernel_size`, stride `strides` and zero padding `padding`. Pad, strided slices and a concat
    on a 4D view (TFLite builtins).

    Args:
        kernel_size: temporal taps per window (>= 1).
        strides: temporal stride (>= 1).
        padding: zero frames added at each end of the clip (>= 0).

    Example:
        >>> import numpy as np
        >>> x = np.arange(4, dtype="float32").reshape(1, 4, 1, 1, 1)
        >>> TemporalWindows(3, 2, 1)(x)[0, :, 0, 0].numpy().tolist()
        [[0.0, 0.0, 1.0], [1.0, 2.0, 3.0]]
    """

    def __init__(self, kernel_size: int = 3, strides: int = 2, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        if int(kernel_size) < 1 or int(strides) < 1 or int(padding) < 0:
            raise ValueError(f"kernel_size and strides must be >= 1 and padding >= 0, got "
                             f"kernel_size={kernel_size}, strides={strides}, padding={padding}")
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.padding = int(padding)

    def _output_frames(self, frames):
        out = (frames + 2 * self.padding - self.kernel_size) // self.strides + 1
        if out < 1:
            raise ValueError(f"TemporalWindows: {frames} frames are too few for a window of "
                             f"{self.kernel_size} with padding {self.padding}")
        return out

    def call(self, inputs):
        if len(inputs.shape) != 5 or inputs.shape[1] is None:
            raise ValueError(f"TemporalWindows expects [batch, frames, H, W, C] with known "
                             f"frames, got shape {inputs.shape}")
        _, frames, height, width, channels = inputs.shape
        out_frames = self._output_frames(frames)
        x = ops.reshape(inputs, (-1, frames, height * width, channels))
        if self.padding:
            x = ops.pad(x, [[0, 0], [self.padding, self.padding], [0, 0], [0, 0]])
        span = (out_frames - 1) * self.strides + 1
        taps = [x[:, j:j + span:self.strides] for j in range(self.kernel_size)]
        x = ops.concatenate(taps, axis=-1) if len(taps) > 1 else taps[0]
        return ops.reshape(x, (-1, out_frames, height, width, self.kernel_size * channels))

    def compute_output_shape(self, input_shape):
        batch, frames, height, width, channels = input_shape
        return (batch, self._output_frames(frames), height, width, self.kernel_size * channels)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding}


@keras.saving.register_keras_serializable(package="tfvideo")
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
            name="gamma", shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.init_value))

    def call(self, inputs):
        return inputs * ops.cast(self.gamma, inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value}


@keras.saving.register_keras_serializable(package="tfvideo")
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
        return {**super().get_config(), "rate": self.rate, "num_frames": self.num_frames,
                "seed": self.seed}


def _layer_norm(x, name):
    return layers.LayerNormalization(epsilon=_LN_EPSILON, name=name)(x)


def _convnext_block(x, *, num_frames, drop_rate, layer_scale, adaptive, route_reduction,
                    route_kernel_sizes, name):
    """(TAda) ConvNeXt block on `[B*T, H, W, C]`: dwconv 7x7 -> LN -> 4C -> GELU -> C -> scale
    -> drop path -> + input."""
    dim = x.shape[-1]
    if adaptive:
        y = TAdaConv2D(dim, 7, num_frames, padding=3, groups=dim, calibration="cout",
                       use_bias=True, bias_calibration=True, route_reduction=route_reduction,
                       route_kernel_sizes=route_kernel_sizes, kernel_initializer=_INIT,
                       name=f"{name}_dwconv")(x)
    else:
        y = layers.DepthwiseConv2D(7, padding="same", depthwise_initializer=_INIT,
                                   name=f"{name}_dwconv")(x)
    y = _layer_norm(y, f"{name}_norm")
    y = layers.Dense(4 * dim, kernel_initializer=_INIT, name=f"{name}_pwconv1")(y)
    y = layers.Activation("gelu", name=f"{name}_act")(y)
    y = layers.Dense(dim, kernel_initializer=_INIT, name=f"{name}_pwconv2")(y)
    if layer_scale:
        y = LayerScale(layer_scale, name=f"{name}_gamma")(y)
    if drop_rate:
        y = DropPath(drop_rate, num_frames, name=f"{name}_drop_path")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def build_tadaconvnext(num_classes=400, num_frames=16, input_size=224, *,
                       depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), stem_kernel_frames=3,
                       stem_stride_frames=2, drop_path_rate=0.1, layer_scale=1e-6, dropout=0.5,
                       adaptive=True, route_reduction=4, route_kernel_sizes=(3, 3),
                       mean=common.TADA[0], std=common.TADA[1], name=None):
    """TAdaConvNeXt as a functional `keras.Model`: clips `[B, num_frames, H, W, 3]` -> logits.

    Args:
        num_classes: classifier outputs.
        num_frames: input frames; the stem keeps `(T - 1) // stem_stride_frames + 1` of them.
        input_size: int or (H, W), divisible by 32.
        depths, dims: blocks and widths of the four stages.
        stem_kernel_frames, stem_stride_frames: temporal kernel (odd; padded by k // 2) and
            stride of the patchify stem.
        drop_path_rate: stochastic depth rate of the last block (linear from 0 over blocks).
        layer_scale: initial layer scale (0 disables it).
        dropout: rate before the classifier.
        adaptive: True uses TAdaConv2D depthwise convs; False gives the plain ConvNeXt with the
            same stem, i.e. what TAdaConvNeXt computes at initialisation.
        route_reduction, route_kernel_sizes: route function reduction and temporal kernels.
        mean, std: per-channel normalisation of [0, 1] pixels, applied inside the model.
    """
    if len(depths) != len(dims) or not depths:
        raise ValueError(f"depths and dims need the same (non-zero) length, got depths={depths}, "
                         f"dims={dims}")
    if stem_kernel_frames < 1 or stem_kernel_frames % 2 == 0:
        raise ValueError(f"stem_kernel_frames must be odd, got {stem_kernel_frames}")
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    if height % 32 or width % 32:
        raise ValueError(f"input_size must be divisible by 32, got {input_size}")

    clips = common.clip_input(num_frames, (height, width))
    x = common.Normalize(mean, std, name="normalize")(clips)
    windows = TemporalWindows(stem_kernel_frames, stem_stride_frames, stem_kernel_frames // 2,
                              name="stem_windows")
    x = windows(x)
    frames = x.shape[1]
    x = common.FoldFrames(name="fold_frames")(x)
    x = layers.Conv2D(dims[0], 4, strides=4, kernel_initializer=_INIT,
                      name="downsample_layers_0_0")(x)
    x = _layer_norm(x, "downsample_layers_0_1")
    total_blocks = sum(depths)
    block = 0
    for stage, (depth, dim) in enumerate(zip(depths, dims)):
        if stage:
            x = _layer_norm(x, f"downsample_layers_{stage}_0")
            x = layers.Conv2D(dim, 2, strides=2, kernel_initializer=_INIT,
                              name=f"downsample_layers_{stage}_1")(x)
        for index in range(depth):
            rate = drop_path_rate * block / max(total_blocks - 1, 1)
            x = _convnext_block(x, num_frames=frames, drop_rate=rate, layer_scale=layer_scale,
                                adaptive=adaptive, route_reduction=route_reduction,
                                route_kernel_sizes=route_kernel_sizes,
                                name=f"stages_{stage}_{index}")
            block += 1
    x = layers.GlobalAveragePooling2D(name="spatial_pool")(x)
    x = common.UnfoldFrames(frames, name="unfold_frames")(x)
    x = common.TemporalMean(name="temporal_pool")(x)
    x = _layer_norm(x, "norm")
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    logits = layers.Dense(num_classes, kernel_initializer=_INIT, name="head_out",
                          dtype="float32")(x)
    return keras.Model(clips, logits, name=name or "tadaconvnext")


_K400 = dict(family="tadaconvnext", num_classes=400, sampling="dense",
             mean=common.TADA[0], std=common.TADA[1])


@register("tadaconvnext_t", num_frames=16, input_size=224, **_K400)
def tadaconvnext_t(num_classes, num_frames, input_size, **options):
    """TAdaConvNeXt-T (ICLR v1): 38.7M params, 46.9 GMACs at 16 x 256 x 256 (35.9 at 224)."""
    return build_tadaconvnext(num_classes, num_frames, input_size,
                              **{"name": "tadaconvnext_t", **options})


@register("tadaconvnext_tiny", num_frames=8, input_size=64, **{**_K400, "num_classes": 10})
def tadaconvnext_tiny(num_classes, num_frames, input_size, **options):
    """A narrow, shallow TAdaConvNeXt (widths 16-128, one block per stage) for CPU demos/tests."""
    return build_tadaconvnext(num_classes, num_frames, input_size, **{
        "depths": (1, 1, 1, 1), "dims": (16, 32, 64, 128), "name": "tadaconvnext_tiny",
        **options})
