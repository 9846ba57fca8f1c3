"""TAdaConvNeXtV2 checkpoints (alibaba-mmai-research/TAdaConv `MODEL_ZOO.md`) ->
`tadaconvnextv2_t/_s/_b`.

The release is a `BaseVideoModel` (`backbone.` = `ConvNeXt` with `TAdaConvNeXtV2Block`s,
`head.out`); its `.pyth` files hold the weights under `model_state` (and `model_ema_state`).
Stem, downsamplers, `norm`, `pwconv1/2`, `gamma`, `backbone.norm` and `head.out` load as in the
v1 layout (`tfvideo/convert/tadaconvnext.py`). The V2 block's own keys:

- `backbone.stages.i.j.dwconv.weight` `[1, 1, C, 1, 7, 7]` / `.bias` `[1, 1, C]` ->
  `stages_i_j_dwconv` (`TAdaConv2DV2`) depthwise kernel `(7, 7, C, 1)` / bias `(C,)`;
- `backbone.stages.i.j.dwconv_rf.{a, b, b_bias}` (Conv3d `[O, I, 3, 1, 1]`) ->
  `stages_i_j_dwconv_rf` (`RouteFuncTransformer`) Conv1D `(3, I, O)`; `.qkv_proj`, `.attn_out`
  (1x1x1 Conv3d) -> Dense; `.norm`, `.norm_transformer` (channels-first LayerNorm, eps 1e-6)
  -> LayerNormalization;
- `backbone.stages.i.j.norm` / `.norm_avgpool` -> the `norm` / `norm_avgpool` sublayers of
  `stages_i_j_norm` (`TAdaLayerNormAggregation`).

The route's attention head split is read from the model (`head_dim`), so a checkpoint of
another head width loads into a wrongly configured model without a shape error: the block's
`head_dim` must be the release's (T/S 48, B 64), as the named configurations set it.
"""

from tfvideo.convert import _plan
from tfvideo.convert.tadaconvnext import LN_EPSILON, plan_tadaconvnext
from tfvideo.layers import RouteFuncTransformer, TAdaConv2DV2, TAdaLayerNormAggregation


def _plan_route(plan, route, prefix):
    for conv in (route.a, route.b, route.b_bias):
        if conv is None:
            continue
        key = f"{prefix}.{conv.name}"
        plan.assign(conv.kernel, f"{key}.weight", _plan.temporal_conv1d_kernel)
        if conv.use_bias:
            plan.assign(conv.bias, f"{key}.bias", _plan.vector)
    for norm in (route.norm, route.norm_transformer):
        plan.layer_norm(norm, f"{prefix}.{norm.name}", LN_EPSILON)
    for dense in (route.qkv_proj, route.attn_out):
        plan.dense(dense, f"{prefix}.{dense.name}")


def _plan_v2_layer(plan, layer, prefix):
    if isinstance(layer, RouteFuncTransformer):
        _plan_route(plan, layer, prefix)
    elif isinstance(layer, TAdaConv2DV2):
        plan.assign(layer.kernel, f"{prefix}.weight", _plan.depthwise_kernel)
        if layer.use_bias:
            plan.assign(layer.bias, f"{prefix}.bias", _plan.vector)
    elif isinstance(layer, TAdaLayerNormAggregation):
        block = prefix.rpartition(".")[0]
        for norm in (layer.norm, layer.norm_avgpool):
            plan.layer_norm(norm, f"{block}.{norm.name}", LN_EPSILON)
    else:
        return False
    return True


def plan_tadaconvnextv2(plan, model, include_head):
    plan_tadaconvnext(plan, model, include_head, plan_block_layer=_plan_v2_layer)
