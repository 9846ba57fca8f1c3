"""Shared test set-up: quiet TensorFlow, the Keras backend, and paths to fixtures."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_VIDEOS = REPO_ROOT.parent / "shared" / "fixtures" / "videos"


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
