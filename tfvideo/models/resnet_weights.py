"""ImageNet 2D ResNet weights for the frame-folded video ResNets (TSN, TSM, TEINet, TAda2D).

All sources go through one torchvision-style state dict (`{"layer1.0.conv1.weight": array, ...}`,
PyTorch layouts: conv `[out, in, kh, kw]`, linear `[out, in]`), which `load_2d_resnet_weights`
maps onto the Keras layers named like the keys (`layer1_0_conv1`, ...). Sources:

- a dict / `.npz` of such arrays (a converted torchvision checkpoint, `tfvideo convert`);
- a `keras.applications.ResNet50/101/152` model or its weights file (`.h5`, `.weights.h5`), or a
  saved `.keras` model. These are ResNet **v1**, not torchvision's v1.5:
    * the stride of a stage's first bottleneck is on the first 1x1 conv, not the 3x3: load them into
      a model built with `stride_on="1x1"`; a "3x3" model is rejected unless `strict=False`
      (then the weights load but compute a different function, to be fine-tuned);
    * convs have biases: each is folded into the following BN's moving mean (exact);
    * BN eps is 1.001e-5: gamma is rescaled so the target eps (1e-5) gives the same output (exact
      in inference);
    * ImageNet weights expect Caffe preprocessing (BGR, mean pixel subtracted, no scaling): by
      default the stem kernel's input channels are flipped (`flip_input_channels`), and building
      the model with `mean, std = resnet.CAFFE` reproduces the preprocessing exactly.

Example:
    >>> import keras, tfvideo
    >>> from tfvideo.models import resnet, resnet_weights
    >>> model = tfvideo.models.create("tsn_r50", num_frames=2, input_size=64, stride_on="1x1",
    ...                               mean=resnet.CAFFE[0], std=resnet.CAFFE[1])
    >>> source = keras.applications.ResNet50(weights=None, include_top=False)
    >>> resnet_weights.load_2d_resnet_weights(model, source)  # doctest: +ELLIPSIS
    {...}
"""

import collections.abc
import os
import re

import keras
import numpy as np

KERAS_APPLICATIONS = {50: "ResNet50", 101: "ResNet101", 152: "ResNet152"}
_BLOCKS_IN_LAYER3 = {6: 50, 23: 101, 36: 152}
_MODULE = re.compile(r"^(conv1|bn1|fc|layer\d+_\d+_(conv\d|bn\d|downsample_[01]))$")
_BN_FIELDS = ("weight", "bias", "running_mean", "running_var")


# ---------------------------------------------------------------------------------------------
# Inspecting a video ResNet.

def backbone_depth(model):
    """Depth (50/101/152) of a frame-folded ResNet built by `resnet_backbone`, from its names."""
    names = {layer.name for layer in model.layers}
    blocks = sum(1 for i in range(64) if f"layer3_{i}_conv1" in names)
    if blocks == 0:
        raise ValueError(f"model {model.name!r} has no 'layer3_*_conv1' layers: it is not a "
                         "ResNet built by tfvideo.models.resnet.resnet_backbone")
    if "layer3_0_conv3" not in names or blocks not in _BLOCKS_IN_LAYER3:
        raise ValueError(f"model {model.name!r} is not a bottleneck ResNet-50/101/152 "
                         f"({blocks} blocks in layer3)")
    return _BLOCKS_IN_LAYER3[blocks]


def backbone_stride_on(model):
    """'1x1' or '3x3': where the first bottleneck of layer2 strides in `model`."""
    conv1 = model.get_layer("layer2_0_conv1")
    return "1x1" if tuple(conv1.strides) != (1, 1) else "3x3"


def _batch_norm_of(layer):
    """The BatchNormalization holding a torchvision `bn*` for `layer` (itself, or the main BN of a
    layer that wraps one, such as TAda's aggregation `BN(y) + BN_0(pool(y))`)."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer
    for attribute in ("bn", "batch_norm", "norm"):
        inner = getattr(layer, attribute, None)
        if isinstance(inner, keras.layers.BatchNormalization):
            return inner
    raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) holds no BatchNormalization "
                     "to load a torchvision BN into")


# ---------------------------------------------------------------------------------------------
# Model -> state dict.

def resnet_state_dict(model):
    """The torchvision-style state dict (numpy, PyTorch layouts) of a video ResNet's 2D weights.

    Covers the stem, every block's convs / BNs / projection shortcut, and `fc`; temporal modules
    (shift, TEI, TAda route functions and aggregation branches) are not part of it.
    """
    state = {}
    for layer in model.layers:
        if not _MODULE.match(layer.name):
            continue
        key = _torch_key(layer.name)
        if isinstance(layer, keras.layers.Dense):
            state[f"{key}.weight"] = np.transpose(keras.ops.convert_to_numpy(layer.kernel))
            state[f"{key}.bias"] = keras.ops.convert_to_numpy(layer.bias)
        elif hasattr(layer, "kernel"):
            state[f"{key}.weight"] = np.transpose(keras.ops.convert_to_numpy(layer.kernel),
                                                  (3, 2, 0, 1))
        else:
            bn = _batch_norm_of(layer)
            values = (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance)
            for field, value in zip(_BN_FIELDS, values):
                state[f"{key}.{field}"] = keras.ops.convert_to_numpy(value)
    return state


def _torch_key(layer_name):
    # layer1_0_downsample_0 -> layer1.0.downsample.0 ; layer2_1_conv3 -> layer2.1.conv3
    return re.sub(r"_(?=\d|conv|bn|downsample)", ".", layer_name)


# ---------------------------------------------------------------------------------------------
# keras.applications ResNet (v1) -> torchvision-layout state dict.

def _keras_applications_model(source, depth):
    if isinstance(source, keras.Model):
        return source
    path = os.fspath(source)
    if not os.path.exists(path):
        raise FileNotFoundError(f"ResNet weights file not found: {path}")
    if path.endswith(".keras"):
        return keras.models.load_model(path, compile=False)
    application = getattr(keras.applications, KERAS_APPLICATIONS[depth])
    errors = []
    for include_top in (True, False):
        model = application(weights=None, include_top=include_top)
        try:
            model.load_weights(path)
            return model
        except Exception as error:  # wrong head layout: try the other one
            errors.append(f"include_top={include_top}: {error}")
    raise ValueError(f"{path} holds no keras.applications.{KERAS_APPLICATIONS[depth]} weights "
                     f"({'; '.join(errors)})")


def keras_applications_state_dict(source, depth=50, epsilon=1e-5):
    """Converts a `keras.applications` ResNet (v1) to a torchvision-layout state dict.

    Conv biases are folded into the next BN's running mean and gamma is rescaled from the source
    BN eps (1.001e-5) to `epsilon`, so the dict reproduces the Keras model exactly in inference
    (with the stride on the first 1x1 conv and Caffe BGR input: see the module docstring).

    Args:
        source: a `keras.applications.ResNet50/101/152` model, or a path to its weights
            (`.h5` / `.weights.h5`) or to a saved `.keras` model.
        depth: 50, 101 or 152, used to build the model for a weights file.
        epsilon: BN epsilon of the target model.
    """
    if depth not in KERAS_APPLICATIONS:
        raise ValueError(f"depth must be one of {sorted(KERAS_APPLICATIONS)}, got {depth}")
    model = _keras_applications_model(source, depth)
    names = {layer.name for layer in model.layers}
    if "conv1_conv" not in names or "conv2_block1_1_conv" not in names:
        raise ValueError(f"model {model.name!r} is not a keras.applications ResNet v1 "
                         "(no conv1_conv / conv2_block1_1_conv layers)")
    if "post_bn" in names:
        raise ValueError(f"model {model.name!r} is a pre-activation ResNetV2, whose layout has "
                         "no torchvision counterpart; use keras.applications.ResNet50/101/152")

    def conv_bn(conv_name, bn_name, key_conv, key_bn):
        conv, bn = model.get_layer(conv_name), model.get_layer(bn_name)
        kernel = keras.ops.convert_to_numpy(conv.kernel)
        bias = keras.ops.convert_to_numpy(conv.bias) if conv.use_bias else 0.0
        gamma, beta, mean, var = (keras.ops.convert_to_numpy(v) for v in
                                  (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
        # BN(conv + b) with eps_s == BN'(conv) with mean' = mean - b and eps_t, gamma rescaled.
        gamma = gamma * np.sqrt((var + epsilon) / (var + bn.epsilon))
        state[f"{key_conv}.weight"] = np.transpose(kernel, (3, 2, 0, 1))
        for field, value in zip(_BN_FIELDS, (gamma, beta, mean - bias, var)):
            state[f"{key_bn}.{field}"] = value.astype(np.float32)

    state = {}
    conv_bn("conv1_conv", "conv1_bn", "conv1", "bn1")
    for stage in range(2, 6):
        block = 1
        while f"conv{stage}_block{block}_1_conv" in names:
            prefix, key = f"conv{stage}_block{block}", f"layer{stage - 1}.{block - 1}"
            for i in (1, 2, 3):
                conv_bn(f"{prefix}_{i}_conv", f"{prefix}_{i}_bn", f"{key}.conv{i}", f"{key}.bn{i}")
            if f"{prefix}_0_conv" in names:
                conv_bn(f"{prefix}_0_conv", f"{prefix}_0_bn", f"{key}.downsample.0",
                        f"{key}.downsample.1")
            block += 1
    if "predictions" in names:
        dense = model.get_layer("predictions")
        state["fc.weight"] = np.transpose(keras.ops.convert_to_numpy(dense.kernel))
        state["fc.bias"] = keras.ops.convert_to_numpy(dense.bias)
    return state


# ---------------------------------------------------------------------------------------------
# State dict -> model.

def _read_state_dict(source):
    if isinstance(source, collections.abc.Mapping):
        return {k: np.asarray(v) for k, v in source.items()}
    with np.load(os.fspath(source)) as data:
        return {k: data[k] for k in data.files}


def load_2d_resnet_weights(model, source, *, stride_on=None, flip_input_channels=None,
                           include_fc=False, strict=True):
    """Loads ImageNet 2D ResNet weights into a frame-folded video ResNet.

    Args:
        model: a model built on `tfvideo.models.resnet.resnet_backbone` (TSN, TSM, TEINet,
            TAda2D; ResNet-50/101/152).
        source: a torchvision-style state dict (mapping or `.npz` path), a
            `keras.applications.ResNet*` model, or its `.h5` / `.weights.h5` / `.keras` file.
        stride_on: layout of the source, "3x3" (torchvision v1.5) or "1x1" (v1); by default
            "1x1" for keras.applications sources and "3x3" for state dicts.
        flip_input_channels: reverse the stem kernel's RGB/BGR input channels; by default True
            for keras.applications sources (Caffe BGR weights) and False for state dicts.
        include_fc: also load `fc` (only when the class counts agree).
        strict: raise when the source's stride layout differs from the model's, or when
            a source entry has no layer in the model. With False, mismatches are skipped.

    Returns:
        A dict with the lists of loaded module names (`loaded`) and source modules that have no
        counterpart in the model (`unused`).
    """
    from_keras = isinstance(source, keras.Model) or (
        not isinstance(source, collections.abc.Mapping)
        and os.fspath(source).endswith((".h5", ".keras")))
    if from_keras:
        epsilon = float(model.get_layer("bn1").epsilon)
        state = keras_applications_state_dict(source, backbone_depth(model), epsilon=epsilon)
    else:
        state = _read_state_dict(source)
    stride_on = stride_on or ("1x1" if from_keras else "3x3")
    flip = from_keras if flip_input_channels is None else flip_input_channels
    target_stride_on = backbone_stride_on(model)
    if strict and stride_on != target_stride_on:
        raise ValueError(
            f"the source ResNet strides on its {stride_on} conv but model {model.name!r} strides "
            f"on its {target_stride_on} conv; build the model with stride_on={stride_on!r} to "
            "reproduce the 2D network, or pass strict=False to load anyway (a different function)")

    modules = collections.defaultdict(dict)
    for key, value in state.items():
        module, _, field = key.rpartition(".")
        if field != "num_batches_tracked":
            modules[module][field] = value
    loaded, unused = [], []
    for module, fields in sorted(modules.items()):
        name = module.replace(".", "_")
        if name == "fc" and not include_fc:
            continue
        try:
            layer = model.get_layer(name)
        except ValueError:
            if strict:
                raise ValueError(f"source module {module!r} has no layer {name!r} in model "
                                 f"{model.name!r}; pass strict=False to skip it") from None
            unused.append(module)
            continue
        _assign(layer, fields, flip_input=flip and name == "conv1")
        loaded.append(module)
    return {"loaded": loaded, "unused": unused}


def _set(variable, value, what):
    value = np.asarray(value, dtype=np.float32)
    if tuple(variable.shape) != value.shape:
        raise ValueError(f"{what}: model shape {tuple(variable.shape)} != source shape "
                         f"{value.shape}")
    variable.assign(value)


def _assign(layer, fields, flip_input=False):
    if isinstance(layer, keras.layers.Dense):
        _set(layer.kernel, np.transpose(fields["weight"]), f"{layer.name}.kernel")
        _set(layer.bias, fields["bias"], f"{layer.name}.bias")
    elif "running_mean" in fields:
        bn = _batch_norm_of(layer)
        variables = (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance)
        for field, variable in zip(_BN_FIELDS, variables):
            _set(variable, fields[field], f"{layer.name}.{field}")
    elif hasattr(layer, "kernel"):
        kernel = np.transpose(fields["weight"], (2, 3, 1, 0))
        if flip_input:
            kernel = kernel[:, :, ::-1, :]
        _set(layer.kernel, kernel, f"{layer.name}.kernel")
    else:
        raise ValueError(f"cannot load {sorted(fields)} into layer {layer.name!r} "
                         f"({type(layer).__name__})")
