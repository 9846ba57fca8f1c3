"""Video decoding with PyAV.

``decode_video(path, indices)`` returns upright RGB uint8 frames
``[T, H, W, 3]`` and decodes only what the requested indices need: the file is
demuxed once (cheap, no decoding) to learn the true frame count, the
presentation timestamps and the key frames; then, for each run of wanted
frames, it seeks to the key frame at or before the first one and decodes
forward. Frames are identified by their presentation timestamp. When the
timestamps cannot identify frames reliably (some AVI files with B-frames carry
decode-order timestamps; the decoder's output order is then the truth), the
decoder falls back to a sequential decode from the start, so the result is
always the same as indexing a full decode.

Frame index ``i`` means the i-th frame a full sequential decode produces.
``num_frames`` comes from the demuxed packet count, not the header, so a
header that lies (or is absent, as in Matroska/WebM) does not matter; indices
at or past the real end are clamped to the last frame.

Rotation: a display matrix (``frame.rotation`` in PyAV >= 14, counter-clockwise
degrees) of 90/180/270 is applied with ``np.rot90`` so frames come out upright;
``video_info`` reports the upright width and height.
"""

import bisect
import dataclasses
import os

import av
import numpy as np

from tfvideo.data.errors import VideoDecodeError

VIDEO_EXTENSIONS = (
    ".mp4",
    ".avi",
    ".mkv",
    ".webm",
    ".mov",
    ".gif",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".flv",
    ".3gp",
    ".ogv",
    ".wmv",
)

# Leading bytes of the containers we expect; a file that matches one of them
# but does not open is reported as truncated/damaged rather than "not a video".
_MAGIC = (
    (4, b"ftyp", "MP4/MOV"),
    (4, b"moov", "MOV"),
    (4, b"mdat", "MOV"),
    (4, b"wide", "MOV"),
    (4, b"free", "MOV"),
    (0, b"RIFF", "AVI"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (0, b"GIF8", "GIF"),
    (0, b"\x00\x00\x01\xba", "MPEG-PS"),
    (0, b"FLV", "FLV"),
    (0, b"OggS", "Ogg"),
)


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What ``video_info`` reports.

    Attributes:
        num_frames: decodable frame count (from demuxing, not the header).
        fps: average frame rate from the container (float; 0.0 if unknown).
        width, height: size of the upright (rotation-applied) frames.
        rotation: counter-clockwise display rotation in degrees, one of
            0/90/180/270 (already applied by ``decode_video``).
        header_frames: the frame count the header claims (0 when absent).
        codec: codec name.
        duration: seconds, from the container (0.0 if unknown).
    """

    num_frames: int
    fps: float
    width: int
    height: int
    rotation: int = 0
    header_frames: int = 0
    codec: str = ""
    duration: float = 0.0


class _Fallback(Exception):
    """Timestamps cannot identify frames: decode sequentially instead."""


def _sniff(path):
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    for offset, magic, name in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def _av_message(err):
    msg = getattr(err, "strerror", None) or str(err)
    return f"{type(err).__name__}: {msg}"


def _open(path):
    """Opens ``path`` and returns ``(container, video_stream)`` or raises."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VideoDecodeError(path, "file not found", "missing")
    if os.path.isdir(path):
        raise VideoDecodeError(path, "is a directory", "not_a_video")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "zero-byte file", "empty")
    try:
        container = av.open(path, metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as err:
        kind = _sniff(path)
        if kind is not None:
            raise VideoDecodeError(
                path,
                f"truncated or damaged {kind} file, the container cannot be "
                f"opened ({_av_message(err)})",
                "truncated",
            ) from None
        raise VideoDecodeError(
            path,
            f"not a video file: no recognised container format ({_av_message(err)})",
            "not_a_video",
        ) from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        container.close()
        found = ", ".join(kinds) if kinds else "no streams"
        raise VideoDecodeError(path, f"no video stream (found: {found})", "no_video_stream")
    return container, container.streams.video[0]


def _rotation_k(rotation):
    """Number of counter-clockwise quarter turns for ``np.rot90``."""
    if rotation is None:
        return 0
    return int(round(float(rotation) / 90.0)) % 4


def _frame_rotation(frame):
    try:
        return frame.rotation or 0
    except (AttributeError, ValueError, TypeError):
        return 0


def _to_rgb(frame):
    return frame.to_ndarray(format="rgb24")


def _upright(frames, k):
    """``frames`` [T, H, W, 3] rotated by ``k`` CCW quarter turns."""
    if k == 0:
        return frames
    return np.ascontiguousarray(np.rot90(frames, k=k, axes=(1, 2)))


class _Index:
    """Demux-only index: sorted presentation timestamps and key frames."""

    def __init__(self, pts, key_pts, first_frame):
        self.pts = pts  # sorted list, one per frame
        self.key_pts = key_pts  # sorted list of key frame timestamps
        self.first_frame = first_frame  # av.VideoFrame or None
        self.usable = len(pts) > 0 and len(set(pts)) == len(pts) and len(key_pts) > 0

    @property
    def num_frames(self):
        return len(self.pts)

    def keyframe_before(self, pts):
        i = bisect.bisect_right(self.key_pts, pts) - 1
        return self.key_pts[max(i, 0)]


def _build_index(path, container, stream, decode_first=True):
    """Demuxes the whole video stream once (no decoding except, optionally,
    the first frame, which also tells the rotation)."""
    pts, key_pts = [], []
    missing_pts = False
    first = None
    codec = stream.codec_context
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            p = packet.pts if packet.pts is not None else packet.dts
            if p is None:
                missing_pts = True
            else:
                pts.append(p)
                if packet.is_keyframe:
                    key_pts.append(p)
            if decode_first and first is None:
                try:
                    out = codec.decode(packet)
                except av.FFmpegError:
                    out = []
                if out:
                    first = out[0]
    except av.FFmpegError:
        # A damaged tail: keep what was demuxed (the count then reflects the
        # readable part of the file).
        pass
    if decode_first and first is None and pts:
        try:
            out = codec.decode(None)  # flush delayed frames
            if out:
                first = out[0]
        except av.FFmpegError:
            pass
    pts.sort()
    key_pts.sort()
    index = _Index(pts, key_pts, first)
    if missing_pts:
        index.usable = False
    return index


def _fps(stream):
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        try:
            if rate:
                return float(rate)
        except (TypeError, ZeroDivisionError):
            continue
    return 0.0


def _duration(container, stream):
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000.0
    return 0.0


def video_info(path):
    """Returns a :class:`VideoInfo` for ``path``.

    The frame count is the demuxed packet count (the header count is kept as
    ``header_frames``); the first frame is decoded to check that the video is
    decodable and to read its rotation.

    Raises:
        VideoDecodeError: the file is missing, empty, not a video, truncated,
            has no video stream or no decodable frame.

    Example:
    >>> info = video_info("clip.mp4")  # doctest: +SKIP
    >>> info.num_frames, info.fps, info.width, info.height  # doctest: +SKIP
    (250, 25.0, 340, 256)
    """
    path = os.fspath(path)
    container, stream = _open(path)
    with container:
        index = _build_index(path, container, stream, decode_first=True)
        if index.first_frame is None:
            raise VideoDecodeError(path, "no decodable frame", "no_frames")
        frame = index.first_frame
        k = _rotation_k(_frame_rotation(frame))
        width, height = frame.width, frame.height
        if k % 2:
            width, height = height, width
        return VideoInfo(
            num_frames=index.num_frames,
            fps=_fps(stream),
            width=width,
            height=height,
            rotation=90 * k,
            header_frames=int(stream.frames or 0),
            codec=stream.codec_context.name or "",
            duration=_duration(container, stream),
        )


def _decode_error(path, err, decoded):
    return VideoDecodeError(
        path, f"corrupt data after {decoded} decoded frame(s) ({_av_message(err)})", "corrupt"
    )


def _decode_sequential(path, wanted):
    """Decodes from the start; ``wanted`` is a sorted list of frame indices or
    None for all. Returns ``(dict index -> array, num_decoded, rotation)``."""
    container, stream = _open(path)
    out = {}
    count = 0
    last = None
    rotation = 0
    want = None if wanted is None else set(wanted)
    stop = None if wanted is None else max(wanted)
    with container:
        try:
            for frame in container.decode(stream):
                if count == 0:
                    rotation = _frame_rotation(frame)
                if want is None or count in want:
                    out[count] = _to_rgb(frame)
                last = frame
                count += 1
                if stop is not None and count > stop:
                    break
        except av.FFmpegError as err:
            raise _decode_error(path, err, count) from None
    if count == 0:
        raise VideoDecodeError(path, "no decodable frame", "no_frames")
    if want is not None:
        # Indices past the real end (the count we were given over-counts):
        # clamp to the last decodable frame.
        missing = [i for i in wanted if i not in out]
        if missing:
            last_rgb = out.get(count - 1)
            if last_rgb is None:
                last_rgb = _to_rgb(last)
            for i in missing:
                out[i] = last_rgb
    return out, count, rotation


def _decode_seek(path, container, stream, index, wanted):
    """Seek-based decoding of the sorted unique frame indices ``wanted``, on the container
    that `_build_index` has just demuxed (seeking rewinds it; no second open)."""
    out = {}
    rotation = 0
    seen_first = False
    gen = None
    last_pts = None
    decoded = 0
    for i in wanted:
        if i in out:
            continue
        target = index.pts[i]
        key = index.keyframe_before(target)
        if gen is None or last_pts is None or key > last_pts:
            try:
                container.seek(key, stream=stream, backward=True, any_frame=False)
            except av.FFmpegError:
                raise _Fallback() from None
            gen = container.decode(stream)
            last_pts = None
        try:
            for frame in gen:
                decoded += 1
                p = frame.pts
                if p is None or (last_pts is not None and p <= last_pts):
                    raise _Fallback()
                if not seen_first:
                    rotation = _frame_rotation(frame)
                    seen_first = True
                last_pts = p
                if p >= target:
                    break
            else:
                raise _Fallback()  # ran out of frames before the target
        except av.FFmpegError as err:
            raise _decode_error(path, err, decoded) from None
        if last_pts != target:
            raise _Fallback()  # the target timestamp was not produced
        out[i] = _to_rgb(frame)
        # Later wanted indices whose frames precede this one cannot exist
        # (wanted is sorted), so nothing else to collect here.
    if not seen_first:
        raise VideoDecodeError(path, "no decodable frame", "no_frames")
    return out, rotation


def decode_video(path, indices=None, with_info=False):
    """Decodes frames of a video file.

    Args:
        path: video file (mp4, avi, mkv, webm, mov, gif, anything FFmpeg
            reads).
        indices: frame indices to return (any order, repeats allowed), or
            None for all frames, or a callable ``num_frames -> indices``
            (called once the frame count is known, so sampling and decoding
            share a single pass over the file). Indices at or past the last frame are clamped
            to the last frame; negative indices are an error. Loop or pad
            before calling (see ``tfvideo.data.sampling``).
        with_info: also return the number of decodable frames.

    Returns:
        uint8 array ``[len(indices) or num_frames, H, W, 3]``, RGB, upright;
        with ``with_info``, a tuple ``(frames, num_frames)``.

    Raises:
        VideoDecodeError: naming the file and the cause.

    Example:
    >>> frames = decode_video("clip.mp4", indices=[0, 8, 16])  # doctest: +SKIP
    >>> frames.shape, frames.dtype  # doctest: +SKIP
    ((3, 240, 320, 3), dtype('uint8'))
    """
    path = os.fspath(path)
    if indices is None:
        out, count, rotation = _decode_sequential(path, None)
        frames = np.stack([out[i] for i in range(count)])
        frames = _upright(frames, _rotation_k(rotation))
        return (frames, count) if with_info else frames

    container, stream = _open(path)
    with container:
        frames, num_frames = _decode_indices(path, container, stream, indices)
    return (frames, num_frames) if with_info else frames


def _decode_indices(path, container, stream, indices):
    """`decode_video` for given indices, on an open container: index once, then seek."""
    index = _build_index(path, container, stream, decode_first=False)
    num_frames = index.num_frames
    if num_frames == 0:
        raise VideoDecodeError(path, "no decodable frame (no video packets)", "no_frames")
    if callable(indices):
        indices = indices(num_frames)
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if indices.size == 0:
        raise ValueError("indices must not be empty (use None for all frames)")
    if indices.min() < 0:
        raise ValueError(
            f"indices must be >= 0, got {int(indices.min())} (take them "
            "modulo the frame count first)"
        )
    clamped = np.minimum(indices, num_frames - 1)
    wanted = sorted(set(int(i) for i in clamped))
    out = None
    if index.usable:
        try:
            out, rotation = _decode_seek(path, container, stream, index, wanted)
        except _Fallback:
            out = None
    if out is None:
        out, count, rotation = _decode_sequential(path, wanted)
        num_frames = count
        clamped = np.minimum(indices, count - 1)
    frames = np.stack([out[int(i)] for i in clamped])
    return _upright(frames, _rotation_k(rotation)), num_frames


def _open_source(source, format=None, options=None):
    """`(container, video_stream)` of a file (checked by `_open`) or of anything else FFmpeg
    opens: a URL (`http://`, `rtsp://`, ...) or a device (`/dev/video0` with `format="v4l2"`)."""
    source = os.fspath(source)
    if format is None and options is None and os.path.isfile(source):
        return _open(source)
    try:
        container = av.open(source, format=format, options=options or {}, metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError) as err:
        reason = "missing" if isinstance(err, FileNotFoundError) else "not_a_video"
        raise VideoDecodeError(source, f"cannot open ({_av_message(err)})", reason) from None
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(source, "no video stream", "no_video_stream")
    return container, container.streams.video[0]


def iter_frames(source, format=None, options=None):
    """Decodes a video frame by frame, as it arrives: yields `(timestamp, frame)`.

    Args:
        source: a video file, a URL or a device, anything PyAV (FFmpeg) opens.
        format: FFmpeg's input format (e.g. `"v4l2"` for a camera), None to probe.
        options: FFmpeg options for the input (e.g. `{"rtsp_transport": "tcp"}`).

    Yields:
        `timestamp`: seconds from the frame's presentation timestamp (frame index / fps when
        the stream has none); `frame`: upright RGB uint8 `[H, W, 3]`, as `decode_video` gives.

    Raises:
        VideoDecodeError: naming the source and the cause (cannot open, no video stream, no
        decodable frame, corrupt data after n frames).

    Example:
    >>> [(round(t, 2), f.shape) for t, f in iter_frames("clip.mp4")][:2]  # doctest: +SKIP
    [(0.0, (240, 320, 3)), (0.04, (240, 320, 3))]
    """
    container, stream = _open_source(source, format, options)
    name = os.fspath(source)
    fps = _fps(stream) or 25.0
    count, k = 0, None
    with container:
        try:
            for frame in container.decode(stream):
                if k is None:
                    k = _rotation_k(_frame_rotation(frame))
                time = frame.time if frame.pts is not None and frame.time is not None else None
                rgb = _to_rgb(frame)
                if k:
                    rgb = np.ascontiguousarray(np.rot90(rgb, k=k))
                yield (float(time) if time is not None else count / fps), rgb
                count += 1
        except av.FFmpegError as err:
            raise _decode_error(name, err, count) from None
    if count == 0:
        raise VideoDecodeError(name, "no decodable frame", "no_frames")


def count_frames(path):
    """Number of decodable frames by demuxing (no decoding)."""
    container, stream = _open(path)
    with container:
        return _build_index(path, container, stream, decode_first=False).num_frames
