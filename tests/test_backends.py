"""The tiny models again, on the JAX and PyTorch backends (Keras picks its backend once per
process, so each runs in a subprocess; the layer tests' reruns are test_backends_layers.py, a
file of their own so that pytest-xdist can run the two on different workers)."""

import json

import numpy as np
import pytest
from conftest import REPO_ROOT, run_child

from tfvideo import models

# The *_causal_tiny variants are covered by tests/test_streaming.py.
TINY_MODELS = sorted(n for n in models.available() if n.endswith("_tiny") and "_causal_" not in n)


# max |other backend's logits - TensorFlow's| / max |TensorFlow's logit|
PARITY_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def saved_by_tensorflow(tmp_path_factory):
    """Every tiny model saved by TensorFlow with randomised weights, its clip and its logits."""
    from model_helpers import random_clip, randomize_zero_initialised_weights

    import tfvideo

    directory = tmp_path_factory.mktemp("tensorflow_models")
    for index, name in enumerate(TINY_MODELS):
        model = tfvideo.models.create(name, num_classes=5)
        randomize_zero_initialised_weights(model, seed=index)
        clip = random_clip(model, batch=2, seed=index)
        model.save(directory / f"{name}.keras")
        np.save(directory / f"{name}_clip.npy", clip)
        np.save(directory / f"{name}_logits.npy", model(clip, training=False).numpy())
    return directory


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_tiny_models_match_tensorflow_and_train_on_other_backend(backend, saved_by_tensorflow):
    # Every *_tiny model of the registry, saved by TensorFlow, loads with the same logits;
    # fits a few steps (finite loss, weights move), round-trips through .keras with the same
    # outputs and refuses a one-channel clip (tests/backend_models.py, one process for all).
    pytest.importorskip(backend)
    script = str(REPO_ROOT / "tests" / "backend_models.py")
    result = run_child(backend, [script, "--parity", str(saved_by_tensorflow)], timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    results = [
        json.loads(line.split(" ", 1)[1])
        for line in result.stdout.splitlines()
        if line.startswith("RESULT ")
    ]
    assert sorted(r["model"] for r in results) == TINY_MODELS, result.stdout[-2000:]
    assert all(r["backend"] == backend for r in results), results
    for r in results:
        assert r["parity"] < PARITY_TOLERANCE, (r["model"], r["parity"])
