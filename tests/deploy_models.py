"""The tiny model of every model family, trained on synthetic clips until it tells the four
motions apart on held-out clips, for the deployment tests (SavedModel signatures, warmup,
saved_model_cli, TFLite int8 and bf16 agreement). No tests here.

`trained_family_model(family)` trains once per test run (cached), so the SavedModel and the
TFLite tests share one trained model per family.
"""

import dataclasses
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
BN_MOMENTUM = 0.8


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a family's tiny model is trained (Adam, batch 16, SIZE px)."""

    learning_rate: float = 3e-3
    epochs: int = 4
    clips: int = 512


# Measured on the 2-vCPU VM (2026-12-02; held-out top-1, chance 0.25): the ResNets learn in 4
# epochs (0.98-1.00); bLVNet and the temporalized MobileNetV2 need more (1.00 and 0.97 at 10);
# S3D varies with the seed (0.44-0.89 at 10 epochs, 0.86-0.90 at 16); the (TAda)ConvNeXts, with
# LayerNorm and a 1e-6 layer scale, need a smaller rate and more clips (0.80 / 0.88 at 5e-4,
# 6 epochs of 1024; 0.25 at 3e-3).
RECIPES = {
    "blvnet": Recipe(epochs=6),
    "s3d": Recipe(epochs=16),
    "temporalized": Recipe(epochs=8),
    "tadaconvnext": Recipe(learning_rate=5e-4, epochs=6, clips=1024),
    "tadaconvnextv2": Recipe(learning_rate=5e-4, epochs=6, clips=1024),
}
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


def recipe_of(name) -> Recipe:
    """The training recipe of the registry's `name`: its family's (`RECIPES`, else `Recipe()`)."""
    from tfvideo.models import default_spec

    return RECIPES.get(default_spec(name).family, Recipe())


@functools.cache
def trained_family_model(family):
    """`(model, train_clips)`: the family's tiny VideoClassifier trained by its recipe (the
    same for every test of this run)."""
    return trained_model(FAMILIES[family], FRAMES.get(family, DEFAULT_FRAMES))


@functools.cache
def trained_model(name, num_frames=DEFAULT_FRAMES):
    """`(model, train_clips)`: the registry's `name` (4 classes, SIZE pixels, `num_frames`)
    trained by `recipe_of(name)` on its synthetic clips (cached per process).

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
    return model, synthetic_clips(recipe_of(name).clips, seed=0, num_frames=num_frames)[0]


def _train(name, num_frames):
    import tfvideo.models

    recipe = recipe_of(name)
    keras.utils.set_random_seed(0)
    model = tfvideo.models.create(
        name,
        num_classes=NUM_CLASSES,
        num_frames=num_frames,
        input_size=SIZE,
        class_names=class_names(),
    )
    clips, labels = synthetic_clips(recipe.clips, seed=0, num_frames=num_frames)
    model.compile(
        optimizer=keras.optimizers.Adam(recipe.learning_rate),
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
        model.fit(clips, labels, batch_size=16, epochs=recipe.epochs, verbose=0)
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
