"""Inference copies of a trained model: batch norm folded into its convolutions, bf16 compute.

`inference_model(model, precision)` rebuilds `model`'s graph with new layers (the original is
untouched) in which

- every `Conv2D`/`DepthwiseConv2D -> BatchNormalization` pair whose convolution feeds only
  that batch norm becomes one convolution with a bias: `W' = W * s`,
  `b' = (b - mean) * s + beta`, with `s = gamma / sqrt(var + eps)` per output channel
  (computed in float64). In inference the
  two are the same function, and the folded form skips a full pass over every activation;
  TensorFlow then fuses the convolution, its bias and a following ReLU into one oneDNN kernel.
- with `precision="bfloat16"` every layer computes in that type with float32
  variables (Keras' `mixed_*` policies). Keras' `BatchNormalization` up-casts its input to
  float32 even in inference, which costs two casts per layer: folding removes them with the
  layer. The inputs stay what the model takes; the outputs are cast back to float32.

Layers that hold such pairs inside (`SeparableConv3D`, S3D's convolutions) fold their own:
they take `batch_norm_folded=True` and give that form's weights with `folded_weights()`.
Batch norms that follow anything else (a TAdaConv2D's calibrated kernel, a pooling) stay.
Folding is for inference only: the folded model has no batch statistics to train.

Example:
    >>> import numpy as np, tfvideo
    >>> from tfvideo.models.inference import inference_model
    >>> model = tfvideo.models.create("tsm_tiny", num_classes=3, num_frames=4, input_size=32)
    >>> fast = inference_model(model)  # float32, batch norm folded
    >>> clips = np.random.default_rng(0).uniform(0, 255, (2, 4, 32, 32, 3)).astype("float32")
    >>> bool(np.allclose(fast(clips), model(clips, training=False), atol=1e-5))
    True
"""

import keras
from keras import layers

from tfvideo.layers._common import folded_conv_weights, serializable
from tfvideo.layers.normalization import FusedBatchNormalization

FOLDABLE_CONVS = (layers.Conv2D, layers.DepthwiseConv2D)
BATCH_NORMS = (layers.BatchNormalization, FusedBatchNormalization)
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


@serializable
class FoldedBatchNorm(layers.Layer):
    """Where a batch norm was folded into the convolution before it: passes its input on."""

    def call(self, inputs, training=None, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


def foldable_batch_norms(model) -> dict:
    """`{conv name: batch norm layer}` for the `Conv2D`/`DepthwiseConv2D -> BatchNormalization`
    pairs of `model`'s top-level graph that fold: in this graph the convolution is called once
    and feeds only the batch norm, which normalises the channel axis. (Layers may have calls in
    other graphs too, e.g. a temporalized 2D backbone's own model; only this graph counts.)"""
    nodes = {id(node) for depth in model._nodes_by_depth.values() for node in depth}

    def calls(layer, kind):
        return [node for node in getattr(layer, kind) if id(node) in nodes]

    pairs = {}
    for norm in model.layers:
        if type(norm) not in BATCH_NORMS or len(calls(norm, "_inbound_nodes")) != 1:
            continue
        (node,) = calls(norm, "_inbound_nodes")
        conv = node.parent_nodes[0].operation if len(node.parent_nodes) == 1 else None
        if (
            type(conv) in FOLDABLE_CONVS
            and len(calls(conv, "_inbound_nodes")) == 1
            and len(calls(conv, "_outbound_nodes")) == 1
            and norm.axis in (-1, len(node.outputs[0].shape) - 1)
        ):
            pairs[conv.name] = norm
    return pairs


def _folds_inside(layer) -> bool:
    """Whether `layer` folds the convolution -> batch norm pairs it holds (`folded_weights`)."""
    return callable(getattr(layer, "folded_weights", None))


def _with_policy(config, policy):
    """`config` with a float32 dtype policy replaced by `policy` (others kept)."""
    dtype = config.get("dtype")
    name = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
    if name in (None, "float32"):
        config = dict(config, dtype=policy)
    return config


def inference_model(model, precision="float32", fold_batch_norm=True) -> keras.Model:
    """A new functional model computing `model(x, training=False)` in `precision`, with batch
    norm folded into the convolutions before it (see the module docstring).

    Args:
        model: a built functional Keras model (a `VideoClassifier`, or any functional model).
        precision: "float32" or "bfloat16" (compute type; variables stay float32).
        fold_batch_norm: fold the convolution -> batch norm pairs.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    policy = PRECISIONS[precision]
    functional = keras.Model(model.inputs, model.outputs, name=model.name)
    pairs = foldable_batch_norms(functional) if fold_batch_norm else {}
    folded = {norm.name for norm in pairs.values()}

    def clone(layer):
        if not isinstance(layer, layers.Layer):  # a keras.ops call in the graph (a reshape)
            return layer.__class__.from_config(layer.get_config())
        if layer.name in folded:
            return FoldedBatchNorm(name=layer.name)
        config = _with_policy(layer.get_config(), policy)
        if layer.name in pairs:
            config["use_bias"] = True
        elif fold_batch_norm and _folds_inside(layer):
            config["batch_norm_folded"] = True
        return layer.__class__.from_config(config)

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)  # sub-layers built without an explicit dtype
    try:
        rebuilt = keras.models.clone_model(functional, clone_function=clone)
    finally:
        keras.config.set_dtype_policy(previous)
    for old, new in zip(functional.layers, rebuilt.layers):
        if old.name in pairs:
            new.set_weights(folded_conv_weights(old, pairs[old.name]))
        elif fold_batch_norm and _folds_inside(old):
            new.set_weights(old.folded_weights())
        elif old.name not in folded:
            new.set_weights(old.get_weights())
    outputs = [
        layers.Activation("linear", dtype="float32", name=f"{output.name.split('/')[0]}_float32")(
            output
        )
        if output.dtype != "float32"
        else output
        for output in rebuilt.outputs
    ]
    return keras.Model(
        rebuilt.inputs,
        outputs[0] if len(outputs) == 1 else outputs,
        name=f"{model.name}_{precision}" + ("_folded" if pairs else ""),
    )
