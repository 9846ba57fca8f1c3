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

import functools

from tfvideo.layers import QuickGELU, RouteFuncTransformer, TAdaConv2DV2, TAdaLayerNormAggregation
from tfvideo.models import common
from tfvideo.models.registry import register
from tfvideo.models.tadaconvnext import (
    LN_EPSILON,
    block_output,
    convnext_video,
    pointwise_mlp,
)

# configs/pool/backbone/tadaconvnextv2_*.yaml: DEPTH, NUM_FILTERS, DROP_PATH, BRANCH.HEAD_DIM.
SIZES = {
    "t": dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), drop_path_rate=0.2, head_dim=48),
    "s": dict(depths=(3, 3, 27, 3), dims=(96, 192, 384, 768), drop_path_rate=0.4, head_dim=48),
    "b": dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024), drop_path_rate=0.6, head_dim=64),
}


def _tada_v2_block(x, *, num_frames, drop_rate, layer_scale, route, name):
    """TAdaConvNeXtV2Block on `[B*T, H, W, C]` (module docstring)."""
    calibration = RouteFuncTransformer(num_frames, **route, name=f"{name}_dwconv_rf")(x)
    y = TAdaConv2DV2(7, padding=3, name=f"{name}_dwconv")([x, *calibration])
    y = TAdaLayerNormAggregation(num_frames, epsilon=LN_EPSILON, name=f"{name}_norm")(y)
    y = pointwise_mlp(y, QuickGELU, name=name)
    return block_output(
        x, y, num_frames=num_frames, drop_rate=drop_rate, layer_scale=layer_scale, name=name
    )


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

    The stem, downsamplers and head are v1's (`tadaconvnext.convnext_video`).

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
    for dim in dims:
        if dim % route_reduction or (dim // route_reduction) % head_dim:
            raise ValueError(
                f"head_dim ({head_dim}) must divide every stage's dim // route_reduction; "
                f"got dims={dims}, route_reduction={route_reduction}"
            )
    route = dict(reduction=route_reduction, kernel_sizes=route_kernel_sizes, head_dim=head_dim)
    return convnext_video(
        num_classes,
        num_frames,
        input_size,
        block=functools.partial(_tada_v2_block, layer_scale=layer_scale, route=route),
        depths=depths,
        dims=dims,
        stem_kernel_frames=stem_kernel_frames,
        stem_stride_frames=stem_stride_frames,
        drop_path_rate=drop_path_rate,
        dropout=dropout,
        mean=mean,
        std=std,
        name=name or "tadaconvnextv2",
    )


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
