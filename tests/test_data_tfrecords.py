"""SequenceExample TFRecords: exact round trip, index sampling in TF ops, shards, the script."""

import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image  # a matplotlib dependency: a JPEG decoder that is not TensorFlow's

from tfvideo.data import sampling, synthetic, tfrecords
from tfvideo.data.annotations import VideoDataset
from tfvideo.data.decode import decode_video

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GREY_STEP = 6  # frame i of the index-coded records is a uniform image of value 6 * i + 3


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    synthetic.make_dataset(
        str(root),
        num_classes=4,
        videos_per_class_train=2,
        videos_per_class_val=0,
        num_frames=6,
        size=(32, 48),
        fps=6,
        seed=1,
    )
    return str(root)


def _records(pattern):
    out = []
    for path in sorted(tf.io.gfile.glob(pattern)):
        for serialized in tf.data.TFRecordDataset(path):
            out.append(tfrecords.parse_sequence_example(serialized))
    return out


@pytest.fixture(scope="module")
def index_coded(tmp_path_factory):
    """Records whose frame i has brightness 6 * i + 3, lengths 5, 16 and 37."""
    folder = str(tmp_path_factory.mktemp("coded"))
    lengths = (5, 16, 37)
    with tf.io.TFRecordWriter(os.path.join(folder, "coded-00000-of-00001.tfrecord")) as w:
        for label, n in enumerate(lengths):
            jpegs = [
                tf.io.encode_jpeg(
                    tf.fill([16, 24, 3], tf.constant(GREY_STEP * i + 3, tf.uint8))
                ).numpy()
                for i in range(n)
            ]
            w.write(tfrecords.make_sequence_example(jpegs, label, f"c{label}").SerializeToString())
    return os.path.join(folder, "coded-*"), lengths


def _frame_indices(clip):
    return np.round((np.asarray(clip, np.float32).mean(axis=(-3, -2, -1)) - 3) / GREY_STEP).astype(
        int
    )


# JPEG Annex K example tables (natural order) and libjpeg's quality scaling: what any IJG-based
# encoder, TensorFlow's included, writes at a given quality.
ANNEX_K_LUMINANCE = [
    16,
    11,
    10,
    16,
    24,
    40,
    51,
    61,
    12,
    12,
    14,
    19,
    26,
    58,
    60,
    55,
    14,
    13,
    16,
    24,
    40,
    57,
    69,
    56,
    14,
    17,
    22,
    29,
    51,
    87,
    80,
    62,
    18,
    22,
    37,
    56,
    68,
    109,
    103,
    77,
    24,
    35,
    55,
    64,
    81,
    104,
    113,
    92,
    49,
    64,
    78,
    87,
    103,
    121,
    120,
    101,
    72,
    92,
    95,
    98,
    112,
    100,
    103,
    99,
]
ANNEX_K_CHROMINANCE = (
    [17, 18, 24, 47]
    + [99] * 4
    + [18, 21, 26, 66]
    + [99] * 4
    + [24, 26, 56]
    + [99] * 5
    + [47, 66]
    + [99] * 6
    + [99] * 32
)


def _ijg_table(base, quality):
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(max((b * scale + 50) // 100, 1), 255) for b in base]


def _pil_rgb(jpeg):
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))


def _psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def test_ijg_tables():
    assert _ijg_table(ANNEX_K_LUMINANCE, 50) == ANNEX_K_LUMINANCE
    assert _ijg_table(ANNEX_K_LUMINANCE, 85)[:8] == [5, 3, 3, 5, 7, 12, 15, 18]
    assert _ijg_table(ANNEX_K_CHROMINANCE, 100) == [1] * 64


def test_round_trip_is_exact(small, tmp_path):
    dataset = synthetic.load(small, "train")
    out = str(tmp_path / "records")
    result = tfrecords.write_tfrecords(
        dataset, out, num_shards=3, prefix="train", jpeg_quality=85, progress=False
    )
    assert result["num_written"] == 8 and result["num_skipped"] == 0
    assert [os.path.basename(p) for p in result["shards"]] == [
        f"train-{i:05d}-of-00003.tfrecord" for i in range(3)
    ]
    counts = [sum(1 for _ in tf.data.TFRecordDataset(p)) for p in result["shards"]]
    assert counts == [3, 3, 2]
    names, flip_table = tfrecords.read_classes(out)
    assert names == dataset.class_names and flip_table == dataset.flip_table() == [1, 0, 2, 3]

    labels = dict(dataset.samples)
    stored_by_path = {}
    records = _records(os.path.join(out, "train-*"))
    assert sorted(r["clip/data_path"].numpy().decode() for r in records) == sorted(labels)
    for record in records:
        path = record["clip/data_path"].numpy().decode()
        label = int(record["clip/label/index"])
        assert label == labels[path]
        assert record["clip/label/text"].numpy().decode() == dataset.class_names[label]
        assert record["video/id"].numpy().decode() == os.path.basename(path)[:-4]
        frames = decode_video(path)
        stored = record["image/encoded"].numpy()
        assert len(stored) == int(record["clip/num_frames"]) == len(frames) == 6
        for frame, jpeg in zip(frames, stored):
            expected = tf.io.encode_jpeg(frame, quality=85).numpy()
            assert jpeg == expected
            np.testing.assert_array_equal(
                tf.io.decode_jpeg(jpeg).numpy(), tf.io.decode_jpeg(expected).numpy()
            )
        # Independently of TensorFlow: each stored frame is a JPEG that PIL decodes, written
        # with the quality-85 tables, whose picture is its own source frame within JPEG loss
        # (and closer to it than to any other frame of the clip).
        stored_by_path[path] = stored
        for i, jpeg in enumerate(stored):
            assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
            image = Image.open(io.BytesIO(jpeg))
            assert image.format == "JPEG" and image.size == frames.shape[2:0:-1]
            assert image.quantization == {
                0: _ijg_table(ANNEX_K_LUMINANCE, 85),
                1: _ijg_table(ANNEX_K_CHROMINANCE, 85),
            }
            decoded = _pil_rgb(jpeg)
            own = _psnr(decoded, frames[i])
            others = [_psnr(decoded, f) for j, f in enumerate(frames) if j != i]
            assert own > 28 and own > max(others), (path, i, own, max(others))
    # The reader with every frame and no crop gives back exactly the decoded JPEGs.
    read = tfrecords.tfrecord_dataset(
        os.path.join(out, "train-*"), sampling="all", crop_size=None, return_metadata=True
    )
    seen = 0
    for clip, label, meta in read:
        path = meta["data_path"].numpy().decode()
        expected = [
            tf.io.decode_jpeg(tf.io.encode_jpeg(f, quality=85)).numpy() for f in decode_video(path)
        ]
        np.testing.assert_array_equal(clip.numpy(), np.stack(expected))
        # ... which another decoder reproduces up to its rounding (IDCT, chroma upsampling;
        # neighbouring frames differ from each other by >= 5 levels on average)
        pil = np.stack([_pil_rgb(jpeg) for jpeg in stored_by_path[path]]).astype(int)
        difference = np.abs(clip.numpy().astype(int) - pil)
        assert difference.mean() < 2 and difference.max() <= 8, (
            difference.mean(),
            difference.max(),
        )
        assert int(label) == labels[path]
        seen += 1
    assert seen == 8


def test_eval_sampling_matches_numpy_samplers(index_coded):
    pattern, lengths = index_coded
    for kind, kwargs, reference in (
        ("segment", {}, lambda n, c, k: sampling.segment_indices(n, 8, False, None, c, k)),
        (
            sampling.DenseSampler(8, 2),
            {},  # a data-core sampler object works too
            lambda n, c, k: sampling.dense_indices(n, 8, 2, False, None, c, k),
        ),
    ):
        ds = tfrecords.tfrecord_dataset(
            pattern, num_frames=8, sampling=kind, crop_size=None, **kwargs
        )
        for (clip, _), n in zip(ds, lengths):
            np.testing.assert_array_equal(_frame_indices(clip), reference(n, 0, 1))
        ds = tfrecords.tfrecord_dataset(
            pattern,
            num_frames=8,
            sampling=kind,
            crop_size=8,
            short_side=None,
            num_clips=2,
            num_crops=3,
            **kwargs,
        )
        views = list(ds)
        assert len(views) == 6 * len(lengths)
        for view in views:
            n = lengths[int(view["video_index"])]
            clip_index = int(view["view_index"]) // 3
            assert view["clip"].shape == (8, 8, 8, 3)
            np.testing.assert_array_equal(_frame_indices(view["clip"]), reference(n, clip_index, 2))


def test_training_sampling_stays_in_segments(index_coded):
    pattern, lengths = index_coded
    ds = tfrecords.tfrecord_dataset(
        pattern,
        num_frames=4,
        sampling="segments",
        training=True,
        crop_size=None,
        shuffle_buffer=0,
        seed=7,
    )
    draws = {n: set() for n in lengths}
    for _ in range(6):
        for clip, label in ds:
            n = lengths[int(label)]
            idx = _frame_indices(clip)
            if n >= 4:
                lower = np.floor(np.arange(4) * n / 4)
                upper = np.floor((np.arange(4) + 1) * n / 4) - 1
                assert np.all(idx >= lower) and np.all(idx <= upper), (n, idx)
            draws[n].add(tuple(idx))
    assert len(draws[37]) > 1  # random within the segments
    ds = tfrecords.tfrecord_dataset(
        pattern,
        num_frames=5,
        sampling="dense",
        interval=3,
        training=True,
        crop_size=None,
        shuffle_buffer=0,
        seed=7,
    )
    for clip, label in ds:
        n = lengths[int(label)]
        idx = _frame_indices(clip)
        start = idx[0]
        np.testing.assert_array_equal(idx, (start + 3 * np.arange(5)) % n)
        assert 0 <= start <= max(n - 13, 0)


def test_training_flip_uses_label_flip_map(tmp_path):
    """Left half dark, right half bright: a flipped clip must carry the flipped label."""
    frame = np.zeros([16, 16, 3], np.uint8)
    frame[:, 8:] = 240
    jpeg = tf.io.encode_jpeg(frame).numpy()
    path = str(tmp_path / "flip-00000-of-00001.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        for _ in range(24):
            w.write(tfrecords.make_sequence_example([jpeg] * 4, 0, "left").SerializeToString())
    tfrecords.write_classes(str(tmp_path), ["left to right", "right to left", "up"], {0: 1, 1: 0})
    ds = tfrecords.tfrecord_dataset(
        path,
        num_frames=2,
        training=True,
        crop_size=16,
        short_side=16,
        crop="center",
        batch_size=8,
        seed=0,
    )
    labels, flipped = [], []
    for clips, batch_labels in ds:
        clips = clips.numpy().astype(int)
        flipped += list(
            clips[:, :, :, :8].mean(axis=(1, 2, 3, 4)) > clips[:, :, :, 8:].mean(axis=(1, 2, 3, 4))
        )
        labels += list(batch_labels.numpy())
    assert len(labels) == 24 and 0 < sum(flipped) < 24
    assert [int(f) for f in flipped] == labels


def test_training_output_and_reproducibility(small, tmp_path):
    out = str(tmp_path / "records")
    tfrecords.write_tfrecords(
        synthetic.load(small, "train"), out, num_shards=2, resize_short_side=40, progress=False
    )
    kwargs = dict(num_frames=4, training=True, batch_size=4, crop_size=24, short_side=40, seed=5)
    first = [
        (c.numpy(), l.numpy()) for c, l in tfrecords.tfrecord_dataset(out + "/train-*", **kwargs)
    ]
    again = [
        (c.numpy(), l.numpy()) for c, l in tfrecords.tfrecord_dataset(out + "/train-*", **kwargs)
    ]
    assert len(first) == 2
    assert first[0][0].shape == (4, 4, 24, 24, 3) and first[0][0].dtype == np.uint8
    for (c1, l1), (c2, l2) in zip(first, again):
        np.testing.assert_array_equal(c1, c2)
        np.testing.assert_array_equal(l1, l2)
    with pytest.raises(ValueError, match="file_pattern"):
        tfrecords.tfrecord_dataset(out + "/nothing-*")
    with pytest.raises(ValueError, match="sampling"):
        tfrecords.tfrecord_dataset(out + "/train-*", sampling="random")


def test_bad_video_is_skipped_and_counted(small, tmp_path):
    dataset = synthetic.load(small, "train")
    empty = str(tmp_path / "empty.mp4")
    open(empty, "wb").close()
    bad = VideoDataset(dataset.samples[:2] + [(empty, 1)], dataset.class_names)
    result = tfrecords.write_tfrecords(bad, str(tmp_path / "r"), num_shards=1, progress=False)
    assert result["num_written"] == 2 and result["num_skipped"] == 1
    assert result["skipped"][0][0] == empty
    with pytest.raises(Exception, match="empty.mp4"):
        tfrecords.write_tfrecords(
            bad, str(tmp_path / "r2"), num_shards=1, on_error="raise", progress=False, shuffle=False
        )


def test_script_end_to_end(small, tmp_path):
    root = str(tmp_path / "copy")
    shutil.copytree(small, root)
    # Break one video: the script must skip and report it.
    train = json.load(open(os.path.join(root, synthetic.SPLIT_FILES["train"])))
    open(os.path.join(root, "videos", f"{train[0]['id']}.mp4"), "wb").close()
    out = str(tmp_path / "records")
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "scripts", "build_tfrecords.py"),
            "--dataset=ssv2",
            f"--labels={os.path.join(root, synthetic.LABELS_FILE)}",
            f"--train_annotations={os.path.join(root, synthetic.SPLIT_FILES['train'])}",
            f"--video_root={os.path.join(root, 'videos')}",
            "--video_extension=.mp4",
            f"--output_dir={out}",
            "--num_shards=2",
            "--resize_short_side=24",
            "--noprogress",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipped 1 bad video" in proc.stdout
    records = _records(os.path.join(out, "train-*"))
    assert len(records) == 7
    assert all(int(r["image/height"]) == 24 and int(r["image/width"]) == 36 for r in records)
    names, flip_table = tfrecords.read_classes(out)
    assert names == synthetic.class_names(4) and flip_table == [1, 0, 2, 3]
