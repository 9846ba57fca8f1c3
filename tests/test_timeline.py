"""`tfvideo predict --timeline` / `--overlay` (tfvideo.timeline): windows over a whole video from
one decode, checked against per-window decodes; overlay videos; real containers and broken files."""

import io
import json
import os

import numpy as np
import pytest

import tfvideo.data.decode as decode_lib
from tests.data_fixtures import write_video
from tfvideo import timeline
from tfvideo.cli.predict import run as predict_run
from tfvideo.data import decode_video, get_sampler
from tfvideo.export.predict import default_model_path, load_predictor
from tfvideo.export.preprocessing import eval_crop


@pytest.fixture(scope="module")
def predictor():
    """The committed model (saved_models/tsm_tiny): 8 segments of 32 x 32 frames."""
    path = default_model_path()
    if path is None:
        pytest.skip("no model committed under saved_models/")
    return load_predictor(path)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("long") / "long.mp4", num_frames=70, width=64)


def test_windows_and_cells_tile_the_video():
    assert timeline.window_starts(70, 16, 8) == [0, 8, 16, 24, 32, 40, 48, 54]
    assert timeline.parse_span("0.5s", 30.0) == 15 and timeline.parse_span("12f", 30.0) == 12
    for bad in ("0", "abc", "1.5f"):
        with pytest.raises(ValueError, match="frame|window"):
            timeline.parse_span(bad, 25.0)
    bounds = timeline.cells([0, 8, 16, 24, 32, 40, 48, 54], 16, 70)
    assert bounds[0][0] == 0 and bounds[-1][1] == 70
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(bounds, bounds[1:]))


def test_timeline_decodes_each_frame_once_and_matches_each_window(
    predictor, long_video, monkeypatch
):
    decoded = []
    to_rgb = decode_lib._to_rgb
    monkeypatch.setattr(decode_lib, "_to_rgb", lambda f: decoded.append(1) or to_rgb(f))
    doc = timeline.video_timeline(long_video, predictor, window=16, stride="0.32s", batch_size=3)
    monkeypatch.undo()
    windows = doc["windows"]
    assert doc["num_frames"] == 70 and doc["window_frames"] == 16 and doc["stride_frames"] == 8
    assert len(windows) == 8  # 7 strided windows and one ending at the last frame
    assert sum(decoded) == 70  # one decode for 8 windows x 8 sampled frames (64 > 70 - 16)

    # independent reference: each window decoded on its own (seeking decoder), sampled by the
    # NumPy sampler, cropped and classified one by one
    meta = predictor.metadata
    sampler = get_sampler(meta.sampling)
    for w in windows:
        idx = w["start_frame"] + sampler(w["end_frame"] - w["start_frame"])
        clip = eval_crop(decode_video(long_video, indices=idx), meta.input_size, meta.short_side)
        probs = predictor.probabilities(clip.numpy()[np.newaxis])[0]
        top = w["predictions"]
        assert [p["index"] for p in top] == list(np.argsort(-probs, kind="stable")[: len(top)])
        np.testing.assert_allclose(
            [p["probability"] for p in top], probs[[p["index"] for p in top]], atol=1e-5
        )
    segments = doc["segments"]
    assert segments[0]["start_frame"] == 0 and segments[-1]["end_frame"] == 70
    for a, b in zip(segments, segments[1:]):
        assert a["end_frame"] == b["start_frame"] and a["index"] != b["index"]
    labels = timeline.frame_labels(doc)
    for seg in segments:
        assert {label for label, _ in labels[seg["start_frame"] : seg["end_frame"]]} == {
            seg["label"]
        }


def test_overlay_draws_the_labels_on_every_frame(predictor, long_video, tmp_path):
    doc = timeline.video_timeline(long_video, predictor, window=16, stride=8)
    out = timeline.write_overlay(long_video, doc, str(tmp_path / "labelled.mp4"))
    drawn, source = decode_video(out).astype(int), decode_video(long_video).astype(int)
    assert drawn.shape == source.shape == (70, 48, 64, 3)
    box = np.abs(drawn[:, :8, :30] - source[:, :8, :30]).mean(axis=(1, 2, 3))
    rest = np.abs(drawn[:, 30:, :] - source[:, 30:, :]).mean(axis=(1, 2, 3))
    assert box.min() > 20 and rest.max() < 4, (box.min(), rest.max())


def test_cli_timeline_on_real_containers_and_broken_files(predictor, shared_videos, tmp_path):
    names = sorted(p for p in os.listdir(shared_videos) if not p.endswith(".md"))
    paths = [str(shared_videos / n) for n in names] + [str(tmp_path / "missing.mp4")]
    out, err = io.StringIO(), io.StringIO()
    code = predict_run(
        paths,
        predictor.path,
        top_k=2,
        as_json=True,
        out=out,
        err=err,
        timeline=True,
        window="8",
        stride="4",
        overlay=str(tmp_path / "{stem}.mp4"),
    )
    assert code == 1
    results = {os.path.basename(r["path"]): r for r in json.loads(out.getvalue())["results"]}
    failed = sorted(n for n, r in results.items() if "error" in r)
    assert failed == ["decord_corrupted.mp4", "missing.mp4"]
    errors = [line for line in err.getvalue().splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and all(name in " ".join(errors) for name in failed)
    for name, result in results.items():
        if "error" in result:
            continue
        assert result["segments"][-1]["end_frame"] == result["num_frames"]
        overlay = decode_video(result["overlay"])
        assert len(overlay) == result["num_frames"], name
