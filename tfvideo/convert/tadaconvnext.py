"""TAdaConvNeXt v1 checkpoints (Masked-Action-Recognition layout) -> `tadaconvnext_t`.

The authors' code (`models/base/convnext.py` + `TAdaConvNeXtBlock`) is a `BaseVideoModel` with
`backbone.` (ConvNeXt) and `head.out`:

- `backbone.downsample_layers.0.0`, Conv3d `[96, 3, 3, 4, 4]` -> `downsample_layers_0_0`, a Conv2D
  `(4, 4, 9, 96)` over `TemporalWindows` (tap j, colour c -> input channel 3j + c);
- `backbone.downsample_layers.0.1` / `.{i}.0`, channels-first LayerNorm -> LayerNormalization
  over the last axis (eps 1e-6);
- `backbone.downsample_layers.{i}.1`, Conv3d `[O, I, 1, 2, 2]` -> Conv2D `(2, 2, I, O)`;
- `backbone.stages.i.j.dwconv`, TAdaConv2d weight `[1, 1, C, 1, 7, 7]` and bias `[1, 1, C]` ->
  `stages_i_j_dwconv`, TAdaConv2D depthwise kernel `(7, 7, C, 1)` and bias `(C,)`;
- `backbone.stages.i.j.dwconv_rf.{g,a,bn,b,b_bias}` -> that layer's `route` sublayer;
- `backbone.stages.i.j.{norm,pwconv1,pwconv2,gamma}` -> `stages_i_j_{norm,pwconv1,pwconv2,gamma}`;
- `backbone.norm`, `head.out` -> `norm`, `head_out`.

Other block variants of that code (`TAdaConvNeXtBlockAvgPoolGELU`, the LN+GELU route function)
have extra or different keys and are rejected with the list of them; the TAdaConv repository's
TAdaConvNeXtV2 is the `tadaconvnextv2` layout (`tfvideo/convert/tadaconvnextv2.py`).
"""

import keras
import numpy as np

from tfvideo.convert import _plan
from tfvideo.convert.resnet import plan_route
from tfvideo.layers import TAdaConv2D

LN_EPSILON = 1e-6
ROUTE_BN_EPSILON = 1e-5  # RouteFuncMLP's hard-coded default


def _stem_kernel(weight):
    """Conv3d `[O, C, kt, kh, kw]` -> Conv2D on stacked taps `(kh, kw, kt * C, O)`."""
    if weight.ndim != 5:
        raise _plan.ShapeMismatch(f"rank {weight.ndim}, expected a Conv3d weight")
    out, channels, taps, kh, kw = weight.shape
    return np.transpose(weight, (3, 4, 2, 1, 0)).reshape(kh, kw, taps * channels, out)


def plan_tadaconvnext(plan, model, include_head, plan_block_layer=None):
    """Plans every layer of a (TAda)ConvNeXt; `plan_block_layer(plan, layer, prefix)` (the V2
    layout's) takes the layers it returns True for, before the v1 rules."""
    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = "backbone." + _plan.module_path(layer.name)
        if plan_block_layer is not None and plan_block_layer(plan, layer, prefix):
            continue
        if layer.name == "head_out":
            if include_head:
                plan.dense(layer, "head.out")
            else:
                plan.allow_uncovered(layer.weights)
                plan.ignore(["head.out.weight", "head.out.bias"])
            continue
        if isinstance(layer, TAdaConv2D):
            kernel = _plan.depthwise_kernel if layer.groups > 1 else _plan.conv2d_kernel
            plan.assign(layer.kernel, f"{prefix}.weight", kernel)
            if layer.use_bias:
                plan.assign(layer.bias, f"{prefix}.bias", _plan.vector)
            plan_route(plan, layer.route, f"{prefix}_rf", bn_epsilon=ROUTE_BN_EPSILON)
        elif layer.name == "downsample_layers_0_0":
            plan.assign(layer.kernel, f"{prefix}.weight", _stem_kernel)
            plan.assign(layer.bias, f"{prefix}.bias", _plan.vector)
        elif isinstance(layer, keras.layers.Conv2D):  # downsamplers (and a plain dwconv)
            plan.conv2d(layer, prefix)
        elif isinstance(layer, keras.layers.LayerNormalization):
            plan.layer_norm(layer, prefix, LN_EPSILON)
        elif isinstance(layer, keras.layers.Dense):
            plan.dense(layer, prefix)
        elif hasattr(layer, "gamma") and len(layer.weights) == 1:  # LayerScale
            plan.assign(layer.gamma, prefix, _plan.vector)
        else:
            plan.settings.append(
                f"{layer.name}: no TAdaConvNeXt counterpart for a {type(layer).__name__}"
            )
