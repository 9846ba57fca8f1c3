"""Pooled backbone features of whole videos, window by window: `tfvideo extract_features`.

For each video, `<output_dir>/<video path relative to the root>.npy` holds float32
`[num_windows, C]`: row `i` is the backbone's pooled feature (`VideoClassifier.backbone`: averaged
over frames and space, the vector the classifier reads; C = `model.backbone.output_shape[-1]`,
512 for `tsm_tiny`) of window `i` of the video, windows as in `tfvideo.timeline`
(`window` frames or seconds, `stride` apart, the last one ending at the last frame, the model's
evaluation sampling and crop inside each). Beside it, `<...>.json` records the video's frame
count and rate and each window's first and end frame; it is written last (both atomically), so a
video with both files is done and a rerun skips it. A video that cannot be read is listed (in the
summary and in `failed.txt`) and the others go on.

Example:
    >>> from tfvideo.features import extract_features, feature_extractor
    >>> extractor = feature_extractor("saved_models/tsm_tiny")  # doctest: +SKIP
    >>> summary = extract_features(["a.mp4", "b.mp4"], "features/", extractor)  # doctest: +SKIP
    >>> summary["done"], summary["failed"]  # doctest: +SKIP
    (['a.mp4', 'b.mp4'], [])
    >>> import numpy as np; np.load("features/a.mp4.npy").shape  # doctest: +SKIP
    (29, 512)
"""

import dataclasses
import json
import os

import numpy as np

from tfvideo._atomic import atomic_save, atomic_write_text
from tfvideo.data.decode import VIDEO_EXTENSIONS
from tfvideo.export.predict import load_predictor, one_line_error
from tfvideo.timeline import sliding_windows

FAILED_FILENAME = "failed.txt"


@dataclasses.dataclass
class FeatureExtractor:
    """`features(clips)`: float32 clips `[B, T, h, w, 3]` in [0, 255] -> `[B, C]`; `metadata`
    the model's `ExportMetadata`; `source` what computes them (`features signature` or
    `keras backbone`)."""

    metadata: object
    features: object
    source: str


def feature_extractor(model) -> FeatureExtractor:
    """The feature extractor of a SavedModel (its `features` signature, or for one exported
    before it existed the rebuilt registry model's backbone), a `.keras` file or a training
    directory."""
    import tensorflow as tf

    predictor = load_predictor(model)
    signatures = getattr(getattr(predictor, "_loaded", None), "signatures", {})
    if "features" in signatures:
        serve = signatures["features"]

        def features(clips):
            frames = np.clip(np.round(np.asarray(clips)), 0, 255).astype(np.uint8)
            return serve(frames=tf.constant(frames))["features"].numpy()

        return FeatureExtractor(predictor.metadata, features, "features signature")
    keras_model = predictor.keras_model()
    backbone = getattr(keras_model, "backbone", None)
    if backbone is None:
        raise ValueError(
            f"{model}: the model has no backbone (features come from tfvideo VideoClassifiers)"
        )

    def features(clips):
        return np.asarray(backbone(np.asarray(clips, np.float32), training=False))

    return FeatureExtractor(predictor.metadata, features, "keras backbone")


def list_videos(source, root=None):
    """`(videos, root)`: every video file under a folder (sorted, recursive), or the videos an
    annotation file lists (one per line: `path` or `path label`; `#` comments; relative paths
    from `root`, default the file's folder)."""
    source = os.fspath(source)
    if os.path.isdir(source):
        videos = sorted(
            os.path.join(d, f)
            for d, _, files in os.walk(source)
            for f in files
            if f.lower().endswith(VIDEO_EXTENSIONS)
        )
        return videos, root or source
    if not os.path.isfile(source):
        raise FileNotFoundError(f"{source}: no such folder or annotation file")
    root = root or os.path.dirname(os.path.abspath(source))
    videos = []
    with open(source, encoding="utf-8") as f:
        for line in f:
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            path = text if os.path.exists(os.path.join(root, text)) else text.rsplit(None, 1)[0]
            if "," in path and not os.path.exists(os.path.join(root, path)):  # CSV row
                path = path.split(",")[0]
            videos.append(os.path.join(root, path))
    return videos, root


def output_paths(video, output_dir, root):
    """`(npy, json)` paths of a video's features: its path relative to `root` (the file name
    only if outside it), with `.npy` / `.json` appended."""
    rel = os.path.relpath(os.path.abspath(video), os.path.abspath(root))
    if rel.startswith(".."):
        rel = os.path.basename(video)
    base = os.path.join(output_dir, rel)
    return base + ".npy", base + ".json"


def video_features(path, extractor, window="2s", stride="1s", batch_size=8, progress=True):
    """`(features [num_windows, C] float32, info dict)` of one video (one sequential decode)."""
    info, starts, window, stride, features = sliding_windows(
        path, extractor.metadata, extractor.features, window, stride, batch_size, progress
    )
    n = info.num_frames
    record = {
        "video": os.fspath(path),
        "num_frames": n,
        "fps": info.fps,
        "window_frames": window,
        "stride_frames": stride,
        "windows": [[int(s), int(min(s + window, n))] for s in starts],
        "shape": list(features.shape),
    }
    return np.asarray(features, np.float32), record


def extract_features(
    videos,
    output_dir,
    extractor,
    root=None,
    window="2s",
    stride="1s",
    batch_size=8,
    progress=True,
    log=None,
):
    """Writes the features of each video (see the module docstring); returns `{"done",
    "skipped", "failed": [{"path", "error"}]}`. `log(line)` gets one line per video."""
    from tqdm import tqdm

    root = root or os.path.commonpath(
        [os.path.dirname(os.path.abspath(v)) for v in videos] or ["."]
    )
    summary = {"done": [], "skipped": [], "failed": []}
    for video in tqdm(videos, unit="video", disable=None if progress else True):
        npy, meta = output_paths(video, output_dir, root)
        if os.path.exists(npy) and os.path.exists(meta):
            summary["skipped"].append(video)
            continue
        try:
            features, record = video_features(video, extractor, window, stride, batch_size, False)
        except Exception as error:  # noqa: BLE001 - listed, the others go on
            summary["failed"].append({"path": video, "error": one_line_error(video, error)})
            if log:
                log(f"error: {summary['failed'][-1]['error']}")
            continue
        atomic_save(npy, lambda tmp, features=features: np.save(tmp, features))
        atomic_write_text(meta, json.dumps(record, indent=2))
        summary["done"].append(video)
    if summary["failed"]:
        lines = [f"{f['path']}\t{f['error']}" for f in summary["failed"]]
        atomic_write_text(os.path.join(output_dir, FAILED_FILENAME), "\n".join(lines) + "\n")
    return summary
