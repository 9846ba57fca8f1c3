"""The layer tests and the tiny models again, on the JAX and PyTorch backends (Keras picks its
backend once per process, so each runs in a subprocess)."""

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
def test_layer_suite_passes_on_other_backend(backend):
    pytest.importorskip(backend)
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(REPO_ROOT / "tests" / "test_layers.py"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary, summary


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
