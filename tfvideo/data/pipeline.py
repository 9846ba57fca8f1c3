"""``tf.data`` pipelines as named steps: source -> sample -> decode -> transform -> batch.

Two sources run the same steps in DMVR's order (sample indices before decoding):

- **source**: :func:`file_dataset`, ``(path, label, video_index)`` from a
  :class:`VideoDataset`, sharded by ``input_context`` (one shard per input
  pipeline), shuffled in training; or the SequenceExample shards of
  :func:`tfvideo.data.tfrecords.tfrecord_dataset`. :func:`with_seeds` gives
  every element its own int64, so a seeded pipeline is reproducible.
- **sample** and **decode**: for videos, ``tf.numpy_function`` around PyAV
  samples indices once the frame count is known and decodes only those frames
  (``num_parallel_calls=AUTOTUNE``; PyAV releases the GIL while FFmpeg
  decodes, so parallel calls scale with cores). A video that fails is skipped
  and recorded in an :class:`ErrorLog` (``on_error="skip"``) or stops the
  pipeline (``"raise"``). For TFRecords, ``Sampler.tf_indices`` from the
  number of stored frames, then only those JPEGs are decoded, in TF ops.
- **transform**: the same clip-consistent augmentation in TF ops for both
  sources, :func:`train_step` (``augment.train_transform``) and
  :func:`eval_views` (``augment.eval_transform``, one row per view, see
  :func:`view_rows`).
- **batch**: :func:`assemble` runs load -> transform -> batch after a
  source; :func:`finalize` prefetches (AUTOTUNE) and sets the options.

Distribution: use :func:`distribute_train_dataset` (it calls
``strategy.distribute_datasets_from_function``; each input pipeline reads
``input_context.shard`` of the *file list*, so no worker decodes a video that
another one uses). With ``strategy.experimental_distribute_dataset`` instead,
TensorFlow's auto-sharding falls back to DATA sharding for this in-memory
file list: correct, but every worker decodes every video and keeps 1/N; the
video builders set the policy to DATA explicitly so that choice is visible.

The same pipeline runs on a ``tf.data`` service (dispatcher + workers) with
:func:`distribute_on_service`.
"""

import atexit
import os
import threading
import time

import numpy as np
import tensorflow as tf

from tfvideo.data import augment as aug
from tfvideo.data import mixing
from tfvideo.data import randaugment as ra
from tfvideo.data.annotations import VideoDataset
from tfvideo.data.decode import decode_video
from tfvideo.data.errors import ErrorLog, VideoDecodeError, check_on_error
from tfvideo.data.sampling import get_sampler

AUTOTUNE = tf.data.AUTOTUNE


class _Shutdown:
    """Lets live iterators go idle before the interpreter finalises.

    A ``tf.numpy_function`` still in flight when Python finalises can never
    take the GIL again, and the iterator's destructor then waits for it
    forever (the process hangs at exit, e.g. after ``model.fit`` on a
    repeated dataset). At exit, new decode calls fail at once so the tf.data
    buffers fill and their threads go idle, and we wait briefly for the calls
    in flight to return.
    """

    def __init__(self):
        self.event = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = 0

    def enter(self):
        if self.event.is_set():
            raise RuntimeError("tfvideo: the interpreter is shutting down")
        with self.lock:
            self.in_flight += 1

    def leave(self):
        with self.lock:
            self.in_flight -= 1

    def at_exit(self, timeout=3.0, quiet=0.25):
        self.event.set()
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            now = time.monotonic()
            if self.in_flight == 0:
                quiet_since = quiet_since or now
                if now - quiet_since >= quiet:
                    return
            else:
                quiet_since = None
            time.sleep(0.01)


_SHUTDOWN = _Shutdown()
atexit.register(_SHUTDOWN.at_exit)


def _as_sampler(sampler):
    if sampler is None:
        raise ValueError("sampler is required, e.g. SegmentSampler(8) or DenseSampler(16, 4)")
    return get_sampler(sampler)


def file_dataset(dataset, input_context=None, shuffle=False, seed=None):
    """``tf.data.Dataset`` of ``(path, label, video_index)`` (string, int32,
    int32; the label is a float32 multi-hot ``[C]`` for a multi-label dataset), sharded
    with ``input_context`` (``num_input_pipelines``,
    ``input_pipeline_id``) before any shuffling or decoding."""
    if not isinstance(dataset, VideoDataset):
        raise TypeError(f"dataset must be a VideoDataset, got {type(dataset).__name__}")
    if len(dataset) == 0:
        raise ValueError(f"dataset {dataset.name!r} has no samples")
    paths = tf.constant(dataset.paths, tf.string)
    if dataset.multi_label:
        labels = tf.constant(dataset.label_matrix(), tf.float32)  # multi-hot [N, C]
    else:
        labels = tf.constant(dataset.labels, tf.int32)
    ids = tf.range(len(dataset), dtype=tf.int32)
    ds = tf.data.Dataset.from_tensor_slices((paths, labels, ids))
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if shuffle:
        ds = ds.shuffle(len(dataset), seed=seed, reshuffle_each_iteration=True)
    return ds


# --------------------------------------------------------------------------- the shared steps


def with_seeds(ds, seed=None):
    """``(element, r)`` for every element: ``r`` is an int64 of
    ``tf.data.Dataset.random(seed)``, redrawn every epoch (the per-element seed
    of sampling and augmentation, see ``augment.seed_from_int``)."""
    rand = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip((ds, rand))


def finish(clip, output_dtype):
    """The output dtype: ``"uint8"`` rounds and clips to [0, 255] (uint8
    clips pass as they are), any other dtype is a cast."""
    if output_dtype == "uint8":
        if clip.dtype == tf.uint8:
            return clip
        return tf.cast(tf.round(tf.clip_by_value(tf.cast(clip, tf.float32), 0.0, 255.0)), tf.uint8)
    return tf.cast(clip, output_dtype)


def check_views(num_clips, num_crops):
    """Validates the evaluation views and returns their number per video."""
    if num_crops not in (1, 3):
        raise ValueError(f"num_crops must be 1 or 3, got {num_crops!r}")
    if int(num_clips) < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips!r}")
    return int(num_clips) * int(num_crops)


def train_step(
    crop_size,
    short_side=256,
    crop="multi_scale",
    flip=True,
    flip_table=None,
    scales=aug.MULTI_SCALE_SCALES,
    jitter=(256, 320),
    output_dtype="float32",
    color_jitter=0.0,
    randaugment=None,
):
    """The training transform step: ``(frames, label, seed) -> (clip, label)``,
    :func:`tfvideo.data.augment.train_transform`, then colour jitter (``color_jitter``: the
    brightness, contrast and saturation strength of :func:`tfvideo.data.randaugment.color_jitter`,
    0 = off) and RandAugment (``randaugment``: ``(N, M)`` or None) on the crop, then
    :func:`finish`. Every random parameter is drawn once per clip."""
    if randaugment is not None:
        randaugment = ra.check_rand_augment(*randaugment)

    def transform(frames, label, seed):
        s_extra = tf.random.experimental.stateless_fold_in(aug.stateless_seed(seed), 1)
        s_color, s_rand = aug.split_seed(s_extra, 2)
        clip, label = aug.train_transform(
            frames,
            label,
            size=crop_size,
            short_side=short_side,
            crop=crop,
            flip=flip,
            flip_table=flip_table,
            scales=scales,
            jitter=jitter,
            seed=seed,
        )
        if color_jitter:
            strength = float(color_jitter)
            clip = ra.color_jitter(clip, strength, strength, strength, seed=s_color)
        if randaugment is not None:
            clip = ra.rand_augment(clip, *randaugment, seed=s_rand)
        return finish(clip, output_dtype), label

    return transform


def repeated_views(transform, repeat_aug):
    """Repeated augmentation: ``(frames, label, seed) -> (clips [K, ...], labels [K, ...])``,
    ``transform`` run ``repeat_aug`` (K) times on the SAME decoded frames with K seeds split
    from ``seed``; unbatch the result to get one view per row. K = 1 is ``transform`` itself."""
    k = check_repeat_aug(repeat_aug)
    if k == 1:
        return transform

    def views(frames, label, seed):
        outs = [transform(frames, label, s) for s in aug.split_seed(seed, k)]
        return tf.stack([c for c, _ in outs]), tf.stack([l for _, l in outs])

    return views


def check_repeat_aug(repeat_aug):
    if isinstance(repeat_aug, bool) or int(repeat_aug) != repeat_aug or repeat_aug < 1:
        raise ValueError(f"repeat_aug must be an integer >= 1, got {repeat_aug!r}")
    return int(repeat_aug)


def label_vectors(labels, num_classes):
    """Batched labels as float32 ``[batch, num_classes]``: class indices are one-hot encoded,
    vectors (multi-hot, soft) pass as they are."""
    if labels.shape.rank == 1:
        return tf.one_hot(labels, num_classes, dtype=tf.float32)
    return tf.cast(labels, tf.float32)


def mix_step(num_classes, mixup_alpha=0.0, cutmix_alpha=0.0, output_dtype="float32"):
    """The batch step of MixUp / CutMix (:func:`tfvideo.data.mixing.mix_batch`):
    ``((clips, labels), r) -> (clips, soft labels)``, ``r`` the batch's int64 seed."""

    def mix(batch, r):
        clips, labels = batch
        clips, labels = mixing.mix_batch(
            clips,
            label_vectors(labels, num_classes),
            mixup_alpha,
            cutmix_alpha,
            seed=tf.random.experimental.stateless_fold_in(aug.seed_from_int(r), 2),
        )
        return finish(clips, output_dtype), labels

    return mix


def eval_views(
    frames, num_clips, crop_size, short_side, num_crops=1, output_dtype="float32", clip_frames=None
):
    """The evaluation transform step: the frames of ``num_clips`` clips
    ``[num_clips * T, H, W, 3]`` -> ``[num_clips * num_crops, T, S, S, 3]``
    (clip ``c``'s crops in rows ``c * num_crops ...``), each clip through
    :func:`tfvideo.data.augment.eval_transform`, then :func:`finish`."""
    views = int(num_clips) * int(num_crops)
    clips = tf.reshape(frames, tf.concat([[int(num_clips), -1], tf.shape(frames)[1:]], 0))
    crops = tf.map_fn(
        lambda c: aug.eval_transform(c, crop_size, short_side, num_crops),
        clips,
        fn_output_signature=tf.TensorSpec(
            [num_crops, clip_frames, crop_size, crop_size, 3], tf.float32
        ),
    )
    crops = tf.reshape(crops, tf.concat([[views], tf.shape(crops)[2:]], 0))
    return finish(crops, output_dtype)


def label_step(
    ds,
    num_classes,
    mixup=0.0,
    cutmix=0.0,
    one_hot=False,
    seed=None,
    skip_batches=0,
    output_dtype="float32",
    num_parallel_calls=AUTOTUNE,
):
    """The batch step after ``batch`` for both sources: MixUp / CutMix (:func:`mix_step`, one
    seed per batch from its own stream, ``skip_batches`` of it skipped when resuming) or, with
    ``one_hot``, labels as float vectors (:func:`label_vectors`); else ``ds`` unchanged."""
    if mixing.check_mix(mixup, cutmix):
        batch_seeds = tf.data.Dataset.random(
            seed=None if seed is None else seed + 1, rerandomize_each_iteration=True
        ).skip(int(skip_batches))
        return tf.data.Dataset.zip((ds, batch_seeds)).map(
            mix_step(num_classes, mixup, cutmix, output_dtype),
            num_parallel_calls=num_parallel_calls,
        )
    if one_hot:
        return ds.map(
            lambda clips, labels: (clips, label_vectors(labels, num_classes)),
            num_parallel_calls=num_parallel_calls,
        )
    return ds


def view_rows(views, label, video_index):
    """One evaluation element per view: ``{"clip", "label", "video_index",
    "view_index"}`` (unbatch them to get one view per row)."""
    count = views.shape[0] if views.shape[0] is not None else tf.shape(views)[0]
    return {
        "clip": views,
        "label": tf.repeat(tf.convert_to_tensor(label)[tf.newaxis], count, axis=0),
        "video_index": tf.fill([count], tf.cast(video_index, tf.int32)),
        "view_index": tf.range(count, dtype=tf.int32),
    }


def assemble(
    ds,
    load,
    transform,
    batch_size=None,
    unbatch=False,
    drop_remainder=False,
    num_parallel_calls=AUTOTUNE,
    deterministic=None,
):
    """The steps after a source, the same for every source.

    Args:
        ds: the source's elements.
        load: sample + decode: an element -> a dict with ``frames``, ``label``,
            ``video_index``, ``seed`` (of the transform) and more; elements whose
            dict has ``ok`` False (a video that failed to decode) are dropped.
        transform: that dict -> an output element.
        batch_size: batch the output (``None``: unbatched).
        unbatch: the transform gives several views (:func:`view_rows`): one per row.
        drop_remainder: drop the last, smaller batch.
        num_parallel_calls: of the maps and the batch.
        deterministic: of the maps and the batch (``None``: the dataset's option).
    """
    ds = ds.map(load, num_parallel_calls=num_parallel_calls, deterministic=deterministic)
    if "ok" in ds.element_spec:
        ds = ds.filter(lambda element: element["ok"])
    ds = ds.map(transform, num_parallel_calls=num_parallel_calls, deterministic=deterministic)
    if unbatch:
        ds = ds.unbatch()
    if batch_size:
        ds = ds.batch(
            int(batch_size),
            drop_remainder=drop_remainder,
            num_parallel_calls=num_parallel_calls,
            deterministic=deterministic,
        )
    return ds


def decode_threadpool_size(threadpool_size="auto"):
    """Threads of the pipeline's private ``tf.data`` thread pool.

    ``"auto"`` is ``max(4, 2 * os.cpu_count())``. tf.data's default pool has one thread
    per core, but a decode call holds its thread while it waits for the GIL between
    FFmpeg calls, so with one thread per core the resize/crop/batch ops wait behind
    decoding that is not using the CPU. Measured on 2 cores (benchmarks/data.py
    inputs): 45 clips/s with the default pool, 54-56 with 4 or 8 threads, and occasional
    stalls to 25 clips/s with the default. ``None`` keeps tf.data's default.

    >>> decode_threadpool_size(6), decode_threadpool_size(None)
    (6, None)
    """
    if threadpool_size == "auto":
        return max(4, 2 * (os.cpu_count() or 1))
    if threadpool_size is None:
        return None
    if (
        isinstance(threadpool_size, bool)
        or not isinstance(threadpool_size, int)
        or threadpool_size < 1
    ):
        raise ValueError(
            f"threadpool_size must be 'auto', None or a positive int, got {threadpool_size!r}"
        )
    return threadpool_size


def finalize(
    ds,
    prefetch=AUTOTUNE,
    deterministic=None,
    threadpool_size=None,
    error_log=None,
    shard_by_data=False,
):
    """Prefetch and the pipeline's options: determinism, a private thread pool
    (:func:`decode_threadpool_size`), DATA auto-sharding (``shard_by_data``, see
    the module docstring); ``error_log`` is attached to the returned object."""
    options = tf.data.Options()
    if deterministic is not None:
        options.deterministic = deterministic
    if shard_by_data:
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
    threads = decode_threadpool_size(threadpool_size)
    if threads is not None:
        options.threading.private_threadpool_size = threads
    ds = ds.prefetch(prefetch).with_options(options)
    if error_log is not None:
        ds.error_log = error_log
    return ds


# --------------------------------------------------------------------------- the PyAV source


def _make_loader(sampler, training, num_clips, on_error, error_log):
    """Python function ``(path, seed) -> (frames, ok)`` for
    ``tf.numpy_function``. Frames are ``[num_clips * T, H, W, 3]``."""
    clip_frames = sampler.clip_frames

    def load(path, seed):
        _SHUTDOWN.enter()
        try:
            return _load(path, seed)
        finally:
            _SHUTDOWN.leave()

    def _load(path, seed):
        path = path.decode("utf-8") if isinstance(path, bytes) else str(path)
        rng = np.random.default_rng(int(seed) & 0x7FFFFFFFFFFFFFFF)

        def indices(num_frames):
            if training:
                return sampler(num_frames, training=True, rng=rng)
            return sampler.multi_clip(num_frames, num_clips).reshape(-1)

        try:
            frames = decode_video(path, indices)
            error_log.record_success()
            return frames, True
        except Exception as err:  # pylint: disable=broad-except
            if on_error == "raise":
                raise
            message = (
                err.cause if isinstance(err, VideoDecodeError) else f"{type(err).__name__}: {err}"
            )
            error_log.record(path, message)
            t = (clip_frames or 1) * num_clips
            return np.zeros((t, 1, 1, 3), np.uint8), False

    return load


def _decode_map(sampler, training, num_clips, on_error, error_log):
    """The sample + decode step of videos: ``((path, label, video_index), r)``
    -> the dict :func:`assemble` expects."""
    load = _make_loader(sampler, training, num_clips, on_error, error_log)
    t = None if sampler.clip_frames is None else sampler.clip_frames * num_clips

    def fn(element, r):
        path, label, video_index = element
        frames, ok = tf.numpy_function(
            load, [path, r], [tf.uint8, tf.bool], stateful=True, name="decode_video"
        )
        frames.set_shape([t, None, None, 3])
        ok.set_shape([])
        return {
            "frames": frames,
            "label": label,
            "video_index": video_index,
            "seed": aug.seed_from_int(r),
            "ok": ok,
        }

    return fn


def build_train_dataset(
    dataset,
    sampler,
    batch_size,
    crop_size=224,
    short_side=256,
    crop="multi_scale",
    flip=True,
    flip_labels=True,
    scales=aug.MULTI_SCALE_SCALES,
    jitter=(256, 320),
    on_error="skip",
    error_log=None,
    input_context=None,
    seed=None,
    repeat=False,
    drop_remainder=True,
    output_dtype="float32",
    num_parallel_calls=AUTOTUNE,
    deterministic=None,
    prefetch=AUTOTUNE,
    threadpool_size="auto",
    start=0,
    color_jitter=0.0,
    randaugment=None,
    repeat_aug=1,
    mixup=0.0,
    cutmix=0.0,
    one_hot=False,
):
    """Training ``tf.data.Dataset`` of ``(clips, labels)``.

    Args:
        dataset: a :class:`VideoDataset`.
        sampler: ``SegmentSampler``/``DenseSampler`` or a config for
            ``get_sampler`` (random offsets/starts are used).
        batch_size: per-pipeline batch size (under ``distribute_train_dataset``
            the per-replica size).
        crop_size, short_side, crop, scales, jitter: see
            :func:`tfvideo.data.augment.train_transform`.
        flip: random horizontal flip (same for the whole clip).
        flip_labels: map the label through ``dataset.label_flip_map`` when a
            clip is flipped (SSv2 left/right classes).
        on_error: ``"skip"`` (count in ``error_log`` and go on) or
            ``"raise"``.
        error_log: an :class:`ErrorLog` receiving skipped videos (one is made
            if None); also reachable as ``returned_dataset.error_log``.
        input_context: ``tf.distribute.InputContext``; the file list is
            sharded by it.
        seed: makes sampling and augmentation reproducible.
        repeat: repeat forever (then give Keras ``steps_per_epoch``).
        output_dtype: ``"float32"`` (values in [0, 255]) or ``"uint8"``.
        threadpool_size: threads of the private tf.data pool (see
            :func:`decode_threadpool_size`; ``"auto"`` oversubscribes the cores 2x).
        color_jitter, randaugment: see :func:`train_step` (per clip, after the crop).
        repeat_aug: repeated augmentation, K views of every decoded clip (:func:`repeated_views`);
            the K views of a video are consecutive rows of a batch.
        mixup, cutmix: Beta alphas of batch-level MixUp / CutMix (0: off; both on: one of the
            two per batch, see :func:`tfvideo.data.mixing.mix_batch`); they imply ``one_hot``.
        one_hot: labels as float32 ``[batch, num_classes]`` vectors.
        start: skip this many videos of the (shuffled, repeated) stream before
            decoding (clips / ``repeat_aug``), so a seeded pipeline built again at video
            ``start`` goes on exactly where one built at 0 was (resuming a training run).

    Returns:
        the dataset: clips ``[batch, T, crop_size, crop_size, 3]``, labels
        ``[batch]`` int32 (``[batch, num_classes]`` float32 with ``one_hot``, mixing or a
        multi-label dataset), with the error log attached as ``.error_log``
        (an attribute of this Python object only: keep your own reference
        when you transform the dataset further).
    """
    check_on_error(on_error)
    sampler = _as_sampler(sampler)
    if sampler.clip_frames is None and batch_size != 1:
        raise ValueError("a sampler without a fixed clip length needs batch_size=1")
    error_log = error_log if error_log is not None else ErrorLog("train")
    flip_table = dataset.flip_table() if (flip and flip_labels and dataset.label_flip_map) else None
    mixes = mixing.check_mix(mixup, cutmix)
    repeat_aug = check_repeat_aug(repeat_aug)
    ds = file_dataset(dataset, input_context, shuffle=True, seed=seed)
    if repeat:
        ds = ds.repeat()
    transform = repeated_views(
        train_step(
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
    ds = with_seeds(ds, seed)
    if start:
        ds = ds.skip(int(start))  # file names and seeds only: nothing decoded
    ds = assemble(
        ds,
        _decode_map(sampler, True, 1, on_error, error_log),
        lambda e: transform(e["frames"], e["label"], e["seed"]),
        batch_size,
        unbatch=repeat_aug > 1,
        drop_remainder=drop_remainder,
        num_parallel_calls=num_parallel_calls,
    )
    ds = label_step(
        ds,
        dataset.num_classes,
        mixup,
        cutmix,
        one_hot,
        seed,
        int(start) * repeat_aug // int(batch_size),
        output_dtype,
        num_parallel_calls,
    )
    return finalize(ds, prefetch, deterministic, threadpool_size, error_log, shard_by_data=True)


def build_eval_dataset(
    dataset,
    sampler,
    batch_size,
    num_clips=1,
    num_crops=1,
    crop_size=224,
    short_side=256,
    on_error="skip",
    error_log=None,
    input_context=None,
    output_dtype="float32",
    num_parallel_calls=AUTOTUNE,
    prefetch=AUTOTUNE,
    threadpool_size="auto",
):
    """Multi-view evaluation dataset.

    Each video gives ``num_clips`` temporal clips (sampler in evaluation mode,
    clip ``c`` of ``num_clips``) x ``num_crops`` spatial crops (1 = centre,
    3 = three crops along the long side), decoded in ONE pass per video. Views
    are flattened and batched; every element carries its ``video_index`` so
    predictions can be averaged per video with :func:`aggregate_views`.

    Returns:
        a dataset of dicts ``{"clip": [b, T, S, S, 3], "label": [b],
        "video_index": [b], "view_index": [b]}`` (dicts, so Keras never takes
        ``video_index`` for a sample weight; use :func:`as_keras_inputs` for
        ``model.evaluate``). ``on_error``, ``error_log``, ``input_context``,
        ``output_dtype`` and ``threadpool_size`` are as in :func:`build_train_dataset`.
    """
    check_on_error(on_error)
    sampler = _as_sampler(sampler)
    check_views(num_clips, num_crops)
    if sampler.clip_frames is None and (num_clips != 1 or batch_size != 1):
        raise ValueError("a sampler without a fixed clip length needs num_clips=1 and batch_size=1")
    error_log = error_log if error_log is not None else ErrorLog("eval")
    ds = file_dataset(dataset, input_context, shuffle=False)
    ds = ds.map(lambda *element: (element, tf.constant(0, tf.int64)))  # no random draws

    def transform(e):
        views = eval_views(
            e["frames"],
            num_clips,
            crop_size,
            short_side,
            num_crops,
            output_dtype,
            sampler.clip_frames,
        )
        return view_rows(views, e["label"], e["video_index"])

    ds = assemble(
        ds,
        _decode_map(sampler, False, num_clips, on_error, error_log),
        transform,
        batch_size,
        unbatch=True,
        num_parallel_calls=num_parallel_calls,
        deterministic=True,
    )
    return finalize(ds, prefetch, None, threadpool_size, error_log, shard_by_data=True)


def as_keras_inputs(eval_dataset):
    """Maps an evaluation dataset's dicts to ``(clip, label)`` for
    ``model.evaluate`` (one score per view, not per video)."""
    return eval_dataset.map(lambda d: (d["clip"], d["label"]))


def aggregate_views(predictions, video_indices, labels=None, softmax=False):
    """Averages per-view predictions per video.

    Args:
        predictions: ``[num_views_total, num_classes]`` logits or scores.
        video_indices: ``[num_views_total]`` video index of each row.
        labels: optional ``[num_views_total]`` labels, or ``[num_views_total, C]`` label
            vectors (multi-label); they must agree per video.
        softmax: average probabilities instead of raw values.

    Returns:
        ``(video_ids, averaged [num_videos, num_classes])`` and, with
        ``labels``, a third item: the per-video labels.

    >>> ids, avg = aggregate_views([[1., 0.], [3., 2.], [0., 1.]], [4, 4, 7])
    >>> ids.tolist(), avg.tolist()
    ([4, 7], [[2.0, 1.0], [0.0, 1.0]])
    """
    p = np.asarray(predictions, np.float64)
    v = np.asarray(video_indices).reshape(-1)
    if p.shape[0] != v.shape[0]:
        raise ValueError(f"predictions has {p.shape[0]} rows but video_indices has {v.shape[0]}")
    if softmax:
        e = np.exp(p - p.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
    ids, inverse = np.unique(v, return_inverse=True)
    sums = np.zeros((len(ids),) + p.shape[1:])
    np.add.at(sums, inverse, p)
    counts = np.bincount(inverse, minlength=len(ids)).reshape((-1,) + (1,) * (p.ndim - 1))
    avg = sums / counts
    if labels is None:
        return ids, avg
    lab = np.asarray(labels)
    lab = lab.reshape((v.shape[0],) + lab.shape[1:]) if lab.ndim > 1 else lab.reshape(-1)
    per_video = np.full((len(ids),) + lab.shape[1:], -1, lab.dtype)
    per_video[inverse] = lab
    if np.any(per_video[inverse] != lab):
        raise ValueError("labels differ between views of the same video")
    return ids, avg, per_video


def _distribute(builder, strategy, dataset, sampler, global_batch_size, kwargs):
    def fn(input_context):
        per_replica = input_context.get_per_replica_batch_size(global_batch_size)
        return builder(dataset, sampler, per_replica, input_context=input_context, **kwargs)

    return strategy.distribute_datasets_from_function(fn)


def distribute_train_dataset(strategy, dataset, sampler, global_batch_size, **kwargs):
    """``strategy.distribute_datasets_from_function`` around
    :func:`build_train_dataset`: each input pipeline reads its own shard of
    the file list and batches ``global_batch_size / num_replicas``."""
    return _distribute(build_train_dataset, strategy, dataset, sampler, global_batch_size, kwargs)


def distribute_eval_dataset(strategy, dataset, sampler, global_batch_size, **kwargs):
    """Like :func:`distribute_train_dataset` for :func:`build_eval_dataset`."""
    return _distribute(build_eval_dataset, strategy, dataset, sampler, global_batch_size, kwargs)


def distribute_on_service(
    dataset, service_address, processing_mode="distributed_epoch", job_name=None, compression="AUTO"
):
    """Runs ``dataset`` on a ``tf.data`` service (dispatcher + workers).

    Use when one machine's CPUs cannot decode fast enough: start a
    ``tf.data.experimental.service.DispatchServer`` and several
    ``WorkerServer``s (each worker must be a Python process that has imported
    ``tfvideo``, since decoding is a ``tf.numpy_function``; in practice run the
    workers with the same Python environment as the trainer), then read the
    pipeline through the service.

    Args:
        dataset: any ``tf.data.Dataset`` (e.g. from :func:`build_train_dataset`).
        service_address: ``"grpc://host:port"`` of the dispatcher.
        processing_mode: ``"distributed_epoch"`` (each element once, split
            across workers) or ``"parallel_epochs"`` (every worker runs the
            whole dataset).
        job_name: share one job between several consumers.
    """
    if processing_mode not in ("distributed_epoch", "parallel_epochs"):
        raise ValueError(
            f"processing_mode must be 'distributed_epoch' or "
            f"'parallel_epochs', got {processing_mode!r}"
        )
    return dataset.apply(
        tf.data.experimental.service.distribute(
            processing_mode=processing_mode,
            service=service_address,
            job_name=job_name,
            compression=compression,
        )
    )
