"""keras.applications ResNet50/101/152 (ImageNet, v1) -> the frame-folded video ResNets.

The source is a `keras.applications.ResNet*` model, its weights file (`.h5`, `.weights.h5`) or a
saved `.keras` model; `read_keras_applications` flattens it to `{"conv1_conv.kernel": array, ...}`
(layer name "." variable name, Keras layouts), the `keras_applications_resnet` layout. The planner
walks the video model's torchvision modules (`resnet.torch_modules`) and takes, for each, its
keras.applications counterpart (`conv1` <- `conv1_conv`, `layer2.0.bn3` <- `conv3_block1_3_bn`,
`layer2.0.downsample.0` <- `conv3_block1_0_conv`, `fc` <- `predictions`). These are ResNet **v1**,
not torchvision's v1.5:

- the stride of a stage's first bottleneck is on its first 1x1 conv, not the 3x3: the weights
  load into a model built with `stride_on="1x1"`; a "3x3" model is a settings problem (loaded
  anyway with `strict=False`: a different function, to be fine-tuned);
- convs have biases: each is folded into the following BN's moving mean (exact);
- BN eps is 1.001e-5: gamma is rescaled so the model's own eps gives the same output (exact in
  inference);
- ImageNet weights expect Caffe preprocessing (BGR, mean pixel subtracted, no scaling): the stem
  kernel's input channels are flipped, and the model must normalise with `resnet.CAFFE` (the
  source's `mean_std`), which reproduces the preprocessing exactly.

Example:
    >>> import keras, tfvideo
    >>> from tfvideo.convert import load_torch_state_dict
    >>> from tfvideo.models import resnet
    >>> model = tfvideo.models.create("tsn_r50", num_frames=2, input_size=64, stride_on="1x1",
    ...                               mean=resnet.CAFFE[0], std=resnet.CAFFE[1])
    >>> source = keras.applications.ResNet50(weights=None, include_top=False)
    >>> report = load_torch_state_dict(model, source, include_head=False)
    >>> report.source, len(report["loaded"])          # 53 convs and 53 BNs
    ('keras_applications_resnet', 106)
"""

import os
import re
import warnings

import keras
import numpy as np

from tfvideo.convert import _plan
from tfvideo.convert import resnet as resnet_plan

KERAS_APPLICATIONS = {50: "ResNet50", 101: "ResNet101", 152: "ResNet152"}
SUFFIXES = (".h5", ".keras")  # `.weights.h5` included
BN_EPSILON = 1.001e-5  # every BatchNormalization of keras.applications' ResNets
BN_FIELDS = ("gamma", "beta", "moving_mean", "moving_variance")
HEAD = "predictions"


# ---------------------------------------------------------------------------------------------
# Reading the source.


def is_keras_source(source):
    """Whether `source` is a Keras model or a Keras weights / model file (not a state dict)."""
    if isinstance(source, keras.Model):
        return True
    return isinstance(source, (str, os.PathLike)) and os.fspath(source).endswith(SUFFIXES)


def _load_model(source, depth):
    if isinstance(source, keras.Model):
        return source
    path = os.fspath(source)
    if not os.path.exists(path):
        raise FileNotFoundError(f"ResNet weights file not found: {path}")
    if path.endswith(".keras"):
        return keras.models.load_model(path, compile=False)
    # A weights file does not say which network it belongs to: try the hinted depth first.
    depths = sorted(KERAS_APPLICATIONS, key=lambda d: d != depth)
    errors = []
    for candidate in depths:
        application = getattr(keras.applications, KERAS_APPLICATIONS[candidate])
        for include_top in (True, False):
            model = application(weights=None, include_top=include_top)
            try:
                with warnings.catch_warnings(record=True) as caught:  # a failed try's noise
                    warnings.simplefilter("always")
                    model.load_weights(path)
            except Exception as error:  # noqa: BLE001 - another depth or head layout may fit
                errors.append(
                    f"{KERAS_APPLICATIONS[candidate]}(include_top={include_top}): "
                    f"{str(error).splitlines()[0]}"
                )
            else:
                for warning in caught:
                    warnings.warn_explicit(
                        warning.message, warning.category, warning.filename, warning.lineno
                    )
                return model
    raise ValueError(
        f"{path} holds no keras.applications ResNet50/101/152 weights ({'; '.join(errors)})"
    )


def read_keras_applications(source, depth=None):
    """The `keras_applications_resnet` state dict of a keras.applications ResNet (v1).

    Args:
        source: a `keras.applications.ResNet50/101/152` model, or a path to its weights
            (`.h5` / `.weights.h5`) or to a saved `.keras` model.
        depth: 50, 101 or 152: the network to try first for a weights file (the others are
            tried after it).

    Returns:
        `{f"{layer}.{variable}": float32 array}` in Keras layouts (conv `(kh, kw, I, O)`).
    """
    model = _load_model(source, depth)
    names = {layer.name for layer in model.layers}
    if "conv1_conv" not in names or "conv2_block1_1_conv" not in names:
        raise ValueError(
            f"model {model.name!r} is not a keras.applications ResNet v1 "
            "(no conv1_conv / conv2_block1_1_conv layers)"
        )
    if "post_bn" in names:
        raise ValueError(
            f"model {model.name!r} is a pre-activation ResNetV2, whose layout has "
            "no torchvision counterpart; use keras.applications.ResNet50/101/152"
        )
    state = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and not np.isclose(
            layer.epsilon, BN_EPSILON, rtol=1e-6, atol=0.0
        ):
            raise ValueError(
                f"layer {layer.name!r} of {model.name!r} has BN epsilon "
                f"{layer.epsilon}; keras.applications ResNets use {BN_EPSILON}"
            )
        for variable in layer.weights:
            value = keras.ops.convert_to_numpy(variable)
            state[f"{layer.name}.{variable.name}"] = np.asarray(value, dtype=np.float32)
    return state


# ---------------------------------------------------------------------------------------------
# Planning the video model.


def keras_name(module):
    """torchvision module path -> keras.applications layer name (`layer2.0.bn3` ->
    `conv3_block1_3_bn`, `layer1.0.downsample.0` -> `conv2_block1_0_conv`)."""
    if module in ("conv1", "bn1"):
        return "conv1_" + module[:-1]
    if module == resnet_plan.HEAD:
        return HEAD
    stage, block, part = re.match(r"^layer(\d+)\.(\d+)\.(.+)$", module).groups()
    if part.startswith("downsample"):  # downsample.0 / .1: the projection conv / BN
        index, kind = "0", "conv" if part.endswith("0") else "bn"
    else:  # conv3 / bn3
        index, kind = part[-1], part[:-1]
    return f"conv{int(stage) + 1}_block{int(block) + 1}_{index}_{kind}"


def _flip_bgr(kernel):
    """The stem kernel for RGB input from Caffe's BGR one (input channels reversed)."""
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise _plan.ShapeMismatch(f"shape {kernel.shape}, expected a (kh, kw, 3, O) stem kernel")
    return kernel[:, :, ::-1, :]


def _same_shape(value, other, what):
    if value.shape != other.shape:
        raise _plan.ShapeMismatch(f"{what} has shape {other.shape}")


def _plan_folded_batch_norm(plan, bn, name):
    """BN `name` with the bias of its conv folded in: BN(conv + b) with eps_s is BN'(conv) with
    mean' = mean - b and gamma' = gamma * sqrt((var + eps) / (var + eps_s)), eps = `bn.epsilon`."""
    conv = name[: -len("_bn")] + "_conv"
    values = {field: plan.take(f"{name}.{field}") for field in BN_FIELDS}
    bias = plan.take(f"{conv}.bias")
    variance = values["moving_variance"]

    def gamma(value):
        _same_shape(value, variance, f"{name}.moving_variance")
        return value * np.sqrt((variance + bn.epsilon) / (variance + BN_EPSILON))

    def mean(value):
        _same_shape(value, bias, f"{conv}.bias")
        return value - bias

    transforms = {"gamma": gamma, "moving_mean": mean}
    needs = {"gamma": variance, "moving_mean": bias}
    for field in BN_FIELDS:
        value = values[field]
        if needs.get(field, value) is None:
            value = None  # its partner is missing (recorded): nothing to assign
        plan.assign_value(
            getattr(bn, field), value, f"{name}.{field}", transforms.get(field, _plan.identity)
        )


def plan_keras_applications_resnet(plan, model, include_head):
    """Plans a TSN/TSM/TEINet/TAda2D model from a keras.applications ResNet (module docstring)."""
    for module, layer in resnet_plan.torch_modules(model):
        name, kind = keras_name(module), resnet_plan.module_kind(layer)
        if kind == "dense":
            if include_head:
                plan.assign(layer.kernel, f"{name}.kernel")
                plan.assign(layer.bias, f"{name}.bias")
            else:
                plan.allow_uncovered(layer.weights)
                plan.ignore([f"{name}.kernel", f"{name}.bias"])
        elif kind == "conv":
            plan.assign(
                layer.kernel, f"{name}.kernel", _flip_bgr if module == "conv1" else _plan.identity
            )
        else:
            _plan_folded_batch_norm(plan, resnet_plan.batch_norm_of(layer), name)
    target = resnet_plan.stride_on(model)
    if target != "1x1":
        plan.settings.append(
            f"the keras.applications ResNet strides on its 1x1 conv but model {model.name!r} "
            f"strides on its {target} conv; build the model with stride_on='1x1' to reproduce "
            "the 2D network"
        )
    plan.allow_uncovered(model.weights)  # the temporal modules: not in a 2D network
