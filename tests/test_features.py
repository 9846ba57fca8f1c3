"""`tfvideo extract_features` (tfvideo.features): one .npy of pooled backbone features per video
window, checked against per-window decodes and the Keras backbone; resumable; bad videos listed;
the SavedModel `features` signature; real containers."""

import io
import json
import os
import shutil

import numpy as np
import pytest

from tests.data_fixtures import write_video
from tfvideo.cli.extract_features import run as extract_run
from tfvideo.data import decode_video, get_sampler
from tfvideo.export.predict import default_model_path, load_predictor
from tfvideo.export.preprocessing import eval_crop
from tfvideo.features import FAILED_FILENAME, feature_extractor, video_features


@pytest.fixture(scope="module")
def committed():
    path = default_model_path()
    if path is None:
        pytest.skip("no model committed under saved_models/")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("feature_videos")
    (root / "sub").mkdir()
    write_video(root / "a.mp4", num_frames=40, width=64)
    write_video(root / "sub" / "b.webm", codec="libvpx", num_frames=12)
    (root / "sub" / "bad.mp4").write_bytes(b"")
    return root


def reference_features(video, model, meta, windows):
    """Each window decoded on its own, sampled, cropped and run through the Keras backbone."""
    sampler = get_sampler(meta.sampling)
    clips = [
        eval_crop(decode_video(video, indices=s + sampler(e - s)), meta.input_size, meta.short_side)
        for s, e in windows
    ]
    return model.extract_features(np.stack(clips))


def test_folder_features_resume_and_bad_videos(committed, folder, tmp_path):
    out, err = str(tmp_path / "features"), io.StringIO()
    assert extract_run(str(folder), out, committed, window="16", stride="8", err=err) == 1
    assert "bad.mp4" in err.getvalue() and "2 written, 0 already done, 1 failed" in err.getvalue()
    failed = open(os.path.join(out, FAILED_FILENAME)).read().splitlines()
    assert len(failed) == 1 and failed[0].startswith(str(folder / "sub" / "bad.mp4"))
    model, meta = load_predictor(committed).keras_model(), load_predictor(committed).metadata
    for rel, frames in (("a.mp4", 40), (os.path.join("sub", "b.webm"), 12)):
        features = np.load(os.path.join(out, rel + ".npy"))
        record = json.load(open(os.path.join(out, rel + ".json")))
        assert record["num_frames"] == frames and features.dtype == np.float32
        assert features.shape == (len(record["windows"]), 512) == tuple(record["shape"])
        expected = reference_features(str(folder / rel), model, meta, record["windows"])
        np.testing.assert_allclose(features, expected, atol=1e-4 * np.abs(expected).max())
    assert [w for w in json.load(open(os.path.join(out, "a.mp4.json")))["windows"]] == [
        [0, 16],
        [8, 24],
        [16, 32],
        [24, 40],
    ]
    # a rerun skips what is done; a removed output is written again
    stamp = os.path.getmtime(os.path.join(out, "a.mp4.npy"))
    os.remove(os.path.join(out, "sub", "b.webm.npy"))
    err = io.StringIO()
    assert extract_run(str(folder), out, committed, window="16", stride="8", err=err) == 1
    assert "1 written, 1 already done, 1 failed" in err.getvalue()
    assert os.path.getmtime(os.path.join(out, "a.mp4.npy")) == stamp
    assert not [f for _, _, files in os.walk(out) for f in files if f.startswith(".tmp")]


def test_annotation_file_and_features_signature(folder, tmp_path):
    """A SavedModel with the `features` signature gives the Keras backbone's features."""
    import tfvideo
    from tfvideo.export import export_saved_model

    model = tfvideo.models.create("tsm_tiny", num_classes=3, num_frames=4, input_size=32)
    saved = export_saved_model(model, str(tmp_path / "sm"), warmup_requests=False)
    extractor = feature_extractor(saved)
    assert extractor.source == "features signature"
    listing = tmp_path / "list.txt"
    listing.write_text(f"# videos\n{folder / 'a.mp4'} 1\nsub/b.webm 0\n")
    out = str(tmp_path / "features")
    assert (
        extract_run(
            str(listing),
            out,
            saved,
            root=str(folder),
            window="0.4s",
            stride="10",
            err=io.StringIO(),
        )
        == 0
    )
    features = np.load(os.path.join(out, "a.mp4.npy"))
    windows = json.load(open(os.path.join(out, "a.mp4.json")))["windows"]
    assert windows == [[0, 10], [10, 20], [20, 30], [30, 40]]
    meta = extractor.metadata
    expected = reference_features(str(folder / "a.mp4"), model, meta, windows)
    np.testing.assert_allclose(features, expected, atol=1e-4 * np.abs(expected).max())
    assert np.load(os.path.join(out, "sub", "b.webm.npy")).shape == (2, 512)  # [0, 10], [2, 12]


def test_real_containers(committed, shared_videos, tmp_path):
    videos = tmp_path / "videos"
    shutil.copytree(shared_videos, videos)
    out, err = str(tmp_path / "features"), io.StringIO()
    assert extract_run(str(videos), out, committed, window="8", stride="8", err=err) == 1
    names = sorted(n for n in os.listdir(videos) if not n.endswith(".md"))
    done = sorted(n[: -len(".npy")] for n in os.listdir(out) if n.endswith(".npy"))
    assert done == [n for n in names if n != "decord_corrupted.mp4"]
    assert [line for line in err.getvalue().splitlines() if line.startswith("error:")] == [
        line for line in err.getvalue().splitlines() if "decord_corrupted.mp4" in line
    ]
    features, record = video_features(
        str(videos / "mmaction2_test.avi"), feature_extractor(committed), 32, 16, progress=False
    )
    assert features.shape == (len(record["windows"]), 512) and record["num_frames"] == 164
