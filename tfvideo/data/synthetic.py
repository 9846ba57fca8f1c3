"""A small Something-Something-like dataset of real mp4 files, generated from a seed.

Every class has a time-reversed twin: "Moving something from left to right" and "... from right
to left", up / down, towards / away from the camera, clockwise / anticlockwise turning, closer /
further apart, orbiting clockwise / anticlockwise. A video of the odd class of a pair is rendered
exactly like a video of the even class and then played backwards, so the distribution of the
*unordered set* of frames is identical within a pair: a model that ignores frame order (e.g. a
TSN with average consensus) cannot beat chance between twins, while a temporal model can.

Videos are H.264 (libx264, yuv420p) mp4 files written with PyAV, moving two-tone shapes over a
random-colour noise-texture background with a smaller distractor shape on a random walk. The
annotations use the Something-Something v2 JSON layout, so the dataset goes through the real SSv2
reader:

```
root/
  something-something-v2-labels.json      {"Moving something from left to right": "0", ...}
  something-something-v2-train.json       [{"id", "label", "template", "placeholders"}, ...]
  something-something-v2-validation.json
  label_flip_map.json                     {"0": 1, "1": 0, "2": 2, ...}: label after a flip
  videos/<id>.mp4
  manifest.json                           parameters, their hash and the size/sha256 of every file
```

`make_dataset` is cached: when `root` already holds a complete dataset made with the same
parameters (checked through `manifest.json`) nothing is rewritten.

Example:

```python
from tfvideo.data import synthetic
info = synthetic.make_dataset("/tmp/synthetic", num_classes=8)
train = synthetic.load("/tmp/synthetic", "train")   # data-core SSv2 reader
```
"""

import hashlib
import json
import math
import os

import numpy as np

from tfvideo._atomic import atomic_save

GENERATOR_VERSION = 3

LABELS_FILE = "something-something-v2-labels.json"
SPLIT_FILES = {
    "train": "something-something-v2-train.json",
    "validation": "something-something-v2-validation.json",
}
FLIP_MAP_FILE = "label_flip_map.json"
MANIFEST_FILE = "manifest.json"
VIDEO_DIR = "videos"

# (templates of the (forward, time-reversed) classes, motion kind, swapped by a horizontal flip)
PAIRS = (
    (
        ("Moving [something] from left to right", "Moving [something] from right to left"),
        "translate_x",
        True,
    ),
    (("Moving [something] up", "Moving [something] down"), "translate_y", False),
    (
        ("Moving [something] towards the camera", "Moving [something] away from the camera"),
        "scale",
        False,
    ),
    (("Turning [something] clockwise", "Turning [something] anticlockwise"), "rotate", True),
    (
        (
            "Moving [something] and [something] closer to each other",
            "Moving [something] and [something] away from each other",
        ),
        "converge",
        False,
    ),
    (
        (
            "Moving [something] in a circle clockwise",
            "Moving [something] in a circle anticlockwise",
        ),
        "orbit",
        True,
    ),
)
MAX_CLASSES = 2 * len(PAIRS)

# Implicit shape functions f(u, v): <= 1 inside, ~ distance / radius outside.
_SHAPES = {
    "a disc": lambda u, v: np.sqrt(u * u + v * v),
    "a square": lambda u, v: 1.2 * np.maximum(np.abs(u), np.abs(v)),
    "a diamond": lambda u, v: 0.85 * (np.abs(u) + np.abs(v)),
    "a triangle": lambda u, v: (
        2.0 * np.maximum(np.maximum(-v, 0.866 * u + 0.5 * v), -0.866 * u + 0.5 * v)
    ),
    "a cross": lambda u, v: np.minimum(
        np.maximum(np.abs(u), 2.8 * np.abs(v)), np.maximum(2.8 * np.abs(u), np.abs(v))
    ),
    "a bar": lambda u, v: np.maximum(np.abs(u), 2.2 * np.abs(v)),
}
SHAPE_NAMES = tuple(_SHAPES)


def class_templates(num_classes=8):
    """Templates (with `[something]`) of the first `num_classes` classes."""
    _check_num_classes(num_classes)
    return [PAIRS[c // 2][0][c % 2] for c in range(num_classes)]


def class_names(num_classes=8):
    """Class names as in the SSv2 labels json: the template without brackets."""
    return [_strip_brackets(t) for t in class_templates(num_classes)]


def label_flip_map(num_classes=8):
    """List `m` with `m[c]` = label of class `c` after a horizontal flip.

    Left-to-right <-> right-to-left and clockwise <-> anticlockwise swap; up/down, towards/away,
    closer/further map to themselves.
    """
    _check_num_classes(num_classes)
    return [c ^ 1 if PAIRS[c // 2][2] else c for c in range(num_classes)]


def _check_num_classes(num_classes):
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool):
        raise ValueError(f"`num_classes` must be an int, got {num_classes!r}.")
    if num_classes < 2 or num_classes > MAX_CLASSES or num_classes % 2:
        raise ValueError(
            f"`num_classes` must be an even number between 2 and {MAX_CLASSES} (classes come in "
            f"time-reversed pairs), got {num_classes}."
        )


def _strip_brackets(template):
    return template.replace("[", "").replace("]", "")


def _normalize_size(size):
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    try:
        height, width = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ValueError(
            f"`size` must be an int or a (height, width) pair, got {size!r}."
        ) from None
    if height < 16 or width < 16 or height % 2 or width % 2:
        raise ValueError(
            f"`size` must be even and at least 16 pixels per side (yuv420p), got {size!r}."
        )
    return height, width


# ----------------------------------------------------------------------------------- rendering


def _background(rng, height, width):
    """Random two-colour noise texture (sum of random gratings plus pixel noise), float32 HxWx3."""
    unit = min(height, width)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32) / unit
    texture = np.zeros((height, width), np.float32)
    for _ in range(4):
        freq = rng.uniform(1.5, 7.0) * 2 * math.pi
        angle = rng.uniform(0, 2 * math.pi)
        texture += rng.uniform(0.5, 1.0) * np.sin(
            freq * (x * math.cos(angle) + y * math.sin(angle)) + rng.uniform(0, 2 * math.pi)
        )
    texture = 0.5 + 0.5 * np.tanh(texture)  # in (0, 1)
    base = rng.uniform(40, 215, size=3)
    colours = np.stack([base, np.clip(base + rng.normal(0, 40, size=3), 0, 255)])
    background = colours[0] + (colours[1] - colours[0]) * texture[..., None]
    background += rng.normal(0, 5, size=(height, width, 3))
    background = background.astype(np.float32)
    return background


def _contrasting_colour(rng, reference):
    colour = rng.uniform(0, 255, 3)
    for _ in range(20):
        if np.linalg.norm(colour - reference) > 150:
            break
        colour = rng.uniform(0, 255, 3)
    return colour.astype(np.float32)


def _draw(frames, shape, cx, cy, radius, angle, colour, two_tone):
    """Draws one shape per frame into uint8 `frames` in place (only the shape's bounding box is
    touched); cx, cy, radius (pixels), angle: arrays of length T."""
    height, width = frames.shape[1:3]
    fn = _SHAPES[shape]
    for t in range(frames.shape[0]):
        r = float(radius[t])
        extent = int(math.ceil(1.5 * r)) + 2
        y0, y1 = max(int(cy[t]) - extent, 0), min(int(cy[t]) + extent + 1, height)
        x0, x1 = max(int(cx[t]) - extent, 0), min(int(cx[t]) + extent + 1, width)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dx, dy = (xx + 0.5 - cx[t]) / r, (yy + 0.5 - cy[t]) / r
        cos, sin = math.cos(angle[t]), math.sin(angle[t])
        u, v = cos * dx + sin * dy, -sin * dx + cos * dy
        alpha = np.clip(0.5 - (fn(u, v) - 1.0) * r, 0.0, 1.0)[..., None]
        paint = np.broadcast_to(colour, alpha.shape[:2] + (3,))
        if two_tone:
            paint = np.where((v > 0)[..., None], paint, 0.55 * paint)
        patch = frames[t, y0:y1, x0:x1].astype(np.float32)
        patch += alpha * (paint - patch)
        frames[t, y0:y1, x0:x1] = np.rint(patch)  # values stay in [0, 255]


def _random_walk(rng, num_frames, sigma):
    """Smooth random walk in [0, 1]^2 whose law is invariant under time reversal.

    Velocities are a stationary Gaussian AR(1) process (time-reversible and symmetric), the
    position at the middle frame is uniform, and the walk is reflected at the borders.
    """
    rho = 0.8
    velocity = np.empty((num_frames, 2))
    velocity[0] = rng.normal(0, sigma / math.sqrt(1 - rho * rho), 2)
    for t in range(1, num_frames):
        velocity[t] = rho * velocity[t - 1] + rng.normal(0, sigma, 2)
    position = np.concatenate([np.zeros((1, 2)), np.cumsum(velocity[1:], axis=0)])
    middle = (position[(num_frames - 1) // 2] + position[num_frames // 2]) / 2
    position = position - middle + rng.uniform(0, 1, 2)
    return 1.0 - np.abs(np.mod(position, 2.0) - 1.0)  # reflect into [0, 1]


def _main_objects(kind, rng, s, aspect):
    """Per-frame (cx, cy, radius, angle) of the main object(s) in the forward direction.

    Lengths are in units of the shorter frame side; `aspect` = (width, height) in those units.
    """
    w, h = aspect
    num_frames = len(s)
    radius = np.full(num_frames, rng.uniform(0.14, 0.18))
    angle = np.full(num_frames, rng.uniform(0, 2 * math.pi))
    cx = np.full(num_frames, w / 2 + rng.uniform(-0.08, 0.08))
    cy = np.full(num_frames, h / 2 + rng.uniform(-0.08, 0.08))
    if kind == "translate_x":
        length = rng.uniform(0.35, 0.5) * w
        cx = rng.uniform(0.22 * w, 0.78 * w - length) + length * s
    elif kind == "translate_y":
        length = rng.uniform(0.35, 0.5) * h
        cy = rng.uniform(0.22 * h + length, 0.78 * h) - length * s  # up: y decreases
    elif kind == "scale":  # towards the camera: grows
        radius = rng.uniform(0.06, 0.08) * np.exp(math.log(rng.uniform(2.2, 3.2)) * s)
    elif kind == "rotate":  # y points down, so a growing angle turns clockwise on screen
        radius = radius * 1.25
        angle = angle + rng.uniform(0.5, 1.0) * math.pi * s
    elif kind == "converge":
        half = rng.uniform(0.26, 0.32) * w - rng.uniform(0.12, 0.16) * w * s
        radius = radius * 0.85
        return [(cx - half, cy, radius, angle), (cx + half, cy, radius, angle)]
    elif kind == "orbit":  # clockwise on screen
        orbit = rng.uniform(0.18, 0.24)
        phase = rng.uniform(0, 2 * math.pi) + rng.uniform(1.0, 1.4) * math.pi * s
        cx, cy = cx + orbit * np.cos(phase), cy + orbit * np.sin(phase)
        radius = radius * 0.9
    else:  # pragma: no cover - PAIRS is fixed
        raise ValueError(kind)
    return [(cx, cy, radius, angle)]


def render_clip(label, rng, num_frames=16, size=(96, 96)):
    """Renders one clip of class `label`.

    The clip of an odd label is exactly the clip its even twin gets from the same `rng` state,
    played backwards.

    Args:
        label: class index in `[0, 12)`.
        rng: a `numpy.random.Generator`, or a seed for one.
        num_frames: number of frames.
        size: `(height, width)` in pixels, or an int for square frames.

    Returns:
        `(frames, centroids, shape)`: uint8 `[T, H, W, 3]` RGB frames, float `[T, 2]` (x, y)
        pixel centroid of the main object (the mean over both objects for the
        closer/further pair) and the shape's name (e.g. `"a disc"`).

    Example:

    >>> frames, centroids, shape = render_clip(0, 0, num_frames=8, size=64)
    >>> frames.shape, bool(centroids[-1, 0] > centroids[0, 0])
    ((8, 64, 64, 3), True)
    """
    if not 0 <= int(label) < MAX_CLASSES:
        raise ValueError(f"`label` must be in [0, {MAX_CLASSES}), got {label}.")
    if int(num_frames) < 2:
        raise ValueError(f"`num_frames` must be at least 2, got {num_frames}.")
    num_frames = int(num_frames)
    height, width = _normalize_size(size)
    rng = np.random.default_rng(rng)
    unit = float(min(height, width))

    background = _background(rng, height, width)
    reference = background.mean(axis=(0, 1))
    background = np.clip(np.rint(background), 0, 255).astype(np.uint8)
    frames = np.repeat(background[None], num_frames, axis=0)
    # Distractor: a smaller one-colour shape on a reversible random walk, drawn behind.
    walk = _random_walk(rng, num_frames, 0.02) * [0.8 * width, 0.8 * height] + [
        0.1 * width,
        0.1 * height,
    ]
    shape = SHAPE_NAMES[rng.integers(len(SHAPE_NAMES))]
    spin = rng.uniform(0, 2 * math.pi) + rng.normal(0, 0.05) * np.arange(num_frames)
    _draw(
        frames,
        shape,
        walk[:, 0],
        walk[:, 1],
        np.full(num_frames, rng.uniform(0.04, 0.06) * unit),
        spin,
        _contrasting_colour(rng, reference),
        two_tone=False,
    )
    # Main object(s), two-tone so that turning is visible for every shape.
    shape = SHAPE_NAMES[rng.integers(len(SHAPE_NAMES))]
    colour = _contrasting_colour(rng, reference)
    s = np.linspace(0.0, 1.0, num_frames)
    objects = _main_objects(PAIRS[int(label) // 2][1], rng, s, (width / unit, height / unit))
    for cx, cy, radius, angle in objects:
        _draw(frames, shape, cx * unit, cy * unit, radius * unit, angle, colour, two_tone=True)
    centroids = unit * np.stack(
        [np.mean([o[0] for o in objects], axis=0), np.mean([o[1] for o in objects], axis=0)],
        axis=-1,
    )
    if int(label) % 2:
        frames, centroids = frames[::-1].copy(), centroids[::-1].copy()
    return frames, centroids, shape


def write_mp4(path, frames, fps=12, crf=18, keyframe_interval=None, preset="veryfast"):
    """Writes uint8 `[T, H, W, 3]` RGB frames as an H.264 (libx264, yuv420p) mp4 with PyAV.

    Single-threaded encoding, so the bytes are a deterministic function of the frames.

    Args:
        path: output file.
        frames: uint8 array `[T, H, W, 3]` with even H and W.
        fps: frame rate (int).
        crf: x264 constant rate factor (lower is better quality).
        keyframe_interval: GOP size; `None` keeps x264's default (250).
        preset: x264 preset.
    """
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"`frames` must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}.")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"Frame height and width must be even for yuv420p, got {frames.shape}.")
    options = {"preset": preset, "crf": str(crf), "threads": "1"}
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        if keyframe_interval:
            stream.codec_context.gop_size = int(keyframe_interval)
            options["keyint"] = str(int(keyframe_interval))
            options["x264-params"] = f"keyint={int(keyframe_interval)}:min-keyint=1"
        stream.codec_context.options = options
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


# ---------------------------------------------------------------------------------- the dataset


def _params(
    num_classes,
    videos_per_class_train,
    videos_per_class_val,
    num_frames,
    size,
    fps,
    seed,
    crf,
    keyframe_interval,
):
    for name, value in (
        ("videos_per_class_train", videos_per_class_train),
        ("videos_per_class_val", videos_per_class_val),
    ):
        if int(value) < 0:
            raise ValueError(f"`{name}` must be >= 0, got {value}.")
    if int(num_frames) < 2:
        raise ValueError(f"`num_frames` must be at least 2, got {num_frames}.")
    if int(fps) < 1:
        raise ValueError(f"`fps` must be a positive int, got {fps}.")
    _check_num_classes(num_classes)
    return {
        "generator_version": GENERATOR_VERSION,
        "num_classes": int(num_classes),
        "videos_per_class_train": int(videos_per_class_train),
        "videos_per_class_val": int(videos_per_class_val),
        "num_frames": int(num_frames),
        "size": list(_normalize_size(size)),
        "fps": int(fps),
        "seed": int(seed),
        "crf": int(crf),
        "keyframe_interval": None if keyframe_interval is None else int(keyframe_interval),
    }


def _hash_params(params):
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _info(root, manifest):
    params = manifest["params"]
    return {
        "root": root,
        "labels_json": os.path.join(root, LABELS_FILE),
        "train_json": os.path.join(root, SPLIT_FILES["train"]),
        "validation_json": os.path.join(root, SPLIT_FILES["validation"]),
        "video_root": os.path.join(root, VIDEO_DIR),
        "flip_map_json": os.path.join(root, FLIP_MAP_FILE),
        "manifest": os.path.join(root, MANIFEST_FILE),
        "class_names": class_names(params["num_classes"]),
        "label_flip_map": label_flip_map(params["num_classes"]),
        "num_classes": params["num_classes"],
        "num_train": params["num_classes"] * params["videos_per_class_train"],
        "num_validation": params["num_classes"] * params["videos_per_class_val"],
        "num_frames": params["num_frames"],
        "size": tuple(params["size"]),
        "fps": params["fps"],
        "params_hash": manifest["params_hash"],
        "content_hash": manifest["content_hash"],
    }


def read_manifest(root):
    """The manifest of the dataset in `root`, or `None` when there is none."""
    path = os.path.join(root, MANIFEST_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def is_complete(root, params_hash=None, verify_content=False):
    """True when `root` holds a complete dataset (with `params_hash` if given)."""
    manifest = read_manifest(root)
    if manifest is None or (params_hash is not None and manifest.get("params_hash") != params_hash):
        return False
    for rel, entry in manifest["files"].items():
        path = os.path.join(root, rel)
        if not os.path.isfile(path) or os.path.getsize(path) != entry["size"]:
            return False
        if verify_content and _sha256(path) != entry["sha256"]:
            return False
    return True


def _write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def make_dataset(
    root,
    num_classes=8,
    videos_per_class_train=40,
    videos_per_class_val=10,
    num_frames=16,
    size=(96, 96),
    fps=12,
    seed=0,
    overwrite=False,
    crf=18,
    keyframe_interval=None,
    verbose=False,
):
    """Writes (or finds, cached) the synthetic SSv2-layout dataset in `root`.

    Args:
        root: output folder (created).
        num_classes: even number of classes, 2 to 12 (pairs: left/right, up/down,
            towards/away, clockwise/anticlockwise turning, closer/further, orbit).
        videos_per_class_train: training videos per class.
        videos_per_class_val: validation videos per class.
        num_frames: frames per video.
        size: `(height, width)` in pixels (even), or an int for square frames.
        fps: frame rate stored in the files.
        seed: everything (frames and file bytes) is a deterministic function of the arguments.
        overwrite: regenerate even when a complete dataset with the same parameters exists.
        crf: x264 quality (lower is better).
        keyframe_interval: GOP size (`None`: x264 default). Long videos with short GOPs make
            seeking matter, as in real datasets.
        verbose: show a tqdm progress bar.

    Returns:
        dict with the paths (`root`, `labels_json`, `train_json`, `validation_json`,
        `video_root`, `flip_map_json`, `manifest`) and facts (`class_names`, `label_flip_map`,
        `num_classes`, `num_train`, `num_validation`, `num_frames`, `size`, `fps`,
        `params_hash`, `content_hash`) of the dataset.

    Example:

    >>> info = make_dataset("/tmp/tfvideo_synthetic_doc", num_classes=2,
    ...                     videos_per_class_train=2, videos_per_class_val=1, num_frames=8, size=32)
    >>> info["class_names"]
    ['Moving something from left to right', 'Moving something from right to left']
    """
    params = _params(
        num_classes,
        videos_per_class_train,
        videos_per_class_val,
        num_frames,
        size,
        fps,
        seed,
        crf,
        keyframe_interval,
    )
    params_hash = _hash_params(params)
    root = os.path.abspath(os.fspath(root))
    if not overwrite and is_complete(root, params_hash):
        return _info(root, read_manifest(root))

    video_dir = os.path.join(root, VIDEO_DIR)
    os.makedirs(video_dir, exist_ok=True)
    manifest_path = os.path.join(root, MANIFEST_FILE)
    if os.path.exists(manifest_path):  # an incomplete or different dataset: invalidate it first
        os.remove(manifest_path)

    templates = class_templates(num_classes)
    names = class_names(num_classes)
    jobs = []  # (split, id, label)
    next_id = 1
    for split, per_class in (
        ("train", params["videos_per_class_train"]),
        ("validation", params["videos_per_class_val"]),
    ):
        for index in range(per_class):
            for label in range(num_classes):
                jobs.append((split, next_id, label, index))
                next_id += 1

    progress = None
    if verbose:
        from tqdm import tqdm

        progress = tqdm(total=len(jobs), desc="synthetic videos", unit="video")
    splits = {"train": [], "validation": []}
    files = {}
    for split, video_id, label, index in jobs:
        rng = np.random.default_rng([params["seed"], 0 if split == "train" else 1, label, index])
        frames, _, shape = render_clip(label, rng, params["num_frames"], params["size"])
        rel = os.path.join(VIDEO_DIR, f"{video_id}.mp4")
        write_mp4(
            os.path.join(root, rel),
            frames,
            fps=params["fps"],
            crf=params["crf"],
            keyframe_interval=params["keyframe_interval"],
        )
        placeholders = [shape] * templates[label].count("[something]")
        text = templates[label]
        for placeholder in placeholders:
            text = text.replace("[something]", placeholder, 1)
        splits[split].append(
            {
                "id": str(video_id),
                "label": text[0].lower() + text[1:],
                "template": templates[label],
                "placeholders": placeholders,
            }
        )
        files[rel] = os.path.join(root, rel)
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.close()

    _write_json(os.path.join(root, LABELS_FILE), {n: str(i) for i, n in enumerate(names)})
    for split, entries in splits.items():
        _write_json(os.path.join(root, SPLIT_FILES[split]), entries)
    _write_json(
        os.path.join(root, FLIP_MAP_FILE),
        {str(c): m for c, m in enumerate(label_flip_map(num_classes))},
    )
    for rel in (LABELS_FILE, FLIP_MAP_FILE, *SPLIT_FILES.values()):
        files[rel] = os.path.join(root, rel)

    entries = {
        rel: {"size": os.path.getsize(p), "sha256": _sha256(p)} for rel, p in sorted(files.items())
    }
    content = hashlib.sha256("".join(f"{r}:{e['sha256']}\n" for r, e in entries.items()).encode())
    manifest = {
        "params": params,
        "params_hash": params_hash,
        "content_hash": content.hexdigest(),
        "files": entries,
    }
    # The manifest appears last: its presence means "complete".
    atomic_save(manifest_path, lambda tmp: _write_json(tmp, manifest))
    return _info(root, manifest)


def read_flip_map(root):
    """The label flip map stored with the dataset, as a list (`m[c]` = flipped label of `c`)."""
    with open(os.path.join(root, FLIP_MAP_FILE)) as f:
        mapping = json.load(f)
    return [int(mapping[str(c)]) for c in range(len(mapping))]


def load(root, split="train"):
    """Reads split `"train"` or `"validation"` through the data-core SSv2 reader.

    Returns a `tfvideo.data.annotations.VideoDataset` whose `label_flip_map` is the one stored
    with the dataset (left/right and clockwise/anticlockwise pairs).
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"`split` must be one of {sorted(SPLIT_FILES)}, got {split!r}.")
    from tfvideo.data import annotations

    flip = read_flip_map(root)
    pairs = [(c, m) for c, m in enumerate(flip) if c < m]
    return annotations.read_ssv2(
        os.path.join(root, LABELS_FILE),
        os.path.join(root, SPLIT_FILES[split]),
        os.path.join(root, VIDEO_DIR),
        extension=".mp4",
        flip_pairs=pairs,
        name=f"synthetic/{split}",
    )
