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
"""

import numpy as np


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
        raise ValueError(
            f"clip_index must be in [0, {num_clips}), got {clip_index}")


def segment_indices(num_frames, num_segments, training=False, rng=None,
                    clip_index=0, num_clips=1):
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


def dense_indices(num_frames, clip_length, interval=1, training=False,
                  rng=None, clip_index=0, num_clips=1):
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


def all_indices(num_frames, max_frames=None):
    """Every frame, or ``max_frames`` evenly spaced ones."""
    _check(num_frames)
    n = int(num_frames)
    if max_frames is None or max_frames >= n:
        return np.arange(n, dtype=np.int64)
    return np.floor((np.arange(max_frames) + 0.5) * n / max_frames).astype(
        np.int64)


class Sampler:
    """Base class. ``sampler(num_frames, training, rng, clip_index,
    num_clips)`` -> int64 indices ``[self.clip_frames]``."""

    kind = None

    @property
    def clip_frames(self):
        raise NotImplementedError

    def __call__(self, num_frames, training=False, rng=None, clip_index=0,
                 num_clips=1):
        raise NotImplementedError

    def multi_clip(self, num_frames, num_clips):
        """Evaluation indices for all clips, ``[num_clips, clip_frames]``."""
        return np.stack([self(num_frames, False, None, c, num_clips)
                         for c in range(num_clips)])

    def get_config(self):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()
                         if k != "kind")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return (type(self) is type(other)
                and self.get_config() == other.get_config())


class SegmentSampler(Sampler):
    """TSN segment sampling of ``num_segments`` frames.

    >>> SegmentSampler(8)(80).tolist()
    [5, 15, 25, 35, 45, 55, 65, 75]
    """

    kind = "segment"

    def __init__(self, num_segments):
        if int(num_segments) < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        self.num_segments = int(num_segments)

    @property
    def clip_frames(self):
        return self.num_segments

    def __call__(self, num_frames, training=False, rng=None, clip_index=0,
                 num_clips=1):
        return segment_indices(num_frames, self.num_segments, training, rng,
                               clip_index, num_clips)

    def get_config(self):
        return {"kind": self.kind, "num_segments": self.num_segments}


class DenseSampler(Sampler):
    """Dense clips of ``clip_length`` frames, ``interval`` apart.

    >>> DenseSampler(4, 2)(20).tolist()
    [7, 9, 11, 13]
    """

    kind = "dense"

    def __init__(self, clip_length, interval=1):
        if int(clip_length) < 1:
            raise ValueError(f"clip_length must be >= 1, got {clip_length}")
        if int(interval) < 1:
            raise ValueError(f"interval must be >= 1, got {interval}")
        self.clip_length = int(clip_length)
        self.interval = int(interval)

    @property
    def clip_frames(self):
        return self.clip_length

    def __call__(self, num_frames, training=False, rng=None, clip_index=0,
                 num_clips=1):
        return dense_indices(num_frames, self.clip_length, self.interval,
                             training, rng, clip_index, num_clips)

    def get_config(self):
        return {"kind": self.kind, "clip_length": self.clip_length,
                "interval": self.interval}


class AllFramesSampler(Sampler):
    """All frames (variable length unless ``max_frames`` is set; in a batched
    pipeline use it with ``batch_size=1`` or set ``max_frames``)."""

    kind = "all"

    def __init__(self, max_frames=None):
        self.max_frames = None if max_frames is None else int(max_frames)

    @property
    def clip_frames(self):
        return self.max_frames

    def __call__(self, num_frames, training=False, rng=None, clip_index=0,
                 num_clips=1):
        return all_indices(num_frames, self.max_frames)

    def get_config(self):
        return {"kind": self.kind, "max_frames": self.max_frames}


_SAMPLERS = {c.kind: c for c in (SegmentSampler, DenseSampler,
                                 AllFramesSampler)}


_ALIASES = {"segments": "segment", "tsn": "segment", "uniform": "segment",
            "interval": "dense", "i3d": "dense", "all_frames": "all"}
_LENGTH_ARG = {"segment": "num_segments", "dense": "clip_length",
               "all": "max_frames"}


def get_sampler(spec, **kwargs):
    """A sampler from an instance, a config dict (``{"kind": ...}``), or a
    kind name plus keyword arguments.

    Kind names: ``"segment"`` (aliases ``"segments"``, ``"tsn"``,
    ``"uniform"``), ``"dense"`` (``"interval"``, ``"i3d"``), ``"all"``. A
    generic ``num_frames`` argument is accepted as the clip length of any
    kind (``num_segments`` / ``clip_length`` / ``max_frames``).

    >>> get_sampler("dense", clip_length=8, interval=4)
    DenseSampler(clip_length=8, interval=4)
    >>> get_sampler({"kind": "segment", "num_segments": 8})
    SegmentSampler(num_segments=8)
    >>> get_sampler("segments", num_frames=16)
    SegmentSampler(num_segments=16)
    """
    if isinstance(spec, Sampler):
        return spec
    if isinstance(spec, dict):
        spec = dict(spec)
        kind = spec.pop("kind", None)
        spec.update(kwargs)
        kwargs = spec
    else:
        kind = spec
    kind = _ALIASES.get(kind, kind)
    if kind not in _SAMPLERS:
        raise ValueError(f"unknown sampling kind {kind!r}; expected one of "
                         f"{sorted(_SAMPLERS)} (or aliases "
                         f"{sorted(_ALIASES)})")
    if "num_frames" in kwargs:
        length = kwargs.pop("num_frames")
        kwargs.setdefault(_LENGTH_ARG[kind], length)
    return _SAMPLERS[kind](**kwargs)
