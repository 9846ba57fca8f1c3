"""Frame index sampling (pure NumPy, run before decoding).

Three strategies:

- ``segment``: TSN. The video is split into ``num_segments`` equal segments
  and one frame is taken from each: a random frame of the segment in training,
  the centre in evaluation. For ``num_clips`` evaluation clips, clip ``c``
  takes the frame at fraction ``(c + 0.5) / num_clips`` of every segment
  (the centre when ``num_clips == 1``).
- ``dense``: ``clip_length`` frames ``interval`` apart (I3D/SlowFast/TAda
  K400). Training takes a uniformly random start; evaluation takes
  ``num_clips`` starts evenly spaced over the video, clip ``c`` starting at
  ``floor(max_start * (c + 0.5) / num_clips + 0.5)`` (the centre clip when
  ``num_clips == 1``).
- ``all``: every frame (optionally at most ``max_frames``, evenly spaced).

Short videos LOOP: indices are taken modulo the number of frames, so a 10-frame
video sampled densely for 16 frames at interval 1 gives 0..9, 0..5. (Padding by
repeating the last frame is the other common choice; looping keeps motion in
every position of the clip.) Segment sampling with more segments than frames
gives ``floor(i * num_frames / num_segments)``, i.e. repeats frames in order.

Each strategy is written twice, side by side: in NumPy (``segment_indices``, run before PyAV
decodes) and in TF ops (``tf_segment_indices``, run inside a graph: the TFRecord reader, the
serving signatures), and the two give the same evaluation indices. One table, ``NAMES``, maps
every accepted name and alias to its kind and ``SAMPLERS`` maps the kind to its class;
:func:`sampler_config` turns a name or config, a clip length and an interval into the config
every other module stores and passes on, and :func:`get_sampler` into a :class:`Sampler`.
"""

import numpy as np
import tensorflow as tf

from tfvideo.data.augment import stateless_seed


def _rng(rng):
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    return rng


def _check(num_frames, **positive):
    if int(num_frames) < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    for name, value in positive.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def _check_clip(clip_index, num_clips):
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    if not 0 <= clip_index < num_clips:
        raise ValueError(f"clip_index must be in [0, {num_clips}), got {clip_index}")


def segment_indices(num_frames, num_segments, training=False, rng=None, clip_index=0, num_clips=1):
    """TSN segment sampling: one frame per segment.

    Args:
        num_frames: frames in the video.
        num_segments: number of segments (= frames returned).
        training: random frame in each segment; otherwise a fixed position.
        rng: ``np.random.Generator`` or seed (training only).
        clip_index, num_clips: evaluation clip ``c`` of ``n`` takes fraction
            ``(c + 0.5) / n`` of each segment.

    Returns:
        int64 array ``[num_segments]``, non-decreasing, in ``[0, num_frames)``.

    >>> segment_indices(80, 8).tolist()
    [5, 15, 25, 35, 45, 55, 65, 75]
    """
    _check(num_frames, num_segments=num_segments)
    _check_clip(clip_index, num_clips)
    n, k = int(num_frames), int(num_segments)
    if n < k:
        return (np.arange(k) * n // k).astype(np.int64)
    starts = np.arange(k) * n / k
    length = n / k
    if training:
        offsets = _rng(rng).random(k) * length
    else:
        offsets = np.full(k, length * (clip_index + 0.5) / num_clips)
    idx = np.floor(starts + offsets).astype(np.int64)
    ends = np.floor(starts + length).astype(np.int64) - 1
    return np.clip(np.minimum(idx, ends), 0, n - 1)


def tf_segment_indices(
    num_frames, num_segments, training=False, seed=None, clip_index=0, num_clips=1
):
    """:func:`segment_indices` in TF ops (the same values in evaluation).

    Args:
        num_frames: scalar int tensor, frames in the video.
        num_segments: Python int.
        training: random frame per segment (stateless with ``seed``, a ``[2]`` int tensor).
        seed: see ``training``; ``None`` draws one.
        clip_index: evaluation clip ``c`` of ``num_clips`` takes fraction
            ``(c + 0.5) / num_clips`` of each segment.
        num_clips: see ``clip_index``.

    Returns:
        int32 tensor ``[num_segments]``.
    """
    n = tf.cast(num_frames, tf.int32)
    k = int(num_segments)
    nf, kf = tf.cast(n, tf.float64), float(k)
    positions = tf.range(k, dtype=tf.float64)
    length = nf / kf
    starts = positions * length
    if training:
        offsets = tf.random.stateless_uniform([k], stateless_seed(seed), dtype=tf.float64) * length
    else:
        offsets = tf.fill([k], length * (clip_index + 0.5) / num_clips)
    idx = tf.cast(tf.floor(starts + offsets), tf.int32)
    ends = tf.cast(tf.floor(starts + length), tf.int32) - 1
    idx = tf.clip_by_value(tf.minimum(idx, ends), 0, tf.maximum(n - 1, 0))
    short = tf.range(k, dtype=tf.int32) * n // k  # fewer frames than segments: repeat in order
    return tf.where(n < k, short, idx)


def dense_indices(
    num_frames, clip_length, interval=1, training=False, rng=None, clip_index=0, num_clips=1
):
    """Dense clip: ``clip_length`` frames ``interval`` apart.

    Indices are taken modulo ``num_frames`` (short videos loop).

    >>> dense_indices(100, 4, 8).tolist()   # centre clip: span 25, start 38
    [38, 46, 54, 62]
    >>> dense_indices(5, 8, 1).tolist()
    [0, 1, 2, 3, 4, 0, 1, 2]
    """
    _check(num_frames, clip_length=clip_length, interval=interval)
    _check_clip(clip_index, num_clips)
    n = int(num_frames)
    span = (int(clip_length) - 1) * int(interval) + 1
    max_start = max(n - span, 0)
    if training:
        start = int(_rng(rng).integers(0, max_start + 1))
    else:
        start = int(np.floor(max_start * (clip_index + 0.5) / num_clips + 0.5))
    idx = start + np.arange(int(clip_length)) * int(interval)
    return (idx % n).astype(np.int64)


def tf_dense_indices(
    num_frames, clip_length, interval=1, training=False, seed=None, clip_index=0, num_clips=1
):
    """:func:`dense_indices` in TF ops (short videos loop); int32 ``[clip_length]``."""
    n = tf.cast(num_frames, tf.int32)
    span = (int(clip_length) - 1) * int(interval) + 1
    max_start = tf.maximum(n - span, 0)
    if training:
        start = tf.random.stateless_uniform(
            [], stateless_seed(seed), 0, max_start + 1, dtype=tf.int32
        )
    else:
        start = tf.cast(
            tf.floor(tf.cast(max_start, tf.float64) * (clip_index + 0.5) / num_clips + 0.5),
            tf.int32,
        )
    idx = start + tf.range(int(clip_length), dtype=tf.int32) * int(interval)
    return tf.math.floormod(idx, tf.maximum(n, 1))


def all_indices(num_frames, max_frames=None):
    """Every frame, or ``max_frames`` evenly spaced ones."""
    _check(num_frames)
    n = int(num_frames)
    if max_frames is None or max_frames >= n:
        return np.arange(n, dtype=np.int64)
    return np.floor((np.arange(max_frames) + 0.5) * n / max_frames).astype(np.int64)


def tf_all_indices(num_frames, max_frames=None):
    """:func:`all_indices` in TF ops; int32 ``[num_frames]`` (or ``[max_frames]``)."""
    n = tf.cast(num_frames, tf.int32)
    if max_frames is None:
        return tf.range(n)
    m = int(max_frames)
    spaced = tf.cast(
        tf.floor((tf.range(m, dtype=tf.float64) + 0.5) * tf.cast(n, tf.float64) / m), tf.int32
    )
    return tf.cond(n <= m, lambda: tf.range(n), lambda: spaced)


class Sampler:
    """Base class. ``sampler(num_frames, training, rng, clip_index,
    num_clips)`` -> int64 indices ``[self.clip_frames]`` (NumPy);
    ``sampler.tf_indices(num_frames, training, seed, clip_index, num_clips)``
    -> the same as int32 TF ops."""

    kind = None
    length_arg = None  # the constructor argument that sets the clip length

    @classmethod
    def defaults(cls, num_frames, interval):
        """Constructor arguments a bare kind name gets for ``num_frames``-frame clips."""
        raise NotImplementedError

    @property
    def clip_frames(self):
        raise NotImplementedError

    def __call__(self, num_frames, training=False, rng=None, clip_index=0, num_clips=1):
        raise NotImplementedError

    def tf_indices(self, num_frames, training=False, seed=None, clip_index=0, num_clips=1):
        """The indices in TF ops (``num_frames`` may be a tensor; a stateless ``seed``)."""
        raise NotImplementedError

    def multi_clip(self, num_frames, num_clips):
        """Evaluation indices for all clips, ``[num_clips, clip_frames]``."""
        return np.stack([self(num_frames, False, None, c, num_clips) for c in range(num_clips)])

    def tf_multi_clip(self, num_frames, num_clips):
        """:meth:`multi_clip` in TF ops (int32)."""
        return tf.stack(
            [self.tf_indices(num_frames, False, None, c, num_clips) for c in range(num_clips)]
        )

    def get_config(self):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "kind")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()


class SegmentSampler(Sampler):
    """TSN segment sampling of ``num_segments`` frames.

    >>> SegmentSampler(8)(80).tolist()
    [5, 15, 25, 35, 45, 55, 65, 75]
    """

    kind = "segment"
    length_arg = "num_segments"

    def __init__(self, num_segments):
        if int(num_segments) < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        self.num_segments = int(num_segments)

    @classmethod
    def defaults(cls, num_frames, interval):
        return {} if num_frames is None else {"num_segments": num_frames}

    @property
    def clip_frames(self):
        return self.num_segments

    def __call__(self, num_frames, training=False, rng=None, clip_index=0, num_clips=1):
        return segment_indices(num_frames, self.num_segments, training, rng, clip_index, num_clips)

    def tf_indices(self, num_frames, training=False, seed=None, clip_index=0, num_clips=1):
        return tf_segment_indices(
            num_frames, self.num_segments, training, seed, clip_index, num_clips
        )

    def get_config(self):
        return {"kind": self.kind, "num_segments": self.num_segments}


class DenseSampler(Sampler):
    """Dense clips of ``clip_length`` frames, ``interval`` apart.

    >>> DenseSampler(4, 2)(20).tolist()
    [7, 9, 11, 13]
    """

    kind = "dense"
    length_arg = "clip_length"

    def __init__(self, clip_length, interval=1):
        if int(clip_length) < 1:
            raise ValueError(f"clip_length must be >= 1, got {clip_length}")
        if int(interval) < 1:
            raise ValueError(f"interval must be >= 1, got {interval}")
        self.clip_length = int(clip_length)
        self.interval = int(interval)

    @classmethod
    def defaults(cls, num_frames, interval):
        config = {"interval": interval}
        if num_frames is not None:
            config["clip_length"] = num_frames
        return config

    @property
    def clip_frames(self):
        return self.clip_length

    def __call__(self, num_frames, training=False, rng=None, clip_index=0, num_clips=1):
        return dense_indices(
            num_frames, self.clip_length, self.interval, training, rng, clip_index, num_clips
        )

    def tf_indices(self, num_frames, training=False, seed=None, clip_index=0, num_clips=1):
        return tf_dense_indices(
            num_frames, self.clip_length, self.interval, training, seed, clip_index, num_clips
        )

    def get_config(self):
        return {"kind": self.kind, "clip_length": self.clip_length, "interval": self.interval}


class AllFramesSampler(Sampler):
    """All frames (variable length unless ``max_frames`` is set; in a batched
    pipeline use it with ``batch_size=1`` or set ``max_frames``)."""

    kind = "all"
    length_arg = "max_frames"

    def __init__(self, max_frames=None):
        self.max_frames = None if max_frames is None else int(max_frames)

    @classmethod
    def defaults(cls, num_frames, interval):
        return {}  # the kind's name means every frame, whatever the clip length elsewhere

    @property
    def clip_frames(self):
        return self.max_frames

    def __call__(self, num_frames, training=False, rng=None, clip_index=0, num_clips=1):
        return all_indices(num_frames, self.max_frames)

    def tf_indices(self, num_frames, training=False, seed=None, clip_index=0, num_clips=1):
        return tf_all_indices(num_frames, self.max_frames)

    def get_config(self):
        return {"kind": self.kind, "max_frames": self.max_frames}


# The one sampler table: kind -> class, and every accepted name or alias -> kind.
SAMPLERS = {c.kind: c for c in (SegmentSampler, DenseSampler, AllFramesSampler)}
NAMES = {
    **{kind: kind for kind in SAMPLERS},
    "segments": "segment",
    "tsn": "segment",
    "uniform": "segment",
    "interval": "dense",
    "i3d": "dense",
    "all_frames": "all",
}


def sampling_kind(name):
    """The kind (``"segment"``, ``"dense"`` or ``"all"``) of a sampling name or alias.

    >>> sampling_kind("segments"), sampling_kind("i3d")
    ('segment', 'dense')
    """
    if name not in NAMES:
        aliases = sorted(set(NAMES) - set(SAMPLERS))
        raise ValueError(
            f"unknown sampling kind {name!r}; expected one of "
            f"{sorted(SAMPLERS)} (or aliases {aliases})"
        )
    return NAMES[name]


def _as_config(spec):
    if isinstance(spec, Sampler):
        return spec.get_config()
    if isinstance(spec, dict):
        return dict(spec)
    return {"kind": spec}


def _build(config):
    """A sampler from a config whose ``kind`` may be an alias; a generic ``num_frames`` key is
    the clip length of any kind."""
    config = dict(config)
    cls = SAMPLERS[sampling_kind(config.pop("kind", None))]
    if "num_frames" in config:
        length = config.pop("num_frames")
        config.setdefault(cls.length_arg, length)
    try:
        return cls(**config)
    except TypeError as error:
        raise ValueError(f"bad {cls.kind!r} sampling config {config!r}: {error}") from None


def get_sampler(spec, **kwargs):
    """A sampler from an instance, a config dict (``{"kind": ...}``), or a
    kind name plus keyword arguments.

    Kind names: ``"segment"`` (aliases ``"segments"``, ``"tsn"``,
    ``"uniform"``), ``"dense"`` (``"interval"``, ``"i3d"``), ``"all"``
    (``"all_frames"``): the table ``NAMES``. A generic ``num_frames``
    argument is accepted as the clip length of any kind (``num_segments`` /
    ``clip_length`` / ``max_frames``).

    >>> get_sampler("dense", clip_length=8, interval=4)
    DenseSampler(clip_length=8, interval=4)
    >>> get_sampler({"kind": "segment", "num_segments": 8})
    SegmentSampler(num_segments=8)
    >>> get_sampler("segments", num_frames=16)
    SegmentSampler(num_segments=16)
    """
    if isinstance(spec, Sampler):
        return spec
    config = _as_config(spec)
    config.update(kwargs)
    return _build(config)


def sampler_config(sampling, num_frames=None, interval=1):
    """The normalised sampler config of a sampling name, config dict or sampler, for clips of
    ``num_frames`` frames ``interval`` apart.

    A name (or alias, see ``NAMES``) takes its clip length from ``num_frames`` and, for dense
    sampling, its stride from ``interval``; ``"all"`` means every frame. A config or sampler
    keeps its own values and takes only the missing ones from the arguments.

    >>> sampler_config("segments", 8)
    {'kind': 'segment', 'num_segments': 8}
    >>> sampler_config("dense", 16, interval=4)
    {'kind': 'dense', 'clip_length': 16, 'interval': 4}
    >>> sampler_config({"kind": "dense", "clip_length": 8}, 16, 2)
    {'kind': 'dense', 'clip_length': 8, 'interval': 2}
    """
    config = _as_config(sampling)
    cls = SAMPLERS[sampling_kind(config.get("kind"))]
    for key, value in cls.defaults(num_frames, interval).items():
        config.setdefault(key, value)
    return _build(config).get_config()
