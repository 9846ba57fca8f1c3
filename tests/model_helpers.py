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
    """Weights as after training, so that every block of the network visibly influences the
    outputs that a test compares (parity, round trips).

    1. Weights that start constant or near zero get random values: identity-at-init branches
       (TAda route convs, zero-initialised BN gammas such as bLVNet's bn3 and TAda's
       `avgpool_bn`), the ConvNeXt layer scale of 1e-6 (which leaves a block's branch 1e-6 of
       the residual), constant BN/LN gammas and betas, zero biases. Scales (`gamma`) get values
       in [0.5, 1.5], everything else N(0, 0.1).
    2. Kernels initialised far below the fan-in scale (ConvNeXt's trunc_normal(0.02), slim's
       trunc_normal(0.01)) are scaled up to std 1 / sqrt(fan_in), so a residual branch is not a
       few per cent of its shortcut.
    3. BN moving statistics are set to the batch statistics of a random clip
       (`calibrate_batch_norms`), so no BN layer is left at mean 0 / variance 1.
    """
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        value = keras.ops.convert_to_numpy(weight)
        if not np.issubdtype(value.dtype, np.floating):
            continue
        if np.ptp(value) > 0 and np.max(np.abs(value)) >= 1e-3:  # random already
            if value.ndim >= 2:
                floor = 1.0 / np.sqrt(np.prod(value.shape[:-1]))
                if value.std() < floor / 4:
                    weight.assign((value * (floor / value.std())).astype(value.dtype))
            continue
        if weight.name in ("gamma", "scale"):
            new = rng.uniform(0.5, 1.5, value.shape)
        else:
            new = rng.normal(0, 0.1, value.shape)
        weight.assign(new.astype(value.dtype))
    calibrate_batch_norms(model, random_clip(model, batch=2, seed=seed + 1000))


def calibrate_batch_norms(model, clip):
    """Sets every BatchNormalization's moving statistics (nested ones included) to the batch
    statistics that `clip` produces, as a trained network's are. Each BN then normalises: a
    signal that shrinks layer by layer at initialisation (PyTorch's default conv init, slim's
    trunc_normal(0.01)) does not fade into the BN offsets, which would leave the early blocks
    of a deep network with no visible effect on the logits. A channel's variance is floored at
    its layer's mean variance, so quiet channels are not amplified (which would let float32
    rounding alone approach the parity tolerances)."""
    norms = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0  # moving <- batch statistics, in one training-mode pass
    try:
        model(clip, training=True)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
    for layer in norms:
        variance = keras.ops.convert_to_numpy(layer.moving_variance)
        layer.moving_variance.assign(np.maximum(variance, variance.mean()))


def relative_error(got, expected):
    """max |got - expected| relative to the largest |expected|."""
    got, expected = np.asarray(got), np.asarray(expected)
    return float(np.max(np.abs(got - expected)) / max(1e-12, np.max(np.abs(expected))))
