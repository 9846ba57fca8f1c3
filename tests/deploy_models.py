"""The tiny model of every model family, trained for a few steps on synthetic clips, for the
deployment tests (SavedModel signatures, warmup, saved_model_cli, TFLite int8 agreement). No tests
here.

`trained_family_model(family)` trains once per test process (cached), so the SavedModel and the
TFLite tests share one trained model per family.
"""

import functools
import os
import pathlib
import tempfile

import keras
import numpy as np

NUM_CLASSES = 4  # left-right, right-left, up, down: two time-reversed pairs
SIZE = 32
DEFAULT_FRAMES = 4
# families whose tiny network needs more frames than DEFAULT_FRAMES (S3D's temporal pooling)
FRAMES = {"s3d": 8}
TRAIN_CLIPS = 192
EPOCHS = 4
BN_MOMENTUM = 0.8
SAVED_MODELS = pathlib.Path(__file__).resolve().parents[1] / "saved_models"


def family_models() -> dict:
    """`{family: tiny model name}` over the registry: each family's first `*_tiny`
    configuration (by name)."""
    from tfvideo.models import available, default_spec

    tiny = {}
    for name in available():
        if name.endswith("_tiny") and "_causal_" not in name:  # causal: test_streaming.py
            tiny.setdefault(default_spec(name).family, name)
    return dict(sorted(tiny.items()))


FAMILIES = family_models()


def family_params(below_bar: dict) -> list:
    """The families as pytest parameters, those in `below_bar` (`{family: measured reason}`)
    marked as expected failures: the bar stays, and a family that starts passing shows."""
    import pytest

    return [
        pytest.param(f, marks=pytest.mark.xfail(reason=below_bar[f], strict=False))
        if f in below_bar
        else f
        for f in sorted(FAMILIES)
    ]


def class_names():
    from tfvideo.data import synthetic

    return synthetic.class_names(NUM_CLASSES)


def synthetic_clips(count, seed, num_frames):
    """float32 clips `[count, T, SIZE, SIZE, 3]` in [0, 255] of the synthetic dataset's first
    NUM_CLASSES classes, rendered directly, and their labels."""
    from tfvideo.data import synthetic

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, count)
    clips = np.stack(
        [synthetic.render_clip(int(c), rng, num_frames=num_frames, size=SIZE)[0] for c in labels]
    )
    return clips.astype(np.float32), labels


@functools.cache
def trained_family_model(family):
    """`(model, train_clips)`: the family's tiny VideoClassifier trained for EPOCHS epochs on
    TRAIN_CLIPS synthetic clips (the same for every test of this process)."""
    return trained_model(FAMILIES[family], FRAMES.get(family, DEFAULT_FRAMES))


@functools.cache
def trained_model(name, num_frames=DEFAULT_FRAMES):
    """`(model, train_clips)`: the registry's `name` (4 classes, SIZE pixels, `num_frames`)
    trained as `trained_family_model` trains (cached per process).

    Under pytest-xdist the workers of one run share each trained model through a `.keras` file
    (the first worker to need it trains it, under a file lock; the others load it), so the
    deployment tests of several files train each model once per run, not once per worker.
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        return _train(name, num_frames)
    import filelock

    directory = pathlib.Path(tempfile.gettempdir(), f"tfvideo-tests-{run}")
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}-{num_frames}.keras"
    with filelock.FileLock(f"{path}.lock"):
        if path.exists():
            model = keras.saving.load_model(path)
        else:
            model, _ = _train(name, num_frames)
            partial = path.with_suffix(".partial.keras")
            model.save(partial)
            os.replace(partial, path)
    return model, synthetic_clips(TRAIN_CLIPS, seed=0, num_frames=num_frames)[0]


def _train(name, num_frames):
    import tfvideo.models

    keras.utils.set_random_seed(0)
    model = tfvideo.models.create(
        name,
        num_classes=NUM_CLASSES,
        num_frames=num_frames,
        input_size=SIZE,
        class_names=class_names(),
    )
    clips, labels = synthetic_clips(TRAIN_CLIPS, seed=0, num_frames=num_frames)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    # BatchNorm moving averages that keep up with a few steps (Keras' 0.99 would leave them
    # mostly at their initial values: inference would then see unnormalised activations)
    norms = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = BN_MOMENTUM
    try:
        model.fit(clips, labels, batch_size=16, epochs=EPOCHS, verbose=0)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
    return model, clips


def newest_version(model_dir) -> pathlib.Path:
    """The highest integer version directory of a TF Serving model directory."""
    versions = [p for p in pathlib.Path(model_dir).iterdir() if p.is_dir() and p.name.isdigit()]
    if not versions:
        raise FileNotFoundError(f"{model_dir}: no version directory")
    return max(versions, key=lambda p: int(p.name))
