"""In-graph evaluation preprocessing shared by the SavedModel signatures, TFLite calibration and
`predict`.

The spatial transform is `tfvideo.data.augment`'s evaluation one (short side resized to
`short_side`, bilinear, then a centre crop); the frame indices mirror `tfvideo.data.sampling` in
evaluation mode (one centre clip, via `tfvideo.data.sampling.Sampler.tf_indices`). Core
TensorFlow ops only (DecodeImage, ResizeBilinear, Slice, ParseSequenceExample, Gather), so TF
Serving runs every signature without custom ops.

Example:
    >>> import numpy as np
    >>> from tfvideo.export import preprocessing
    >>> frames = np.zeros((4, 240, 320, 3), np.uint8)
    >>> preprocessing.eval_crop(frames, (112, 112), 128).shape
    TensorShape([4, 112, 112, 3])
    >>> preprocessing.eval_frame_indices(80, {"kind": "segment", "num_segments": 8}).numpy()
    array([ 5, 15, 25, 35, 45, 55, 65, 75], dtype=int32)
"""

import tensorflow as tf

from tfvideo.data import augment, tfrecords
from tfvideo.data.sampling import get_sampler

ENCODED_FEATURE = tfrecords.IMAGE_ENCODED  # "image/encoded"


def eval_crop(frames, input_size, short_side):
    """Frames `[N, H, W, 3]` (uint8 or float in [0, 255]) -> float32 `[N, h, w, 3]`: the short
    side resized to `short_side`, then the central `input_size` crop (as in evaluation)."""
    height, width = input_size
    out = augment.center_crop(augment.resize_short_side(frames, short_side), (height, width))
    return tf.ensure_shape(tf.cast(out, tf.float32), [None, height, width, 3])


def fit_frames(frames, input_size, short_side):
    """Like `eval_crop`, but frames already of `input_size` pass unchanged (cast to float32):
    clients that send the model's input size get exactly the model's output on their pixels."""
    frames = tf.convert_to_tensor(frames)
    height, width = input_size
    shape = tf.shape(frames)
    same = tf.logical_and(tf.equal(shape[1], height), tf.equal(shape[2], width))
    out = tf.cond(
        same, lambda: tf.cast(frames, tf.float32), lambda: eval_crop(frames, input_size, short_side)
    )
    return tf.ensure_shape(out, [frames.shape[0], height, width, 3])


def eval_frame_indices(num_available, sampling):
    """Evaluation indices (int32) of a video of `num_available` frames, in TF ops: the centre
    clip of `tfvideo.data.get_sampler(sampling)` (short videos repeat or loop frames as there)."""
    return get_sampler(sampling).tf_indices(num_available)


def decode_frames(encoded, input_size, short_side):
    """Encoded images (JPEG, PNG, BMP or GIF) string `[N]` -> float32 `[N, h, w, 3]`, each
    decoded by `tfvideo.data.tfrecords.decode_image`, then resized and centre-cropped by
    `eval_crop` (so the frames may differ in size)."""
    height, width = input_size

    def one(data):
        return eval_crop(tfrecords.decode_image(data)[tf.newaxis], input_size, short_side)[0]

    return tf.map_fn(
        one, encoded, fn_output_signature=tf.TensorSpec([height, width, 3], tf.float32)
    )


def parse_sequence_example(serialized, metadata):
    """One serialized SequenceExample (one encoded image per frame under `image/encoded`, read
    by `tfvideo.data.tfrecords.parse_sequence_example`) -> the evaluation clip, float32
    `[num_frames, h, w, 3]`; only the sampled frames are decoded."""
    encoded = tfrecords.parse_sequence_example(serialized, with_context=False)[ENCODED_FEATURE]
    count = tf.shape(encoded)[0]
    with tf.control_dependencies(
        [tf.debugging.assert_positive(count, message="SequenceExample has no image/encoded frames")]
    ):
        idx = eval_frame_indices(count, metadata.sampling)
    return decode_frames(tf.gather(encoded, idx), metadata.input_size, metadata.short_side)
