"""Batch-level MixUp and CutMix of clips with soft labels, in TensorFlow ops.

Both pair every clip of a batch with the clip at the mirrored position (``clips[::-1]``, as
timm's batch mode does) and mix them with one coefficient ``lam`` for the whole batch, drawn from
Beta(alpha, alpha):

- MixUp (Zhang et al., 2018): ``clips = lam * clips + (1 - lam) * clips[::-1]``, and the same for
  the labels.
- CutMix (Yun et al., 2019): one box, the same in every frame of every clip (a space-time tube),
  is pasted from the partner clip; its side is ``sqrt(1 - lam)`` of the frame's, centred at a
  uniform position and clipped to the frame, and the labels mix with the area that is really
  kept: ``lam' = 1 - box area / frame area``.

Labels are float ``[batch, classes]`` vectors (one-hot, multi-hot or already soft), so the loss
is a cross-entropy on soft targets (or a binary cross-entropy for multi-label data). Mix after
the per-clip augmentation: a flipped clip's label is already mapped through the flip table
(:func:`tfvideo.data.augment.random_flip`), so the mixed label names what the pixels show.

Example:

>>> import numpy as np
>>> clips = np.stack([np.full((2, 4, 4, 3), v, np.float32) for v in (0.0, 100.0)])
>>> labels = np.eye(2, dtype=np.float32)
>>> mixed, soft = mixup(clips, labels, 0.75)
>>> float(mixed[0, 0, 0, 0, 0]), soft.numpy().tolist()
(25.0, [[0.75, 0.25], [0.25, 0.75]])
"""

import tensorflow as tf

from tfvideo.data.augment import split_seed

MIX_MODES = ("mixup", "cutmix")


def sample_beta(alpha, seed):
    """One draw of Beta(alpha, alpha) (two stateless Gamma draws)."""
    s1, s2 = split_seed(seed, 2)
    a = tf.constant(float(alpha), tf.float32)
    g1 = tf.random.stateless_gamma([], s1, a)
    g2 = tf.random.stateless_gamma([], s2, a)
    return g1 / tf.maximum(g1 + g2, 1e-12)


def _partner(x):
    return tf.reverse(x, axis=[0])


def _check(clips, labels):
    clips = tf.convert_to_tensor(clips)
    labels = tf.cast(labels, tf.float32)
    if clips.shape.rank is not None and clips.shape.rank != 5:
        raise ValueError(f"clips must be [batch, T, H, W, C], got shape {clips.shape}")
    if labels.shape.rank is not None and labels.shape.rank != 2:
        raise ValueError(
            f"labels must be [batch, classes] float vectors (one-hot or soft), got {labels.shape}"
        )
    return clips, labels


def mix_labels(labels, lam):
    """``lam * labels + (1 - lam) * labels[::-1]``."""
    labels = tf.cast(labels, tf.float32)
    return lam * labels + (1.0 - lam) * _partner(labels)


def mixup(clips, labels, lam):
    """MixUp with coefficient ``lam``: ``(clips, soft labels)``; clips keep their dtype if float."""
    clips, labels = _check(clips, labels)
    x = tf.cast(clips, tf.float32)
    lam = tf.cast(lam, tf.float32)
    mixed = lam * x + (1.0 - lam) * _partner(x)
    return tf.cast(mixed, clips.dtype if clips.dtype.is_floating else tf.float32), mix_labels(
        labels, lam
    )


def cutmix_box(height, width, lam, seed):
    """``(top, left, bottom, right)`` of CutMix's box: side ``sqrt(1 - lam)`` of the frame's,
    centre uniform in the frame, clipped to it (int32 scalars)."""
    s1, s2 = split_seed(seed, 2)
    height, width = tf.cast(height, tf.int32), tf.cast(width, tf.int32)
    ratio = tf.sqrt(1.0 - tf.cast(lam, tf.float32))
    cut_h = tf.cast(tf.cast(height, tf.float32) * ratio, tf.int32)
    cut_w = tf.cast(tf.cast(width, tf.float32) * ratio, tf.int32)
    cy = tf.random.stateless_uniform([], s1, 0, height, dtype=tf.int32)
    cx = tf.random.stateless_uniform([], s2, 0, width, dtype=tf.int32)
    top = tf.clip_by_value(cy - cut_h // 2, 0, height)
    bottom = tf.clip_by_value(cy + cut_h // 2, 0, height)
    left = tf.clip_by_value(cx - cut_w // 2, 0, width)
    right = tf.clip_by_value(cx + cut_w // 2, 0, width)
    return top, left, bottom, right


def box_mask(height, width, box):
    """Boolean ``[H, W]``: inside ``box`` = (top, left, bottom, right)."""
    top, left, bottom, right = box
    rows = tf.range(height)
    cols = tf.range(width)
    inside_r = (rows >= top) & (rows < bottom)
    inside_c = (cols >= left) & (cols < right)
    return inside_r[:, None] & inside_c[None, :]


def cutmix(clips, labels, lam, seed=None):
    """CutMix with target coefficient ``lam``: ``(clips, soft labels, box)``; ``box`` is
    (top, left, bottom, right), the same for every frame and clip of the batch."""
    clips, labels = _check(clips, labels)
    shape = tf.shape(clips)
    h, w = shape[2], shape[3]
    box = cutmix_box(h, w, lam, seed)
    inside = box_mask(h, w, box)
    mixed = tf.where(inside[None, None, :, :, None], _partner(clips), clips)
    area = tf.cast((box[2] - box[0]) * (box[3] - box[1]), tf.float32)
    kept = 1.0 - area / tf.cast(h * w, tf.float32)
    return mixed, mix_labels(labels, kept), box


def check_mix(mixup_alpha=0.0, cutmix_alpha=0.0, switch_prob=0.5):
    """Validates the mixing options; True when any mixing is on."""
    if mixup_alpha < 0 or cutmix_alpha < 0:
        raise ValueError(
            f"mixup and cutmix alphas must be >= 0 (0: off), got {mixup_alpha!r}, {cutmix_alpha!r}"
        )
    if not 0 <= switch_prob <= 1:
        raise ValueError(f"switch_prob must be in [0, 1], got {switch_prob!r}")
    return bool(mixup_alpha or cutmix_alpha)


def mix_batch(clips, labels, mixup_alpha=0.0, cutmix_alpha=0.0, switch_prob=0.5, seed=None):
    """MixUp or CutMix on one batch (timm's ``Mixup`` in batch mode): with both alphas > 0,
    CutMix is chosen with probability ``switch_prob``, else MixUp; ``lam`` ~ Beta(alpha, alpha)
    of the chosen one. Returns ``(clips, soft labels)``; both alphas 0 leaves the batch as it is.
    """
    if not check_mix(mixup_alpha, cutmix_alpha, switch_prob):
        return clips, tf.cast(labels, tf.float32)
    s_switch, s_mix, s_cut, s_box = split_seed(seed, 4)

    def do_mixup():
        return mixup(clips, labels, sample_beta(mixup_alpha, s_mix))

    def do_cutmix():
        mixed, soft, _ = cutmix(clips, labels, sample_beta(cutmix_alpha, s_cut), s_box)
        return mixed, soft

    if not cutmix_alpha:
        return do_mixup()
    if not mixup_alpha:
        return do_cutmix()
    use_cutmix = tf.random.stateless_uniform([], s_switch) < switch_prob
    return tf.cond(use_cutmix, do_cutmix, do_mixup)
