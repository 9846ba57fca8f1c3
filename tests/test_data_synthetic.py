"""The synthetic Something-Something-like dataset: twins, determinism, SSv2 layout, cache."""

import json
import os

import numpy as np
import pytest

from tfvideo.data import synthetic
from tfvideo.data.decode import decode_video

SMALL = dict(
    num_classes=4,
    videos_per_class_train=2,
    videos_per_class_val=1,
    num_frames=8,
    size=(48, 64),
    fps=8,
    seed=3,
)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    return synthetic.make_dataset(str(root), **SMALL)


def _all_files(root):
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            out[os.path.relpath(path, root)] = path
    return out


def _motion_signature(centroids):
    """(sign of x motion, sign of y motion, sign of the turn around the mean position)."""
    d = centroids[-1] - centroids[0]
    rel = centroids - centroids.mean(axis=0)
    turn = np.sum(rel[:-1, 0] * rel[1:, 1] - rel[:-1, 1] * rel[1:, 0])  # > 0: clockwise (y down)
    sig = lambda v, eps: 0 if abs(v) < eps else int(np.sign(v))  # noqa: E731
    return sig(d[0], 4.0), sig(d[1], 4.0), sig(turn, 50.0)


@pytest.mark.parametrize("pair", range(synthetic.MAX_CLASSES // 2))
def test_twin_is_exact_time_reverse(pair):
    base, base_centroids, base_shape = synthetic.render_clip(2 * pair, 11, 12, (48, 64))
    twin, twin_centroids, twin_shape = synthetic.render_clip(2 * pair + 1, 11, 12, (48, 64))
    np.testing.assert_array_equal(twin, base[::-1])
    np.testing.assert_allclose(twin_centroids, base_centroids[::-1])
    assert base_shape == twin_shape
    # The clip really moves: an order-less model sees the same multiset of frames, but the
    # sequence is not a palindrome.
    assert np.abs(base.astype(int) - base[::-1]).mean() > 1.0


def test_motion_directions_match_class_names():
    rng_seeds = range(5)
    for seed in rng_seeds:
        _, c, _ = synthetic.render_clip(0, seed, 16, 96)  # left to right
        assert np.all(np.diff(c[:, 0]) > 0)
        _, c, _ = synthetic.render_clip(2, seed, 16, 96)  # up: y decreases (rows grow down)
        assert np.all(np.diff(c[:, 1]) < 0)
        _, c, _ = synthetic.render_clip(3, seed, 16, 96)  # down
        assert np.all(np.diff(c[:, 1]) > 0)
        _, c, _ = synthetic.render_clip(10, seed, 16, 96)  # orbit clockwise on screen
        assert _motion_signature(c)[2] == 1
        _, c, _ = synthetic.render_clip(11, seed, 16, 96)
        assert _motion_signature(c)[2] == -1


def test_flip_map_matches_mirrored_motion():
    flip = synthetic.label_flip_map(12)
    assert flip == [1, 0, 2, 3, 4, 5, 7, 6, 8, 9, 11, 10]
    names = synthetic.class_names(12)
    for c, m in enumerate(flip):
        swapped = (
            names[c]
            .replace("left to right", "@")
            .replace("right to left", "left to right")
            .replace("@", "right to left")
            .replace("anticlockwise", "@")
            .replace("clockwise", "anticlockwise")
            .replace("@", "clockwise")
        )
        assert names[m] == swapped
    width = 64
    for c in (0, 1, 2, 3, 10, 11):  # classes whose label shows in the centroid path
        _, centroids, _ = synthetic.render_clip(c, 5, 12, (48, width))
        mirrored = centroids * [-1, 1] + [width, 0]
        _, reference, _ = synthetic.render_clip(flip[c], 5, 12, (48, width))
        component = {0: 0, 1: 1, 5: 2}[c // 2]  # x motion, y motion, turn
        assert _motion_signature(mirrored)[component] == _motion_signature(reference)[component]
        assert _motion_signature(reference)[component] != 0


def test_ssv2_layout_goes_through_reader(small):
    root = small["root"]
    with open(small["labels_json"]) as f:
        labels = json.load(f)
    assert labels == {name: str(i) for i, name in enumerate(synthetic.class_names(4))}
    assert labels["Moving something from left to right"] == "0"
    with open(small["train_json"]) as f:
        train_items = json.load(f)
    assert len(train_items) == 8
    for item in train_items:
        assert set(item) == {"id", "label", "template", "placeholders"}
        assert "[something]" in item["template"]
        assert len(item["placeholders"]) == item["template"].count("[something]")
    train = synthetic.load(root, "train")
    val = synthetic.load(root, "validation")
    assert len(train) == 8 and len(val) == 4
    assert train.class_names == synthetic.class_names(4)
    templates = synthetic.class_templates(4)
    for item, (path, label) in zip(train_items, train.samples):
        assert templates[label] == item["template"]
        assert os.path.basename(path) == f"{item['id']}.mp4" and os.path.isfile(path)
    assert sorted(train.labels) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert train.flip_table() == [1, 0, 2, 3] == synthetic.read_flip_map(root)
    assert not set(train.paths) & set(val.paths)


def test_files_decode_and_hold_the_rendered_clip(small):
    train = synthetic.load(small["root"], "train")
    path, label = train.samples[0]
    frames = decode_video(path)
    assert frames.shape == (8, 48, 64, 3) and frames.dtype == np.uint8
    # Video 0 of class `label` in the training split is rendered from this key.
    rng = np.random.default_rng([SMALL["seed"], 0, label, 0])
    rendered, _, _ = synthetic.render_clip(label, rng, 8, (48, 64))
    error = np.abs(frames.astype(np.float32) - rendered).mean()
    assert error < 12.0, error  # H.264 + 4:2:0 chroma on a noise texture
    other = np.abs(frames.astype(np.float32) - rendered[::-1]).mean()
    assert other > error


def test_twin_files_decode_to_reversed_frames(tmp_path):
    clip, _, _ = synthetic.render_clip(0, 4, 10, 48)
    twin, _, _ = synthetic.render_clip(1, 4, 10, 48)
    synthetic.write_mp4(tmp_path / "a.mp4", clip, fps=10)
    synthetic.write_mp4(tmp_path / "b.mp4", twin, fps=10)
    a = decode_video(str(tmp_path / "a.mp4")).astype(np.float32)
    b = decode_video(str(tmp_path / "b.mp4")).astype(np.float32)
    assert np.abs(b - a[::-1]).mean() < 6.0
    assert np.abs(b - a).mean() > 2 * np.abs(b - a[::-1]).mean()


def test_deterministic_from_seed(tmp_path, small):
    again = synthetic.make_dataset(str(tmp_path / "again"), **SMALL)
    assert again["content_hash"] == small["content_hash"]
    first, second = _all_files(small["root"]), _all_files(again["root"])
    assert sorted(first) == sorted(second)
    for rel in first:
        if rel == synthetic.MANIFEST_FILE:
            continue
        with open(first[rel], "rb") as f, open(second[rel], "rb") as g:
            assert f.read() == g.read(), rel
    other = synthetic.make_dataset(str(tmp_path / "other"), **dict(SMALL, seed=4))
    assert other["content_hash"] != small["content_hash"]


def test_cache_hit_does_not_rewrite(tmp_path):
    params = dict(SMALL, num_classes=2, videos_per_class_train=1)
    root = str(tmp_path / "cached")
    info = synthetic.make_dataset(root, **params)
    stamps = {rel: os.stat(p).st_mtime_ns for rel, p in _all_files(root).items()}
    again = synthetic.make_dataset(root, **params)
    assert again == info
    assert {rel: os.stat(p).st_mtime_ns for rel, p in _all_files(root).items()} == stamps
    assert synthetic.is_complete(root, verify_content=True)
    # A missing file or different parameters invalidate the cache.
    os.remove(os.path.join(info["video_root"], "1.mp4"))
    assert not synthetic.is_complete(root)
    rebuilt = synthetic.make_dataset(root, **params)
    assert rebuilt["content_hash"] == info["content_hash"]
    changed = synthetic.make_dataset(root, **dict(params, num_frames=6))
    assert changed["params_hash"] != info["params_hash"]
    assert decode_video(os.path.join(changed["video_root"], "1.mp4")).shape[0] == 6


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_classes"):
        synthetic.make_dataset(str(tmp_path), num_classes=5)
    with pytest.raises(ValueError, match="num_classes"):
        synthetic.make_dataset(str(tmp_path), num_classes=14)
    with pytest.raises(ValueError, match="size"):
        synthetic.make_dataset(str(tmp_path), size=(33, 64))
    with pytest.raises(ValueError, match="split"):
        synthetic.load(str(tmp_path), "test")
