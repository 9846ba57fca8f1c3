"""Grad-CAM for video classifiers: where in each frame the evidence for a class lies.

`gradcam(model, clip, class_index)` takes the last spatio-temporal feature map before the
classifier's pooling (the last temporal stage: `[B*T', h, w, C]` in the frame-folded families
resnet/TSM/TEINet, TAda2D, bLVNet-TAM and TAdaConvNeXt, `[B, T', h, w, C]` in S3D), the gradient
of the class logit with respect to it, and weighs each channel by its gradient averaged over
time and space (Selvaraju et al., Grad-CAM, ICCV 2017, on a spatio-temporal map). The map
`relu(sum_c alpha_c A_c)` is up-sampled to the frames: bilinear in space, each of the T input
frames taking the map of the T' feature time step it falls in. Maps are divided by their maximum
over the clip, so they lie in [0, 1] and compare across frames. Gradients come from TensorFlow's
`GradientTape` (the TensorFlow backend, as for export).

`save_strip(frames, maps, path)` writes the frames in a row with the maps blended over them below
(matplotlib's `jet` colours, composed with Pillow); `tfvideo predict VIDEO --explain out.png`
does both for the evaluation clip and the top label.

Example:
    >>> import numpy as np, tfvideo
    >>> from tfvideo.explain import gradcam
    >>> model = tfvideo.models.create("tsm_tiny", num_classes=3, num_frames=4, input_size=32)
    >>> clip = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    >>> maps = gradcam(model, clip, class_index=1)
    >>> maps.shape, bool(maps.min() >= 0), bool(maps.max() <= 1)
    ((4, 32, 32), True, True)
"""

import numpy as np


def _spatial_rank(layer):
    """4 or 5 for a layer with one `[N, h, w, C]` / `[B, T, h, w, C]` output, else 0."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return 0
    return len(shape) if len(shape) in (4, 5) else 0


def target_layer(model):
    """The layer whose output Grad-CAM reads: the last one with a 4-D (frame-folded) or 5-D map
    before the pooled features the classifier reads (`model.spec.head.features`; without a
    spec, the last such layer of the model)."""
    layers = list(model.layers)
    spec = getattr(model, "spec", None)
    if spec is not None:
        names = [layer.name for layer in layers]
        layers = layers[: names.index(spec.head.features)]
    candidates = [layer for layer in layers if _spatial_rank(layer)]
    if not candidates:
        raise ValueError(f"{model.name}: no 4-D or 5-D feature map to explain")
    return candidates[-1]


def gradcam(model, clip, class_index=None, layer=None) -> np.ndarray:
    """Grad-CAM maps of one clip: float32 `[T, H, W]` in [0, 1] (see the module docstring).

    Args:
        model: a Keras video classifier (TensorFlow backend) `[B, T, H, W, 3]` -> logits.
        clip: `[T, H, W, 3]` frames as the model takes them (float in [0, 255]).
        class_index: the class to explain (default: the top one).
        layer: the layer (or its name) whose map is read (default: `target_layer(model)`).
    """
    import keras
    import tensorflow as tf

    from tfvideo.export.source import require_tensorflow_backend

    require_tensorflow_backend("Grad-CAM")
    layer = target_layer(model) if layer is None else layer
    layer = model.get_layer(layer) if isinstance(layer, str) else layer
    clip = np.asarray(clip, np.float32)
    num_frames, height, width = clip.shape[:3]
    try:
        probe = keras.Model(model.inputs, [layer.output, model.outputs[0]])
    except ValueError as error:
        raise ValueError(
            f"{model.name}: Grad-CAM cannot read layer {layer.name!r}, which is not in the "
            f"model's own graph (a nested model's layer?); pass layer= ({error})"
        ) from None
    x = tf.constant(clip[np.newaxis])
    with tf.GradientTape() as tape:
        features, logits = probe(x, training=False)
        if class_index is None:
            class_index = int(tf.argmax(logits[0]))
        score = logits[0, int(class_index)]
    grads = tape.gradient(score, features)
    if len(features.shape) == 5:  # [1, T', h, w, C]
        features, grads = features[0], grads[0]
    weights = tf.reduce_mean(grads, axis=(0, 1, 2))  # one per channel, over time and space
    cam = tf.nn.relu(tf.reduce_sum(features * weights, axis=-1))  # [T', h, w]
    cam = tf.image.resize(cam[..., tf.newaxis], (height, width), method="bilinear")[..., 0]
    cam = cam.numpy()
    steps = cam.shape[0]
    cam = cam[np.arange(num_frames) * steps // num_frames]  # frame t -> step floor(t T' / T)
    peak = cam.max()
    return (cam / peak if peak > 0 else cam).astype(np.float32)


def overlay(frame, heat, alpha=0.5):
    """A uint8 frame with a map in [0, 1] blended over it in matplotlib's `jet` colours."""
    from matplotlib import colormaps

    colours = colormaps["jet"](np.clip(heat, 0, 1))[..., :3] * 255
    return np.clip((1 - alpha) * np.asarray(frame, np.float32) + alpha * colours, 0, 255).astype(
        np.uint8
    )


def save_strip(frames, maps, path, title=None, min_size=96):
    """Writes the frames (a row) and the frames with the maps over them (a second row) as one
    image (format from `path`'s extension), frames up-scaled to at least `min_size` pixels
    high; `title` goes above. Atomic; returns `path`."""
    from PIL import Image, ImageDraw

    from tfvideo._atomic import atomic_save
    from tfvideo.timeline import _font

    frames = np.clip(np.asarray(frames), 0, 255).astype(np.uint8)
    height, width = frames.shape[1:3]
    scale = max(1, -(-min_size // height))
    size = (width * scale, height * scale)
    tiles = [
        [Image.fromarray(f).resize(size, Image.NEAREST) for f in frames],
        [Image.fromarray(overlay(f, m)).resize(size, Image.NEAREST) for f, m in zip(frames, maps)],
    ]
    top = 0 if title is None else max(14, size[1] // 8) + 6
    strip = Image.new("RGB", (size[0] * len(frames), 2 * size[1] + top), (255, 255, 255))
    if title is not None:
        ImageDraw.Draw(strip).text((4, 3), title, fill=(0, 0, 0), font=_font(top - 6))
    for row, images in enumerate(tiles):
        for i, image in enumerate(images):
            strip.paste(image, (i * size[0], top + row * size[1]))
    return atomic_save(path, strip.save)


def explain_video(path, predictor, output, class_index=None):
    """Grad-CAM of a video's evaluation clip (the model's sampling and crop) for `class_index`
    (default: the top class), written by `save_strip` to `output`; returns
    `{"path", "class", "index"}` of the image."""
    from tfvideo.export.predict import load_clip

    meta = predictor.metadata
    clip = load_clip(path, meta)
    if class_index is None:
        class_index = int(np.argmax(predictor.logits(clip[np.newaxis])[0]))
    maps = gradcam(predictor.keras_model(), clip, class_index)
    label = meta.class_names[class_index]
    save_strip(clip, maps, output, title=f"Grad-CAM: {label}")
    return {"path": output, "class": label, "index": int(class_index)}
