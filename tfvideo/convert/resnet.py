"""Checkpoints of the frame-folded ResNet family: TSN / TSM / TEINet / TAda2D.

Three source layouts, all mapped onto the torchvision-style 2D keys that
`tfvideo.models.resnet_weights.load_2d_resnet_weights` loads (this module only renames keys and
reshapes tensors, then checks and delegates):

- `torchvision_resnet`: torchvision's `resnet50` / `resnet101` (`layer1.0.conv1.weight`, `fc`),
  the ImageNet start of every ResNet video model. Temporal modules (TEINet's MEM/TIM, TAda2D's
  route functions and aggregation BN) are not in it and keep their (identity) initialisation; they
  are listed in the report.
- `tsm`: the TSM release (`base_model.layer1.0.conv1.net.weight` for a shifted block,
  `new_fc`): loads into `tsm_r50` / `tsm_r101` (residual shift in the same blocks).
- `tada2d`: the TAdaConv release (`backbone.conv1.a`, `backbone.conv2.res_1.conv_branch.{a,b,c}`,
  `...b_rf.{g,a,bn,b}`, `...b_avgpool_bn`, `...short_cut(_bn)`, `head.out`); Conv3d weights
  `[O, I, 1, k, k]` and TAdaConv2d weights `[1, 1, O, I, 3, 3]` lose their singleton axes.
"""

import re

import keras

from tfvideo.convert import _plan
from tfvideo.models import resnet_weights

BN_EPSILON = 1e-5  # torchvision, TSM and TAdaConv (cfg BN.EPS 1e-5; route BN 1e-5)
_HEAD = "fc"
_KEY = re.compile(r"^layer(\d+)\.(\d+)\.(conv\d|bn\d|downsample\.[01])\.(\w+)$")


def _tsm_key(model):
    shifted = {layer.name[: -len("_shift")] for layer in model.layers
               if layer.name.endswith("_shift")}

    def source_key(key):
        if key.startswith("fc."):
            return "new_" + key
        match = _KEY.match(key)
        if match and match.group(3) == "conv1":
            block = f"layer{match.group(1)}_{match.group(2)}"
            if block in shifted:
                return f"base_model.{key[:-len('.weight')]}.net.weight"
        return "base_model." + key

    return source_key


def _tada2d_key(key):
    """torchvision-style key -> the TAdaConv release's key."""
    if key.startswith("fc."):
        return "head.out." + key[3:]
    if key.startswith("conv1."):
        return "backbone.conv1.a." + key[len("conv1."):]
    if key.startswith("bn1."):
        return "backbone.conv1.a_bn." + key[len("bn1."):]
    match = _KEY.match(key)
    if not match:
        raise ValueError(f"no TAdaConv counterpart for {key!r}")
    stage, block, module, field = match.groups()
    prefix = f"backbone.conv{int(stage) + 1}.res_{int(block) + 1}"
    if module.startswith("downsample"):
        name = "short_cut" if module.endswith("0") else "short_cut_bn"
        return f"{prefix}.{name}.{field}"
    letter = "abc"[int(module[-1]) - 1]
    name = letter if module.startswith("conv") else f"{letter}_bn"
    return f"{prefix}.conv_branch.{name}.{field}"


def _module_variables(layer, fields):
    """The Keras variables that `load_2d_resnet_weights` writes for one torchvision module."""
    if "running_mean" in fields:
        return list(resnet_weights._batch_norm_of(layer).weights)
    if isinstance(layer, keras.layers.Dense):
        return [layer.kernel, layer.bias]
    return [layer.kernel]  # a conv (for TAdaConv2D: the base kernel, not the route function)


def plan_resnet(plan, model, include_head):
    """Plans a TSN/TSM/TEINet/TAda2D model from `plan.source` (see the module docstring)."""
    source = plan.source
    key_of = {"torchvision_resnet": lambda k: k, "tsm": _tsm_key(model),
              "tada2d": _tada2d_key}[source]
    modules = {}
    for key, target in resnet_weights.resnet_state_dict(model).items():  # PyTorch layouts
        module, _, field = key.rpartition(".")
        modules.setdefault(module, {})[field] = target
    state_2d = {}
    for module, fields in sorted(modules.items()):
        layer = model.get_layer(module.replace(".", "_"))
        variables = _module_variables(layer, fields)
        if module == _HEAD and not include_head:
            plan.allow_uncovered(variables)
            plan.ignore([key_of(f"{module}.{field}") for field in fields])
            continue
        plan.cover(variables)
        if "running_mean" in fields:
            bn = resnet_weights._batch_norm_of(layer)
            plan.check_setting(f"{layer.name}: BN epsilon", bn.epsilon, BN_EPSILON)
        for field, target in fields.items():
            key, source_key = f"{module}.{field}", key_of(f"{module}.{field}")
            value = plan.take(source_key)
            if value is None:
                continue
            try:
                converted = _plan.conv_weight_4d(value) if target.ndim == 4 else value
            except _plan.ShapeMismatch as error:
                converted = error
            if isinstance(converted, Exception) or converted.shape != target.shape:
                plan.mismatched.append(f"{source_key} {tuple(value.shape)} -> {key} "
                                       f"{tuple(target.shape)}")
                continue
            state_2d[key] = converted

    if resnet_weights.backbone_stride_on(model) != "3x3":
        plan.settings.append(f"model {model.name!r} strides on the 1x1 conv of a stage's first "
                             "block (stride_on='1x1'); the PyTorch releases stride on the 3x3")
    plan.delegates.append(lambda: resnet_weights.load_2d_resnet_weights(
        model, state_2d, stride_on="3x3", flip_input_channels=False,
        include_fc=include_head and "fc.weight" in state_2d, strict=True))

    if source == "tada2d":
        for layer in model.layers:
            if hasattr(layer, "route"):
                _plan_tada2d_block(plan, model, layer)
    # Whatever is left (temporal modules for an ImageNet source) is reported as left at init;
    # the TSM and TAdaConv releases must cover everything.
    if source == "torchvision_resnet":
        plan.allow_uncovered(model.weights)


def _plan_tada2d_block(plan, model, conv_layer):
    stage, block = re.match(r"^layer(\d+)_(\d+)_conv2$", conv_layer.name).groups()
    prefix = f"backbone.conv{int(stage) + 1}.res_{int(block) + 1}.conv_branch"
    plan_route(plan, conv_layer.route, f"{prefix}.b_rf")
    aggregation = model.get_layer(f"layer{stage}_{block}_bn2")
    plan.batch_norm(aggregation.avgpool_bn, f"{prefix}.b_avgpool_bn", BN_EPSILON)


def plan_route(plan, route, prefix, bn_epsilon=BN_EPSILON):
    """TAdaConv's `RouteFuncMLP` (`g`, `a`, `bn`, `b`, optional `b_bias`) -> `RouteFunc`."""
    plan.assign(route.g.kernel, f"{prefix}.g.weight", _plan.pointwise_dense_kernel)
    plan.assign(route.g.bias, f"{prefix}.g.bias", _plan.vector)
    plan.assign(route.a.kernel, f"{prefix}.a.weight", _plan.temporal_conv1d_kernel)
    plan.assign(route.a.bias, f"{prefix}.a.bias", _plan.vector)
    plan.batch_norm(route.bn, f"{prefix}.bn", bn_epsilon)
    plan.assign(route.b.kernel, f"{prefix}.b.weight", _plan.temporal_conv1d_kernel)
    if route.b_bias is not None:
        plan.assign(route.b_bias.kernel, f"{prefix}.b_bias.weight", _plan.temporal_conv1d_kernel)
