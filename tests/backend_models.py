"""Child process of
`test_backends.py::test_tiny_models_match_tensorflow_and_train_on_other_backend`.

Keras picks its backend once per process, so the parent runs this file with `KERAS_BACKEND`
set. For every `*_tiny` model of the registry it
- with `--parity DIR`: loads `DIR/NAME.keras` (saved by TensorFlow with randomised weights) and
  reports the relative error of its logits on `DIR/NAME_clip.npy` against TensorFlow's
  (`DIR/NAME_logits.npy`), run as one jitted graph (`predict`);
- fits a few steps on random clips (the loss must be finite and the weights must move), saves
  and reloads it through `.keras` (identical outputs within float tolerance) and checks that a
  one-channel clip is refused.
It also checks padded max pooling in every float dtype. It prints one `RESULT {json}` line
per model and exits non-zero on the first failure.

Run by hand: `KERAS_BACKEND=torch python tests/backend_models.py [--parity DIR] [name ...]`.
"""

import json
import os
import sys
import tempfile
import time

import keras
import numpy as np

import tfvideo
from tfvideo.layers import SeparablePooling3D

# Smallest clip first; a model that needs more frames or pixels (S3D strides time by 8)
# takes the first shape it builds with.
SHAPES = ((4, 32), (8, 32), (8, 64), (16, 64))
BATCH, STEPS, NUM_CLASSES = 2, 2, 3
MAX_UNCHANGED = 0.05  # fraction of trainable weight tensors that may not move in STEPS steps


def tiny_models():
    # The *_causal_tiny variants are covered by tests/test_streaming.py.
    return [
        name
        for name in tfvideo.models.available()
        if name.endswith("_tiny") and "_causal_" not in name
    ]


def build(name):
    errors = []
    for frames, size in SHAPES:
        try:
            return tfvideo.models.create(
                name, num_classes=NUM_CLASSES, num_frames=frames, input_size=size
            )
        except ValueError as error:  # too small a clip for this architecture
            errors.append(f"{frames}x{size}: {str(error).splitlines()[0]}")
    raise AssertionError(f"{name} builds with none of {SHAPES}: {errors}")


def check_model(name, directory):
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    model = build(name)
    frames, height, width = model.inputs[0].shape[1:4]
    rng = np.random.default_rng(0)
    clips = rng.uniform(0, 255, (BATCH * STEPS, frames, height, width, 3)).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, BATCH * STEPS)

    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(clips, labels, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)), f"{name}: loss {losses}"
    # The weights moved: the first (the stem, so the gradient crossed the whole network) and
    # the last (the classifier), and all but a few others. Branches that start as the
    # identity (zero-initialised TAda route convs behind ConvNeXt's 1e-6 layer scale) get
    # updates below float32 resolution in two steps, so a few may legitimately stay put.
    unchanged = [
        w.path
        for w, old in zip(model.trainable_weights, before)
        if np.array_equal(keras.ops.convert_to_numpy(w), old)
    ]
    first, last = model.trainable_weights[0].path, model.trainable_weights[-1].path
    assert first not in unchanged and last not in unchanged, (name, first, last, unchanged)
    assert len(unchanged) <= MAX_UNCHANGED * len(before), (name, len(before), unchanged)

    path = os.path.join(directory, f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    # predict: one jitted graph on JAX (an eager call compiles every op separately: 40 s
    # for s3d_tiny on 2 cores, against 4 s).
    want = model.predict(clips[:BATCH], batch_size=BATCH, verbose=0)
    got = loaded.predict(clips[:BATCH], batch_size=BATCH, verbose=0)
    assert want.shape == (BATCH, NUM_CLASSES) and np.all(np.isfinite(want)), (name, want)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=name)

    one_channel = np.zeros((1, frames, height, width, 1), "float32")
    try:
        loaded(one_channel)
    except ValueError as error:
        assert "[batch, frames, height, width, 3]" in str(error), (name, str(error))
    else:
        raise AssertionError(f"{name}: a one-channel clip was accepted")
    return {
        "model": name,
        "clip": [int(frames), int(height), int(width)],
        "loss": [float(v) for v in losses],
        "weights": len(before),
        "unchanged": unchanged,
        "seconds": round(time.perf_counter() - start, 1),
    }


def check_padded_max_pool():
    """Padded max pooling equals PyTorch's (the padding never wins) in every float dtype."""
    import ml_dtypes

    for dtype in ("float16", "bfloat16", "float32", "mixed_float16", "mixed_bfloat16"):
        compute = dtype.removeprefix("mixed_")
        lowest = float(ml_dtypes.finfo(compute).min)
        x = np.full((1, 3, 4, 4, 2), lowest, "float32")  # every window includes padding
        layer = SeparablePooling3D((3, 3, 3), strides=2, padding=1, dtype=dtype)
        y = keras.ops.convert_to_numpy(keras.ops.cast(layer(x), "float32"))
        assert y.shape == (1, 2, 2, 2, 2) and np.all(y == lowest), (dtype, np.unique(y))


def parity_error(name, directory):
    """max |logits - TensorFlow's| / max |TensorFlow's| of the model TensorFlow saved."""
    prefix = os.path.join(directory, name)
    model = keras.saving.load_model(prefix + ".keras")
    clip, expected = np.load(prefix + "_clip.npy"), np.load(prefix + "_logits.npy")
    logits = model.predict(clip, batch_size=len(clip), verbose=0)
    return float(np.max(np.abs(logits - expected)) / max(1e-12, np.max(np.abs(expected))))


def main(args):
    parity = None
    if args[:1] == ["--parity"]:
        parity, args = args[1], args[2:]
    backend = keras.backend.backend()
    check_padded_max_pool()
    with tempfile.TemporaryDirectory() as directory:
        for name in args or tiny_models():
            result = {"backend": backend}
            if parity:
                result["parity"] = parity_error(name, parity)
            result.update(check_model(name, directory))
            print("RESULT", json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
