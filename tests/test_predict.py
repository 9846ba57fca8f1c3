"""`tfvideo predict`: SavedModel, .keras and .tflite models; every container format, rotated and
short videos; one-line errors for broken files while the others are classified."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from tests.data_fixtures import (
    video_dir,  # noqa: F401  (pytest fixture)
    write_video,
)
from tests.test_export_common import CLASS_NAMES, NUM_FRAMES, SIZE, save_with_classes, toy_model
from tfvideo.cli.predict import run as predict_run
from tfvideo.data import decode_video, get_sampler
from tfvideo.data.augment import eval_transform
from tfvideo.export import export_saved_model
from tfvideo.export.predict import classify_files, load_clip, load_predictor
from tfvideo.export.tflite import export_tflite

GOOD = (
    "h264.mp4",
    "mpeg4.avi",
    "h264.mkv",
    "vp8.webm",
    "vp9.webm",
    "h264.mov",
    "anim.gif",
    "rot90.mp4",
)
BROKEN = ("truncated.mp4", "corrupt.mp4", "empty.mp4", "text.mp4", "audio.m4a")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The same toy classifier as `.keras` (+ classes.json), SavedModel and `.tflite`."""
    root = tmp_path_factory.mktemp("predict_models")
    model = toy_model(seed=3)
    keras_path = save_with_classes(model, str(root / "run"))
    saved = export_saved_model(keras_path, str(root / "saved_models"), warmup_requests=False)
    tflite = export_tflite(keras_path, str(root / "toy.tflite"))
    return {
        "model": model,
        "keras": keras_path,
        "saved_model": saved,
        "tflite": tflite,
        "base": os.path.dirname(saved),
    }


def test_every_format_gives_the_evaluation_prediction(models, tmp_path):
    path = write_video(tmp_path / "clip.mp4", num_frames=17, width=64, height=48)
    # independent reference: all frames, NumPy sampler, the data pipeline's evaluation crop
    frames = decode_video(path)
    idx = get_sampler({"kind": "segment", "num_segments": NUM_FRAMES})(len(frames))
    clip = eval_transform(frames[idx], size=SIZE, short_side=37)[0].numpy()
    np.testing.assert_allclose(load_clip(path, load_predictor(models["keras"]).metadata), clip)
    logits = models["model"].predict_on_batch(clip[None])[0]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    for kind in ("keras", "saved_model", "tflite", "base"):
        predictor = load_predictor(models[kind])
        assert predictor.metadata.class_names == CLASS_NAMES
        [result] = classify_files([path], predictor, top_k=3)
        probs = {p["label"]: p["probability"] for p in result["predictions"]}
        got = np.array([probs[c] for c in CLASS_NAMES])
        # SavedModel rounds the cropped frames to uint8 (its input type): a tiny difference
        np.testing.assert_allclose(got, expected, atol=2e-3, err_msg=kind)
        assert [p["index"] for p in result["predictions"]] == list(np.argsort(-expected))


def test_formats_rotation_and_broken_files(models, video_dir):  # noqa: F811
    paths = [str(video_dir / n) for n in GOOD + BROKEN]
    out, err = io.StringIO(), io.StringIO()
    code = predict_run(paths, models["saved_model"], top_k=2, out=out, err=err)
    assert code == 1
    errors = err.getvalue().splitlines()
    assert len(errors) == len(BROKEN)
    for name, line in zip(BROKEN, errors):
        assert line.startswith("error: ") and name in line, line
    printed = out.getvalue()
    for name in GOOD:
        assert str(video_dir / name) in printed
    assert printed.count("\n") == 3 * len(GOOD)  # path + 2 labels each


def test_short_and_rotated_videos_are_sampled_upright(models, tmp_path):
    meta = load_predictor(models["keras"]).metadata
    short = write_video(tmp_path / "short.mp4", num_frames=2)  # fewer frames than the clip
    clip = load_clip(short, meta)
    assert clip.shape == (NUM_FRAMES, SIZE, SIZE, 3)
    first, second = decode_video(short)
    crop = eval_transform(np.stack([first, first, second, second]), size=SIZE, short_side=37)
    np.testing.assert_allclose(clip, crop[0].numpy())
    # a landscape picture stored with display rotation 90 is decoded as portrait
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = 255  # left half white
    rotated = write_video(tmp_path / "rot.mp4", num_frames=5, rotation=90, images=[image] * 5)
    frames = decode_video(rotated)
    assert frames.shape[1:3] == (64, 48)
    [result] = classify_files([rotated], load_predictor(models["tflite"]))
    assert "predictions" in result


def test_real_world_fixtures(models, shared_videos):
    names = sorted(p for p in os.listdir(shared_videos) if not p.endswith(".md"))
    paths = [str(shared_videos / n) for n in names]
    results = classify_files(paths, load_predictor(models["tflite"]), top_k=1)
    failed = {os.path.basename(r["path"]): r["error"] for r in results if "error" in r}
    assert set(failed) == {"decord_corrupted.mp4"}
    assert "\n" not in failed["decord_corrupted.mp4"]
    assert "decord_corrupted.mp4" in failed["decord_corrupted.mp4"]
    assert sum("predictions" in r for r in results) == len(names) - 1


def test_cli_json_and_exit_code(models, tmp_path):
    good = write_video(tmp_path / "good.webm", codec="libvpx", num_frames=9)
    missing = str(tmp_path / "missing.mp4")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "predict.py"),
            good,
            missing,
            "--model",
            models["saved_model"],
            "--json",
            "--top_k",
            "2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    doc = json.loads(result.stdout)
    assert doc["format"] == "saved_model"
    first, second = doc["results"]
    assert first["path"] == good and len(first["predictions"]) == 2
    assert sum(p["probability"] for p in first["predictions"]) <= 1.0 + 1e-6
    assert second["path"] == missing and "missing.mp4" in second["error"]
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {second['error']}"
    ]


def test_committed_model_predicts(tmp_path):
    from tfvideo.export.predict import default_model_path

    path = default_model_path()
    if path is None:
        pytest.skip("no model committed under saved_models/ yet")
    predictor = load_predictor(path)
    video = write_video(tmp_path / "clip.mp4", num_frames=20, width=96, height=96)
    [result] = classify_files([video], predictor)
    assert len(result["predictions"]) == predictor.metadata.top_k
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    assert size <= 10 * 1024 * 1024, f"{path} holds {size} bytes; the limit is 10 MB"


def test_a_multi_label_model_scores_each_class_with_a_sigmoid(tmp_path):
    # ModelSpec.multi_label travels into the export metadata of every format; the predictors
    # and the SavedModel's `probabilities` output are then per-class sigmoids, not a softmax.
    import keras
    import tensorflow as tf
    from model_helpers import randomize_zero_initialised_weights

    import tfvideo

    model = tfvideo.models.create(
        "tsm_tiny", num_classes=3, num_frames=NUM_FRAMES, input_size=SIZE, multi_label=True
    )
    randomize_zero_initialised_weights(model)
    keras_path = save_with_classes(model, str(tmp_path / "run"))
    assert keras.saving.load_model(keras_path).spec.multi_label is True
    saved = export_saved_model(keras_path, str(tmp_path / "saved_models"), warmup_requests=False)
    tflite = export_tflite(keras_path, str(tmp_path / "multi.tflite"))
    frames = np.random.default_rng(0).integers(0, 256, (1, NUM_FRAMES, SIZE, SIZE, 3))
    logits = np.asarray(model.predict_on_batch(frames.astype(np.float32)), np.float64)
    expected = 1.0 / (1.0 + np.exp(-logits))
    assert abs(expected.sum() - 1.0) > 0.05, expected  # not a softmax by accident
    for path in (keras_path, saved, tflite):
        predictor = load_predictor(path)
        assert predictor.metadata.multi_label is True, path
        got = predictor.probabilities(frames.astype(np.float32))
        np.testing.assert_allclose(got, expected, atol=1e-4, err_msg=path)
    serve = tf.saved_model.load(saved).signatures["serving_default"]
    out = serve(frames=tf.constant(frames.astype(np.uint8)))
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-4)
    np.testing.assert_array_equal(out["top_k_indices"].numpy()[0], np.argsort(-expected[0])[:3])


def test_metadata_docstring_examples_run():
    import doctest

    import tfvideo.export.metadata

    assert doctest.testmod(tfvideo.export.metadata).failed == 0
