"""Clip-consistent spatial augmentation in TensorFlow ops.

Every function takes one clip ``[T, H, W, C]`` (uint8 or float) and applies
the SAME geometry to all its frames: a crop is a slice of the 4-D tensor and a
flip reverses the width axis of the whole clip, so frames never disagree.
Resizing returns float32 (values still in [0, 255]).

Random functions take an optional stateless ``seed`` (int tensor of shape
``[2]``); the pipeline derives one per element from its own seed, so a seeded
pipeline is reproducible. With ``seed=None`` a fresh seed is drawn.
"""

import tensorflow as tf

MULTI_SCALE_SCALES = (1.0, 0.875, 0.75, 0.66)


def stateless_seed(seed):
    """``seed`` as the int32 ``[2]`` tensor of the stateless random ops; ``None`` draws one."""
    if seed is None:
        return tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
    return tf.cast(seed, tf.int32)


def split_seed(seed, n):
    """``n`` independent stateless seeds derived from ``seed`` (see :func:`stateless_seed`)."""
    return tf.unstack(tf.random.experimental.stateless_split(stateless_seed(seed), n))


def seed_from_int(r):
    """A stateless seed from one int64 (e.g. an element of ``tf.data.Dataset.random``): the
    pipelines draw one per element, so a seeded pipeline is reproducible."""
    r = tf.cast(r, tf.int64)
    return tf.cast(tf.stack([r % 2147483647, (r // 2147483647) % 2147483647]), tf.int32)


def _hw(clip):
    shape = tf.shape(clip)
    return shape[-3], shape[-2]


def _check_clip(clip):
    clip = tf.convert_to_tensor(clip)
    if clip.shape.rank is not None and clip.shape.rank != 4:
        raise ValueError(f"clip must be [T, H, W, C], got shape {clip.shape}")
    return clip


def _size_pair(size):
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ValueError(f"size must be an int or (height, width), got {size!r}")
        return int(size[0]), int(size[1])
    return int(size), int(size)


def crop(clip, top, left, height, width):
    """The same crop on every frame."""
    clip = _check_clip(clip)
    return clip[:, top : top + height, left : left + width, :]


def resize(clip, size, method="bilinear"):
    """Resizes every frame to ``size`` (int or (h, w)); float32 out."""
    clip = _check_clip(clip)
    h, w = _size_pair(size)
    out = tf.image.resize(tf.cast(clip, tf.float32), [h, w], method=method)
    return tf.clip_by_value(out, 0.0, 255.0)


def resize_short_side(clip, size, method="bilinear"):
    """Resizes so the shorter side is ``size``, keeping the aspect ratio."""
    clip = _check_clip(clip)
    h, w = _hw(clip)
    size = tf.cast(size, tf.float32)
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    scale = size / tf.minimum(hf, wf)
    new_h = tf.cast(tf.round(hf * scale), tf.int32)
    new_w = tf.cast(tf.round(wf * scale), tf.int32)
    new_h = tf.maximum(new_h, 1)
    new_w = tf.maximum(new_w, 1)
    out = tf.image.resize(tf.cast(clip, tf.float32), tf.stack([new_h, new_w]), method=method)
    return tf.clip_by_value(out, 0.0, 255.0)


def fit_short_side(clip, size):
    """:func:`resize_short_side`, skipped when the shorter side is ``size`` already (float32
    out either way; ``size=None`` keeps the frames).

    A bilinear resize to the same size is the identity, so the values do not depend on the
    skip; frames decoded or stored at the short side the transforms want skip the costliest op.
    """
    clip = _check_clip(clip)
    if size is None:
        return tf.cast(clip, tf.float32)
    h, w = _hw(clip)
    return tf.cond(
        tf.equal(tf.minimum(h, w), tf.cast(size, tf.int32)),
        lambda: tf.cast(clip, tf.float32),
        lambda: resize_short_side(clip, size),
    )


def random_short_side_resize(clip, min_size, max_size, seed=None):
    """Short side resized to a uniform random integer in
    ``[min_size, max_size]`` (SlowFast/TAda scale jitter, e.g. [256, 320])."""
    size = tf.random.stateless_uniform(
        [], stateless_seed(seed), int(min_size), int(max_size) + 1, dtype=tf.int32
    )
    return resize_short_side(clip, size)


def center_crop(clip, size):
    """Central ``size`` crop (zero-padded if the clip is smaller)."""
    clip = _check_clip(clip)
    h, w = _size_pair(size)
    return tf.image.resize_with_crop_or_pad(clip, h, w)


def random_crop(clip, size, seed=None):
    """Crop of ``size`` at a uniformly random position (same for all
    frames)."""
    clip = _check_clip(clip)
    ch, cw = _size_pair(size)
    h, w = _hw(clip)
    s1, s2 = split_seed(seed, 2)
    top = tf.random.stateless_uniform([], s1, 0, tf.maximum(h - ch, 0) + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], s2, 0, tf.maximum(w - cw, 0) + 1, dtype=tf.int32)
    return crop(clip, top, left, ch, cw)


def three_crop(clip, size):
    """Three ``size`` x ``size`` crops along the longer side (start, centre,
    end), centred on the shorter side. Returns ``[3, T, size, size, C]``.

    Resize the short side to ``size`` first to cover the whole frame (the
    SlowFast / TAda "3 crops" test protocol).
    """
    clip = _check_clip(clip)
    s = int(size)
    h, w = _hw(clip)
    clip = tf.image.resize_with_crop_or_pad(clip, tf.maximum(h, s), tf.maximum(w, s))
    h, w = _hw(clip)
    tall = h >= w
    long_len = tf.where(tall, h, w)
    short_off = tf.where(tall, (w - s) // 2, (h - s) // 2)
    offsets = [0, (long_len - s) // 2, long_len - s]
    crops = []
    for off in offsets:
        top = tf.where(tall, off, short_off)
        left = tf.where(tall, short_off, off)
        crops.append(crop(clip, top, left, s, s))
    return tf.stack(crops)


def multi_crop(clip, size, num_crops):
    """``num_crops`` evaluation crops ``[num_crops, T, size, size, C]``:
    1 = centre, 3 = :func:`three_crop`."""
    if num_crops == 1:
        return center_crop(clip, size)[None]
    if num_crops == 3:
        return three_crop(clip, size)
    raise ValueError(f"num_crops must be 1 or 3, got {num_crops!r}")


def fixed_crop_offsets(height, width, crop_h, crop_w, more_fix_crop=True):
    """TSN fixed crop positions (top, left): 4 corners + centre, and with
    ``more_fix_crop`` 8 more (edge centres and quarter points). int32
    ``[5 or 13, 2]``."""
    hs = (height - crop_h) // 4
    ws = (width - crop_w) // 4
    pos = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]
    if more_fix_crop:
        pos += [(2, 0), (2, 4), (4, 2), (0, 2), (1, 1), (1, 3), (3, 1), (3, 3)]
    return tf.stack([tf.stack([r * hs, c * ws]) for r, c in pos])


def multi_scale_crop(
    clip,
    size,
    scales=MULTI_SCALE_SCALES,
    max_distort=1,
    fix_crop=True,
    more_fix_crop=True,
    seed=None,
):
    """TSN ``GroupMultiScaleCrop``: crop of random scale and aspect, resized to
    ``size``.

    The crop height and width are each ``int(min(H, W) * scale)`` for scales
    in ``scales`` whose positions in the list differ by at most
    ``max_distort`` (a size within 3 pixels of ``size`` snaps to it). With
    ``fix_crop`` the crop sits at one of the fixed positions (corners and
    centre; 13 positions with ``more_fix_crop``), otherwise anywhere.
    """
    clip = _check_clip(clip)
    out_h, out_w = _size_pair(size)
    h, w = _hw(clip)
    s1, s2, s3, s4 = split_seed(seed, 4)
    base = tf.cast(tf.minimum(h, w), tf.float32)
    sizes = tf.cast(base * tf.constant(scales, tf.float32), tf.int32)
    sizes_h = tf.where(tf.abs(sizes - out_h) < 3, out_h, sizes)
    sizes_w = tf.where(tf.abs(sizes - out_w) < 3, out_w, sizes)
    n = len(scales)
    pairs = [(i, j) for i in range(n) for j in range(n) if abs(i - j) <= max_distort]
    pick = tf.random.stateless_uniform([], s1, 0, len(pairs), dtype=tf.int32)
    pairs_t = tf.constant(pairs, tf.int32)
    i, j = pairs_t[pick, 0], pairs_t[pick, 1]
    crop_h = tf.minimum(tf.gather(sizes_h, i), h)
    crop_w = tf.minimum(tf.gather(sizes_w, j), w)
    if fix_crop:
        offsets = fixed_crop_offsets(h, w, crop_h, crop_w, more_fix_crop)
        k = tf.random.stateless_uniform([], s2, 0, tf.shape(offsets)[0], dtype=tf.int32)
        top, left = offsets[k, 0], offsets[k, 1]
    else:
        top = tf.random.stateless_uniform([], s3, 0, h - crop_h + 1, dtype=tf.int32)
        left = tf.random.stateless_uniform([], s4, 0, w - crop_w + 1, dtype=tf.int32)
    return resize(crop(clip, top, left, crop_h, crop_w), (out_h, out_w))


def random_resized_crop(clip, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), seed=None):
    """Inception-style crop of random area fraction ``scale`` and aspect
    ``ratio``, resized to ``size`` (one box for the whole clip)."""
    clip = _check_clip(clip)
    h, w = _hw(clip)
    begin, box_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.stack([h, w, 3]),
        bounding_boxes=tf.zeros([1, 0, 4]),
        seed=stateless_seed(seed),
        min_object_covered=0.0,
        aspect_ratio_range=ratio,
        area_range=scale,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    out = crop(clip, begin[0], begin[1], box_size[0], box_size[1])
    return resize(out, size)


def horizontal_flip(clip):
    """Mirrors every frame left-right."""
    clip = _check_clip(clip)
    return tf.reverse(clip, axis=[2])


def flip_label(label, flip_table):
    """Label after a flip: ``flip_table[label]`` (labels < 0 unchanged). A label vector
    ``[C]`` (one-hot, multi-hot, soft) moves each class's weight to ``flip_table[class]``.

    >>> int(flip_label(1, [0, 2, 1])), flip_label([0.0, 1.0, 0.5], [0, 2, 1]).numpy().tolist()
    (2, [0.0, 0.5, 1.0])
    """
    label = tf.convert_to_tensor(label)
    if label.shape.rank == 1:
        move = tf.one_hot(flip_table, len(flip_table), dtype=label.dtype)  # [class, new class]
        return tf.linalg.matvec(move, label, transpose_a=True)
    table = tf.constant(flip_table, label.dtype)
    return tf.where(label >= 0, tf.gather(table, tf.maximum(label, 0)), label)


def random_flip(clip, label=None, flip_table=None, prob=0.5, seed=None):
    """Flips the whole clip with probability ``prob``; when it flips and a
    ``flip_table`` is given (list: label -> label after a flip, e.g.
    ``VideoDataset.flip_table()``), the label is mapped through it so a
    "left to right" clip becomes "right to left".

    Returns ``clip`` or ``(clip, label)`` when ``label`` is given.
    """
    clip = _check_clip(clip)
    do = tf.random.stateless_uniform([], stateless_seed(seed)) < prob
    clip = tf.cond(do, lambda: horizontal_flip(clip), lambda: clip)
    if label is None:
        return clip
    if flip_table is not None:
        label = tf.cond(
            do, lambda: flip_label(label, flip_table), lambda: tf.convert_to_tensor(label)
        )
    return clip, label


TRAIN_CROPS = ("multi_scale", "random_resized", "jitter", "center")


def train_transform(
    clip,
    label,
    size=224,
    short_side=256,
    crop="multi_scale",
    flip=True,
    flip_table=None,
    scales=MULTI_SCALE_SCALES,
    jitter=(256, 320),
    seed=None,
):
    """A training transform: resize, crop, flip (float32 ``[T, size, size,
    C]``, label).

    The short-side resizes are :func:`fit_short_side` (skipped on frames that have the size).

    ``crop``:
      - ``"multi_scale"``: short side ``short_side`` then TSN multi-scale
        fixed/corner crop (TSN/TSM/TEINet/bLVNet).
      - ``"random_resized"``: Inception random resized crop of the raw frames.
      - ``"jitter"``: short side random in ``jitter`` then random crop
        (SlowFast/TAda).
      - ``"center"``: short side ``short_side`` then centre crop.
    """
    if crop not in TRAIN_CROPS:
        raise ValueError(f"crop must be one of {TRAIN_CROPS}, got {crop!r}")
    s_crop, s_flip, s_jit = split_seed(seed, 3)
    if crop == "multi_scale":
        out = multi_scale_crop(fit_short_side(clip, short_side), size, scales=scales, seed=s_crop)
    elif crop == "random_resized":
        out = random_resized_crop(clip, size, seed=s_crop)
    elif crop == "jitter":
        out = random_crop(
            random_short_side_resize(clip, jitter[0], jitter[1], seed=s_jit), size, seed=s_crop
        )
    else:
        out = center_crop(fit_short_side(clip, short_side), size)
    out = tf.ensure_shape(tf.cast(out, tf.float32), [None, size, size, None])
    if flip:
        out, label = random_flip(out, label, flip_table, seed=s_flip)
    return out, label


def eval_transform(clip, size=224, short_side=256, num_crops=1):
    """Evaluation crops ``[num_crops, T, size, size, C]`` float32: short side
    ``short_side`` then centre (1) or three (3) crops."""
    out = multi_crop(fit_short_side(clip, short_side), size, num_crops)
    return tf.cast(out, tf.float32)
