"""Sampling, annotations, augmentation and tf.data builder tests."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from data_fixtures import (  # noqa: F401  (fixtures)
    class_video_root,
    frame_index_of,
    video_dir,
    write_video,
)

from tfvideo import data as D


# Sampling ------------------------------------------------------------------
@pytest.mark.parametrize("n, k", [(30, 8), (8, 8), (100, 7), (5, 8)])
def test_segment_sampling_one_frame_per_segment(n, k):
    rng = np.random.default_rng(0)
    for training in (True, False):
        for _ in range(20 if training else 1):
            idx = D.segment_indices(n, k, training=training, rng=rng)
            assert idx.shape == (k,) and idx.dtype == np.int64
            assert np.all(np.diff(idx) >= 0)
            assert idx.min() >= 0 and idx.max() < n
            if n >= k:  # frame i lies in segment i
                lo = np.floor(np.arange(k) * n / k)
                hi = np.floor((np.arange(k) + 1) * n / k)
                assert np.all((idx >= lo) & (idx < hi))
    # evaluation: the centre of each segment
    np.testing.assert_array_equal(D.segment_indices(80, 8), np.arange(8) * 10 + 5)
    # random offsets vary in training, evaluation is fixed
    draws = {tuple(D.segment_indices(300, 8, True, rng)) for _ in range(10)}
    assert len(draws) > 1


def test_segment_multi_clip_positions():
    # clip c of n takes fraction (c + 0.5) / n of each 10-frame segment
    clips = D.SegmentSampler(4).multi_clip(40, 2)
    np.testing.assert_array_equal(clips, [[2, 12, 22, 32], [7, 17, 27, 37]])


def test_dense_sampling_interval_loop_and_clips():
    rng = np.random.default_rng(1)
    starts = set()
    for _ in range(50):
        idx = D.dense_indices(100, 8, 4, training=True, rng=rng)
        assert np.all(np.diff(idx) == 4)
        assert 0 <= idx[0] <= 100 - 29
        starts.add(int(idx[0]))
    assert len(starts) > 10
    # evaluation: evenly spaced starts over [0, max_start]
    clips = D.DenseSampler(8, 4).multi_clip(100, 3)
    np.testing.assert_array_equal(clips[:, 0], np.floor(71 * (np.arange(3) + 0.5) / 3 + 0.5))
    assert np.all(np.diff(clips, axis=1) == 4)
    # a video shorter than the clip loops: indices modulo num_frames
    np.testing.assert_array_equal(D.dense_indices(5, 8, 1), [0, 1, 2, 3, 4, 0, 1, 2])
    # in training too: a clip spanning more than the video (13 > 10 frames) can only start
    # at 0, so every random draw gives the same looped indices
    for _ in range(5):
        np.testing.assert_array_equal(D.dense_indices(10, 4, 4, True, rng), [0, 4, 8, 2])
    np.testing.assert_array_equal(D.dense_indices(10, 4, 4), [0, 4, 8, 2])


def test_all_frames_and_sampler_configs():
    np.testing.assert_array_equal(D.all_indices(5), np.arange(5))
    np.testing.assert_array_equal(D.all_indices(10, 4), [1, 3, 6, 8])
    for s in (D.SegmentSampler(8), D.DenseSampler(16, 2), D.AllFramesSampler(32)):
        assert D.get_sampler(s.get_config()) == s
    assert D.get_sampler("segments", num_frames=8) == D.SegmentSampler(8)
    assert D.get_sampler({"kind": "dense", "num_frames": 16, "interval": 2}) == D.DenseSampler(
        16, 2
    )
    with pytest.raises(ValueError, match="kind"):
        D.get_sampler("bogus")
    with pytest.raises(ValueError, match="clip_index"):
        D.segment_indices(10, 2, clip_index=2, num_clips=2)


# Annotations ---------------------------------------------------------------
def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()


def test_kinetics_csv(tmp_path):
    csv = tmp_path / "train.csv"
    csv.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "playing piano,abc,12,22,train\n"
        "abseiling,xyz,0,10,train\n"
        "abseiling,qqq,5,15,val\n"
    )
    root = tmp_path / "videos"
    _touch(root / "playing piano" / "abc_000012_000022.mp4")  # label folder
    _touch(root / "xyz_000000_000010.mp4")  # flat
    ds = D.read_kinetics_csv(csv, root, split="train")
    assert ds.class_names == ["abseiling", "playing piano"]
    assert ds.samples == [
        (str(root / "playing piano" / "abc_000012_000022.mp4"), 1),
        (str(root / "xyz_000000_000010.mp4"), 0),
    ]
    # a label not in the given class list fails with file, line and label
    with pytest.raises(D.AnnotationError) as err:
        D.read_kinetics_csv(csv, root, class_names=["abseiling"])
    assert "line 2" in str(err.value) and "playing piano" in str(err.value)
    assert err.value.line == 2 and err.value.label == "playing piano"
    with pytest.raises(D.AnnotationError, match="not found"):
        D.read_kinetics_csv(tmp_path / "nope.csv", root)
    dropped = D.read_kinetics_csv(csv, root, missing="drop")
    assert len(dropped) == 2


def test_path_label_list(tmp_path):
    lst = tmp_path / "list.txt"
    lst.write_text("a/x y.mp4 1\nb.mp4 0\n\n")
    ds = D.read_path_label_list(lst, root=str(tmp_path))
    assert ds.samples == [(str(tmp_path / "a/x y.mp4"), 1), (str(tmp_path / "b.mp4"), 0)]
    assert ds.class_names == ["0", "1"]
    named = tmp_path / "named.txt"
    named.write_text("a.mp4 cat\nb.mp4 cow\n")
    with pytest.raises(D.AnnotationError) as err:
        D.read_path_label_list(named, class_names=["cat", "dog"])
    assert "line 2" in str(err.value) and "'cow'" in str(err.value)


def test_ssv2(tmp_path):
    names = {f"class {i}": str(i) for i in range(174)}
    names["Pushing something from left to right"] = "86"
    names["Pushing something from right to left"] = "87"
    del names["class 86"], names["class 87"]
    (tmp_path / "labels.json").write_text(json.dumps(names))
    items = [
        {
            "id": "11",
            "label": "pushing a cup from left to right",
            "template": "Pushing [something] from left to right",
            "placeholders": ["a cup"],
        },
        {"id": "12", "label": "x", "template": "class [5]", "placeholders": []},
    ]
    (tmp_path / "train.json").write_text(json.dumps(items))
    ds = D.read_ssv2(tmp_path / "labels.json", tmp_path / "train.json", "/v")
    assert ds.samples == [("/v/11.webm", 86), ("/v/12.webm", 5)]
    assert ds.label_flip_map == {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}
    assert ds.flip_table()[86] == 87 and ds.flip_table()[5] == 5
    items.append({"id": "13", "template": "Nonexistent [something]"})
    (tmp_path / "bad.json").write_text(json.dumps(items))
    with pytest.raises(D.AnnotationError, match="line 3.*Nonexistent"):
        D.read_ssv2(tmp_path / "labels.json", tmp_path / "bad.json", "/v")


def test_ucf101_and_hmdb51(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n")
    (tmp_path / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nArchery/v_Archery_g08_c01.avi 2\n"
    )
    (tmp_path / "testlist01.txt").write_text("Archery/v_Archery_g01_c01.avi\n")
    train = D.read_ucf101(tmp_path, "/u", 1, "train")
    test = D.read_ucf101(tmp_path, "/u", 1, "test")
    assert train.class_names == ["ApplyEyeMakeup", "Archery"]
    assert train.labels == [0, 1]
    assert test.samples == [("/u/Archery/v_Archery_g01_c01.avi", 1)]
    with pytest.raises(D.AnnotationError, match="testlist02"):
        D.read_ucf101(tmp_path, "/u", 2, "test")

    h = tmp_path / "hmdb"
    h.mkdir()
    (h / "wave_test_split1.txt").write_text("w1.avi 1\nw2.avi 2\nw3.avi 0\n")
    (h / "clap_test_split1.txt").write_text("c1.avi 2\nc2.avi 1\n")
    (h / "clap_test_split2.txt").write_text("c1.avi 1\n")
    tr = D.read_hmdb51(h, "/h", 1, "train")
    te = D.read_hmdb51(h, "/h", 1, "test")
    assert tr.class_names == ["clap", "wave"]
    assert tr.samples == [("/h/clap/c2.avi", 0), ("/h/wave/w1.avi", 1)]
    assert te.samples == [("/h/clap/c1.avi", 0), ("/h/wave/w2.avi", 1)]


def test_folder_per_class_and_json_round_trip(class_video_root, tmp_path):
    ds = D.read_folder_per_class(class_video_root)
    assert ds.class_names == ["class0", "class1", "class2"]
    assert len(ds) == 7 and sorted(set(ds.labels)) == [0, 1, 2]
    ds.label_flip_map = {0: 2, 2: 0}
    ds.save(tmp_path / "ds.json")
    back = D.VideoDataset.load(tmp_path / "ds.json")
    assert back == ds
    ds.save(tmp_path / "classes.json", include_samples=False)
    classes = D.VideoDataset.load(tmp_path / "classes.json")
    assert classes.class_names == ds.class_names and len(classes) == 0
    assert D.flip_map_from_class_names(
        ["Pushing something from left to right", "jump", "Pushing something from right to left"]
    ) == {0: 2, 2: 0}


# Augmentation --------------------------------------------------------------
def _ramp_clip(t=4, h=48, w=64):
    """Frames = a random base image + 10 * t: a geometric op applied
    consistently keeps out[t] - out[0] == 10 * t everywhere."""
    base = np.random.default_rng(0).uniform(0, 200, (1, h, w, 3))
    return tf.constant(base + 10.0 * np.arange(t).reshape(-1, 1, 1, 1), tf.float32)


@pytest.mark.parametrize(
    "op",
    [
        lambda c, s: D.multi_scale_crop(c, 32, seed=s),
        lambda c, s: D.multi_scale_crop(c, 32, fix_crop=False, seed=s),
        lambda c, s: D.random_resized_crop(c, 32, seed=s),
        lambda c, s: D.random_crop(c, 32, seed=s),
        lambda c, s: D.random_flip(c, prob=0.5, seed=s),
        lambda c, s: D.train_transform(c, 0, 32, 40, crop="jitter", jitter=(36, 50), seed=s)[0],
    ],
)
def test_augmentation_is_clip_consistent(op):
    clip = _ramp_clip()
    for k in range(4):
        out = op(clip, tf.constant([k, 7])).numpy()
        diff = out - out[:1]
        expected = 10.0 * np.arange(4).reshape(-1, 1, 1, 1)
        np.testing.assert_allclose(diff, np.broadcast_to(expected, diff.shape), atol=1e-3)


def test_crop_positions_match_numpy():
    clip = _ramp_clip(2, 40, 60)
    np.testing.assert_array_equal(D.center_crop(clip, 32), clip.numpy()[:, 4:36, 14:46])
    three = D.three_crop(clip, 32).numpy()
    assert three.shape == (3, 2, 32, 32, 3)
    for crop, left in zip(three, (0, 14, 28)):
        np.testing.assert_array_equal(crop, clip.numpy()[:, 4:36, left : left + 32])
    offsets = D.augment.fixed_crop_offsets(40, 60, 24, 20).numpy()
    hs, ws = (40 - 24) // 4, (60 - 20) // 4
    assert offsets.shape == (13, 2)
    assert [tuple(o) for o in offsets[:5]] == [
        (0, 0),
        (0, 4 * ws),
        (4 * hs, 0),
        (4 * hs, 4 * ws),
        (2 * hs, 2 * ws),
    ]
    short = D.resize_short_side(clip, 20)
    assert short.shape == (2, 20, 30, 3)


def test_flip_maps_ssv2_labels():
    table = list(range(174))
    for a, b in D.SSV2_FLIP_PAIRS:
        table[a], table[b] = b, a
    clip = _ramp_clip(2)
    flipped, label = D.random_flip(clip, tf.constant(86), table, prob=1.0)
    assert int(label) == 87
    np.testing.assert_array_equal(flipped, clip.numpy()[:, :, ::-1])
    same, label = D.random_flip(clip, tf.constant(86), table, prob=0.0)
    assert int(label) == 86
    np.testing.assert_array_equal(same, clip)
    _, label = D.random_flip(clip, tf.constant(5), table, prob=1.0)
    assert int(label) == 5


# tf.data builders ----------------------------------------------------------
def _dataset(video_dir, names, flip=None):
    return D.VideoDataset(
        [(str(video_dir / n), i % 3) for i, n in enumerate(names)], ["a", "b", "c"], flip
    )


GOOD = ["h264.mp4", "mpeg4.avi", "h264.mkv", "vp8.webm", "h264.mov", "anim.gif"]


def test_train_dataset_shapes_and_skip_counting(video_dir):
    names = GOOD + ["empty.mp4", "text.mp4"]
    log = D.ErrorLog()
    ds = D.build_train_dataset(
        _dataset(video_dir, names),
        D.SegmentSampler(4),
        batch_size=2,
        crop_size=32,
        short_side=40,
        error_log=log,
        seed=3,
    )
    assert ds.error_log is log
    batches = list(ds)
    assert len(batches) == 3  # 6 good videos, 2 skipped
    for clips, labels in batches:
        assert clips.shape == (2, 4, 32, 32, 3) and clips.dtype == tf.float32
        assert labels.dtype == tf.int32
        assert 0 <= float(tf.reduce_min(clips)) <= float(tf.reduce_max(clips)) <= 255
    assert log.count == 2
    assert sorted(os.path.basename(p) for p in log.paths) == ["empty.mp4", "text.mp4"]
    assert any("zero-byte" in m for _, m in log.entries)


def test_train_dataset_raise_mode(video_dir):
    ds = D.build_train_dataset(
        _dataset(video_dir, ["empty.mp4"]),
        D.SegmentSampler(2),
        batch_size=1,
        crop_size=16,
        short_side=20,
        on_error="raise",
    )
    with pytest.raises(tf.errors.OpError, match="zero-byte"):
        next(iter(ds))
    with pytest.raises(ValueError, match="on_error"):
        D.build_train_dataset(_dataset(video_dir, GOOD), D.SegmentSampler(2), 1, on_error="ignore")
    # skip mode on a repeated dataset where nothing decodes: stops instead
    # of spinning forever
    log = D.ErrorLog(max_consecutive=5)
    ds = D.build_train_dataset(
        _dataset(video_dir, ["empty.mp4", "text.mp4"]),
        D.SegmentSampler(2),
        batch_size=1,
        crop_size=16,
        short_side=20,
        repeat=True,
        error_log=log,
    )
    with pytest.raises(tf.errors.OpError, match="in a row"):
        next(iter(ds))
    assert log.total >= 6  # parallel calls may record a few more


def test_decode_threadpool_oversubscribes_cores(video_dir, monkeypatch):
    from tfvideo.data.pipeline import decode_threadpool_size

    # "auto": twice the cores, at least 4 (an unknown core count counts as one)
    for cores, threads in ((1, 4), (2, 4), (3, 6), (8, 16), (64, 128), (None, 4)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert decode_threadpool_size() == decode_threadpool_size("auto") == threads, cores
    auto = 6
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    data = _dataset(video_dir, GOOD)
    train = D.build_train_dataset(data, D.SegmentSampler(2), 1, crop_size=16, short_side=20)
    monkeypatch.undo()
    views = D.build_eval_dataset(
        data, D.SegmentSampler(2), 1, crop_size=16, short_side=20, threadpool_size=3
    )
    default = D.build_train_dataset(
        data, D.SegmentSampler(2), 1, crop_size=16, short_side=20, threadpool_size=None
    )
    assert train.options().threading.private_threadpool_size == auto
    assert views.options().threading.private_threadpool_size == 3
    assert default.options().threading.private_threadpool_size is None
    assert next(iter(views))["clip"].shape == (1, 2, 16, 16, 3)
    for bad in (0, -2, 2.5, True, "many"):
        with pytest.raises(ValueError, match="threadpool_size"):
            decode_threadpool_size(bad)


def test_train_flip_remaps_labels(tmp_path):
    # A white mark on the left half shows whether a clip was flipped; a
    # flipped clip must carry the flipped label (0 <-> 1), never otherwise.
    img = np.zeros((48, 64, 3), np.uint8)
    img[20:28, 16:24] = 255
    path = write_video(tmp_path / "mark.mp4", num_frames=4, images=[img] * 4)
    vds = D.VideoDataset([(path, 0), (path, 1), (path, 2)], ["l", "r", "x"], {0: 1, 1: 0})
    ds = D.build_train_dataset(
        vds, D.DenseSampler(2), batch_size=1, crop_size=48, short_side=48, crop="center", seed=0
    )
    flipped_swappable = []
    for _ in range(6):  # each pass reshuffles and redraws the flips
        pairs = [
            (bool(np.where(c.numpy()[0, 24, :, 0] > 128)[0].mean() > 24), int(l))
            for c, l in ds.unbatch()
        ]
        # undoing the flip on the label must give back each label once
        originals = sorted({0: 1, 1: 0}.get(l, l) if f else l for f, l in pairs)
        assert originals == [0, 1, 2]
        flipped_swappable += [f for f, l in pairs if l != 2]
    assert any(flipped_swappable) and not all(flipped_swappable)


def test_eval_dataset_views_and_frame_indices(video_dir):
    names = ["h264.mp4", "empty.mp4", "vp8.webm"]
    ds = D.build_eval_dataset(
        _dataset(video_dir, names),
        D.DenseSampler(4, 2),
        batch_size=4,
        num_clips=2,
        num_crops=3,
        crop_size=32,
        short_side=32,
        output_dtype="uint8",
    )
    views = list(ds.unbatch())
    assert len(views) == 2 * 2 * 3  # 2 good videos x 2 clips x 3 crops
    assert ds.error_log.count == 1
    vids = [int(v["video_index"]) for v in views]
    assert vids == [0] * 6 + [2] * 6
    assert [int(v["view_index"]) for v in views] == list(range(6)) * 2
    clip = views[0]["clip"].numpy()
    assert clip.shape == (4, 32, 32, 3) and clip.dtype == np.uint8
    # h264.mp4 has 30 frames: span 7, max_start 23, clip 0 starts at
    # floor(23 * 0.25 + 0.5) = 6, clip 1 at floor(23 * 0.75 + 0.5) = 17
    assert [frame_index_of(f) for f in clip] == [6, 8, 10, 12]
    clip1 = views[3]["clip"].numpy()
    assert [frame_index_of(f) for f in clip1] == [17, 19, 21, 23]


def test_aggregate_views():
    logits = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 5.0], [0.0, 1.0]])
    ids, avg, labels = D.aggregate_views(logits, [3, 3, 1, 1], [0, 0, 1, 1])
    np.testing.assert_array_equal(ids, [1, 3])
    np.testing.assert_allclose(avg, [[0.0, 3.0], [2.0, 1.0]])
    np.testing.assert_array_equal(labels, [1, 0])
    with pytest.raises(ValueError, match="labels differ"):
        D.aggregate_views(logits, [3, 3, 1, 1], [0, 1, 1, 1])


def test_sharding_gives_disjoint_shards(video_dir):
    vds = _dataset(video_dir, GOOD)
    seen = []
    for i in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i)
        files = [int(v) for _, _, v in D.file_dataset(vds, ctx, shuffle=True, seed=1)]
        ev = D.build_eval_dataset(
            vds, D.SegmentSampler(2), 8, crop_size=16, short_side=16, input_context=ctx
        )
        evs = sorted({int(v) for b in ev for v in b["video_index"]})
        assert sorted(files) == evs
        seen.append(set(files))
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(range(len(GOOD)))


def test_distribute_train_dataset_with_strategy(video_dir):
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    dist = D.distribute_train_dataset(
        strategy, _dataset(video_dir, GOOD[:2]), D.SegmentSampler(2), 2, crop_size=16, short_side=20
    )
    clips, labels = next(iter(dist))
    assert clips.shape == (2, 2, 16, 16, 3)
    views = D.distribute_eval_dataset(
        strategy,
        _dataset(video_dir, GOOD[:2]),
        D.SegmentSampler(2),
        3,
        num_clips=1,
        num_crops=3,
        crop_size=16,
        short_side=20,
    )
    batches = list(views)
    indices = np.concatenate([b["video_index"].numpy() for b in batches])
    assert [b["clip"].shape[1:] for b in batches] == [(2, 16, 16, 3)] * 2
    assert sorted(indices.tolist()) == [0, 0, 0, 1, 1, 1]  # 3 crops of each video


def test_decode_error_report_callback(video_dir, capsys):
    import keras

    log = D.ErrorLog()
    ds = D.build_train_dataset(
        _dataset(video_dir, ["h264.mp4", "empty.mp4", "vp8.webm"]),
        D.SegmentSampler(2),
        batch_size=1,
        crop_size=8,
        short_side=10,
        error_log=log,
        seed=0,
    )
    model = keras.Sequential(
        [keras.Input((2, 8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(True))
    report = D.DecodeErrorReport(log)
    hist = model.fit(ds, epochs=2, verbose=0, callbacks=[report])
    assert hist.history["decode_errors"] == [1, 1]
    assert [h["count"] for h in report.history] == [1, 1]
    assert report.history[0]["paths"] == [str(video_dir / "empty.mp4")]
    assert "skipped 1 video" in capsys.readouterr().out
    assert log.count == 0 and log.total == 2  # reset after each epoch
    keras.backend.clear_session()


def test_tf_data_service_two_workers(video_dir):
    service = tf.data.experimental.service
    dispatcher = service.DispatchServer(service.DispatcherConfig(port=0))
    address = dispatcher.target.split("://")[1]
    workers = [
        service.WorkerServer(service.WorkerConfig(dispatcher_address=address)) for _ in range(2)
    ]
    vds = _dataset(video_dir, GOOD[:4] + ["empty.mp4"])
    log = D.ErrorLog()
    ds = D.build_eval_dataset(
        vds, D.SegmentSampler(2), 1, crop_size=16, short_side=16, error_log=log
    )
    remote = D.distribute_on_service(ds, dispatcher.target)
    vids = sorted(int(b["video_index"][0]) for b in remote)
    assert vids == [0, 1, 2, 3]  # each element once over the two workers
    assert log.count == 1  # the workers run in this process here
    del workers


def test_real_corrupted_video_is_skipped_and_counted(shared_videos):
    vds = D.VideoDataset(
        [
            (str(shared_videos / "decord_corrupted.mp4"), 0),
            (str(shared_videos / "imageio_realshort.mp4"), 0),
        ],
        ["x"],
    )
    log = D.ErrorLog()
    ds = D.build_eval_dataset(
        vds, D.SegmentSampler(8), 1, crop_size=32, short_side=32, error_log=log
    )
    assert len(list(ds)) == 1
    assert log.paths == [str(shared_videos / "decord_corrupted.mp4")]
