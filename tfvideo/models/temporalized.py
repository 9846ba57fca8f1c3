"""`temporalize`: any functional Keras 2D image model becomes a video `VideoClassifier`.

The 2D graph is replayed node by node on frame-folded clips `[B*T, H, W, C]`, and a temporal
module goes at the input of every `every`-th residual branch (TSM's residual placement: the
shortcut keeps the unshifted tensor). A residual branch is found from the graph itself: each
`Add` of two same-shape tensors is a block, its fork is the nearest tensor both summands depend
on, and its branch is the longer of the two paths from the fork. `module="tada"` instead
replaces the spatial (kernel > 1) and depthwise convolutions of those branches with
`TAdaConv2D` carrying the original kernel and bias. Every 2D weight is kept.

Composite layers of other libraries (keras-hub's `InvertedResidualBlock`, whose residual sum
sits inside its `call`) are expanded into their sublayers first, so their adds are seen too.

The spec (family "temporalized") holds the 2D model as its Keras config (`options["backbone"]`)
or as the name of a keras.applications builder (`"mobilenet_v2"`, ...), so `.keras` files and
presets rebuild the same graph and then load the weights.

Preprocessing: a 2D model that starts with its own `Rescaling` / `Normalization` layers
(keras.applications' `include_preprocessing=True`: MobileNetV3, EfficientNetV2, ConvNeXt) keeps
them by default and the spec's normalisation is then the identity on [0, 255] pixels;
`preprocessing="replace"` drops them and normalises with the spec's `mean`/`std` instead
(ImageNet by default; MobileNetV2's ImageNet weights expect `mean=std=(0.5,) * 3`).

Example:
    >>> import keras, numpy as np, tfvideo
    >>> image_model = keras.applications.MobileNetV2(
    ...     weights=None, include_top=False, input_shape=(64, 64, 3), alpha=0.35)
    >>> video = tfvideo.temporalize(image_model, module="tsm", num_frames=4, num_classes=5)
    >>> video.spec.family, video.spec.options["module"]
    ('temporalized', 'tsm')
    >>> tuple(video(np.zeros((2, 4, 64, 64, 3), "float32")).shape)
    (2, 5)
"""

import contextlib
import contextvars
import json

import keras
from keras import layers
from keras.src import tree
from keras.src.models.functional import Functional
from keras.src.ops.numpy import Add as AddOp

from tfvideo.layers import (
    TAdaConv2D,
    TemporalAggregation,
    TemporalEnhancementInteraction,
    TemporalInteraction,
    TemporalShift,
)
from tfvideo.models import common
from tfvideo.models.registry import register

# module -> the tfvideo layer put at the input of a residual branch ("tada" replaces convs).
MODULE_LAYERS = {
    "tsm": TemporalShift,
    "tei": TemporalEnhancementInteraction,
    "tim": TemporalInteraction,
    "tam": TemporalAggregation,
}
MODULES = ("tsn", *MODULE_LAYERS, "tada")

# Normalize(mean=0, std=1/255) passes [0, 255] pixels through unchanged (the 2D model's own
# preprocessing layers then see what they expect).
IDENTITY_NORMALIZATION = ((0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255))
# keras.applications builders a spec may name (`backbone="mobilenet_v2"`, built with
# `include_top=False`) and the normalisation their ImageNet weights expect: MobileNetV2's
# [-1, 1] (INCEPTION); ResNet50's is Caffe's BGR mean subtraction, which a per-channel mean/std
# of RGB frames cannot express (ImageNet's is used); the others rescale inside (kept: identity).
APPLICATIONS = {
    "resnet50": ("ResNet50", common.IMAGENET),
    "mobilenet_v2": ("MobileNetV2", common.INCEPTION),
    "mobilenet_v3_small": ("MobileNetV3Small", IDENTITY_NORMALIZATION),
    "mobilenet_v3_large": ("MobileNetV3Large", IDENTITY_NORMALIZATION),
    "efficientnet_v2_b0": ("EfficientNetV2B0", IDENTITY_NORMALIZATION),
    "convnext_tiny": ("ConvNeXtTiny", IDENTITY_NORMALIZATION),
}
PREPROCESSING_LAYERS = (layers.Rescaling, layers.Normalization)
PREFIX = "video_"  # the layers temporalize adds around the 2D graph (names free in any 2D model)

_SOURCE_WEIGHTS = contextvars.ContextVar("tfvideo_temporalize_source", default=None)


class TemporalizeError(ValueError):
    """A 2D model `temporalize` cannot turn into a video model; the message says why and what
    would work."""


# ---------------------------------------------------------------------------------------------
# The 2D graph: nodes in order, replay, expansion of composite layers.


def _nodes(model):
    """The non-input nodes of a functional model, in topological order."""
    return [
        node
        for depth in sorted(model._nodes_by_depth, reverse=True)
        for node in model._nodes_by_depth[depth]
        if node.arguments.keras_tensors
    ]


def _replay(model, inputs, call):
    """Runs `model`'s graph on `inputs` (a list), calling `call(node, args, kwargs)` for each
    node; returns the list of outputs."""
    values = {id(t): v for t, v in zip(model.inputs, inputs)}
    for node in _nodes(model):
        args, kwargs = node.arguments.fill_in(values)
        outputs = call(node, args, kwargs)
        for tensor, value in zip(node.outputs, tree.flatten(outputs)):
            values[id(tensor)] = value
    return [values[id(t)] for t in model.outputs]


def _is_composite(op):
    """A layer of another library that only wires sublayers (keras-hub's blocks): its `call`
    can be traced into the graph, so the adds inside it become visible."""
    module = type(op).__module__
    return (
        isinstance(op, layers.Layer)
        and not isinstance(op, Functional)
        and not module.startswith(("keras.", "tfvideo."))
        and bool(op._layers)
        and not op._trainable_variables
        and not op._non_trainable_variables
    )


def _expand(node, args, kwargs):
    op = node.operation
    if isinstance(op, Functional):  # a nested functional model: its own nodes, inline
        inputs = [a for a in tree.flatten((args, kwargs)) if keras.utils.is_keras_tensor(a)]
        outputs = _replay(op, inputs, _expand)
        return outputs if len(outputs) > 1 else outputs[0]
    if _is_composite(op):
        return op.call(*args, **kwargs)
    return op(*args, **kwargs)


def flat_graph(model):
    """`model` as one functional graph of its leaf layers (nested models and composite
    layers expanded; the layers are shared, not copied)."""
    if not isinstance(model, Functional):
        raise TemporalizeError(
            f"temporalize needs a functional Keras model (built from keras.Input, as "
            f"keras.applications and keras-hub backbones are); {model.name!r} is a subclassed "
            f"{type(model).__name__} whose graph cannot be read. Rebuild it with the functional "
            "API, or wrap its layers in keras.Model(inputs, outputs)."
        )
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise TemporalizeError(
            f"temporalize needs a model with one image input and one output; {model.name!r} "
            f"has {len(model.inputs)} inputs and {len(model.outputs)} outputs"
        )
    for _ in range(8):  # composite layers may hold composite layers
        inputs = keras.Input(batch_shape=model.inputs[0].shape, dtype=model.inputs[0].dtype)
        model = keras.Model(inputs, _replay(model, [inputs], _expand)[0], name=model.name)
        if not any(_is_composite(n.operation) for n in _nodes(model)):
            return model
    raise TemporalizeError(f"{model.name!r}: composite layers nested too deeply to expand")


# ---------------------------------------------------------------------------------------------
# Residual blocks.


def _is_residual_add(node):
    tensors = node.arguments.keras_tensors
    op = node.operation
    if isinstance(op, layers.Add):
        ok = len(tensors) == 2
    else:  # `a + b` of two tensors (keras-hub); `x + 3.0` (hard-swish) is not a block
        ok = isinstance(op, AddOp) and len(node.arguments._flat_arguments) == 2
    return ok and len(tensors) == 2 and tensors[0].shape == tensors[1].shape


class Block:
    """A residual block of a flat graph: its add, fork tensor and branch nodes (indices)."""

    def __init__(self, add, fork, branch, consumers):
        self.add, self.fork, self.branch, self.consumers = add, fork, branch, consumers


def residual_blocks(nodes, graph_input):
    """The residual blocks of the node list of a flat graph, in order."""
    producer = {id(t): i for i, node in enumerate(nodes) for t in node.outputs}
    order = {id(graph_input): -1, **producer}
    consumers = {}
    for i, node in enumerate(nodes):
        for t in node.arguments.keras_tensors:
            consumers.setdefault(id(t), []).append(i)

    def ancestors(tensor):
        seen, stack = set(), [tensor]
        while stack:
            t = stack.pop()
            if id(t) not in seen:
                seen.add(id(t))
                if id(t) in producer:
                    stack.extend(nodes[producer[id(t)]].arguments.keras_tensors)
        return seen

    def descendants(tensor_id):
        seen, stack = set(), list(consumers.get(tensor_id, ()))
        while stack:
            i = stack.pop()
            if i not in seen:
                seen.add(i)
                for t in nodes[i].outputs:
                    stack.extend(consumers.get(id(t), ()))
        return seen

    blocks = []
    for k, node in enumerate(nodes):
        if not _is_residual_add(node):
            continue
        a, b = node.arguments.keras_tensors
        anc_a, anc_b = ancestors(a), ancestors(b)
        common_ids = anc_a & anc_b
        if not common_ids:
            continue
        fork = max(common_ids, key=lambda t: order.get(t, -1))
        below = descendants(fork)
        sides = [{producer[t] for t in anc if t in producer} & below for anc in (anc_a, anc_b)]
        branch = max(sides, key=len)  # ties: the second summand (Add([shortcut, x]))
        if not branch:
            continue
        inputs = [
            i for i in sorted(branch) if fork in {id(t) for t in nodes[i].arguments.keras_tensors}
        ]
        blocks.append(Block(k, fork, branch, inputs))
    return blocks


def _preprocessing_nodes(nodes, graph_input):
    """Indices of the Rescaling/Normalization chain right after the input."""
    chain, tensor = [], id(graph_input)
    for i, node in enumerate(nodes):
        ids = [id(t) for t in node.arguments.keras_tensors]
        if ids == [tensor] and isinstance(node.operation, PREPROCESSING_LAYERS):
            chain.append(i)
            tensor = id(node.outputs[0])
        elif tensor in ids:
            break
    return chain


def has_own_preprocessing(model) -> bool:
    """True when the 2D model starts with its own Rescaling/Normalization layers."""
    flat = flat_graph(model)
    return bool(_preprocessing_nodes(_nodes(flat), flat.inputs[0]))


# ---------------------------------------------------------------------------------------------
# Module insertion.


def _spatial_conv(op):
    """ "conv" / "depthwise" for the convolutions TAda replaces, else None."""
    if isinstance(op, layers.DepthwiseConv2D):
        return (
            "depthwise" if op.depth_multiplier == 1 and tuple(op.dilation_rate) == (1, 1) else None
        )
    if type(op) is not layers.Conv2D or tuple(op.dilation_rate) != (1, 1):
        return None
    if op.groups == 1:
        return "conv" if max(op.kernel_size) > 1 else None
    # a grouped Conv2D with one input channel per group is depthwise (ConvNeXt's 7x7)
    return "depthwise" if op.groups == op.filters and op.kernel.shape[-2] == 1 else None


def _tada_layer(op, kind, x, num_frames, options):
    """`TAdaConv2D` with `op`'s kernel, bias, strides and padding, called on `x`."""
    depthwise = kind == "depthwise"
    channels = x.shape[-1]
    tada = TAdaConv2D(
        channels if depthwise else op.filters,
        op.kernel_size,
        num_frames,
        strides=op.strides,
        padding=op.padding,
        groups=channels if depthwise else 1,
        calibration="cout" if depthwise else "cin",
        use_bias=op.use_bias,
        name=op.name,
        **options,
    )
    y = tada(x)
    kernel = keras.ops.convert_to_numpy(op.kernel)
    tada.kernel.assign(kernel.reshape(tada.kernel.shape))  # (kh, kw, 1, C) -> (kh, kw, C, 1)
    if op.use_bias:
        tada.bias.assign(keras.ops.convert_to_numpy(op.bias))
    activation = keras.activations.serialize(op.activation)
    if activation not in ("linear", None) and activation != {"class_name": "linear"}:
        y = layers.Activation(op.activation, name=f"{op.name}_activation")(y)
    return y


def temporal_graph(
    model, x, num_frames, module, every=1, causal=False, preprocessing="keep", module_options=None
):
    """Replays the 2D `model` on folded frames `x` with `module` in its residual branches."""
    if module not in MODULES:
        raise TemporalizeError(f"module must be one of {list(MODULES)}, got {module!r}")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise TemporalizeError(f"every must be a positive int, got {every!r}")
    options = dict(module_options or {})
    if causal:
        options["causal"] = True
    flat = flat_graph(model)
    nodes, graph_input = _nodes(flat), flat.inputs[0]
    blocks = residual_blocks(nodes, graph_input) if module != "tsn" else []
    if module != "tsn" and not blocks:
        raise TemporalizeError(
            f"temporalize(module={module!r}): {model.name!r} has no residual block (an Add of "
            "two same-shape tensors, one depending on the other's input) to put the module "
            "in; module='tsn' runs the model per frame and averages the frames' logits"
        )
    chosen = blocks[::every]
    substitute = {}  # node index -> {fork tensor id: block index}
    for b, block in enumerate(chosen):
        for i in block.consumers:
            substitute.setdefault(i, {})[block.fork] = b
    tada = {}
    if module == "tada":
        for block in chosen:
            for i in block.branch:
                kind = _spatial_conv(nodes[i].operation)
                if kind:
                    tada[i] = kind
        if not tada:
            raise TemporalizeError(
                f"temporalize(module='tada'): the residual branches of {model.name!r} hold no "
                "spatial (kernel > 1) or depthwise Conv2D to replace; module='tsm' or 'tam' "
                "needs only the residual adds"
            )
    skipped = set(_preprocessing_nodes(nodes, graph_input)) if preprocessing == "replace" else ()

    values = {id(graph_input): x}
    modules = {}

    def module_output(b):
        if b not in modules:
            block = chosen[b]
            value = values[block.fork]
            layer = MODULE_LAYERS[module](num_frames, name=f"{PREFIX}{module}_{b}", **options)
            modules[b] = layer(value)
        return modules[b]

    for i, node in enumerate(nodes):
        if i in skipped:
            values[id(node.outputs[0])] = values[id(node.arguments.keras_tensors[0])]
            continue
        local = values
        if module != "tada" and i in substitute:
            local = {**values, **{f: module_output(b) for f, b in substitute[i].items()}}
        args, kwargs = node.arguments.fill_in(local)
        if i in tada:
            outputs = _tada_layer(node.operation, tada[i], args[0], num_frames, options)
        else:
            outputs = node.operation(*args, **kwargs)
        for tensor, value in zip(node.outputs, tree.flatten(outputs)):
            values[id(tensor)] = value
    return values[id(flat.outputs[0])]


# ---------------------------------------------------------------------------------------------
# The builder the registry and the spec use.


def _pair(size):
    return (size, size) if isinstance(size, int) else tuple(size)


def backbone_model(backbone, input_size, weights=None, backbone_options=None):
    """The 2D model a spec names: a keras.applications builder name or a Keras config."""
    height, width = _pair(input_size)
    if isinstance(backbone, str):
        if backbone not in APPLICATIONS:
            raise ValueError(
                f"unknown backbone {backbone!r}; names: {sorted(APPLICATIONS)} (or pass a "
                "functional keras.Model to tfvideo.temporalize)"
            )
        builder = getattr(keras.applications, APPLICATIONS[backbone][0])
        return builder(
            include_top=False,
            weights=weights,
            input_shape=(height, width, 3),
            **(backbone_options or {}),
        )
    registered = str(backbone.get("registered_name") or "")
    if registered.startswith("keras_hub>"):
        import keras_hub  # noqa: F401  (registers the keras-hub classes)
    model = keras.saving.deserialize_keras_object(backbone)
    source = _SOURCE_WEIGHTS.get()
    if source is not None:
        model.set_weights(source.get_weights())
    return model


def build_temporalized(
    num_classes,
    num_frames,
    input_size,
    *,
    backbone,
    module="tsm",
    every=1,
    causal=False,
    module_options=None,
    preprocessing="keep",
    dropout=0.5,
    bn_momentum=None,
    weights=None,
    backbone_options=None,
    mean=common.IMAGENET[0],
    std=common.IMAGENET[1],
    name="temporalized",
):
    """The functional video network of a "temporalized" spec (see the module docstring).

    `bn_momentum` overrides the momentum of the 2D model's BatchNormalization layers (None:
    the model's own; keras.applications use 0.999, whose moving statistics lag far behind in a
    run of a few hundred steps from scratch)."""
    from tfvideo.models.resnet import tsn_head

    if preprocessing not in ("keep", "replace"):
        raise ValueError(f"preprocessing must be 'keep' or 'replace', got {preprocessing!r}")
    model = backbone_model(backbone, input_size, weights, backbone_options)
    if bn_momentum is not None:  # keras.applications' 0.999 suits fine-tuning, not short runs
        for layer in flat_graph(model).layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = float(bn_momentum)
    clips = common.clip_input(num_frames, input_size, name=f"{PREFIX}frames")
    x = common.Normalize(mean, std, name=f"{PREFIX}normalize")(clips)
    x = common.FoldFrames(name=f"{PREFIX}fold")(x)
    y = temporal_graph(model, x, num_frames, module, every, causal, preprocessing, module_options)
    if len(y.shape) == 4:
        features = layers.GlobalAveragePooling2D(name=f"{PREFIX}avgpool")(y)
    elif len(y.shape) == 2:
        features = layers.Identity(name=f"{PREFIX}avgpool")(y)
    else:
        raise TemporalizeError(
            f"{model.name!r} outputs shape {tuple(y.shape)}; temporalize needs a feature map "
            "[N, H, W, C] or pooled features [N, C] (build it with include_top=False)"
        )
    logits = tsn_head(features, num_classes, num_frames, dropout, prefix=PREFIX)
    return keras.Model(clips, logits, name=name)


register(
    "temporalized",
    family="temporalized",
    mean=common.IMAGENET[0],
    std=common.IMAGENET[1],
    backbone=None,
    module="tsm",
)(build_temporalized)


def _register_application(name, backbone, module, mean, std, **options):
    def build(num_classes, num_frames, input_size, **kwargs):
        return build_temporalized(num_classes, num_frames, input_size, name=name, **kwargs)

    register(
        name,
        family="temporalized",
        backbone=backbone,
        module=module,
        mean=mean,
        std=std,
        **options,
    )(build)


def configuration_name(backbone, module):
    """The registered name of a keras.applications backbone with a module:
    `configuration_name("mobilenet_v2", "tsm") == "mobilenetv2_tsm"`."""
    if backbone not in APPLICATIONS:
        raise ValueError(f"unknown backbone {backbone!r}; names: {sorted(APPLICATIONS)}")
    if module not in MODULES:
        raise ValueError(f"unknown module {module!r}; modules: {list(MODULES)}")
    return f"{backbone.replace('_', '')}_{module}"


# Named configurations: every keras.applications backbone above with every module
# (`mobilenetv2_tsm`, `resnet50_tada`, `convnexttiny_tsn`, ...).
for _backbone, (_, _normalization) in APPLICATIONS.items():
    for _module in MODULES:
        _register_application(
            configuration_name(_backbone, _module), _backbone, _module, *_normalization
        )
# The family's tiny variant (tests, CPU demos): MobileNetV2 at width 0.35, 64 px.
_register_application(
    "mobilenetv2_tsm_tiny",
    "mobilenet_v2",
    "tsm",
    *common.INCEPTION,
    input_size=64,
    backbone_options={"alpha": 0.35},
)


@contextlib.contextmanager
def _weights_of(model):
    token = _SOURCE_WEIGHTS.set(model)
    try:
        yield
    finally:
        _SOURCE_WEIGHTS.reset(token)


def temporalize(
    backbone,
    module="tsm",
    num_frames=8,
    every=1,
    causal=False,
    *,
    num_classes=400,
    input_size=None,
    include_top=True,
    class_names=None,
    mean=None,
    std=None,
    preprocessing="keep",
    dropout=0.5,
    bn_momentum=None,
    **module_options,
):
    """Turns a functional Keras 2D image model into a video `VideoClassifier`.

    Args:
        backbone: a functional `keras.Model` `[N, H, W, 3] -> [N, h, w, C]` (or `[N, C]`),
            e.g. `keras.applications.MobileNetV2(include_top=False)` or a keras-hub backbone.
        module: "tsm" (`TemporalShift`), "tei" (TEINet's MEM + TIM), "tim" (TIM alone), "tam"
            (bLVNet's `TemporalAggregation`), all at the input of the residual branches;
            "tada" (`TAdaConv2D` replaces the branches' spatial and depthwise convs); "tsn"
            (per frame, no temporal module).
        num_frames: frames per clip T (static).
        every: put the module in residual blocks 0, every, 2 * every, ... (in graph order).
        causal: the modules' causal (online) variant: nothing reads a later frame.
        num_classes, class_names: the new classifier (TSN consensus: the mean of per-frame
            logits).
        input_size: frame size; default the 2D model's input size (224 when unknown).
        include_top: False returns the backbone (pooled features `[B, C]`).
        mean, std: the spec's normalisation of [0, 255] pixels. Default: the identity when the
            2D model keeps its own preprocessing layers, else ImageNet's.
        preprocessing: "keep" the 2D model's leading Rescaling/Normalization layers, or
            "replace" them by the spec's mean/std.
        dropout: before the classifier.
        bn_momentum: a new momentum for the 2D model's BatchNormalization layers (None: keep).
        module_options: options of the module's layer (e.g. `shift_div=8`, `reduction=8`,
            `tim_initializer="identity"`, `route_reduction=4`).

    Returns:
        a `VideoClassifier` (family "temporalized") whose spec holds the 2D model's config;
        every 2D weight is copied from `backbone`.
    """
    flat_graph(backbone)  # the clear errors for subclassed models, before serialising
    if input_size is None:
        size = tuple(backbone.inputs[0].shape[1:3])
        input_size = size if None not in size else 224
    own = preprocessing == "keep" and has_own_preprocessing(backbone)
    if mean is None or std is None:
        default = IDENTITY_NORMALIZATION if own else common.IMAGENET
        mean, std = mean or default[0], std or default[1]
    options = dict(
        # as JSON reads it back, so the spec of a reloaded model compares equal
        backbone=json.loads(json.dumps(keras.saving.serialize_keras_object(backbone))),
        module=module,
        every=every,
        causal=bool(causal),
        preprocessing=preprocessing,
        dropout=dropout,
        bn_momentum=bn_momentum,
        module_options=dict(module_options),
    )
    from tfvideo.models.registry import create

    with _weights_of(backbone):
        return create(
            "temporalized",
            num_classes=len(class_names) if class_names is not None else num_classes,
            num_frames=num_frames,
            input_size=input_size,
            include_top=include_top,
            class_names=class_names,
            mean=mean,
            std=std,
            **options,
        )
