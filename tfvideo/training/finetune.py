"""Fine-tuning: starting a run from trained weights (`--init_from`), TSN's partial BN and a lower
learning rate for the backbone than for the head.

`init_from` takes

- a preset directory (`VideoClassifier.save_to_preset`, `tfvideo convert --preset`),
- a `.keras` file (a training run's `model.keras`, `checkpoints/best.keras`, ...),
- a `.weights.h5` file of a model built like the one being trained (same `--model` options),
- an official PyTorch checkpoint (`.pth`, `.pyth`, `.pth.tar`, `.npz`), converted on the fly by
  `tfvideo.convert.load_torch_state_dict` (layout detected from its keys).

The classifier is loaded only when its class count matches the dataset's (and `reset_head` is
off); otherwise it starts fresh. `initialise` returns what was loaded, initialised fresh and
skipped, and the run's summary records it (`summary.json`, `init_from`).

Example:

>>> import tempfile, tfvideo
>>> from tfvideo.training import finetune
>>> old = tfvideo.models.create("tsm_tiny", num_classes=4, num_frames=4, input_size=32)
>>> preset = old.save_to_preset(tempfile.mkdtemp())
>>> new = tfvideo.models.create("tsm_tiny", num_classes=6, num_frames=4, input_size=32)
>>> report = finetune.initialise(new, preset)
>>> report["head"], report["fresh"]
('reset (4 -> 6 classes)', ['fc'])
"""

import os

import keras

from tfvideo.models.classifier import copy_weights, spec_of

TORCH_SUFFIXES = (".pth", ".pyth", ".pt", ".pth.tar", ".npz", ".bin")


def source_kind(source):
    """`"preset"`, `"keras"`, `"weights"` or `"torch"` for an `--init_from` value."""
    path = os.fspath(source)
    if os.path.isdir(path):
        return "preset"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--init_from {path}: no such file or preset directory")
    if path.endswith(".weights.h5"):
        return "weights"
    if path.endswith(".keras"):
        return "keras"
    if path.endswith(TORCH_SUFFIXES):
        return "torch"
    raise ValueError(
        f"--init_from {path}: not a preset directory, .keras, .weights.h5 or PyTorch checkpoint "
        f"({', '.join(TORCH_SUFFIXES)})"
    )


def _weighted_layers(model):
    return [layer.name for layer in model.layers if layer.weights]


def initialise(model, source, reset_head=False):
    """Loads the weights of `source` into `model` (in place) for fine-tuning.

    Args:
        model: the tfvideo model to train, built for the dataset's classes.
        source: see the module docstring.
        reset_head: start the classifier fresh even when the class counts match.

    Returns:
        `{"source", "kind", "head", "loaded", "fresh", "skipped"}`: layer names of `model`
        loaded and left at their initialisation, and what of the source was not used (layer
        names, or checkpoint keys for a PyTorch checkpoint).

    Raises:
        ValueError: no backbone weight of `model` could be loaded from `source`.
    """
    spec = spec_of(model)
    classifier = spec.head.classifier
    kind = source_kind(source)
    if kind == "torch":
        return _from_torch(model, source, reset_head)
    if kind == "weights":
        source_model = type(model).from_config(model.get_config())
        try:
            source_model.load_weights(source)
        except ValueError as error:
            raise ValueError(
                f"--init_from {source}: these weights do not fit {model.name!r} as configured "
                f"({' '.join(str(error).split())[:300]}); a .weights.h5 file needs the same "
                "model, class count included; use the run's .keras file or a preset instead"
            ) from None
    elif kind == "preset":
        from tfvideo.models import from_preset

        source_model = from_preset(source)
    else:
        source_model = keras.saving.load_model(source, compile=False)
    source_classes = getattr(getattr(source_model, "spec", None), "num_classes", None)
    keep_head = not reset_head and source_classes == spec.num_classes
    skip = () if keep_head else (classifier,)
    loaded = copy_weights(source_model, model, skip=skip)
    if not [name for name in loaded if name != classifier]:
        raise ValueError(
            f"--init_from {source}: no layer of {model.name!r} matches the source "
            f"{source_model.name!r} (layer names and shapes); is --model the source's model?"
        )
    wanted = set(_weighted_layers(model))
    return {
        "source": os.fspath(source),
        "kind": kind,
        "head": _head_text(keep_head, reset_head, source_classes, spec.num_classes),
        "loaded": loaded,
        "fresh": sorted(wanted - set(loaded)),
        "skipped": sorted(set(_weighted_layers(source_model)) - set(loaded)),
    }


def _head_text(keep_head, reset_head, source_classes, num_classes):
    if keep_head:
        return f"loaded ({num_classes} classes)"
    if reset_head:
        return "reset (--reset_head)"
    return f"reset ({source_classes} -> {num_classes} classes)"


def _from_torch(model, source, reset_head):
    from tfvideo import convert

    spec = spec_of(model)
    state = convert.read_state_dict(source)
    layout = convert.detect_source(state)
    source_classes = convert.checkpoint_num_classes(state, layout)
    keep_head = not reset_head and source_classes == spec.num_classes
    report = convert.load_torch_state_dict(model, state, source=layout, include_head=keep_head)
    fresh = {name.split("/")[0] for name in report.left_at_init}  # layer of each weight
    fresh = sorted(fresh | (set() if keep_head else {spec.head.classifier}))
    return {
        "source": os.fspath(source),
        "kind": f"torch ({layout})",
        "head": _head_text(keep_head, reset_head, source_classes, spec.num_classes),
        "loaded": sorted(report["loaded"]),
        "fresh": fresh,
        "skipped": sorted(set(report.ignored_keys) | set(report.unused_keys)),
    }


def describe(report):
    """One line for the run's log: what `initialise` loaded, initialised fresh and skipped."""
    return (
        f"Initialised from {report['source']} ({report['kind']}): {len(report['loaded'])} "
        f"layers loaded, head {report['head']}; fresh: {', '.join(report['fresh']) or 'none'}; "
        f"skipped: {', '.join(report['skipped']) or 'none'}"
    )


def partial_bn(model):
    """TSN's partial BN: every BatchNormalization layer but the first is frozen (its scale and
    offset are not trained and it normalises with its moving statistics, Keras'
    `trainable=False`). Returns the names of the frozen layers. Call before `compile`."""
    norms = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    for layer in norms[1:]:
        layer.trainable = False
    return [layer.name for layer in norms[1:]]


def backbone_variables(model):
    """The trainable variables of `model` outside its classifier layer (the backbone's), for
    `--backbone_lr_mult`."""
    head = model.get_layer(spec_of(model).head.classifier)
    head_ids = {id(v) for v in head.trainable_variables}
    return [v for v in model.trainable_variables if id(v) not in head_ids]
