"""Shared test set-up: quiet TensorFlow, the Keras backend, and paths to fixtures."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_VIDEOS = REPO_ROOT.parent / "shared" / "fixtures" / "videos"

# The other backends' children: no accelerator; XLA's full CPU optimisation costs about 1 s per
# small kernel compile on 2 cores, and JAX compiles every weight initialiser shape separately.
CHILD_ENV = {
    "JAX_PLATFORMS": "cpu",
    "CUDA_VISIBLE_DEVICES": "",
    "JAX_DISABLE_MOST_OPTIMIZATIONS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def child_env(backend) -> dict:
    """This process's environment for a child on Keras backend `backend` (with CHILD_ENV)."""
    return dict(os.environ, KERAS_BACKEND=backend, **CHILD_ENV)


def run_child(backend, args, timeout):
    """`python ARGS` in the repository root on Keras backend `backend` (Keras picks its
    backend once per process); the finished `subprocess.CompletedProcess`, output captured."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=child_env(backend),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def shared_videos():
    """Real-world video files beside the checkout (`../shared/fixtures/videos`)."""
    if not SHARED_VIDEOS.is_dir():
        pytest.skip(f"real-world fixtures not present at {SHARED_VIDEOS}")
    return SHARED_VIDEOS


@pytest.fixture(autouse=True)
def _restore_dtype_policy():
    """A test that sets a mixed-precision policy does not leak it into the next one.

    (Clearing the whole Keras session after every test costs ~0.6 s each; it is not needed.)
    """
    import keras

    yield
    if keras.config.dtype_policy().name != "float32":
        keras.config.set_dtype_policy("float32")


def pytest_configure(config):
    # Keras' TensorFlow backend converts variables with np.array(x), which NumPy 2 reports once
    # per call; thousands of these lines would hide the warnings that matter.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
    )


# The files that take minutes, longest first (wall seconds on the 2-vCPU VM, 2026-12-02). With
# `-n 2 --dist loadfile` pytest-xdist hands out whole files in collection order, so starting
# these first keeps one long file from running alone at the end of the run. The first two
# both need every family's trained deployment model (tests/deploy_models.py) and take the
# families in opposite orders, so the two workers train different models at the same time.
LONG_FILES = (
    "test_export.py",  # trains the deployment models (the families in reverse order)
    "test_export_tflite.py",  # the same models, in order
    "test_training_jobs.py",  # ~12 training jobs in subprocesses
    "test_training_backends.py",  # the job on JAX (two devices) and PyTorch
    "test_backends_layers.py",  # the layer suites on JAX and PyTorch
    "test_backends.py",  # the tiny models on JAX and PyTorch
    "test_models_zoo.py",
    "test_streaming_deploy.py",
    "test_inference.py",
)


def pytest_collection_modifyitems(items):
    first = {name: rank for rank, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))  # stable: file order kept
