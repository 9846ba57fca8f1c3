"""Checkpoints of the frame-folded ResNet family: TSN / TSM / TEINet / TAda2D.

The 2D layers of these models are named like torchvision's modules with "." -> "_" (`conv1`,
`bn1`, `layer1_0_conv1`, `layer3_5_downsample_0`, `fc`): `torch_modules` pairs each with its
torchvision path, and every layout below is planned from that walk. Three PyTorch layouts:

- `torchvision_resnet`: torchvision's `resnet50` / `resnet101` (`layer1.0.conv1.weight`, `fc`),
  the ImageNet start of every ResNet video model. Temporal modules (TEINet's MEM/TIM, TAda2D's
  route functions and aggregation BN) are not in it and keep their (identity) initialisation; they
  are listed in the report.
- `tsm`: the TSM release (`base_model.layer1.0.conv1.net.weight` for a shifted block,
  `new_fc`): loads into `tsm_r50` / `tsm_r101` (residual shift in the same blocks).
- `tada2d`: the TAdaConv release (`backbone.conv1.a`, `backbone.conv2.res_1.conv_branch.{a,b,c}`,
  `...b_rf.{g,a,bn,b}`, `...b_avgpool_bn`, `...short_cut(_bn)`, `head.out`); Conv3d weights
  `[O, I, 1, k, k]` and TAdaConv2d weights `[1, 1, O, I, 3, 3]` lose their singleton axes.

keras.applications ResNets (v1) are planned from the same walk in `keras_applications.py`.
`resnet_state_dict` goes the other way: a model's 2D weights as a torchvision state dict.

Example:
    >>> import tfvideo
    >>> from tfvideo.convert import load_torch_state_dict, resnet_state_dict
    >>> source = tfvideo.models.create("tsn_tiny", num_classes=5)
    >>> target = tfvideo.models.create("tsm_tiny", num_classes=5)
    >>> state = resnet_state_dict(source)
    >>> state["layer1.0.conv1.weight"].shape          # PyTorch [out, in, kh, kw]
    (16, 16, 1, 1)
    >>> report = load_torch_state_dict(target, state)  # the shifts are left at their init
    >>> report.source, len(report["loaded"])
    ('torchvision_resnet', 35)
"""

import inspect
import re

import keras
import numpy as np

from tfvideo.convert import _plan
from tfvideo.models import resnet, spec_of

BN_EPSILON = 1e-5  # torchvision, TSM and TAdaConv (cfg BN.EPS 1e-5; route BN 1e-5)
BN_FIELDS = ("weight", "bias", "running_mean", "running_var")
HEAD = "fc"
_LAYER = re.compile(r"^(conv1|bn1|fc|layer\d+_\d+_(conv\d|bn\d|downsample_[01]))$")
_MODULE = re.compile(r"^(conv1|bn1|fc|layer\d+\.\d+\.(conv\d|bn\d|downsample\.[01]))$")
_KEY = re.compile(r"^layer(\d+)\.(\d+)\.(conv\d|bn\d|downsample\.[01])\.(\w+)$")


# ---------------------------------------------------------------------------------------------
# The model side: its torchvision modules and facts from its spec.


def torch_modules(model):
    """`(torchvision module path, Keras layer)` for every 2D module of a video ResNet, in model
    order: `("layer1.0.downsample.0", <Conv2D layer1_0_downsample_0>)`, ..."""
    return [
        (re.sub(r"_(?=\d|conv|bn|downsample)", ".", layer.name), layer)
        for layer in model.layers
        if _LAYER.match(layer.name)
    ]


def module_kind(layer):
    """ "dense", "conv" or "bn": what a torchvision module's Keras layer holds."""
    if isinstance(layer, keras.layers.Dense):
        return "dense"
    return "conv" if hasattr(layer, "kernel") else "bn"


def batch_norm_of(layer):
    """The BatchNormalization holding a torchvision `bn*` for `layer` (itself, or the main BN of a
    layer that wraps one, such as TAda's aggregation `BN(y) + BN_0(pool(y))`)."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer
    for attribute in ("bn", "batch_norm", "norm"):
        inner = getattr(layer, attribute, None)
        if isinstance(inner, keras.layers.BatchNormalization):
            return inner
    raise ValueError(
        f"layer {layer.name!r} ({type(layer).__name__}) holds no BatchNormalization "
        "to load a torchvision BN into"
    )


def stride_on(model):
    """'3x3' (torchvision v1.5) or '1x1' (v1): where the model's stages stride, from its spec."""
    default = inspect.signature(resnet.resnet_backbone).parameters["stride_on"].default
    return spec_of(model).options.get("stride_on", default)


def note_missing_layers(plan, key_to_module=lambda key: key):
    """Names, for each checkpoint key left unused, the Keras layer the model would need."""
    for key in plan.state:
        module = key_to_module(key).rpartition(".")[0]
        if _MODULE.match(module):
            plan.note(key, f"no layer {module.replace('.', '_')!r} in the model")


# ---------------------------------------------------------------------------------------------
# Model -> torchvision state dict.


def resnet_state_dict(model):
    """The torchvision-style state dict (numpy, PyTorch layouts) of a video ResNet's 2D weights.

    Covers the stem, every block's convs / BNs / projection shortcut, and `fc`; temporal modules
    (shift, TEI, TAda route functions and aggregation branches) are not part of it.
    """
    state = {}
    for module, layer in torch_modules(model):
        kind = module_kind(layer)
        if kind == "dense":
            state[f"{module}.weight"] = np.transpose(keras.ops.convert_to_numpy(layer.kernel))
            state[f"{module}.bias"] = keras.ops.convert_to_numpy(layer.bias)
        elif kind == "conv":
            state[f"{module}.weight"] = np.transpose(
                keras.ops.convert_to_numpy(layer.kernel), (3, 2, 0, 1)
            )
        else:
            bn = batch_norm_of(layer)
            values = (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance)
            for field, value in zip(BN_FIELDS, values):
                state[f"{module}.{field}"] = keras.ops.convert_to_numpy(value)
    return state


# ---------------------------------------------------------------------------------------------
# PyTorch layouts -> model.


def _tsm_prefix(model):
    shifted = {
        layer.name[: -len("_shift")] for layer in model.layers if layer.name.endswith("_shift")
    }

    def source_prefix(module):
        if module == HEAD:
            return "new_fc"
        block, _, part = module.rpartition(".")
        if part == "conv1" and block.replace(".", "_") in shifted:
            return f"base_model.{module}.net"
        return "base_model." + module

    return source_prefix


def _tada2d_prefix(module):
    """torchvision module path -> the TAdaConv release's."""
    if module == HEAD:
        return "head.out"
    if module in ("conv1", "bn1"):
        return "backbone.conv1.a" + ("" if module == "conv1" else "_bn")
    stage, block, part = re.match(r"^layer(\d+)\.(\d+)\.(.+)$", module).groups()
    prefix = f"backbone.conv{int(stage) + 1}.res_{int(block) + 1}"
    if part.startswith("downsample"):
        return f"{prefix}.short_cut" + ("" if part.endswith("0") else "_bn")
    letter = "abc"[int(part[-1]) - 1]
    return f"{prefix}.conv_branch.{letter if part.startswith('conv') else letter + '_bn'}"


def plan_resnet(plan, model, include_head):
    """Plans a TSN/TSM/TEINet/TAda2D model from `plan.source` (see the module docstring)."""
    source = plan.source
    prefix_of = {
        "torchvision_resnet": lambda module: module,
        "tsm": _tsm_prefix(model),
        "tada2d": _tada2d_prefix,
    }[source]
    for module, layer in torch_modules(model):
        prefix, kind = prefix_of(module), module_kind(layer)
        if module == HEAD and not include_head:
            plan.allow_uncovered(layer.weights)
            plan.ignore([f"{prefix}.weight", f"{prefix}.bias"])
        elif kind == "dense":
            plan.dense(layer, prefix)
        elif kind == "conv":  # for a TAdaConv2D: the base kernel, not the route function
            plan.assign(layer.kernel, f"{prefix}.weight", _plan.conv2d_kernel)
        else:
            plan.batch_norm(batch_norm_of(layer), prefix, BN_EPSILON, name=layer.name)
    if stride_on(model) != "3x3":
        plan.settings.append(
            f"model {model.name!r} strides on the 1x1 conv of a stage's first "
            "block (stride_on='1x1'); the PyTorch releases stride on the 3x3"
        )
    if source == "tada2d":
        for layer in model.layers:
            if hasattr(layer, "route"):
                _plan_tada2d_block(plan, model, layer)
    else:
        note_missing_layers(plan, lambda key: key.removeprefix("base_model.").replace(".net.", "."))
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
