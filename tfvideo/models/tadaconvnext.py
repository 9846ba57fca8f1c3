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

import functools

import keras
from keras import layers, ops

from tfvideo.layers import DropPath, LayerScale, TAdaConv2D, TemporalWindows
from tfvideo.models import common
from tfvideo.models.registry import register

LN_EPSILON = 1e-6
INIT = {"class_name": "TruncatedNormal", "config": {"mean": 0.0, "stddev": 0.02}}


def _layer_norm(x, name):
    return layers.LayerNormalization(epsilon=LN_EPSILON, name=name)(x)


def block_output(x, y, *, num_frames, drop_rate, layer_scale, name):
    """The end of a ConvNeXt block: `x + DropPath(gamma * y)` (`LayerScale` `{name}_gamma`
    unless `layer_scale` is 0, `DropPath` `{name}_drop_path` when `drop_rate` > 0)."""
    if layer_scale:
        y = LayerScale(layer_scale, name=f"{name}_gamma")(y)
    if drop_rate:
        y = DropPath(drop_rate, num_frames, name=f"{name}_drop_path")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def pointwise_mlp(y, activation, *, name):
    """ConvNeXt's inverted bottleneck, `C -> 4C -> activation -> C` (`{name}_pwconv1`,
    `{name}_act`, `{name}_pwconv2`), on a `[positions, C]` view of `y` `[N, H, W, C]`: two
    2D matrix products, into which TensorFlow's oneDNN kernels fuse the bias and the (exact)
    GELU. On the 4-D tensor the products are batched and the GELU runs as separate passes
    over the 4C-wide activation: a stage-1 block's MLP took 1.8x as long in float32, and in
    bf16 longer than in float32 (docs/performance.md)."""
    _, height, width, dim = y.shape
    y = ops.reshape(y, (-1, dim))
    y = layers.Dense(4 * dim, kernel_initializer=INIT, name=f"{name}_pwconv1")(y)
    y = activation(name=f"{name}_act")(y)
    y = layers.Dense(dim, kernel_initializer=INIT, name=f"{name}_pwconv2")(y)
    return ops.reshape(y, (-1, height, width, dim))


def _convnext_block(
    x, *, num_frames, drop_rate, layer_scale, adaptive, route_reduction, route_kernel_sizes, name
):
    """(TAda) ConvNeXt block on `[B*T, H, W, C]`: dwconv 7x7 -> LN -> 4C -> GELU -> C -> scale
    -> drop path -> + input."""
    dim = x.shape[-1]
    if adaptive:
        y = TAdaConv2D(
            dim,
            7,
            num_frames,
            padding=3,
            groups=dim,
            calibration="cout",
            use_bias=True,
            bias_calibration=True,
            route_reduction=route_reduction,
            route_kernel_sizes=route_kernel_sizes,
            kernel_initializer=INIT,
            name=f"{name}_dwconv",
        )(x)
    else:
        y = layers.DepthwiseConv2D(
            7, padding="same", depthwise_initializer=INIT, name=f"{name}_dwconv"
        )(x)
    y = _layer_norm(y, f"{name}_norm")
    y = pointwise_mlp(y, functools.partial(layers.Activation, "gelu"), name=name)
    return block_output(
        x, y, num_frames=num_frames, drop_rate=drop_rate, layer_scale=layer_scale, name=name
    )


def build_tadaconvnext(
    num_classes=400,
    num_frames=16,
    input_size=224,
    *,
    depths=(3, 3, 9, 3),
    dims=(96, 192, 384, 768),
    stem_kernel_frames=3,
    stem_stride_frames=2,
    drop_path_rate=0.1,
    layer_scale=1e-6,
    dropout=0.5,
    adaptive=True,
    route_reduction=4,
    route_kernel_sizes=(3, 3),
    mean=common.TADA[0],
    std=common.TADA[1],
    name=None,
):
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
    block = functools.partial(
        _convnext_block,
        layer_scale=layer_scale,
        adaptive=adaptive,
        route_reduction=route_reduction,
        route_kernel_sizes=route_kernel_sizes,
    )
    return convnext_video(
        num_classes,
        num_frames,
        input_size,
        block=block,
        depths=depths,
        dims=dims,
        stem_kernel_frames=stem_kernel_frames,
        stem_stride_frames=stem_stride_frames,
        drop_path_rate=drop_path_rate,
        dropout=dropout,
        mean=mean,
        std=std,
        name=name or "tadaconvnext",
    )


def convnext_video(
    num_classes,
    num_frames,
    input_size,
    *,
    block,
    depths,
    dims,
    stem_kernel_frames,
    stem_stride_frames,
    drop_path_rate,
    dropout,
    mean,
    std,
    name,
):
    """The video ConvNeXt both TAdaConvNeXt versions share: normalisation, the (k, 4, 4) /
    (s, 4, 4) space-time stem (`TemporalWindows` + Conv2D) and its LN, LN + 2x2/2 downsamplers,
    the stages of `block(x, num_frames=T', drop_rate=r, name="stages_i_j")` (rates linear from
    0 to `drop_path_rate`), mean over T, H, W, LN, dropout, linear head. Arguments: see
    `build_tadaconvnext`."""
    if len(depths) != len(dims) or not depths:
        raise ValueError(
            f"depths and dims need the same (non-zero) length, got depths={depths}, dims={dims}"
        )
    if stem_kernel_frames < 1 or stem_kernel_frames % 2 == 0:
        raise ValueError(f"stem_kernel_frames must be odd, got {stem_kernel_frames}")
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    if height % 32 or width % 32:
        raise ValueError(f"input_size must be divisible by 32, got {input_size}")

    clips = common.clip_input(num_frames, (height, width))
    x = common.Normalize(mean, std, name="normalize")(clips)
    windows = TemporalWindows(
        stem_kernel_frames, stem_stride_frames, stem_kernel_frames // 2, name="stem_windows"
    )
    x = windows(x)
    frames = x.shape[1]
    x = common.FoldFrames(name="fold_frames")(x)
    x = layers.Conv2D(dims[0], 4, strides=4, kernel_initializer=INIT, name="downsample_layers_0_0")(
        x
    )
    x = _layer_norm(x, "downsample_layers_0_1")
    total_blocks, built = sum(depths), 0
    for stage, (depth, dim) in enumerate(zip(depths, dims)):
        if stage:
            x = _layer_norm(x, f"downsample_layers_{stage}_0")
            x = layers.Conv2D(
                dim, 2, strides=2, kernel_initializer=INIT, name=f"downsample_layers_{stage}_1"
            )(x)
        for index in range(depth):
            rate = drop_path_rate * built / max(total_blocks - 1, 1)
            x = block(x, num_frames=frames, drop_rate=rate, name=f"stages_{stage}_{index}")
            built += 1
    x = layers.GlobalAveragePooling2D(name="spatial_pool")(x)
    x = common.UnfoldFrames(frames, name="unfold_frames")(x)
    x = common.TemporalMean(name="temporal_pool")(x)
    x = _layer_norm(x, "norm")
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    logits = layers.Dense(num_classes, kernel_initializer=INIT, name="head_out", dtype="float32")(x)
    return keras.Model(clips, logits, name=name)


_K400 = dict(
    family="tadaconvnext",
    num_classes=400,
    sampling="dense",
    mean=common.TADA[0],
    std=common.TADA[1],
)


@register("tadaconvnext_t", num_frames=16, input_size=224, **_K400)
def tadaconvnext_t(num_classes, num_frames, input_size, **options):
    """TAdaConvNeXt-T (ICLR v1): 38.7M params, 46.9 GMACs at 16 x 256 x 256 (35.9 at 224)."""
    return build_tadaconvnext(
        num_classes, num_frames, input_size, **{"name": "tadaconvnext_t", **options}
    )


@register("tadaconvnext_tiny", num_frames=8, input_size=64, **{**_K400, "num_classes": 10})
def tadaconvnext_tiny(num_classes, num_frames, input_size, **options):
    """A narrow, shallow TAdaConvNeXt (widths 16-128, one block per stage) for CPU demos/tests."""
    return build_tadaconvnext(
        num_classes,
        num_frames,
        input_size,
        **{
            "depths": (1, 1, 1, 1),
            "dims": (16, 32, 64, 128),
            "name": "tadaconvnext_tiny",
            **options,
        },
    )
