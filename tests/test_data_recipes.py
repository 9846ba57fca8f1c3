"""The training recipes of issue 16, each tested for its defining property on tiny tensors:
RandAugment and colour jitter draw one set of parameters per clip (identical frames stay
identical; each frame gets what it would get alone), MixUp's labels sum to 1 with the pixels'
coefficient, CutMix pastes one box for all frames with label weights = the box's area ratio,
the flip label maps hold through mixing, repeated augmentation decodes each video once, and
multi-label data (list, Charades) gives multi-hot labels and an mAP that matches an independent
NumPy average precision."""

import doctest
import os

import numpy as np
import pytest
import tensorflow as tf
from data_fixtures import video_dir, write_video  # noqa: F401  (fixtures)
from PIL import Image, ImageEnhance, ImageOps

from tfvideo.data import annotations, mixing, pipeline, tfrecords
from tfvideo.data import randaugment as ra
from tfvideo.data.annotations import VideoDataset
from tfvideo.data.augment import flip_label
from tfvideo.data.sampling import SegmentSampler
from tfvideo.training import evaluation
from tfvideo.training import metrics as metrics_lib

RNG = np.random.default_rng(0)


def _identical_frames(t=3, h=12, w=14):
    frame = RNG.uniform(0, 255, (1, h, w, 3)).astype(np.float32)
    return np.repeat(frame, t, axis=0)


def test_docstring_examples_run():
    for module in (ra, mixing, metrics_lib, annotations):
        assert doctest.testmod(module).failed == 0, module.__name__


@pytest.mark.parametrize("name", sorted(ra.RAND_AUGMENT_OPS))
def test_every_rand_augment_op_maps_every_frame_the_same_way(name):
    clip = _identical_frames()
    out = ra.RAND_AUGMENT_OPS[name](tf.constant(clip), 9.0, tf.constant([4, 2])).numpy()
    assert out.shape == clip.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.repeat(out[:1], len(out), axis=0))
    changed = np.abs(out - clip).mean()
    assert (changed == 0) if name == "identity" else (changed > 0)


def test_rand_augment_identical_across_frames_and_per_frame_parameters():
    clip = _identical_frames(t=4)
    for seed in range(6):
        out = ra.rand_augment(clip, num_ops=3, magnitude=9, seed=[seed, 7]).numpy()
        np.testing.assert_array_equal(out, np.repeat(out[:1], 4, axis=0))
    # Distinct frames: each frame gets exactly what it would get alone with the same seed (the
    # ops that read clip statistics are left out: a lone frame has other statistics).
    frames = RNG.uniform(0, 255, (2, 12, 14, 3)).astype(np.float32)
    ops = [n for n in ra.RAND_AUGMENT_OPS if n not in ra.CLIP_STATISTIC_OPS]
    for seed in range(6):
        both = ra.rand_augment(frames, 3, 9, ops=ops, seed=[seed, 1]).numpy()
        for t in range(2):
            alone = ra.rand_augment(frames[t : t + 1], 3, 9, ops=ops, seed=[seed, 1]).numpy()
            np.testing.assert_allclose(both[t], alone[0], atol=1e-3)


def test_rand_augment_ops_match_pil():
    """The ops against PIL's ImageOps / ImageEnhance (the reference of the paper's code)."""
    u = RNG.integers(0, 256, (12, 14, 3), dtype=np.uint8)
    pil = Image.fromarray(u)
    exact = {
        "equalize": (ra.equalize(u[None]), ImageOps.equalize(pil)),
        "posterize": (ra.posterize(u[None], 5), ImageOps.posterize(pil, 5)),
        "solarize": (ra.solarize(u[None], 100), ImageOps.solarize(pil, 100)),
    }
    for name, (ours, ref) in exact.items():
        np.testing.assert_array_equal(ours.numpy()[0], np.asarray(ref, np.float32), err_msg=name)
    rounded = {  # PIL rounds to uint8 along the way
        "auto_contrast": (ra.auto_contrast(u[None]), ImageOps.autocontrast(pil)),
        "sharpness": (ra.adjust_sharpness(u[None], 1.7), ImageEnhance.Sharpness(pil).enhance(1.7)),
        "color": (ra.adjust_saturation(u[None], 1.7), ImageEnhance.Color(pil).enhance(1.7)),
        "brightness": (
            ra.adjust_brightness(u[None], 0.6),
            ImageEnhance.Brightness(pil).enhance(0.6),
        ),
    }
    for name, (ours, ref) in rounded.items():
        np.testing.assert_allclose(
            ours.numpy()[0], np.asarray(ref, np.float32), atol=1.5, err_msg=name
        )
    rotated = Image.fromarray(u).rotate(20, resample=Image.BILINEAR, fillcolor=(128, 128, 128))
    diff = np.abs(ra.rotate(u[None].astype(np.float32), 20.0).numpy()[0] - np.asarray(rotated))
    assert diff.mean() < 3.0  # same direction and centre (a wrong one differs by ~70)


def test_parse_rand_augment_and_bad_values():
    assert ra.parse_rand_augment("2,9") == (2, 9.0)
    assert ra.parse_rand_augment(" ") is None
    for bad in ("2", "2,11", "a,b", "-1,5"):
        with pytest.raises(ValueError, match="randaugment"):
            ra.parse_rand_augment(bad)
    with pytest.raises(ValueError, match="unknown RandAugment ops"):
        ra.rand_augment(_identical_frames(), 1, 5, ops=["flip"])


def test_color_jitter_one_factor_per_clip():
    clip = _identical_frames(t=4)
    out = ra.color_jitter(clip, 0.4, 0.4, 0.4, 0.1, seed=[3, 3]).numpy()
    np.testing.assert_array_equal(out, np.repeat(out[:1], 4, axis=0))
    # Brightness alone: one factor in [0.6, 1.4] for every pixel of every frame.
    frames = RNG.uniform(10, 120, (3, 8, 8, 3)).astype(np.float32)
    for seed in range(5):
        out = ra.color_jitter(frames, 0.4, 0.0, 0.0, seed=[seed, 0]).numpy()
        ratio = out / frames
        np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-5)
        assert 0.6 <= ratio.flat[0] <= 1.4


def _constant_clips(values, t=3, h=8, w=10):
    return np.stack([np.full((t, h, w, 3), v, np.float32) for v in values])


def test_mixup_label_sums_to_one_with_the_pixels_coefficient():
    values = [0.0, 40.0, 120.0, 250.0]
    clips, labels = _constant_clips(values), np.eye(4, dtype=np.float32)
    for seed in range(8):
        mixed, soft = mixing.mix_batch(clips, labels, mixup_alpha=0.8, seed=[seed, 5])
        mixed, soft = mixed.numpy(), soft.numpy()
        np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-6)
        for i in range(4):
            j = 3 - i  # the partner: the mirrored row
            lam = (mixed[i] - values[j]) / (values[i] - values[j])
            np.testing.assert_allclose(lam, lam.flat[0], atol=1e-5)  # one lam for every pixel
            np.testing.assert_allclose(soft[i, i], lam.flat[0], atol=1e-5)
            np.testing.assert_allclose(soft[i, j], 1 - lam.flat[0], atol=1e-5)


def test_cutmix_box_shared_by_frames_and_label_weight_is_area_ratio():
    clips = RNG.uniform(0, 255, (4, 3, 16, 20, 3)).astype(np.float32)
    labels = np.eye(4, dtype=np.float32)
    areas = set()
    for seed in range(10):
        mixed, soft = mixing.mix_batch(clips, labels, cutmix_alpha=1.0, seed=[seed, 9])
        mixed, soft = mixed.numpy(), soft.numpy()
        np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-6)
        pasted = np.all(mixed == clips[::-1], axis=-1)  # [B, T, H, W]
        kept = np.all(mixed == clips, axis=-1)
        assert np.all(pasted ^ kept)  # every pixel comes from one of the two clips
        box = pasted[0, 0]
        assert np.all(pasted == box)  # one box for every frame of every clip
        rows, cols = np.nonzero(box)
        if rows.size:  # a rectangle
            assert box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()
        for i in range(4):
            np.testing.assert_allclose(soft[i, 3 - i], box.mean(), atol=1e-6)
        areas.add(round(float(box.mean()), 4))
    assert len(areas) > 3  # the box changes with the seed


def test_mix_batch_with_both_chooses_one_per_batch():
    clips = RNG.uniform(0, 255, (2, 2, 8, 8, 3)).astype(np.float32)
    kinds = set()
    for seed in range(12):
        mixed, _ = mixing.mix_batch(clips, np.eye(2), 0.8, 1.0, seed=[seed, 1])
        mixed = mixed.numpy()
        from_pair = np.all((mixed == clips) | (mixed == clips[::-1]))
        kinds.add("cutmix" if from_pair else "mixup")
    assert kinds == {"cutmix", "mixup"}
    with pytest.raises(ValueError, match="alphas must be >= 0"):
        mixing.mix_batch(clips, np.eye(2), -1.0)


def test_flip_label_moves_vector_weights():
    table = [1, 0, 2]
    np.testing.assert_allclose(
        flip_label([0.7, 0.3, 0.0], table).numpy(), [0.3, 0.7, 0.0], rtol=1e-6
    )
    np.testing.assert_array_equal(flip_label([1.0, 0.0, 1.0], table).numpy(), [0.0, 1.0, 1.0])
    assert int(flip_label(0, table)) == 1 and int(flip_label(-1, table)) == -1


@pytest.fixture(scope="module")
def left_right_videos(tmp_path_factory):
    """4 videos of class 0 ("white left"): the left half white, the right half black; a flip
    makes them class 1 ("white right")."""
    root = tmp_path_factory.mktemp("left_right")
    frames = np.zeros((8, 32, 32, 3), np.uint8)
    frames[:, :, :16] = 255
    paths = [
        write_video(root / f"v{i}.mp4", num_frames=8, width=32, height=32, images=frames)
        for i in range(4)
    ]
    return VideoDataset([(p, 0) for p in paths], ["white left", "white right"], {0: 1, 1: 0})


def _white_left_score(clips):
    """Per clip, the fraction of "white left" content: left pixels count by brightness, right
    pixels by darkness (1 for an unflipped clip, 0 for a flipped one, mixed in between)."""
    clips = np.asarray(clips, np.float64) / 255.0
    half = clips.shape[3] // 2
    score = np.concatenate([clips[:, :, :, :half], 1.0 - clips[:, :, :, half:]], axis=3)
    return score.mean(axis=(1, 2, 3, 4))


@pytest.mark.parametrize("mix", [{}, {"mixup": 0.8}, {"cutmix": 1.0}])
def test_pipeline_mixing_respects_flip_label_maps(left_right_videos, mix):
    """Through the pipeline (decode -> crop -> random flip with the flip map -> batch -> mix):
    the weight of "white left" in every label is the share of white-left content in the clip."""
    ds = pipeline.build_train_dataset(
        left_right_videos,
        SegmentSampler(4),
        4,
        crop_size=32,
        short_side=32,  # frames are 32 px: the crop is the whole frame
        crop="center",
        seed=3,
        repeat=True,
        **mix,
    )
    flipped = 0
    for clips, labels in ds.take(4):
        score = _white_left_score(clips)
        labels = labels.numpy()
        weight = labels[:, 0] if labels.ndim == 2 else (labels == 0).astype(float)
        np.testing.assert_allclose(weight, score, atol=0.02)
        flipped += int(np.sum(score < 0.5))
    assert flipped > 0  # some clips were flipped, so the map was exercised


def test_tfrecord_source_runs_the_same_recipes(left_right_videos, tmp_path):
    """The TFRecord source: repeated views, mixing and the flip map of `classes.json`."""
    tfrecords.write_tfrecords(left_right_videos, str(tmp_path), num_shards=1, prefix="train")
    ds = tfrecords.tfrecord_dataset(
        str(tmp_path / "train-*"),
        num_frames=4,
        training=True,
        batch_size=4,
        crop_size=32,
        short_side=32,
        crop="center",
        repeat=True,
        seed=5,
        output_dtype="float32",
        repeat_aug=2,
        mixup=0.8,
        cutmix=1.0,
        randaugment=(0, 0),
    )
    for clips, labels in ds.take(3):
        assert clips.shape == (4, 4, 32, 32, 3) and labels.shape == (4, 2)
        np.testing.assert_allclose(labels.numpy().sum(axis=1), 1.0, atol=1e-6)
        # JPEG frames: a looser tolerance than the near-lossless videos.
        np.testing.assert_allclose(labels.numpy()[:, 0], _white_left_score(clips), atol=0.04)


def test_repeated_views_come_from_one_decode(video_dir, monkeypatch):
    calls = []
    decode = pipeline.decode_video

    def counting(path, indices):
        calls.append(path)
        return decode(path, indices)

    monkeypatch.setattr(pipeline, "decode_video", counting)
    videos = [str(video_dir / n) for n in ("h264.mp4", "mpeg4.avi", "h264.mkv")]
    dataset = VideoDataset([(p, i) for i, p in enumerate(videos)], ["a", "b", "c"])
    ds = pipeline.build_train_dataset(
        dataset, SegmentSampler(4), 3, crop_size=24, short_side=32, seed=1, repeat_aug=3
    )
    batches = list(ds)
    clips = np.concatenate([c.numpy() for c, _ in batches])
    labels = np.concatenate([l.numpy() for _, l in batches])
    assert len(calls) == 3 and sorted(calls) == sorted(videos)  # one decode per video
    assert clips.shape == (9, 4, 24, 24, 3)
    for v in range(3):  # K consecutive views of one video, augmented differently
        assert len(set(labels[3 * v : 3 * v + 3])) == 1
        views = clips[3 * v : 3 * v + 3]
        assert not np.array_equal(views[0], views[1]) or not np.array_equal(views[1], views[2])
    assert sorted(set(labels)) == [0, 1, 2]
    with pytest.raises(ValueError, match="repeat_aug"):
        pipeline.build_train_dataset(dataset, SegmentSampler(4), 3, repeat_aug=0)


# ------------------------------------------------------------------------------ multi-label


def test_multi_label_list_and_charades_readers(tmp_path):
    listing = tmp_path / "train.txt"
    listing.write_text("a.mp4 0,2\nb.mp4 1\nc.mp4 ,\n")
    ds = annotations.read_path_label_list(str(listing), root=str(tmp_path))
    assert ds.multi_label and ds.labels == [(0, 2), (1,), ()]
    assert ds.num_classes == 3 and ds.paths[0] == os.path.join(str(tmp_path), "a.mp4")
    np.testing.assert_array_equal(ds.label_matrix(), [[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    assert VideoDataset.from_dict(ds.to_dict()) == ds
    plain = tmp_path / "single.txt"
    plain.write_text("a.mp4 1\nb.mp4 0\n")
    single = annotations.read_path_label_list(str(plain))
    assert not single.multi_label and single.labels == [1, 0]

    classes = tmp_path / "Charades_v1_classes.txt"
    classes.write_text(
        "c000 Holding some clothes\nc001 Putting clothes somewhere\nc002 Opening a door\n"
    )
    csv_path = tmp_path / "Charades_v1_train.csv"
    csv_path.write_text(
        "id,subject,scene,actions,length\n"
        'AB12,s1,Kitchen,"c002 1.0 5.5;c000 0.0 12.6;c002 7.0 9.0",30.0\n'
        "CD34,s2,Bedroom,,20.0\n"
    )
    ch = annotations.read_annotations("charades", str(csv_path), "/videos", str(classes))
    assert ch.class_names[2] == "Opening a door"
    assert ch.samples == [("/videos/AB12.mp4", (0, 2)), ("/videos/CD34.mp4", ())]
    bad = tmp_path / "bad.csv"
    bad.write_text('id,actions\nX,"c009 0 1"\n')
    with pytest.raises(annotations.AnnotationError, match="c009"):
        annotations.read_charades(str(bad), "/videos", str(classes))
    with pytest.raises(ValueError, match="mix single labels"):
        VideoDataset([("a", 0), ("b", (1,))], ["x", "y"])
    with pytest.raises(ValueError, match="multi-label: TFRecords store one label"):
        tfrecords.write_tfrecords(ds, str(tmp_path / "records"))


def test_multi_label_pipeline_gives_multi_hot_labels(video_dir):
    videos = [str(video_dir / n) for n in ("h264.mp4", "mpeg4.avi")]
    dataset = VideoDataset([(videos[0], (0, 2)), (videos[1], (1,))], ["a", "b", "c"], {0: 2, 2: 0})
    train = pipeline.build_train_dataset(
        dataset, SegmentSampler(4), 2, crop_size=24, short_side=32, seed=0
    )
    _, labels = next(iter(train))
    assert sorted(map(tuple, labels.numpy().tolist())) == [(0.0, 1.0, 0.0), (1.0, 0.0, 1.0)]
    evaluation_ds = pipeline.build_eval_dataset(
        dataset, SegmentSampler(4), 4, num_clips=2, crop_size=24, short_side=32
    )
    rows = [(b["label"].numpy(), b["video_index"].numpy()) for b in evaluation_ds]
    labels = np.concatenate([r[0] for r in rows])
    index = np.concatenate([r[1] for r in rows])
    np.testing.assert_array_equal(labels, dataset.label_matrix()[index])
    ids, _, per_video = pipeline.aggregate_views(np.zeros((len(index), 3)), index, labels)
    np.testing.assert_array_equal(per_video, dataset.label_matrix()[ids])


def _reference_average_precision(scores, targets):
    """Independent AP: the mean, over the positives p, of (#positives scoring >= s_p) /
    (#videos scoring >= s_p) (scikit-learn's definition, ties as one threshold)."""
    aps = []
    for c in range(scores.shape[1]):
        pos = np.nonzero(targets[:, c])[0]
        if not len(pos):
            aps.append(np.nan)
            continue
        precisions = [
            targets[scores[:, c] >= scores[p, c], c].sum() / (scores[:, c] >= scores[p, c]).sum()
            for p in pos
        ]
        aps.append(np.mean(precisions))
    return np.array(aps)


def test_average_precision_matches_an_independent_implementation():
    for trial in range(5):
        scores = np.round(RNG.normal(size=(40, 6)), 1 if trial % 2 else 3)  # ties when rounded
        targets = (RNG.uniform(size=(40, 6)) < 0.3).astype(np.float32)
        targets[:, 5] = 0  # a class without positives is left out of the mean
        ours = metrics_lib.average_precision(scores, targets)
        ref = _reference_average_precision(scores, targets)
        np.testing.assert_allclose(ours, ref, equal_nan=True, atol=1e-12)
        assert metrics_lib.mean_average_precision(scores, targets) == pytest.approx(np.nanmean(ref))
    perfect = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.9]])
    assert metrics_lib.mean_average_precision(perfect, [[1, 0], [0, 1], [0, 1]]) == 1.0


def test_multilabel_report_has_map_and_per_class_ap(tmp_path):
    scores = RNG.normal(size=(12, 3))
    targets = (RNG.uniform(size=(12, 3)) < 0.5).astype(float)
    targets[0] = 1
    result = metrics_lib.summarize_multilabel(scores, targets, ["x", "y", "z"])
    assert result["mAP"] == pytest.approx(metrics_lib.mean_average_precision(scores, targets))
    assert [r["support"] for r in result["per_class"]] == targets.sum(0).astype(int).tolist()
    paths = evaluation.write_report(result, str(tmp_path), "eval")
    table = open(paths["table"]).read()
    assert "mAP" in table and f"{100 * result['per_class'][1]['ap']:6.1f}" in table
    assert "confusion_matrix" not in paths
