"""Causal temporal layers (issue 14): each rule of the docstrings against an independent NumPy
version, frame-by-frame streaming (`stream_step`) against the clip call, and config round
trips. Weights are randomised so that zero-initialised branches cannot hide anything."""

import keras
import numpy as np
import pytest

from tfvideo import layers as L

B, T, H, W, C = 2, 5, 3, 4, 16
RNG = np.random.default_rng(0)
CLIP = RNG.normal(size=(B, T, H, W, C)).astype("float32")


def folded(x):
    return x.reshape((-1,) + x.shape[2:])


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def randomize(layer, seed=1):
    """Random values for every weight (BN variances positive), so no branch stays at init."""
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        shape = tuple(weight.shape)
        if "variance" in weight.path:
            weight.assign(rng.uniform(0.5, 2.0, shape))
        else:
            weight.assign(rng.normal(0, 0.5, shape))
    return layer


def built(layer, x=CLIP):
    layer(folded(x))
    return randomize(layer)


def np_bn(bn, x):
    w = {v.path.rsplit("/", 1)[-1]: keras.ops.convert_to_numpy(v) for v in bn.weights}
    return (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + bn.epsilon) * w["gamma"] + w[
        "beta"
    ]


def np_dense(dense, x):
    return x @ keras.ops.convert_to_numpy(dense.kernel) + keras.ops.convert_to_numpy(dense.bias)


def np_causal_temporal(x, kernel):
    """`y[t] = sum_i kernel[i] * x[t - (k - 1) + i]` over axis 1, zeros before the clip."""
    k = kernel.shape[0]
    y = np.zeros(x.shape[:-1] + (kernel.shape[-1],), "float64")
    for t in range(x.shape[1]):
        for i in range(k):
            s = t - (k - 1) + i
            if s >= 0:
                y[:, t] += x[:, s] @ kernel[i] if kernel.ndim == 3 else x[:, s] * kernel[i]
    return y


def np_temporal_shift(x, fold):
    y = x.copy()
    y[:, 0, ..., :fold] = 0
    y[:, 1:, ..., :fold] = x[:, :-1, ..., :fold]
    return y


def np_mem(layer, x):
    s = x.mean(axis=(2, 3))
    d = np_dense(layer.fc2, s[:, 1:]) - np_dense(layer.fc1, s[:, :-1])
    a = np.concatenate([np.ones_like(s[:, :1]), sigmoid(np_dense(layer.fc3, d))], axis=1)
    return x * a[:, :, None, None, :]


def np_route(layer, x):
    """alpha `[B, T, C_out]` of a causal RouteFunc."""
    v = x.mean(axis=(2, 3))
    g = np.cumsum(v, axis=1) / np.arange(1, x.shape[1] + 1)[None, :, None]
    u = v + np_dense(layer.g, g)
    a = np_causal_temporal(u, keras.ops.convert_to_numpy(layer.a.kernel))
    h = np.maximum(np_bn(layer.bn, a + keras.ops.convert_to_numpy(layer.a.bias)), 0)
    return np_causal_temporal(h, keras.ops.convert_to_numpy(layer.b.kernel)) + 1.0


def np_conv2d_same3(x, kernel):
    """3x3 conv, stride 1, 1-pixel zero padding, on `[N, H, W, Cin]`."""
    xp = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    y = 0
    for i in range(3):
        for j in range(3):
            y = y + xp[:, i : i + x.shape[1], j : j + x.shape[2]] @ kernel[i, j]
    return y


def np_tada_conv(layer, x):
    alpha = np_route(layer.route, x)
    x = x * alpha[:, :, None, None, :]
    y = np_conv2d_same3(folded(x), keras.ops.convert_to_numpy(layer.kernel))
    return y.reshape(x.shape[:2] + y.shape[1:])


def np_tada_aggregation(layer, x):
    pooled = np_causal_temporal(x, np.full((3, x.shape[-1]), 1 / 3))
    return np_bn(layer.bn, x) + np_bn(layer.avgpool_bn, pooled)


def kernel(layer):
    return keras.ops.convert_to_numpy(layer.kernel)


# name -> (layer factory, NumPy reference of the clip output `[B, T, H, W, C']`)
CASES = {
    "tsm": (
        lambda: L.TemporalShift(T, causal=True),
        lambda layer, x: np_temporal_shift(x, C // 8),
    ),
    "mem": (lambda: L.MotionEnhancement(T, reduction=4, causal=True), np_mem),
    "tim": (
        lambda: L.TemporalInteraction(T, kernel_size=3, causal=True),
        lambda layer, x: np_causal_temporal(x, kernel(layer)),
    ),
    "tei": (
        lambda: L.TemporalEnhancementInteraction(T, reduction=4, causal=True),
        lambda layer, x: np_causal_temporal(np_mem(layer.mem, x), kernel(layer.tim)),
    ),
    "tam": (
        lambda: L.TemporalAggregation(T, causal=True),
        lambda layer, x: np.maximum(np_causal_temporal(x, kernel(layer)), 0),
    ),
    "tada_conv": (
        lambda: L.TAdaConv2D(8, 3, T, padding=1, route_reduction=4, causal=True),
        np_tada_conv,
    ),
    "tada_aggregation": (lambda: L.TAdaAggregation(T, causal=True), np_tada_aggregation),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    factory, reference = CASES[request.param]
    layer = built(factory())
    return request.param, layer, reference


def test_causal_layer_matches_numpy(case):
    _, layer, reference = case
    y = keras.ops.convert_to_numpy(layer(folded(CLIP)))
    expected = reference(layer, CLIP.astype("float64"))
    np.testing.assert_allclose(y, folded(expected), rtol=1e-4, atol=1e-4)


def test_causal_route_matches_numpy():
    route = built(L.RouteFunc(T, reduction=4, kernel_sizes=(3, 2), causal=True))
    alpha = keras.ops.convert_to_numpy(route(folded(CLIP)))
    expected = np_route(route, CLIP.astype("float64"))
    np.testing.assert_allclose(alpha, expected.reshape(-1, C), rtol=1e-4, atol=1e-4)


def test_a_later_frame_never_changes_an_earlier_output(case):
    _, layer, _ = case
    changed = CLIP.copy()
    changed[:, -1] += 10.0
    y = keras.ops.convert_to_numpy(layer(folded(CLIP))).reshape(B, T, -1)
    z = keras.ops.convert_to_numpy(layer(folded(changed))).reshape(B, T, -1)
    np.testing.assert_array_equal(y[:, :-1], z[:, :-1])
    assert np.abs(y[:, -1] - z[:, -1]).max() > 1e-3


def stream(layer, clip, step_frames=1):
    frame_shape = (B * step_frames,) + clip.shape[2:]
    shapes = layer.stream_state_shapes(frame_shape, step_frames)
    states = {k: np.zeros((B,) + s, "float32") for k, s in shapes.items()}
    outputs = []
    for t in range(0, clip.shape[1], step_frames):
        y, states = layer.stream_step(folded(clip[:, t : t + step_frames]), states, step_frames)
        assert set(states) == set(shapes)
        for name, value in states.items():
            assert tuple(value.shape) == (B,) + shapes[name] and len(value.shape) <= 4, name
        outputs.append(keras.ops.convert_to_numpy(y).reshape((B, step_frames) + y.shape[1:]))
    return np.concatenate(outputs, axis=1)


def test_streaming_one_frame_at_a_time_equals_the_clip_call(case):
    _, layer, _ = case
    y = keras.ops.convert_to_numpy(layer(folded(CLIP)))
    np.testing.assert_allclose(folded(stream(layer, CLIP)), y, rtol=1e-5, atol=1e-5)


def test_streaming_frame_pairs_equals_the_clip_call():
    # bLVNet-TAM steps by frame pairs: two new frames per step.
    clip = RNG.normal(size=(B, 6, H, W, C)).astype("float32")
    for layer in (L.TemporalAggregation(6, causal=True), L.TAdaAggregation(6, causal=True)):
        built(layer, clip)
        y = keras.ops.convert_to_numpy(layer(folded(clip)))
        np.testing.assert_allclose(folded(stream(layer, clip, 2)), y, rtol=1e-5, atol=1e-5)


def test_config_round_trip_keeps_causal(case):
    _, layer, _ = case
    clone = type(layer).from_config(layer.get_config())
    assert clone.causal is True and clone.get_config() == layer.get_config()
    clone(folded(CLIP))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(folded(CLIP))),
        keras.ops.convert_to_numpy(layer(folded(CLIP))),
        rtol=1e-6,
        atol=1e-6,
    )


def test_causal_shift_initialised_tim_equals_causal_tsm():
    x = folded(CLIP)
    tim = L.TemporalInteraction(T, kernel_size=3, causal=True)
    tsm = L.TemporalShift(T, causal=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(tim(x)), keras.ops.convert_to_numpy(tsm(x)), atol=1e-6
    )


def test_non_causal_layers_refuse_to_stream():
    layer = L.TemporalShift(T)
    layer(folded(CLIP))
    with pytest.raises(ValueError, match="TemporalShift .* is not causal"):
        layer.stream_state_shapes((B, H, W, C))
