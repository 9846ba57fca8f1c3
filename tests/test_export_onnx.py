"""ONNX export (tfvideo.export.onnx): onnxruntime against Keras within 1e-4 of the logit scale
for the tiny model of every family and the committed model, `tfvideo export --format onnx`,
`predict` on the .onnx file, and the error naming an op ONNX cannot express. Every `*_tiny`
model and a full-size one: `python benchmarks/onnx_parity.py`."""

import io
import json

import keras
import numpy as np
import pytest

from tests import deploy_models
from tests.data_fixtures import write_video

pytest.importorskip("onnxruntime", reason="the onnx extra (pip install 'tfvideo[onnx]')")
pytest.importorskip("tf2onnx", reason="the onnx extra (pip install 'tfvideo[onnx]')")

from tfvideo.export.onnx import (  # noqa: E402
    ONNXExportError,
    export_onnx,
    read_onnx_metadata,
    unsupported_ops,
)
from tfvideo.export.predict import default_model_path, load_predictor  # noqa: E402


def onnx_logits(path, clips):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {"frames": clips})[0]


def check_parity(model, path, frames, size, seed=0):
    clips = np.random.default_rng(seed).uniform(0, 255, (2, frames, size, size, 3))
    clips = clips.astype(np.float32)
    expected = keras.ops.convert_to_numpy(model(clips, training=False))
    got = onnx_logits(path, clips)
    scale = np.abs(expected).max()
    assert got.shape == expected.shape and scale > 0
    np.testing.assert_allclose(got, expected, atol=1e-4 * scale)


@pytest.mark.parametrize("family", sorted(deploy_models.FAMILIES))
def test_family_tiny_models_match_keras(family, tmp_path):
    import tfvideo

    name = deploy_models.FAMILIES[family]
    frames = deploy_models.FRAMES.get(family, deploy_models.DEFAULT_FRAMES)
    model = tfvideo.models.create(name, num_classes=3, num_frames=frames, input_size=32)
    path = export_onnx(model, str(tmp_path / f"{name}.onnx"))
    assert read_onnx_metadata(path).num_frames == frames
    check_parity(model, path, frames, 32)


def test_committed_model_cli_and_predict(tmp_path):
    from tfvideo.cli.export import run as export_run
    from tfvideo.cli.predict import run as predict_run

    committed = default_model_path()
    if committed is None:
        pytest.skip("no model committed under saved_models/")
    path = export_run(committed, format="onnx", output=str(tmp_path / "tsm_tiny.onnx"))
    saved = load_predictor(committed)
    meta = read_onnx_metadata(path)
    assert (
        meta.class_names == saved.metadata.class_names and meta.sampling == saved.metadata.sampling
    )
    check_parity(saved.keras_model(), path, meta.num_frames, meta.input_size[0])
    video = write_video(tmp_path / "clip.mp4", num_frames=20)
    out = io.StringIO()
    assert predict_run([video], path, top_k=3, as_json=True, out=out) == 0
    [result] = json.loads(out.getvalue())["results"]
    [reference] = json.loads(_predict_json(video, committed))["results"]
    assert [p["index"] for p in result["predictions"]] == [
        p["index"] for p in reference["predictions"]
    ]
    np.testing.assert_allclose(
        [p["probability"] for p in result["predictions"]],
        [p["probability"] for p in reference["predictions"]],
        atol=1e-4,
    )


def _predict_json(video, model):
    from tfvideo.cli.predict import run as predict_run

    out = io.StringIO()
    predict_run([video], model, top_k=3, as_json=True, out=out)
    return out.getvalue()


def test_unsupported_op_is_named(tmp_path):
    """An op with no ONNX conversion (`tf.math.igamma` inside a layer) fails naming it."""
    import tensorflow as tf

    class Unconvertible(keras.layers.Layer):
        def call(self, x):
            return keras.ops.mean(tf.math.igamma(x + 1.0, x + 1.0), axis=(1, 2, 3))

    inputs = keras.Input((2, 8, 8, 3))
    model = keras.Model(inputs, Unconvertible()(inputs))
    with pytest.raises(ONNXExportError, match="Igamma") as info:
        export_onnx(model, str(tmp_path / "bad.onnx"))
    assert info.value.ops == ["Igamma"]
    assert not list(tmp_path.iterdir())  # nothing half-written
    assert unsupported_ops("Unsupported ops: Counter({'Igamma': 1, 'XlaConv': 2})") == [
        "Igamma",
        "XlaConv",
    ]
