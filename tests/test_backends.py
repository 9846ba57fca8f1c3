"""The tiny models again, on the JAX and PyTorch backends (Keras picks its backend once per
process, so each runs in a subprocess; the layer tests' reruns are test_backends_layers.py, a
file of their own so that pytest-xdist can run the two on different workers)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

# No accelerator in the children; XLA's full CPU optimisation costs about 1 s per small
# kernel compile on 2 cores, and JAX compiles every weight initialiser shape separately.
CHILD_ENV = {
    "JAX_PLATFORMS": "cpu",
    "CUDA_VISIBLE_DEVICES": "",
    "JAX_DISABLE_MOST_OPTIMIZATIONS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def run_child(backend, args, timeout):
    env = dict(os.environ, KERAS_BACKEND=backend, **CHILD_ENV)
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_tiny_models_train_and_round_trip_on_other_backend(backend):
    # Every *_tiny model of the registry fits a few steps (finite loss, weights move),
    # round-trips through .keras with the same outputs and refuses a one-channel clip
    # (tests/backend_models.py, one process for all models).
    pytest.importorskip(backend)
    import tfvideo

    expected = sorted(
        n for n in tfvideo.models.available() if n.endswith("_tiny") and "_causal_" not in n
    )
    result = run_child(backend, [str(REPO_ROOT / "tests" / "backend_models.py")], timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    results = [
        json.loads(line.split(" ", 1)[1])
        for line in result.stdout.splitlines()
        if line.startswith("RESULT ")
    ]
    assert sorted(r["model"] for r in results) == expected, result.stdout[-2000:]
    assert all(r["backend"] == backend for r in results), results
