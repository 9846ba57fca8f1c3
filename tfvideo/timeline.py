"""Labels over a long video: the model slid over every window, and the video with them drawn on.

`video_timeline(path, predictor)` decodes the video once, front to back (`data.iter_frames`),
keeps only the frames that some pending window samples, and classifies the windows in batches.
Each window of `window` frames, `stride` frames apart, is sampled inside with the model's own
evaluation sampling (`metadata.sampling`: TSN segments or a dense centre clip) and cropped as in
evaluation; so every frame is decoded once, however many windows overlap it. A last window ends at
the last frame, so the tail is covered. Windows and strides are given in frames (`64`, `64f`) or
seconds (`2s`, `0.5s`, converted with the video's frame rate).

Each window owns a *cell*: the frames nearer its centre than any other window's. The cells tile
the video; `segments` merges consecutive cells whose top label is the same (their `score` is the
mean top-1 probability of the merged windows). `write_overlay` draws the label and score of each
frame's cell on it (Pillow's `ImageDraw`) and encodes the result with PyAV; it decodes the video a
second time.

Example:
    >>> from tfvideo.export.predict import load_predictor
    >>> from tfvideo.timeline import video_timeline, write_overlay
    >>> predictor = load_predictor("saved_models/tsm_tiny")  # doctest: +SKIP
    >>> doc = video_timeline("long.mp4", predictor, window="2s", stride="1s")  # doctest: +SKIP
    >>> doc["segments"][0]  # doctest: +SKIP
    {'start': 0.0, 'end': 3.52, 'start_frame': 0, 'end_frame': 88, 'label': 'Moving something up',
     'index': 2, 'score': 0.93}
    >>> write_overlay("long.mp4", doc, "labelled.mp4")  # doctest: +SKIP
"""

import fractions
import functools
import os
import re

import numpy as np

from tfvideo.data.decode import iter_frames, video_info
from tfvideo.data.sampling import get_sampler

_SPAN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|f)?\s*$")


def parse_span(span, fps) -> int:
    """A window or stride as a frame count (>= 1): `64` or `"64f"` frames, `"2s"` seconds at
    `fps` (rounded).

    >>> parse_span("2s", 25.0), parse_span("64", 25.0), parse_span(16, 30.0)
    (50, 64, 16)
    """
    if isinstance(span, (int, np.integer)):
        frames = int(span)
    else:
        match = _SPAN.match(str(span))
        if not match:
            raise ValueError(f"{span!r}: a window/stride is frames (64, 64f) or seconds (2s)")
        value, unit = float(match.group(1)), match.group(2) or "f"
        if unit == "s":
            if fps <= 0:
                raise ValueError(f"{span!r} is in seconds but the video has no frame rate")
            frames = int(round(value * fps))
        else:
            if value != int(value):
                raise ValueError(f"{span!r}: a frame count must be whole")
            frames = int(value)
    if frames < 1:
        raise ValueError(f"{span!r} is less than one frame")
    return frames


def window_starts(num_frames, window, stride) -> list:
    """First frames of the windows: `0, stride, 2 * stride, ...` while the window fits, then one
    ending at the last frame if the tail is not covered (one window from 0 for a short video).

    >>> window_starts(100, 32, 16)
    [0, 16, 32, 48, 64, 68]
    >>> window_starts(10, 32, 16)
    [0]
    """
    last = max(int(num_frames) - int(window), 0)
    starts = list(range(0, last + 1, int(stride)))
    if starts[-1] != last:
        starts.append(last)
    return starts


def window_indices(start, window, num_frames, sampler) -> np.ndarray:
    """The frames one window samples: the model's evaluation sampling of a `window`-frame video,
    shifted to `start` (a window longer than the video samples the video)."""
    length = min(int(window), int(num_frames) - int(start))
    return int(start) + sampler(length)


def cells(starts, window, num_frames) -> list:
    """`[first, end)` frames of each window's cell: the frames nearer its centre than any
    other window's (they tile `[0, num_frames)`).

    >>> cells([0, 16, 32], 32, 64)
    [(0, 24), (24, 40), (40, 64)]
    """
    centres = [s + min(window, num_frames - s) / 2 for s in starts]
    bounds = [0] + [int(round((a + b) / 2)) for a, b in zip(centres, centres[1:])] + [num_frames]
    return list(zip(bounds[:-1], bounds[1:]))


def _top_k(probs, class_names, k):
    order = np.argsort(-probs, kind="stable")[:k]
    return [
        {"label": class_names[i], "index": int(i), "probability": round(float(probs[i]), 6)}
        for i in order
    ]


def _progress(total, enabled, desc):
    from tqdm import tqdm

    # None: tqdm shows the bar only on a terminal.
    return tqdm(
        total=total, unit="frame", desc=desc, disable=None if enabled else True, leave=False
    )


def sliding_windows(path, metadata, run_batch, window, stride, batch_size=8, progress=True):
    """Decodes `path` once and calls `run_batch(clips)` on batches of window clips (float32
    `[B, T, h, w, 3]`, cropped as in evaluation); returns `(info, starts, window, stride,
    outputs)`: the `VideoInfo`, the windows' first frames, the window and stride in frames and
    the concatenated results (one row per window, in order).

    `window`/`stride` as in `parse_span`. The frames no pending window samples are not kept.
    """
    from tfvideo.export.preprocessing import eval_crop

    info = video_info(path)
    fps = info.fps
    n = info.num_frames
    window, stride = parse_span(window, fps), parse_span(stride, fps)
    sampler = get_sampler(metadata.sampling)
    starts = window_starts(n, window, stride)
    plan = [window_indices(s, window, n, sampler) for s in starts]
    wanted = set(int(i) for idx in plan for i in idx)
    buffer, ready, outputs = {}, [], []
    last_frame, count, next_window = None, 0, 0

    def crop(frame):
        return eval_crop(frame[np.newaxis], metadata.input_size, metadata.short_side).numpy()[0]

    def flush():
        if ready:
            outputs.append(np.asarray(run_batch(np.stack(ready))))
            ready.clear()

    def collect(upto):
        nonlocal next_window
        while next_window < len(plan) and plan[next_window].max() <= upto:
            ready.append(np.stack([buffer.get(int(i), last_frame) for i in plan[next_window]]))
            next_window += 1
            if len(ready) >= batch_size:
                flush()
        keep_from = plan[next_window].min() if next_window < len(plan) else upto + 1
        for i in [i for i in buffer if i < keep_from]:
            del buffer[i]

    latest = None
    with _progress(n, progress and n > 4 * window, os.path.basename(os.fspath(path))) as bar:
        for _, frame in iter_frames(path):
            if count in wanted:
                buffer[count] = crop(frame)
            latest = frame
            count += 1
            bar.update(1)
            collect(count - 1)
            if count >= n:
                break
    if count < n:  # the demuxed count over-counted: later frames are the last one decoded
        last_frame = crop(latest)
        collect(n)
    flush()
    return info, starts, window, stride, np.concatenate(outputs)


def video_timeline(
    path, predictor, window="2s", stride="1s", top_k=None, batch_size=8, progress=True
) -> dict:
    """The timeline of a video: top-k labels of every window and the merged segments.

    Args:
        path: a video file.
        predictor: a `tfvideo.export.predict.Predictor` (SavedModel, `.keras` or `.tflite`).
        window, stride: frames (`64`, `"64f"`) or seconds (`"2s"`).
        top_k: labels per window (default: the model's `top_k`).
        batch_size: windows classified together.
        progress: a progress bar (tqdm, on a terminal) for videos longer than 4 windows.

    Returns:
        `{"path", "fps", "num_frames", "window_frames", "stride_frames", "windows": [{"start",
        "end", "start_frame", "end_frame", "predictions"}], "segments": [{"start", "end",
        "start_frame", "end_frame", "label", "index", "score"}]}`; times in seconds, end frames
        exclusive; a window's `start`/`end` span the frames it was sampled from.
    """
    meta = predictor.metadata
    k = max(1, min(int(top_k or meta.top_k), meta.num_classes))
    info, starts, window, stride, probs = sliding_windows(
        path, meta, predictor.probabilities, window, stride, batch_size, progress
    )
    n, fps = info.num_frames, info.fps or 25.0

    def seconds(frame):
        return round(frame / fps, 4)

    windows = []
    for start, p in zip(starts, probs):
        end = min(start + window, n)
        windows.append(
            {
                "start": seconds(start),
                "end": seconds(end),
                "start_frame": int(start),
                "end_frame": int(end),
                "predictions": _top_k(p, meta.class_names, k),
            }
        )
    segments = []
    for (first, end), p in zip(cells(starts, window, n), probs):
        best = int(np.argmax(p))
        if segments and segments[-1]["index"] == best:
            seg = segments[-1]
            seg["end_frame"], seg["end"] = end, seconds(end)
            seg["_scores"].append(float(p[best]))
        else:
            segments.append(
                {
                    "start": seconds(first),
                    "end": seconds(end),
                    "start_frame": int(first),
                    "end_frame": int(end),
                    "label": meta.class_names[best],
                    "index": best,
                    "_scores": [float(p[best])],
                }
            )
    for seg in segments:
        seg["score"] = round(float(np.mean(seg.pop("_scores"))), 6)
    return {
        "path": os.fspath(path),
        "fps": info.fps,
        "num_frames": n,
        "window_frames": window,
        "stride_frames": stride,
        "windows": windows,
        "segments": segments,
    }


def frame_labels(timeline) -> list:
    """`(label, score)` of every frame: its segment's label and its window's top-1 probability."""
    labels = [None] * timeline["num_frames"]
    starts = [w["start_frame"] for w in timeline["windows"]]
    for (first, end), w in zip(
        cells(starts, timeline["window_frames"], len(labels)), timeline["windows"]
    ):
        top = w["predictions"][0]
        labels[first:end] = [(top["label"], top["probability"])] * (end - first)
    return labels


@functools.lru_cache(maxsize=8)
def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # FreeType's scalable default (Pillow >= 10.1)
    except (TypeError, OSError):
        return ImageFont.load_default()


def draw_label(frame, text):
    """`frame` (uint8 `[H, W, 3]`) with `text` in white on a black box at the top left."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    font = _font(max(10, frame.shape[0] // 18))
    left, top, right, bottom = draw.textbbox((4, 4), text, font=font)
    draw.rectangle((0, 0, right + 4, bottom + 4), fill=(0, 0, 0))
    draw.text((4, 4), text, fill=(255, 255, 255), font=font)
    return np.asarray(image)


def write_overlay(path, timeline, output, codec=None, progress=True) -> str:
    """Writes `path` to `output` with each frame's label and score drawn on it (the timeline of
    `video_timeline`); H.264 (`libx264`) for .mp4/.mkv/.mov, VP8 for .webm, else MPEG-4. Frames
    are padded to even sizes (yuv420p). Written atomically; returns `output`."""
    import av

    from tfvideo._atomic import atomic_save

    ext = os.path.splitext(output)[1].lower()
    codec = codec or {
        ".mp4": "libx264",
        ".mkv": "libx264",
        ".mov": "libx264",
        ".webm": "libvpx",
    }.get(ext, "mpeg4")
    labels = frame_labels(timeline)
    fps = fractions.Fraction(timeline["fps"] or 25.0).limit_denominator(1001)

    def save(tmp):
        with av.open(tmp, mode="w") as container:
            stream = None
            bar = _progress(len(labels), progress, os.path.basename(output))
            for i, (_, frame) in enumerate(iter_frames(path)):
                if i >= len(labels):
                    break
                label, score = labels[i]
                drawn = draw_label(frame, f"{label}  {score:.2f}")
                h, w = drawn.shape[:2]
                drawn = np.pad(drawn, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
                if stream is None:
                    # x264's veryfast preset: about 3x faster than its default at 720p
                    options = {"preset": "veryfast"} if codec == "libx264" else {}
                    stream = container.add_stream(codec, rate=fps, options=options)
                    stream.width, stream.height = drawn.shape[1], drawn.shape[0]
                    stream.pix_fmt = "yuv420p"
                for packet in stream.encode(av.VideoFrame.from_ndarray(drawn, format="rgb24")):
                    container.mux(packet)
                bar.update(1)
            bar.close()
            for packet in stream.encode():
                container.mux(packet)

    return atomic_save(output, save)


def format_timeline(timeline) -> str:
    """Human-readable lines of a timeline: the path, then one line per segment."""
    lines = [f"{timeline['path']}  ({timeline['num_frames']} frames, {timeline['fps']:.2f} fps)"]
    lines += [
        f"  {s['start']:8.2f}-{s['end']:8.2f}s  {s['score']:.4f}  {s['label']}"
        for s in timeline["segments"]
    ]
    return "\n".join(lines)
