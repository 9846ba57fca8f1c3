"""The training job end to end on the JAX and PyTorch backends (subprocesses; a file of its own
so that pytest-xdist runs it beside tests/test_training_jobs.py): train, evaluate and export
(the export runs in a TensorFlow subprocess), and on JAX data parallelism over two CPU devices
(`keras.distribution.DataParallel`), which must give one device's weights.

Tiny everything, as in tests/test_training_jobs.py."""

import numpy as np
import pytest

from tests.test_training_jobs import (  # noqa: F401  (data_root: a pytest fixture)
    TINY,
    _final_state,
    _summary,
    _train,
    data_root,
    one_epoch_job,
)

# SGD: Adam's m / sqrt(v) turns float rounding in near-zero gradients into lr-sized steps
DETERMINISTIC = ["--deterministic", "--seed=5", "--epochs=2", "--optimizer=sgd"]


def _assert_trained_and_exported(result, out, exports):
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    summary = _summary(out)
    assert summary["optimizer_steps"] == summary["expected_steps"]
    assert summary["evaluation"]["normal"]["num_videos"] == 8
    assert (exports / "tsm_tiny" / "1" / "saved_model.pb").is_file()
    assert (exports / "tsm_tiny.tflite").stat().st_size > 0
    return summary


def test_jax_job_trains_data_parallel_like_one_device_and_exports(tmp_path, data_root):  # noqa: F811
    pytest.importorskip("jax")
    out, exports = tmp_path / "parallel", tmp_path / "saved_models"
    common = TINY + [f"--data_root={data_root}", "--eval_num_clips=1"] + DETERMINISTIC
    parallel = _train(
        common + [f"--output_dir={out}", f"--export_dir={exports}", "--num_cpu_devices=2"],
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
    )
    summary = _assert_trained_and_exported(parallel, out, exports)
    assert "2 replica(s) (JaxDataParallel), global batch 4" in parallel.stdout
    assert "jit_compile=True" in parallel.stdout  # Keras would otherwise run JAX op by op
    assert summary["replicas"] == 2 and summary["optimizer_steps"] == 6  # 12 videos / 4, x 2
    # One device with the same global batch: the same clips, so the same weights.
    single = tmp_path / "single"
    result = _train(
        [a for a in common if a != "--batch_size=2"]
        + ["--batch_size=4", f"--output_dir={single}", "--evaluate=false", "--export=false"],
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 replica(s)" in result.stdout
    for a, b in zip(_final_state(out)[0], _final_state(single)[0]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_pytorch_job_trains_evaluates_and_exports(tmp_path, data_root):  # noqa: F811
    pytest.importorskip("torch")
    out, exports = tmp_path / "run", tmp_path / "saved_models"
    result = _train(
        one_epoch_job(data_root, out, exports),
        KERAS_BACKEND="torch",
    )
    _assert_trained_and_exported(result, out, exports)
    assert "jit_compile=False" in result.stdout
