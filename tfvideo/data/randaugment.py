"""Clip-consistent colour jitter and RandAugment, in TensorFlow ops.

Every function takes one clip ``[T, H, W, C]`` with values in [0, 255] (any dtype; float32
out) and draws its random parameters ONCE per clip: one factor, one angle, one threshold, one
shift for all frames. Operations that read image statistics (auto-contrast, equalize, the
contrast reference) compute them over the whole clip, so they too map every frame the same way.

RandAugment (Cubuk et al., 2020): ``num_ops`` operations drawn uniformly (with replacement) from
:data:`RAND_AUGMENT_OPS`, each applied at ``magnitude`` M in [0, 10]. The list is the paper's
without the ones that make no sense for video (none are dropped but flips, which
:func:`tfvideo.data.augment.random_flip` owns because of the flip label maps). Levels map to
arguments as in timm's "increasing" variant, so a higher M is always a stronger change: rotate
30 M/10 degrees, shear 0.3 M/10, translate 0.45 M/10 of the side, enhance factors 1 +- 0.9 M/10
(colour, contrast, brightness, sharpness), solarize threshold 256 (1 - M/10), posterize to
8 - int(4 M/10) bits; signed ops draw their sign per clip. Fill value of geometric ops: 128.

Example:

>>> import numpy as np
>>> clip = np.random.default_rng(0).uniform(0, 255, (1, 8, 8, 3)).astype("float32")
>>> clip = np.repeat(clip, 4, axis=0)                    # 4 identical frames
>>> out = rand_augment(clip, num_ops=2, magnitude=9, seed=[1, 2]).numpy()
>>> out.shape, bool(np.all(out == out[:1]))              # still identical frames
((4, 8, 8, 3), True)
"""

import math

import tensorflow as tf

from tfvideo.data.augment import split_seed

MAX_LEVEL = 10.0
FILL_VALUE = 128.0
_GRAY = (0.299, 0.587, 0.114)  # PIL's "L" conversion


def _float(clip):
    clip = tf.convert_to_tensor(clip)
    if clip.shape.rank is not None and clip.shape.rank != 4:
        raise ValueError(f"clip must be [T, H, W, C], got shape {clip.shape}")
    return tf.cast(clip, tf.float32)


def _clip255(x):
    return tf.clip_by_value(x, 0.0, 255.0)


def _blend(degenerate, clip, factor):
    """PIL's ImageEnhance: ``degenerate + factor * (clip - degenerate)``, clipped to [0, 255]."""
    return _clip255(degenerate + factor * (clip - degenerate))


def grayscale(clip):
    """Luma of every frame, ``[T, H, W, 1]``."""
    return tf.reduce_sum(_float(clip) * tf.constant(_GRAY), axis=-1, keepdims=True)


def adjust_brightness(clip, factor):
    return _blend(tf.zeros_like(_float(clip)), _float(clip), factor)


def adjust_contrast(clip, factor):
    """Blends with the mean grey level of the whole clip (one reference for every frame)."""
    clip = _float(clip)
    return _blend(tf.reduce_mean(grayscale(clip)), clip, factor)


def adjust_saturation(clip, factor):
    clip = _float(clip)
    return _blend(grayscale(clip), clip, factor)


def adjust_hue(clip, delta):
    """Rotates the hue of every frame by ``delta`` (a fraction of the colour circle)."""
    return _clip255(tf.image.adjust_hue(_float(clip) / 255.0, delta) * 255.0)


def adjust_sharpness(clip, factor):
    """Blends with PIL's SMOOTH filter (3x3, centre weight 5); border pixels stay as they are."""
    clip = _float(clip)
    channels = clip.shape[-1] or 3
    kernel = tf.constant([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, channels, 1])
    smooth = tf.nn.depthwise_conv2d(clip, kernel, [1, 1, 1, 1], "VALID")
    smooth = tf.pad(smooth, [[0, 0], [1, 1], [1, 1], [0, 0]])
    shape = tf.shape(clip)
    inner = tf.pad(tf.ones(shape[1:3] - 2), [[1, 1], [1, 1]])[None, :, :, None] > 0
    return _blend(tf.where(inner, smooth, clip), clip, factor)


def auto_contrast(clip):
    """Stretches each channel to [0, 255] with the clip's minimum and maximum."""
    clip = _float(clip)
    lo = tf.reduce_min(clip, axis=[0, 1, 2])
    hi = tf.reduce_max(clip, axis=[0, 1, 2])
    scale = tf.where(hi > lo, 255.0 / tf.maximum(hi - lo, 1e-6), 1.0)
    offset = tf.where(hi > lo, lo, 0.0)
    return _clip255((clip - offset) * scale)


def _equalize_channel(values):
    """PIL's ImageOps.equalize on one channel of the whole clip (int32 values in [0, 255])."""
    hist = tf.math.bincount(values, minlength=256, maxlength=256)
    last = tf.gather(hist, tf.reduce_max(tf.where(hist > 0)))
    step = (tf.reduce_sum(hist) - last) // 255

    def mapped():
        lut = (tf.cumsum(hist) + step // 2) // tf.maximum(step, 1)
        lut = tf.clip_by_value(tf.concat([[0], lut[:-1]], 0), 0, 255)
        return tf.gather(lut, values)

    return tf.cast(tf.cond(step > 0, mapped, lambda: values), tf.float32)


def equalize(clip):
    """Histogram equalisation per channel, the histogram of the whole clip."""
    clip = _float(clip)
    values = tf.cast(tf.round(_clip255(clip)), tf.int32)
    channels = [_equalize_channel(values[..., c]) for c in range(clip.shape[-1] or 3)]
    return tf.stack(channels, axis=-1)


def solarize(clip, threshold):
    clip = _float(clip)
    return tf.where(clip >= threshold, 255.0 - clip, clip)


def posterize(clip, bits):
    """Keeps the ``bits`` high bits of every (rounded) value."""
    shift = 2.0 ** (8 - tf.cast(bits, tf.float32))
    return tf.floor(tf.round(_clip255(_float(clip))) / shift) * shift


def _transform(clip, matrix):
    """One projective transform (output -> input coordinates, 8 numbers) for every frame."""
    clip = _float(clip)
    matrix = tf.reshape(tf.cast(matrix, tf.float32), [1, 8])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=clip,
        transforms=matrix,
        output_shape=tf.shape(clip)[1:3],
        fill_value=FILL_VALUE,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def rotate(clip, degrees):
    """Rotates every frame by ``degrees`` about its centre."""
    shape = tf.cast(tf.shape(clip), tf.float32)
    h, w = shape[1] - 1.0, shape[2] - 1.0
    a = tf.cast(degrees, tf.float32) * math.pi / 180.0
    cos, sin = tf.cos(a), tf.sin(a)
    x_off = (w - (cos * w - sin * h)) / 2.0
    y_off = (h - (sin * w + cos * h)) / 2.0
    return _transform(clip, tf.stack([cos, -sin, x_off, sin, cos, y_off, 0.0, 0.0]))


def shear_x(clip, shear):
    s = tf.cast(shear, tf.float32)
    return _transform(clip, tf.stack([1.0, s, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]))


def shear_y(clip, shear):
    s = tf.cast(shear, tf.float32)
    return _transform(clip, tf.stack([1.0, 0.0, 0.0, s, 1.0, 0.0, 0.0, 0.0]))


def translate_x(clip, fraction):
    dx = tf.cast(fraction, tf.float32) * tf.cast(tf.shape(clip)[2], tf.float32)
    return _transform(clip, tf.stack([1.0, 0.0, dx, 0.0, 1.0, 0.0, 0.0, 0.0]))


def translate_y(clip, fraction):
    dy = tf.cast(fraction, tf.float32) * tf.cast(tf.shape(clip)[1], tf.float32)
    return _transform(clip, tf.stack([1.0, 0.0, 0.0, 0.0, 1.0, dy, 0.0, 0.0]))


def _signed(value, seed):
    sign = tf.where(tf.random.stateless_uniform([], seed) < 0.5, -1.0, 1.0)
    return value * sign


def _enhance(fn):
    return lambda clip, level, seed: fn(clip, 1.0 + _signed(0.9 * level / MAX_LEVEL, seed))


# name -> (clip, level in [0, 10], seed) -> clip. Geometric ops first, then photometric.
RAND_AUGMENT_OPS = {
    "identity": lambda clip, level, seed: _float(clip),
    "rotate": lambda clip, level, seed: rotate(clip, _signed(30.0 * level / MAX_LEVEL, seed)),
    "shear_x": lambda clip, level, seed: shear_x(clip, _signed(0.3 * level / MAX_LEVEL, seed)),
    "shear_y": lambda clip, level, seed: shear_y(clip, _signed(0.3 * level / MAX_LEVEL, seed)),
    "translate_x": lambda clip, level, seed: translate_x(
        clip, _signed(0.45 * level / MAX_LEVEL, seed)
    ),
    "translate_y": lambda clip, level, seed: translate_y(
        clip, _signed(0.45 * level / MAX_LEVEL, seed)
    ),
    "auto_contrast": lambda clip, level, seed: auto_contrast(clip),
    "equalize": lambda clip, level, seed: equalize(clip),
    "solarize": lambda clip, level, seed: solarize(clip, 256.0 * (1.0 - level / MAX_LEVEL)),
    "posterize": lambda clip, level, seed: posterize(clip, 8 - int(4 * level / MAX_LEVEL)),
    "color": _enhance(adjust_saturation),
    "contrast": _enhance(adjust_contrast),
    "brightness": _enhance(adjust_brightness),
    "sharpness": _enhance(adjust_sharpness),
}
# Ops that read clip statistics (a one-frame clip and a longer one get different parameters).
CLIP_STATISTIC_OPS = ("auto_contrast", "equalize", "contrast")


def check_rand_augment(num_ops, magnitude):
    """Validates RandAugment's N and M; returns them as ``(int, float)``."""
    if isinstance(num_ops, bool) or int(num_ops) != num_ops or num_ops < 0:
        raise ValueError(f"RandAugment num_ops (N) must be an integer >= 0, got {num_ops!r}")
    if not 0 <= float(magnitude) <= MAX_LEVEL:
        raise ValueError(f"RandAugment magnitude (M) must be in [0, 10], got {magnitude!r}")
    return int(num_ops), float(magnitude)


def parse_rand_augment(text):
    """``"N,M"`` (the ``--randaugment`` flag) -> ``(N, M)``; ``""`` -> None.

    >>> parse_rand_augment("2,9"), parse_rand_augment("")
    ((2, 9.0), None)
    """
    text = (text or "").strip()
    if not text:
        return None
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return check_rand_augment(int(parts[0]), float(parts[1]))
    except ValueError as err:
        raise ValueError(
            f"--randaugment must be 'N,M' (N ops of magnitude M in [0, 10]), got {text!r}"
            + (f": {err}" if str(err) else "")
        ) from None


def _branches(clip, names, magnitude, seed):
    def branch(fn):
        return lambda: tf.ensure_shape(fn(clip, magnitude, seed), clip.shape)

    return [branch(RAND_AUGMENT_OPS[n]) for n in names]


def rand_augment(clip, num_ops=2, magnitude=9, ops=None, seed=None):
    """RandAugment on a clip: ``num_ops`` ops of :data:`RAND_AUGMENT_OPS` (or of ``ops``, a list
    of their names), chosen per clip, each at ``magnitude``; float32 out.

    The choice, signs and parameters come from ``seed`` (a stateless seed, see
    :func:`tfvideo.data.augment.stateless_seed`) and are the same for every frame.
    """
    num_ops, magnitude = check_rand_augment(num_ops, magnitude)
    names = list(RAND_AUGMENT_OPS) if ops is None else list(ops)
    unknown = [n for n in names if n not in RAND_AUGMENT_OPS]
    if unknown or not names:
        raise ValueError(f"unknown RandAugment ops {unknown}; known: {sorted(RAND_AUGMENT_OPS)}")
    clip = _float(clip)
    if num_ops == 0:
        return clip
    seeds = split_seed(seed, 2 * num_ops)
    for i in range(num_ops):
        pick = tf.random.stateless_uniform([], seeds[2 * i], 0, len(names), dtype=tf.int32)
        clip = tf.switch_case(pick, _branches(clip, names, magnitude, seeds[2 * i + 1]))
    return clip


def color_jitter(clip, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.0, seed=None):
    """torchvision-style colour jitter with one set of factors per clip (float32 out).

    Brightness, contrast and saturation factors are uniform in ``[max(0, 1 - s), 1 + s]``, the
    hue shift uniform in ``[-hue, hue]`` (a fraction of the colour circle, at most 0.5); they are
    applied in that order. 0 switches a part off.
    """
    for name, value in (("brightness", brightness), ("contrast", contrast)):
        if value < 0:
            raise ValueError(f"color_jitter {name} must be >= 0, got {value!r}")
    if saturation < 0 or not 0 <= hue <= 0.5:
        raise ValueError(
            f"color_jitter needs saturation >= 0 and hue in [0, 0.5], got {saturation!r}, {hue!r}"
        )
    clip = _float(clip)
    s_b, s_c, s_s, s_h = split_seed(seed, 4)

    def factor(strength, s):
        return tf.random.stateless_uniform([], s, max(0.0, 1.0 - strength), 1.0 + strength)

    if brightness:
        clip = adjust_brightness(clip, factor(brightness, s_b))
    if contrast:
        clip = adjust_contrast(clip, factor(contrast, s_c))
    if saturation:
        clip = adjust_saturation(clip, factor(saturation, s_s))
    if hue:
        clip = adjust_hue(clip, tf.random.stateless_uniform([], s_h, -hue, hue))
    return clip
