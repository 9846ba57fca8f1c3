"""Representative clips for int8 calibration: a sample of the training data, preprocessed as in
evaluation.

Sources: a `tfvideo.data.VideoDataset`, a synthetic dataset root (`tfvideo.data.synthetic`), a
dataset JSON (`VideoDataset.save`), TFRecord files (a glob), or a directory of video files.

Example:
    >>> from tfvideo.export.calibration import representative_clips
    >>> clips = representative_clips("data/synthetic", meta, num_clips=50)  # doctest: +SKIP
    >>> next(iter(clips)).shape  # doctest: +SKIP
    (8, 64, 64, 3)
"""

import glob
import os

import numpy as np

from tfvideo.export.predict import load_clip


def _video_paths(source):
    """`(kind, items)`: `("videos", [paths])` or `("tfrecords", [files])`."""
    from tfvideo.data import VIDEO_EXTENSIONS, VideoDataset

    if isinstance(source, VideoDataset):
        return "videos", [p for p, _ in source.samples]
    if isinstance(source, (list, tuple)):
        return "videos", [os.fspath(p) for p in source]
    source = os.fspath(source)
    if os.path.isdir(source):
        if os.path.exists(os.path.join(source, "manifest.json")):
            from tfvideo.data import synthetic

            return "videos", [p for p, _ in synthetic.load(source, "train").samples]
        records = sorted(glob.glob(os.path.join(source, "*.tfrecord*")))
        if records:
            return "tfrecords", records
        extensions = tuple(e.lower() for e in VIDEO_EXTENSIONS)
        videos = sorted(
            os.path.join(root, f)
            for root, _, files in os.walk(source)
            for f in files
            if f.lower().endswith(extensions)
        )
        return "videos", videos
    if source.endswith(".json"):
        return "videos", [p for p, _ in VideoDataset.load(source).samples]
    files = sorted(glob.glob(source))
    if not files:
        raise FileNotFoundError(
            f"{source}: no calibration data (expected a dataset directory, "
            "a dataset JSON, TFRecord files or video files)"
        )
    return "tfrecords", files


def representative_clips(source, metadata, num_clips=100, seed=0):
    """Up to `num_clips` evaluation clips (float32 `[T, h, w, 3]`) spread over `source`.

    Videos are chosen at random without replacement (seeded); ones that fail to decode are
    skipped. Raises ValueError when the source yields no clip at all.
    """
    kind, items = _video_paths(source)
    if not items:
        raise ValueError(f"{source}: no calibration videos found")
    if kind == "tfrecords":
        yield from _tfrecord_clips(items, metadata, num_clips)
        return
    order = np.random.default_rng(seed).permutation(len(items))
    produced = 0
    for i in order:
        if produced >= num_clips:
            break
        try:
            clip = load_clip(items[i], metadata)
        except Exception:  # noqa: BLE001 - a bad video is skipped, the sample goes on
            continue
        produced += 1
        yield clip
    if produced == 0:
        raise ValueError(f"{source}: none of the calibration videos could be decoded")


def _tfrecord_clips(files, metadata, num_clips):
    import tensorflow as tf

    from tfvideo.export.preprocessing import parse_sequence_example

    dataset = tf.data.TFRecordDataset(files).take(num_clips)
    for record in dataset:
        yield parse_sequence_example(record, metadata).numpy()
