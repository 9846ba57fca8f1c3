"""Helpers shared by the model tests: random clips and non-trivial weights."""

import keras
import numpy as np


def random_clip(model, batch=1, seed=0):
    """A float32 clip in [0, 255] shaped for `model`'s input."""
    shape = (batch,) + tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


def randomize_batch_norms(model, seed=0):
    """Non-trivial BN statistics and affine terms (and conv biases), so weight-mapping
    errors and zero-initialised BN gammas cannot hide anything."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.moving_mean.shape[0]
            if layer.gamma is not None:
                layer.gamma.assign(rng.uniform(0.5, 1.5, c))
            if layer.beta is not None:
                layer.beta.assign(rng.normal(0, 0.2, c))
            layer.moving_mean.assign(rng.normal(0, 0.2, c))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, c))
        elif isinstance(layer, keras.layers.Conv2D) and layer.use_bias:
            layer.bias.assign(rng.normal(0, 0.2, layer.bias.shape))


def randomize_zero_initialised_weights(model, seed=0):
    """Gives zero-initialised weights (identity-at-init branches) random values, so that
    every path of the network influences the outputs that a test compares."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        value = keras.ops.convert_to_numpy(weight)
        if weight.trainable and not np.any(value):
            weight.assign(rng.normal(0, 0.1, value.shape).astype(value.dtype))


def relative_error(got, expected):
    """max |got - expected| relative to the largest |expected|."""
    got, expected = np.asarray(got), np.asarray(expected)
    return float(np.max(np.abs(got - expected)) / max(1e-12, np.max(np.abs(expected))))
