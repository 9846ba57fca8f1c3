"""`FusedBatchNormalization`: Keras' batch norm, with a training call that is one fused kernel
on TensorFlow. It must be the same function (outputs, gradients, moving statistics) as
`keras.layers.BatchNormalization` in every case, and actually take the fused path."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfvideo
from tfvideo.layers import FusedBatchNormalization


def _pair(shape, seed=0, **kwargs):
    """A Keras batch norm and a fused one with the same random (non-trivial) weights."""
    rng = np.random.default_rng(seed)
    reference = keras.layers.BatchNormalization(**kwargs)
    fused = FusedBatchNormalization(**kwargs)
    reference.build(shape)
    fused.build(shape)
    for variable in reference.weights:
        low = 0.5 if "variance" in variable.path else -1.0
        variable.assign(rng.uniform(low, 2.0, variable.shape).astype("float32"))
    fused.set_weights(reference.get_weights())
    return reference, fused


def _train_call(layer, x, mask=None):
    """Outputs and the gradients of a weighted loss w.r.t. the input and trainable weights."""

    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True, mask=mask)
            weights = tf.range(1.0, y.shape[-1] + 1.0)
            loss = tf.reduce_sum(tf.sin(tf.cast(y, "float32")) * weights)
        return [y, *tape.gradient(loss, [x, *layer.trainable_variables])]

    return [np.asarray(tf.cast(value, "float32")) for value in run(x)]


def _max_relative(a, b):
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(a)) + 1e-12))


@pytest.mark.parametrize("shape", [(16, 7, 7, 32), (2, 4, 5, 5, 16), (6, 5, 12), (40, 8)], ids=str)
@pytest.mark.parametrize("scale_center", [(True, True), (False, True), (True, False)])
def test_training_call_equals_keras_outputs_gradients_and_moving_statistics(shape, scale_center):
    scale, center = scale_center
    kwargs = dict(epsilon=1e-5, momentum=0.9, scale=scale, center=center)
    reference, fused = _pair(shape, **kwargs)
    x = tf.constant(np.random.default_rng(1).normal(2.0, 3.0, shape).astype("float32"))
    for a, b in zip(_train_call(reference, x), _train_call(fused, x)):
        assert _max_relative(a, b) < 1e-5
    for a, b in zip(reference.non_trainable_weights, fused.non_trainable_weights):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-6)


def test_epsilon_is_the_layers_own_below_cudnns_floor():
    # tf.nn.fused_batch_norm raises epsilon to 1.001e-5; with a batch variance of 1e-5 that
    # changes the outputs by ~2.5e-4 relative, so this fails if the floor were applied.
    shape = (64, 4, 4, 8)
    reference, fused = _pair(shape, epsilon=1e-5)
    x = tf.constant(np.random.default_rng(2).normal(0.0, np.sqrt(1e-5), shape).astype("float32"))
    a, b = _train_call(reference, x)[0], _train_call(fused, x)[0]
    assert _max_relative(a, b) < 2e-5


def test_mixed_bfloat16_training_call_equals_keras():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        shape = (8, 6, 6, 16)
        reference, fused = _pair(shape)
        x = tf.cast(np.random.default_rng(3).normal(1.0, 2.0, shape), "bfloat16")
        out_reference, out_fused = _train_call(reference, x), _train_call(fused, x)
        assert FusedBatchNormalization()(x, training=True).dtype == "bfloat16"
    finally:
        keras.config.set_dtype_policy(previous)
    # outputs and gradients are bf16-rounded: within a few bf16 ulps (2^-8 relative)
    for a, b in zip(out_reference, out_fused):
        assert _max_relative(a, b) < 2e-2
    for a, b in zip(reference.non_trainable_weights, fused.non_trainable_weights):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-5)


def _graph_ops(layer, x, training):
    function = tf.function(lambda x: layer(x, training=training))
    return {op.type for op in function.get_concrete_function(x).graph.get_operations()}


def test_training_takes_the_fused_kernel_and_other_cases_keras_path():
    shape = (4, 5, 5, 8)
    x = tf.zeros(shape)
    _, fused = _pair(shape)
    assert "FusedBatchNormV3" in _graph_ops(fused, x, training=True)
    # inference, renorm and an axis other than the last stay Keras' own
    assert "FusedBatchNormV3" not in _graph_ops(fused, x, training=False)
    renorm = FusedBatchNormalization(renorm=True)
    renorm.build(shape)
    assert "FusedBatchNormV3" not in _graph_ops(renorm, x, training=True)
    first_axis = FusedBatchNormalization(axis=1)
    first_axis.build(shape)
    assert "FusedBatchNormV3" not in _graph_ops(first_axis, x, training=True)
    frozen = FusedBatchNormalization()
    frozen.build(shape)
    frozen.trainable = False
    assert "FusedBatchNormV3" not in _graph_ops(frozen, x, training=True)


def test_masked_and_inference_calls_equal_keras():
    shape = (3, 6, 8)
    reference, fused = _pair(shape)
    x = tf.constant(np.random.default_rng(4).normal(size=shape).astype("float32"))
    mask = tf.constant(np.random.default_rng(5).uniform(size=shape[:-1]) > 0.3)
    for a, b in zip(_train_call(reference, x, mask), _train_call(fused, x, mask)):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fused(x, training=False), reference(x, training=False), atol=1e-6)


def test_models_are_built_with_it_and_round_trip(tmp_path):
    model = tfvideo.models.create("tada2d_tiny", num_classes=3)
    norms = [
        layer for layer in model._flatten_layers() if isinstance(layer, FusedBatchNormalization)
    ]
    assert norms  # the family's convolutions, TAdaConv's route and its aggregation
    clips = (
        np.random.default_rng(6).uniform(0, 255, (2, *model.inputs[0].shape[1:])).astype("float32")
    )
    model(clips, training=True)  # moving statistics move
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded(clips, training=False), model(clips, training=False))
