"""Sharded SequenceExample TFRecords: one JPEG per frame, read back with TF ops only.

Layout of one record (keys as in TF Model Garden and DMVR, so shards interoperate):

| where | key | type |
|---|---|---|
| context | `clip/label/index` | int64 (-1 when unlabelled) |
| context | `clip/label/text` | bytes, the class name |
| context | `clip/data_path` | bytes, the source video |
| context | `video/id` | bytes, the file name without extension |
| context | `clip/num_frames` | int64, frames stored |
| context | `clip/frame_rate` | float, frames per second of the stored frames |
| context | `image/height`, `image/width` | int64 |
| feature list | `image/encoded` | bytes, one JPEG per frame |

`write_tfrecords` writes `<prefix>-00000-of-000NN.tfrecord` shards and `classes.json` (class
names and label flip map) next to them. `tfrecord_dataset` samples the frame indices first (TF
ops, from the length of the `image/encoded` list), gathers only those JPEG strings and decodes
them with `tf.io.decode_image`: no Python runs per element. It is the TFRecord source of
`tfvideo.data.pipeline`: sampling, transforms and batching are the video pipeline's steps.

Example:

```python
from tfvideo.data import annotations, tfrecords
ds = annotations.read_ssv2(labels, "train.json", "videos/", extension=".mp4")
tfrecords.write_tfrecords(ds, "/tmp/records", num_shards=4, prefix="train")
train = tfrecords.tfrecord_dataset("/tmp/records/train-*", num_frames=8, training=True,
                                   batch_size=8, crop_size=112, short_side=128)
```
"""

import json
import os

import numpy as np
import tensorflow as tf

from tfvideo.data import augment, mixing, pipeline
from tfvideo.data.decode import VideoDecodeError, decode_video, video_info
from tfvideo.data.errors import check_on_error
from tfvideo.data.sampling import all_indices, get_sampler, sampler_config

CLASSES_FILE = "classes.json"

LABEL_INDEX = "clip/label/index"
LABEL_TEXT = "clip/label/text"
DATA_PATH = "clip/data_path"
VIDEO_ID = "video/id"
NUM_FRAMES = "clip/num_frames"
FRAME_RATE = "clip/frame_rate"
HEIGHT = "image/height"
WIDTH = "image/width"
IMAGE_ENCODED = "image/encoded"


# --------------------------------------------------------------------------------------- writing


def _bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _int64(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _float(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def make_sequence_example(
    encoded_frames,
    label=-1,
    label_text="",
    data_path="",
    video_id="",
    frame_rate=0.0,
    height=0,
    width=0,
):
    """A `tf.train.SequenceExample` holding one encoded image per frame.

    Args:
        encoded_frames: list of JPEG (or PNG) bytes, one per frame.
        label: class index (-1 when unlabelled).
        label_text: class name.
        data_path: path of the source video.
        video_id: identifier of the video.
        frame_rate: frames per second of the stored frames.
        height, width: frame size.

    Example:

    >>> jpeg = tf.io.encode_jpeg(tf.zeros([4, 4, 3], tf.uint8)).numpy()
    >>> ex = make_sequence_example([jpeg, jpeg], label=3, label_text="cat")
    >>> ex.context.feature["clip/num_frames"].int64_list.value[0]
    2
    """

    def text(value):
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)

    context = tf.train.Features(
        feature={
            LABEL_INDEX: _int64([int(label)]),
            LABEL_TEXT: _bytes([text(label_text)]),
            DATA_PATH: _bytes([text(data_path)]),
            VIDEO_ID: _bytes([text(video_id)]),
            NUM_FRAMES: _int64([len(encoded_frames)]),
            FRAME_RATE: _float([float(frame_rate)]),
            HEIGHT: _int64([int(height)]),
            WIDTH: _int64([int(width)]),
        }
    )
    frames = tf.train.FeatureList(feature=[_bytes([bytes(f)]) for f in encoded_frames])
    return tf.train.SequenceExample(
        context=context, feature_lists=tf.train.FeatureLists(feature_list={IMAGE_ENCODED: frames})
    )


_ENCODERS = {}


def _frame_encoder(quality):
    """A traced function (one per JPEG quality, an op attribute) that optionally resizes
    (short side, aspect kept) and then JPEG-encodes every frame."""
    if quality not in _ENCODERS:

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, None, None, 3], tf.uint8),
                tf.TensorSpec([], tf.int32),
            ]
        )
        def encode(frames, short_side):
            short = tf.minimum(tf.shape(frames)[1], tf.shape(frames)[2])
            frames = tf.cond(
                tf.logical_and(short_side > 0, short != short_side),
                lambda: tf.cast(tf.round(augment.resize_short_side(frames, short_side)), tf.uint8),
                lambda: frames,
            )
            jpegs = tf.map_fn(
                lambda f: tf.io.encode_jpeg(f, quality=quality),
                frames,
                fn_output_signature=tf.TensorSpec([], tf.string),
            )
            return jpegs, tf.shape(frames)[1:3]

        _ENCODERS[quality] = encode
    return _ENCODERS[quality]


def encode_video(path, jpeg_quality=90, resize_short_side=None, max_frames=None, fps=None):
    """Decodes a video and returns `(jpeg_bytes_list, frame_rate, height, width)`.

    Args:
        path: video file.
        jpeg_quality: JPEG quality, 1-100.
        resize_short_side: resize so the shorter side has this many pixels (aspect kept);
            `None` keeps the decoded size.
        max_frames: keep at most this many frames, evenly spaced (after `fps`).
        fps: resample to this frame rate (nearest frames); `None` keeps the source rate.

    Raises:
        VideoDecodeError: the file cannot be decoded.
    """
    info = video_info(path)
    rate = info.fps or 0.0
    indices = np.arange(info.num_frames)
    if fps and rate > 0 and abs(fps - rate) > 1e-3:
        count = max(int(np.floor(info.num_frames * fps / rate)), 1)
        indices = np.minimum(
            np.floor(np.arange(count) * rate / fps).astype(np.int64), info.num_frames - 1
        )
        rate = float(fps)
    if max_frames is not None and len(indices) > max_frames:
        keep = all_indices(len(indices), int(max_frames))
        rate = rate * len(keep) / len(indices)
        indices = indices[keep]
    frames = decode_video(path, indices if len(indices) < info.num_frames else None)
    encoded, (height, width) = _frame_encoder(int(jpeg_quality))(
        frames, tf.constant(int(resize_short_side or 0), tf.int32)
    )
    return [bytes(x) for x in encoded.numpy()], rate, int(height), int(width)


def shard_paths(output_dir, prefix, num_shards):
    """`<output_dir>/<prefix>-00000-of-000NN.tfrecord` for every shard."""
    return [
        os.path.join(output_dir, f"{prefix}-{i:05d}-of-{num_shards:05d}.tfrecord")
        for i in range(num_shards)
    ]


def write_classes(output_dir, class_names, label_flip_map=None):
    """Writes `classes.json` (`{"class_names": [...], "label_flip_map": [...] or null}`)."""
    table = None
    if label_flip_map:
        table = list(range(len(class_names)))
        items = (
            label_flip_map.items()
            if isinstance(label_flip_map, dict)
            else enumerate(label_flip_map)
        )
        for k, v in items:
            table[int(k)] = int(v)
    path = os.path.join(output_dir, CLASSES_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"class_names": list(class_names), "label_flip_map": table}, f, indent=1)
        f.write("\n")
    return path


def read_classes(path):
    """Reads `classes.json` (a file, or the folder holding it) -> `(class_names, flip_table)`;
    `flip_table` is a list or `None`."""
    if os.path.isdir(path):
        path = os.path.join(path, CLASSES_FILE)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, list):  # a bare list of names
        return [str(c) for c in data], None
    return [str(c) for c in data["class_names"]], data.get("label_flip_map")


def write_tfrecords(
    dataset,
    output_dir,
    num_shards=8,
    prefix="train",
    jpeg_quality=90,
    resize_short_side=None,
    max_frames=None,
    fps=None,
    shuffle=True,
    seed=0,
    on_error="skip",
    progress=True,
):
    """Converts an annotation dataset into sharded SequenceExample TFRecords.

    Args:
        dataset: a `tfvideo.data.annotations.VideoDataset` (`samples` of `(path, label)`,
            `class_names`, `label_flip_map`).
        output_dir: folder for the shards and `classes.json` (created).
        num_shards: number of shard files; sample `i` (after shuffling) goes to shard
            `i % num_shards`.
        prefix: shard file name prefix (e.g. `"train"`, `"validation"`).
        jpeg_quality: JPEG quality, 1-100.
        resize_short_side: resize frames so the short side has this size (`None`: keep).
        max_frames: keep at most this many frames per video, evenly spaced.
        fps: resample every video to this frame rate (`None`: keep).
        shuffle: shuffle the order of the samples (with `seed`) before sharding, so every shard
            mixes classes.
        seed: shuffling seed.
        on_error: `"skip"` (count and report bad videos) or `"raise"`.
        progress: show a tqdm progress bar.

    Returns:
        dict: `shards` (paths), `num_written`, `num_skipped`, `skipped` (list of
        `(path, cause)`), `classes_json`.
    """
    check_on_error(on_error)
    if int(num_shards) < 1:
        raise ValueError(f"`num_shards` must be >= 1, got {num_shards}.")
    if not 1 <= int(jpeg_quality) <= 100:
        raise ValueError(f"`jpeg_quality` must be in [1, 100], got {jpeg_quality}.")
    if not hasattr(dataset, "samples") or not hasattr(dataset, "class_names"):
        raise ValueError(
            "`dataset` must have `samples` and `class_names` (a VideoDataset), "
            f"got {type(dataset).__name__}."
        )
    if getattr(dataset, "multi_label", False):
        raise ValueError(
            f"dataset {dataset.name!r} is multi-label: TFRecords store one label per video "
            "(clip/label/index); read its videos with build_train_dataset instead."
        )
    samples = list(dataset.samples)
    names = list(dataset.class_names)
    order = np.arange(len(samples))
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(samples))
    os.makedirs(output_dir, exist_ok=True)
    paths = shard_paths(output_dir, prefix, int(num_shards))
    classes_json = write_classes(output_dir, names, getattr(dataset, "label_flip_map", None))

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(samples), desc=f"tfrecords {prefix}", unit="video")
    skipped = []
    written = 0
    writers = [tf.io.TFRecordWriter(p) for p in paths]
    try:
        for position, i in enumerate(order):
            path, label = samples[i]
            try:
                frames, rate, height, width = encode_video(
                    path, jpeg_quality, resize_short_side, max_frames, fps
                )
            except VideoDecodeError as err:
                if on_error == "raise":
                    raise
                skipped.append((str(path), err.cause))
            else:
                example = make_sequence_example(
                    frames,
                    label,
                    names[label] if label >= 0 else "",
                    path,
                    os.path.splitext(os.path.basename(path))[0],
                    rate,
                    height,
                    width,
                )
                writers[position % len(writers)].write(example.SerializeToString())
                written += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(skipped=len(skipped))
    finally:
        for w in writers:
            w.close()
        if bar is not None:
            bar.close()
    return {
        "shards": paths,
        "num_written": written,
        "num_skipped": len(skipped),
        "skipped": skipped,
        "classes_json": classes_json,
    }


# --------------------------------------------------------------------------------------- reading


def parse_sequence_example(serialized, with_context=True):
    """Parses one serialized SequenceExample.

    Returns a dict with the context keys (missing ones get defaults: label -1, empty text,
    0 sizes) and `image/encoded`, a string tensor `[num_frames]`. With `with_context=False`
    only `image/encoded` is read (records whose context has other types or several labels
    parse too).
    """
    context = (
        {
            LABEL_INDEX: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
            LABEL_TEXT: tf.io.FixedLenFeature([], tf.string, default_value=""),
            DATA_PATH: tf.io.FixedLenFeature([], tf.string, default_value=""),
            VIDEO_ID: tf.io.FixedLenFeature([], tf.string, default_value=""),
            NUM_FRAMES: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
            FRAME_RATE: tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
            HEIGHT: tf.io.FixedLenFeature([], tf.int64, default_value=0),
            WIDTH: tf.io.FixedLenFeature([], tf.int64, default_value=0),
        }
        if with_context
        else None
    )
    sequence = {IMAGE_ENCODED: tf.io.FixedLenSequenceFeature([], tf.string)}
    ctx, seq = tf.io.parse_single_sequence_example(serialized, context, sequence)
    out = dict(ctx)
    out[IMAGE_ENCODED] = seq[IMAGE_ENCODED]
    return out


def decode_image(encoded):
    """One encoded frame (JPEG, PNG, BMP or GIF's first frame) -> uint8 `[H, W, 3]`."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    return tf.ensure_shape(image, [None, None, 3])


def decode_frames(encoded, indices=None):
    """Gathers `encoded[indices]` (encoded frames of one size) and decodes only those with
    `decode_image`: uint8 `[T, H, W, 3]`."""
    if indices is not None:
        encoded = tf.gather(encoded, indices)
    return tf.map_fn(
        decode_image,
        encoded,
        fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
        parallel_iterations=16,
    )


def _resolve_flip_table(label_flip_map, first_file):
    if isinstance(label_flip_map, str):
        if label_flip_map != "auto":
            raise ValueError(
                f"`label_flip_map` must be 'auto', None, a list or a dict, got {label_flip_map!r}."
            )
        path = os.path.join(os.path.dirname(first_file), CLASSES_FILE)
        return read_classes(path)[1] if os.path.exists(path) else None
    if label_flip_map is None:
        return None
    if isinstance(label_flip_map, dict):
        size = max(max(map(int, label_flip_map)), max(map(int, label_flip_map.values()))) + 1
        table = list(range(size))
        for k, v in label_flip_map.items():
            table[int(k)] = int(v)
        return table
    return [int(v) for v in label_flip_map]


def _record_source(
    files, training, seed, shuffle_buffer, repeat, input_context, num_parallel_calls, deterministic
):
    """The source step of shards: `((position, serialized record), r)`, each input pipeline
    reading its share of the files, shuffled in training."""
    ds = tf.data.Dataset.from_tensor_slices(files)
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if training:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), 8),
        num_parallel_calls=num_parallel_calls,
        deterministic=deterministic,
    )
    ds = ds.enumerate()
    if training and shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return pipeline.with_seeds(ds, seed)


def tfrecord_dataset(
    file_pattern,
    num_frames=8,
    sampling="segment",
    training=False,
    batch_size=None,
    interval=1,
    crop_size=224,
    short_side=256,
    crop="multi_scale",
    flip=True,
    label_flip_map="auto",
    scales=augment.MULTI_SCALE_SCALES,
    jitter=(256, 320),
    num_clips=1,
    num_crops=1,
    shuffle_buffer=256,
    repeat=False,
    seed=None,
    drop_remainder=None,
    output_dtype="uint8",
    return_metadata=False,
    input_context=None,
    num_parallel_calls=tf.data.AUTOTUNE,
    color_jitter=0.0,
    randaugment=None,
    repeat_aug=1,
    mixup=0.0,
    cutmix=0.0,
    num_classes=None,
):
    """A `tf.data.Dataset` of clips read from SequenceExample TFRecords.

    The steps of `tfvideo.data.pipeline` with this module's source: shards -> parse -> sample
    indices (`Sampler.tf_indices`, from the number of stored frames) -> `tf.gather` the JPEG
    strings and decode only those -> the PyAV pipeline's transforms (`pipeline.train_step`,
    `pipeline.eval_views`) -> batch. No Python runs per element.

    Args:
        file_pattern: glob of the shards, or a list of globs/files.
        num_frames: frames per clip (segments for "segment", clip length for "dense").
        sampling: "segment" (TSN; "segments" also accepted), "dense" (`interval` apart),
            "all" (every stored frame; variable length, so `batch_size=None` unless all
            videos have the same length), or a `tfvideo.data.sampling` sampler / config
            (read by `tfvideo.data.sampling.sampler_config`).
        training: random sampling, crop and flip; shuffles files and records.
        batch_size: batch the output (`None`: unbatched).
        interval: frame interval of dense sampling.
        crop_size: output size; `None` returns the sampled frames at their stored size.
        short_side: short-side resize before cropping (training "multi_scale"/"center" and
            evaluation); skipped when the stored frames already have it.
        crop: training crop, as in `augment.train_transform`: "multi_scale",
            "random_resized", "jitter" or "center".
        flip: random horizontal flips in training.
        label_flip_map: label after a flip (list or dict), `None`, or "auto": the map in
            `classes.json` next to the shards.
        scales, jitter: of the "multi_scale" and "jitter" crops.
        num_clips, num_crops: evaluation views (clips evenly spaced in time; 1 or 3 crops). With
            more than one view the elements are dicts `{"clip", "label", "video_index",
            "view_index"}`, one view per row, as `pipeline.build_eval_dataset` gives
            (`pipeline.aggregate_views` averages them per video).
        shuffle_buffer: record shuffle buffer in training.
        repeat: repeat forever.
        seed: seed of the shuffling and of the per-element sampling and augmentation; with a
            seed, training is deterministic (same clips in the same order), without one the
            pipeline lets elements arrive out of order for speed.
        drop_remainder: default `training`.
        output_dtype: "uint8" (default) or a float dtype (values in [0, 255]).
        return_metadata: single-view only: also return a dict (`video_id`, `data_path`,
            `num_frames`).
        input_context: `tf.distribute.InputContext`: each input pipeline reads its share of
            the shard files.
        color_jitter, randaugment, repeat_aug, mixup, cutmix: the training recipes, as in
            `pipeline.build_train_dataset` (training only; mixing needs `batch_size` and gives
            float32 `[batch, num_classes]` soft labels).
        num_classes: of the soft labels; default the class list of `classes.json` next to the
            shards.

    Returns:
        A dataset of `(clip [T, H, W, 3], int32 label)`, batched when `batch_size` is set.

    Example:

    >>> ds = tfrecord_dataset("/tmp/records/train-*", num_frames=8, training=True,
    ...                       batch_size=4, crop_size=112, short_side=128)  # doctest: +SKIP
    """
    if int(num_frames) < 1:
        raise ValueError(f"`num_frames` must be >= 1, got {num_frames}.")
    sampler = get_sampler(sampler_config(sampling, num_frames, interval))
    if crop not in augment.TRAIN_CROPS:
        raise ValueError(f"`crop` must be one of {augment.TRAIN_CROPS}, got {crop!r}.")
    views = pipeline.check_views(num_clips, num_crops)
    patterns = [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else file_pattern
    files = sorted(f for p in patterns for f in tf.io.gfile.glob(os.fspath(p)))
    if not files:
        raise ValueError(f"`file_pattern` {file_pattern!r} matches no file.")
    flip_table = _resolve_flip_table(label_flip_map, files[0]) if flip else None
    views = 1 if training else views
    if views > 1 and (crop_size is None or sampler.clip_frames is None):
        raise ValueError("Several evaluation views need `crop_size` and a fixed-length sampling.")
    if views > 1 and return_metadata:
        raise ValueError("`return_metadata` works with a single view only.")
    repeat_aug = pipeline.check_repeat_aug(repeat_aug) if training else 1
    mixes = training and mixing.check_mix(mixup, cutmix)
    if mixes and num_classes is None:
        path = os.path.join(os.path.dirname(files[0]), CLASSES_FILE)
        if not os.path.exists(path):
            raise ValueError(f"mixup/cutmix need `num_classes` (no {path} next to the shards).")
        num_classes = len(read_classes(path)[0])
    if mixes and not batch_size:
        raise ValueError("mixup/cutmix mix batches: give `batch_size`.")
    if repeat_aug > 1 and (crop_size is None or return_metadata):
        raise ValueError("`repeat_aug` needs `crop_size` and works without `return_metadata`.")
    drop_remainder = training if drop_remainder is None else drop_remainder
    deterministic = not training or seed is not None  # a seeded pipeline is reproducible
    ds = _record_source(
        files,
        training,
        seed,
        shuffle_buffer,
        repeat,
        input_context,
        num_parallel_calls,
        deterministic,
    )

    def load(element, r):  # the sample and decode steps
        position, serialized = element
        parsed = parse_sequence_example(serialized)
        encoded = parsed[IMAGE_ENCODED]
        count = tf.shape(encoded)[0]
        s_sample, s_aug = augment.split_seed(augment.seed_from_int(r), 2)
        if views > 1:
            indices = tf.reshape(sampler.tf_multi_clip(count, int(num_clips)), [-1])
        else:
            indices = sampler.tf_indices(count, training, s_sample, 0, int(num_clips))
        out = {
            "frames": decode_frames(encoded, indices),
            "label": tf.cast(parsed[LABEL_INDEX], tf.int32),
            "video_index": tf.cast(position, tf.int32),
            "seed": s_aug,
        }
        if return_metadata:
            out["metadata"] = {
                "video_id": parsed[VIDEO_ID],
                "data_path": parsed[DATA_PATH],
                "num_frames": count,
            }
        return out

    train = pipeline.repeated_views(
        pipeline.train_step(
            crop_size,
            short_side,
            crop,
            flip,
            flip_table,
            scales,
            jitter,
            "float32" if mixes else output_dtype,
            color_jitter,
            randaugment,
        ),
        repeat_aug,
    )

    def transform(e):
        if views > 1:
            return pipeline.view_rows(
                pipeline.eval_views(
                    e["frames"],
                    num_clips,
                    crop_size,
                    short_side,
                    num_crops,
                    output_dtype,
                    sampler.clip_frames,
                ),
                e["label"],
                e["video_index"],
            )
        clip, label = e["frames"], e["label"]
        if crop_size is not None and training:
            clip, label = train(clip, label, e["seed"])
        elif crop_size is not None:
            clip = pipeline.eval_views(
                clip, 1, crop_size, short_side, clip_frames=sampler.clip_frames
            )[0]
        clip = pipeline.finish(clip, "float32" if mixes else output_dtype)
        return (clip, label, e["metadata"]) if return_metadata else (clip, label)

    ds = pipeline.assemble(
        ds,
        load,
        transform,
        batch_size,
        unbatch=views > 1 or repeat_aug > 1,
        drop_remainder=drop_remainder,
        num_parallel_calls=num_parallel_calls,
        deterministic=deterministic,
    )
    if mixes:
        ds = pipeline.label_step(
            ds, num_classes, mixup, cutmix, seed=seed, output_dtype=output_dtype
        )
    return pipeline.finalize(ds)
