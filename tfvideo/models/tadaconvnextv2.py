"""TAdaConvNeXtV2-T/S/B (Huang et al., "Temporally-Adaptive Models for Efficient Video
Understanding", arXiv 2308.05787): the TAdaConv models whose checkpoints the authors released.

The release's `ConvNeXt` backbone with `TAdaConvNeXtV2Block`s
(alibaba-mmai-research/TAdaConv: `tadaconv/models/base/backbone.py`,
`tadaconv/models/module_zoo/branches/tadaconvnextv2.py`,
`configs/pool/backbone/tadaconvnextv2_{tiny,small,base}.yaml`), on frame-folded clips:

- stem: a (3, 4, 4) / (2, 4, 4) Conv3d with temporal padding 1 (16 frames -> 8), then a
  channels-first LayerNorm (eps 1e-6); run as `TemporalWindows` + a 4x4/4 `Conv2D` on the 3
  stacked frames (builtin TFLite ops only, exactly the Conv3d);
- three downsamplers: LayerNorm + a 2x2/2 conv (`Conv3d` (1, 2, 2));
- four stages of blocks, depths T (3, 3, 9, 3), S and B (3, 3, 27, 3); widths T/S
  (96, 192, 384, 768), B (128, 256, 512, 1024). One block on `x` `[B*T, H, W, C]`:

      alpha, beta = dwconv_rf(x)       RouteFuncTransformer: reduction 2, kernels (3, 3),
                                       head dim 48 (T, S) or 64 (B), zero-initialised b/b_bias
      y = dwconv([x, alpha, beta])     7x7 depthwise, padding 3, cout + bias calibration
      y = norm(y) + norm_avgpool(AvgPool_t3(y))      TAdaLayerNormAggregation, LN_0 = 0 at init
      y = pwconv2(QuickGELU(pwconv1(y)))             C -> 4C -> C (Dense)
      x = x + DropPath(gamma * y)                    layer scale 1e-6; stochastic depth rate
                                                     linear from 0 to 0.2 (T), 0.4 (S), 0.6 (B)

- head: mean over T, H, W, LayerNorm (eps 1e-6), dropout 0.5 (the K400/SSv2 project
  configs'), linear classifier (`head.out`). The release's head applies a softmax in eval mode;
  tfvideo models return the logits before it. Weights start as the release's: truncated
  normal (std 0.02) for convs and linears, zero biases.

At initialisation alpha = beta = 1 and `norm_avgpool` is zero, so an untrained block is a
ConvNeXt block with QuickGELU. Keras layer names are the release's module paths with "." ->
"_" (`stages_2_5_dwconv`, `stages_2_5_dwconv_rf`, `downsample_layers_1_0`, `norm`,
`head_out`); `stages.i.j.norm` and `.norm_avgpool` are the `norm` / `norm_avgpool` sublayers
of `stages_i_j_norm`. Input normalisation: the release's mean 0.45, std 0.225.

Example:
    >>> import numpy as np, tfvideo
    >>> model = tfvideo.models.create("tadaconvnextv2_tiny", num_classes=5)
    >>> model(np.zeros((1, 8, 64, 64, 3), "float32")).shape
    TensorShape([1, 5])
"""

import keras
from keras import layers

from tfvideo.layers import (
    DropPath,
    LayerScale,
    QuickGELU,
    RouteFuncTransformer,
    TAdaConv2DV2,
    TAdaLayerNormAggregation,
    TemporalWindows,
)
from tfvideo.models import common
from tfvideo.models.registry import register

LN_EPSILON = 1e-6
_INIT = {"class_name": "TruncatedNormal", "config": {"mean": 0.0, "stddev": 0.02}}

# configs/pool/backbone/tadaconvnextv2_*.yaml: DEPTH, NUM_FILTERS, DROP_PATH, BRANCH.HEAD_DIM.
SIZES = {
    "t": dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), drop_path_rate=0.2, head_dim=48),
    "s": dict(depths=(3, 3, 27, 3), dims=(96, 192, 384, 768), drop_path_rate=0.4, head_dim=48),
    "b": dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024), drop_path_rate=0.6, head_dim=64),
}


def _tada_v2_block(x, *, num_frames, drop_rate, layer_scale, route, name):
    """TAdaConvNeXtV2Block on `[B*T, H, W, C]` (module docstring)."""
    dim = x.shape[-1]
    calibration = RouteFuncTransformer(num_frames, **route, name=f"{name}_dwconv_rf")(x)
    y = TAdaConv2DV2(7, padding=3, name=f"{name}_dwconv")([x, *calibration])
    y = TAdaLayerNormAggregation(num_frames, epsilon=LN_EPSILON, name=f"{name}_norm")(y)
    y = layers.Dense(4 * dim, kernel_initializer=_INIT, name=f"{name}_pwconv1")(y)
    y = QuickGELU(name=f"{name}_act")(y)
    y = layers.Dense(dim, kernel_initializer=_INIT, name=f"{name}_pwconv2")(y)
    if layer_scale:
        y = LayerScale(layer_scale, name=f"{name}_gamma")(y)
    if drop_rate:
        y = DropPath(drop_rate, num_frames, name=f"{name}_drop_path")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def _layer_norm(x, name):
    return layers.LayerNormalization(epsilon=LN_EPSILON, name=name)(x)


def build_tadaconvnextv2(
    num_classes=400,
    num_frames=16,
    input_size=224,
    *,
    depths=SIZES["t"]["depths"],
    dims=SIZES["t"]["dims"],
    drop_path_rate=SIZES["t"]["drop_path_rate"],
    head_dim=SIZES["t"]["head_dim"],
    route_reduction=2,
    route_kernel_sizes=(3, 3),
    stem_kernel_frames=3,
    stem_stride_frames=2,
    layer_scale=1e-6,
    dropout=0.5,
    mean=common.TADA[0],
    std=common.TADA[1],
    name=None,
):
    """TAdaConvNeXtV2 as a functional `keras.Model`: clips `[B, num_frames, H, W, 3]` -> logits.

    Args:
        num_classes: classifier outputs.
        num_frames: input frames; the stem keeps `(T - 1) // stem_stride_frames + 1` of them.
        input_size: int or (H, W), divisible by 32.
        depths, dims: blocks and widths of the four stages.
        drop_path_rate: stochastic depth rate of the last block (linear from 0 over blocks).
        head_dim: attention head width of the route functions; every stage's
            `dim // route_reduction` must be divisible by it.
        route_reduction, route_kernel_sizes: route function reduction and temporal kernels.
        stem_kernel_frames, stem_stride_frames: temporal kernel (odd; padded by k // 2) and
            stride of the patchify stem.
        layer_scale: initial layer scale (0 disables it).
        dropout: rate before the classifier.
        mean, std: per-channel normalisation of [0, 1] pixels, applied inside the model.
    """
    if len(depths) != len(dims) or not depths:
        raise ValueError(
            f"depths and dims need the same (non-zero) length, got depths={depths}, dims={dims}"
        )
    if stem_kernel_frames < 1 or stem_kernel_frames % 2 == 0:
        raise ValueError(f"stem_kernel_frames must be odd, got {stem_kernel_frames}")
    for dim in dims:
        if dim % route_reduction or (dim // route_reduction) % head_dim:
            raise ValueError(
                f"head_dim ({head_dim}) must divide every stage's dim // route_reduction; "
                f"got dims={dims}, route_reduction={route_reduction}"
            )
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    if height % 32 or width % 32:
        raise ValueError(f"input_size must be divisible by 32, got {input_size}")

    clips = common.clip_input(num_frames, (height, width))
    x = common.Normalize(mean, std, name="normalize")(clips)
    x = TemporalWindows(
        stem_kernel_frames, stem_stride_frames, stem_kernel_frames // 2, name="stem_windows"
    )(x)
    frames = x.shape[1]
    x = common.FoldFrames(name="fold_frames")(x)
    x = layers.Conv2D(
        dims[0], 4, strides=4, kernel_initializer=_INIT, name="downsample_layers_0_0"
    )(x)
    x = _layer_norm(x, "downsample_layers_0_1")
    route = dict(reduction=route_reduction, kernel_sizes=route_kernel_sizes, head_dim=head_dim)
    total_blocks, block = sum(depths), 0
    for stage, (depth, dim) in enumerate(zip(depths, dims)):
        if stage:
            x = _layer_norm(x, f"downsample_layers_{stage}_0")
            x = layers.Conv2D(
                dim, 2, strides=2, kernel_initializer=_INIT, name=f"downsample_layers_{stage}_1"
            )(x)
        for index in range(depth):
            x = _tada_v2_block(
                x,
                num_frames=frames,
                drop_rate=drop_path_rate * block / max(total_blocks - 1, 1),
                layer_scale=layer_scale,
                route=route,
                name=f"stages_{stage}_{index}",
            )
            block += 1
    x = layers.GlobalAveragePooling2D(name="spatial_pool")(x)
    x = common.UnfoldFrames(frames, name="unfold_frames")(x)
    x = common.TemporalMean(name="temporal_pool")(x)
    x = _layer_norm(x, "norm")
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    logits = layers.Dense(num_classes, kernel_initializer=_INIT, name="head_out", dtype="float32")(
        x
    )
    return keras.Model(clips, logits, name=name or "tadaconvnextv2")


_K400 = dict(
    family="tadaconvnextv2",
    num_classes=400,
    sampling="dense",
    mean=common.TADA[0],
    std=common.TADA[1],
)


def _register_size(size, summary):
    model_name = f"tadaconvnextv2_{size}"

    @register(model_name, num_frames=16, input_size=224, **_K400)
    def builder(num_classes, num_frames, input_size, **options):
        return build_tadaconvnextv2(
            num_classes, num_frames, input_size, **{**SIZES[size], "name": model_name, **options}
        )

    builder.__name__ = builder.__qualname__ = model_name
    builder.__doc__ = summary
    return builder


tadaconvnextv2_t = _register_size(
    "t", "TAdaConvNeXtV2-T: 45.97M params (400 classes); K400 16f 79.6, 32f 80.8 (MODEL_ZOO)."
)
tadaconvnextv2_s = _register_size(
    "s", "TAdaConvNeXtV2-S: 82.25M params (400 classes); K400 16f 80.8, 32f 81.9 (MODEL_ZOO)."
)
tadaconvnextv2_b = _register_size(
    "b", "TAdaConvNeXtV2-B: 145.69M params (400 classes); K400 16f 81.4, 32f 82.3 (MODEL_ZOO)."
)


@register("tadaconvnextv2_tiny", num_frames=8, input_size=64, **{**_K400, "num_classes": 10})
def tadaconvnextv2_tiny(num_classes, num_frames, input_size, **options):
    """A narrow, shallow TAdaConvNeXtV2 (widths 16-128, one block per stage, head dim 8: 1, 2,
    4, 8 attention heads like T's) for CPU demos/tests."""
    return build_tadaconvnextv2(
        num_classes,
        num_frames,
        input_size,
        **{
            "depths": (1, 1, 1, 1),
            "dims": (16, 32, 64, 128),
            "head_dim": 8,
            "drop_path_rate": 0.1,
            "name": "tadaconvnextv2_tiny",
            **options,
        },
    )
