"""Tests of tfvideo.layers; backend-agnostic (run with KERAS_BACKEND=jax too).

Every layer is checked against an independent NumPy evaluation of its paper
equation (explicit loops / shifted sums / per-frame calibrated kernels), for
identity at initialisation where the paper defines it, for mixed precision,
`.keras` round trips, gradients, compiled execution and argument errors.
"""

import doctest
import importlib
import inspect
import os

import keras
import numpy as np
import pytest
from keras import ops

from tfvideo import layers as L

# Keras' own convert_to_numpy on variables triggers a NumPy 2 deprecation note.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

BACKEND = keras.backend.backend()
TORCH_COMPILE_BACKEND = os.environ.get("TORCH_COMPILE_BACKEND", "aot_eager")
B, T, H, W, C = 2, 4, 5, 5, 16
FOLDED = (B * T, H, W, C)
CLIP = (B, T, H, W, C)


def randn(shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype("float32")


def as_list(y):
    return list(y) if isinstance(y, (tuple, list)) else [y]


def to_np(y):
    return [ops.convert_to_numpy(t) for t in as_list(y)]


def randomize(layer, seed=1):
    """Random nonzero values for every variable (zero-init ones included)."""
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        shape = tuple(v.shape)
        if "variance" in v.name:
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = 0.5 * rng.standard_normal(shape)
        v.assign(value.astype("float32"))
    return layer


def call(layer, x, training=False):
    """Calls a layer, passing `training` only where its `call` takes it."""
    if "training" in inspect.signature(layer.call).parameters:
        return layer(x, training=training)
    return layer(x)


# Layer factories: name -> (constructor, input shape). Kept tiny for speed.
CASES = {
    "TemporalShift": (lambda: L.TemporalShift(T), FOLDED),
    "TemporalAggregation": (lambda: L.TemporalAggregation(T), FOLDED),
    "TemporalAggregation5": (lambda: L.TemporalAggregation(T, blending_frames=5), FOLDED),
    "TemporalAggregation2": (lambda: L.TemporalAggregation(T, blending_frames=2), FOLDED),
    "MotionEnhancement": (lambda: L.MotionEnhancement(T, reduction=4), FOLDED),
    "TemporalInteraction": (lambda: L.TemporalInteraction(T), FOLDED),
    "TemporalEnhancementInteraction": (
        lambda: L.TemporalEnhancementInteraction(T, reduction=4),
        FOLDED,
    ),
    "RouteFunc": (lambda: L.RouteFunc(T), FOLDED),
    "RouteFuncBias": (lambda: L.RouteFunc(T, bias_calibration=True), FOLDED),
    "TAdaConv2D_cin": (lambda: L.TAdaConv2D(8, 3, T), FOLDED),
    "TAdaConv2D_cout": (
        lambda: L.TAdaConv2D(8, 3, T, strides=2, padding=1, calibration="cout", use_bias=True),
        FOLDED,
    ),
    "TAdaConv2D_dw": (
        lambda: L.TAdaConv2D(
            C,
            3,
            T,
            padding=1,
            groups=C,
            calibration="cout",
            use_bias=True,
            bias_calibration=True,
        ),
        FOLDED,
    ),
    "TAdaAggregation": (lambda: L.TAdaAggregation(T), FOLDED),
    "RouteFuncTransformer": (lambda: L.RouteFuncTransformer(T, head_dim=4), FOLDED),  # 2 heads
    "TAdaLayerNormAggregation": (lambda: L.TAdaLayerNormAggregation(T), FOLDED),
    "SeparableConv3D_slim": (lambda: L.SeparableConv3D(8, 3, 2), CLIP),
    "SeparableConv3D_torchvision": (
        lambda: L.SeparableConv3D(8, (3, 3), (1, 2), flavour="torchvision", padding="torch"),
        CLIP,
    ),
    "SeparableConv3D_tv_stem": (  # torchvision's first layer: 7x7x7, stride 2
        lambda: L.SeparableConv3D(8, 7, 2, flavour="torchvision", padding="torch"),
        CLIP,
    ),
    "SeparableConv3D_2d": (lambda: L.SeparableConv3D(8, (1, 3), (2, 1)), CLIP),
    "SpatioTemporalGating": (lambda: L.SpatioTemporalGating(), CLIP),
}
FOLDED_CASES = [name for name, (_, shape) in CASES.items() if shape == FOLDED]
RGB_CLIP = (B, T, H, W, 3)
# The layers the models are built from, in the same harness as the papers' modules.
BUILDING_BLOCKS = {
    "Normalize": (lambda: L.Normalize((0.4, 0.5, 0.6), (0.2, 0.25, 0.3)), RGB_CLIP),
    "FoldFrames": (lambda: L.FoldFrames(), CLIP),
    "UnfoldFrames": (lambda: L.UnfoldFrames(T), FOLDED),
    "TemporalMean": (lambda: L.TemporalMean(), CLIP),
    "FrameSubsample": (lambda: L.FrameSubsample(2, 1), FOLDED),
    "FrameRepeat": (lambda: L.FrameRepeat(2), FOLDED),
    "TemporalWindows": (lambda: L.TemporalWindows(3, 2, 1), CLIP),
    "SeparablePooling3D_max": (
        lambda: L.SeparablePooling3D((3, 3, 3), (2, 2, 2), padding=1, pool_type="max"),
        CLIP,
    ),
    "SeparablePooling3D_avg": (
        lambda: L.SeparablePooling3D((2, 3, 3), 1, padding="valid", pool_type="avg"),
        CLIP,
    ),
    "LayerScale": (lambda: L.LayerScale(0.5), FOLDED),
    "DropPath": (lambda: L.DropPath(0.25, num_frames=T, seed=1), FOLDED),
    "QuickGELU": (lambda: L.QuickGELU(), FOLDED),
}
CASES.update(BUILDING_BLOCKS)
WEIGHTLESS = {"TemporalShift"} | (set(BUILDING_BLOCKS) - {"LayerScale"})
# Layers that window over time need the frame count at trace time (their docstrings say so).
STATIC_FRAMES = {"TemporalWindows", "SeparablePooling3D_max", "SeparablePooling3D_avg"}


def make(name, seed=None):
    factory, shape = CASES[name]
    layer = factory()
    x = randn(shape, seed=3)
    layer.build(shape)
    if seed is not None:
        randomize(layer, seed)
    return layer, x


# ---------------------------------------------------------------------------
# Independent NumPy evaluations of the equations.
# ---------------------------------------------------------------------------
def np_bn(x, bn, eps):
    w = {v.name: ops.convert_to_numpy(v) for v in bn.weights}
    gamma = w.get("gamma", 1.0)
    beta = w.get("beta", 0.0)
    return (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + eps) * gamma + beta


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def np_conv2d(x, kernel, stride, pads, depthwise=False):
    """x [N,H,W,Ci], kernel [kh,kw,Ci,Co] (or [kh,kw,C,1] depthwise), explicit pads."""
    (pt, pb), (pl, pr) = pads
    sh, sw = stride
    x = np.pad(x, [(0, 0), (pt, pb), (pl, pr), (0, 0)])
    kh, kw = kernel.shape[:2]
    ho = (x.shape[1] - kh) // sh + 1
    wo = (x.shape[2] - kw) // sw + 1
    out = 0.0
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]
            if depthwise:
                out = out + patch * kernel[i, j, :, 0]
            else:
                out = out + np.einsum("nhwc,cd->nhwd", patch, kernel[i, j])
    return out


def np_temporal_sum(x5, kernel):
    """sum_i kernel[i] * x[t + i - k//2] with zeros outside, explicit loops."""
    k = kernel.shape[0]
    out = np.zeros_like(x5)
    for t in range(x5.shape[1]):
        for i in range(k):
            s = t + i - k // 2
            if 0 <= s < x5.shape[1]:
                out[:, t] += kernel[i] * x5[:, s]
    return out


def np_conv1d_time(v, kernel, bias=None):
    """v [B,T,Ci], kernel [k,Ci,Co], symmetric zero padding."""
    k = kernel.shape[0]
    out = np.zeros(v.shape[:2] + kernel.shape[-1:], "float64")
    for t in range(v.shape[1]):
        for i in range(k):
            s = t + i - k // 2
            if 0 <= s < v.shape[1]:
                out[:, t] += v[:, s] @ kernel[i]
    return out if bias is None else out + bias


def np_route(layer, x):
    n = lambda v: ops.convert_to_numpy(v).astype("float64")  # noqa: E731
    x5 = x.reshape(-1, layer.num_frames, *x.shape[1:])
    v = x5.mean(axis=(2, 3))
    g = v.mean(axis=1) @ n(layer.g.kernel) + n(layer.g.bias)
    h = np_conv1d_time(v + g[:, None], n(layer.a.kernel), n(layer.a.bias))
    h = np.maximum(np_bn(h, layer.bn, layer.epsilon), 0)
    alpha = np_conv1d_time(h, n(layer.b.kernel)) + 1
    alpha = alpha.reshape(-1, alpha.shape[-1])
    if not layer.bias_calibration:
        return [alpha]
    beta = (np_conv1d_time(h, n(layer.b_bias.kernel)) + 1).reshape(alpha.shape)
    return [alpha, beta]


def np_layer_norm(x, ln):
    n = lambda v: ops.convert_to_numpy(v).astype("float64")  # noqa: E731
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + ln.epsilon) * n(ln.gamma) + n(ln.beta)


def np_route_transformer(layer, x):
    """TAdaConvV2's route with explicit loops over heads, frames and head channels: head j of
    q/k/v owns channels d * heads + j, its output goes to channel j * head_dim + d, logits
    scaled by C' ** -0.5."""
    n = lambda v: ops.convert_to_numpy(v).astype("float64")  # noqa: E731
    v = x.reshape(-1, layer.num_frames, *x.shape[1:]).mean(axis=(2, 3))
    h = np_conv1d_time(v, n(layer.a.kernel), n(layer.a.bias))
    h = np_layer_norm(h, layer.norm)
    h = h * np_sigmoid(1.702 * h)
    qkv = np_layer_norm(h, layer.norm_transformer) @ n(layer.qkv_proj.kernel)
    qkv = qkv + n(layer.qkv_proj.bias)
    hidden, heads, head_dim = h.shape[-1], layer.heads, layer.head_dim
    out = np.zeros_like(h)
    for b in range(h.shape[0]):
        for j in range(heads):
            q, k, w = (
                np.stack([qkv[b, :, part * hidden + d * heads + j] for d in range(head_dim)], -1)
                for part in range(3)
            )  # [T, head_dim]
            logits = q @ k.T * hidden**-0.5
            attn = np.exp(logits - logits.max(-1, keepdims=True))
            attn /= attn.sum(-1, keepdims=True)
            out[b, :, j * head_dim : (j + 1) * head_dim] = attn @ w
    h = h + out @ n(layer.attn_out.kernel) + n(layer.attn_out.bias)
    return [
        (np_conv1d_time(h, n(conv.kernel)) + 1).reshape(-1, x.shape[-1])
        for conv in (layer.b, layer.b_bias)
    ]


def np_tadaconv(layer, x):
    """Per-frame conv with an explicitly calibrated kernel."""
    kernel = ops.convert_to_numpy(layer.kernel).astype("float64")
    route = np_route(layer.route, x)
    alpha = route[0]
    beta = route[1] if layer.bias_calibration else np.ones_like(alpha)
    p = layer.padding
    depthwise = layer.groups > 1
    outs = []
    for n in range(x.shape[0]):
        if layer.calibration == "cin":
            k_n = kernel * alpha[n][None, None, :, None]
        elif depthwise:
            k_n = kernel * alpha[n][None, None, :, None]  # out channel == channel
        else:
            k_n = kernel * alpha[n][None, None, None, :]
        if isinstance(p, int):
            pads = ((p, p), (p, p))
        elif p == "valid":
            pads = ((0, 0), (0, 0))
        else:
            pads = tuple(
                same_pads(x.shape[i + 1], layer.kernel_size[i], layer.strides[i]) for i in range(2)
            )
        y = np_conv2d(x[n : n + 1], k_n, layer.strides, pads, depthwise)
        if layer.use_bias:
            y = y + ops.convert_to_numpy(layer.bias) * beta[n]
        outs.append(y)
    return np.concatenate(outs)


def np_reference(name, layer, x):
    x64 = x.astype("float64")
    x5 = x64.reshape(-1, T, *x.shape[1:]) if x.ndim == 4 else x64
    n = lambda v: ops.convert_to_numpy(v).astype("float64")  # noqa: E731
    if name == "TemporalShift":
        fold = C // layer.shift_div
        out = x5.copy()
        out[..., :fold] = 0
        out[:, :-1, ..., :fold] = x5[:, 1:, ..., :fold]
        out[..., fold : 2 * fold] = 0
        out[:, 1:, ..., fold : 2 * fold] = x5[:, :-1, ..., fold : 2 * fold]
        return [out.reshape(x.shape)]
    if name.startswith("TemporalAggregation"):
        k = layer.blending_frames
        kernel = n(layer.kernel)
        out = np.zeros_like(x5)
        for t in range(T):  # the explicit shifted weighted sum
            for i in range(k):
                s = t + i - k // 2
                if 0 <= s < T:
                    out[:, t] += kernel[i] * x5[:, s]
        return [np.maximum(out, 0).reshape(x.shape)]
    if name == "MotionEnhancement":
        return [np_mem(layer, x5).reshape(x.shape)]
    if name == "TemporalInteraction":
        return [np_temporal_sum(x5, n(layer.kernel)).reshape(x.shape)]
    if name == "TemporalEnhancementInteraction":
        u = np_mem(layer.mem, x5)
        return [np_temporal_sum(u, n(layer.tim.kernel)).reshape(x.shape)]
    if name == "RouteFuncTransformer":
        return np_route_transformer(layer, x64)
    if name.startswith("RouteFunc"):
        return np_route(layer, x64)
    if name.startswith("TAdaConv2D"):
        return [np_tadaconv(layer, x64)]
    if name in ("TAdaAggregation", "TAdaLayerNormAggregation"):
        pooled = np.zeros_like(x5)
        for t in range(T):  # count_include_pad: always divided by 3
            for s in (t - 1, t, t + 1):
                if 0 <= s < T:
                    pooled[:, t] += x5[:, s] / 3.0
        if name == "TAdaLayerNormAggregation":
            out = np_layer_norm(x5, layer.norm) + np_layer_norm(pooled, layer.norm_avgpool)
        else:
            out = np_bn(x5, layer.bn, layer.epsilon)
            out = out + np_bn(pooled, layer.avgpool_bn, layer.epsilon)
        return [out.reshape(x.shape)]
    if name.startswith("SeparableConv3D"):
        return [np_sepconv(layer, x64)]
    if name == "SpatioTemporalGating":
        gate = np_sigmoid(x5.mean(axis=(1, 2, 3)) @ n(layer.kernel))
        return [x5 * gate[:, None, None, None, :]]
    if name in BUILDING_BLOCKS:
        return [np_building_block(name, layer, x64, x5)]
    raise KeyError(name)


def np_building_block(name, layer, x, x5):
    """The building-block layers written out with NumPy loops and slices."""
    if name == "Normalize":
        return (x / 255.0 - np.array(layer.mean)) / np.array(layer.std)
    if name == "FoldFrames":
        return x.reshape(-1, *x.shape[2:])
    if name == "UnfoldFrames":
        return x5
    if name == "TemporalMean":
        return sum(x[:, t] for t in range(x.shape[1])) / x.shape[1]
    if name == "FrameSubsample":  # odd frames of every clip
        return np.stack([x[i] for i in range(len(x)) if i % 2 == 1])
    if name == "FrameRepeat":
        return np.stack([x[i // 2] for i in range(2 * len(x))])
    if name == "TemporalWindows":  # kernel 3, stride 2, one zero frame at each end
        padded = np.concatenate([np.zeros_like(x[:, :1]), x, np.zeros_like(x[:, :1])], axis=1)
        frames = (x.shape[1] + 2 - 3) // 2 + 1
        return np.stack(
            [
                np.concatenate([padded[:, 2 * t + j] for j in range(3)], axis=-1)
                for t in range(frames)
            ],
            axis=1,
        )
    if name.startswith("SeparablePooling3D"):
        return np_pool3d(x, layer)
    if name == "LayerScale":
        return x * ops.convert_to_numpy(layer.gamma).astype("float64")
    if name == "DropPath":  # inference: the identity
        return x
    if name == "QuickGELU":
        return x / (1.0 + np.exp(-1.702 * x))
    raise KeyError(name)


def np_pool3d(x, layer):
    """3D max/avg pooling by brute force over every window, with PyTorch's explicit zero
    padding (a padded cell never wins a max; averages count it, `count_include_pad`)."""
    (kt, kh, kw), (st, sh, sw) = layer.pool_size, layer.strides
    pt, ph, pw = (0, 0, 0) if layer.padding == "valid" else layer.padding
    fill = -np.inf if layer.pool_type == "max" else 0.0
    padded = np.pad(x, [(0, 0), (pt, pt), (ph, ph), (pw, pw), (0, 0)], constant_values=fill)
    out_shape = [
        (padded.shape[a] - k) // s + 1 for a, k, s in zip((1, 2, 3), (kt, kh, kw), (st, sh, sw))
    ]
    out = np.zeros((x.shape[0], *out_shape, x.shape[-1]))
    for t in range(out_shape[0]):
        for i in range(out_shape[1]):
            for j in range(out_shape[2]):
                window = padded[:, t * st : t * st + kt, i * sh : i * sh + kh, j * sw : j * sw + kw]
                reduce = np.max if layer.pool_type == "max" else np.mean
                out[:, t, i, j] = reduce(window, axis=(1, 2, 3))
    return out


def np_mem(layer, x5):
    n = lambda v: ops.convert_to_numpy(v).astype("float64")  # noqa: E731
    fc = lambda d, v: v @ n(d.kernel) + n(d.bias)  # noqa: E731
    s = x5.mean(axis=(2, 3))
    out = x5.copy()  # the last frame passes unchanged
    for t in range(x5.shape[1] - 1):
        diff = fc(layer.fc2, s[:, t + 1]) - fc(layer.fc1, s[:, t])
        a = np_sigmoid(fc(layer.fc3, diff))
        out[:, t] = x5[:, t] * a[:, None, None, :]
    return out


def np_sepconv(layer, x5):
    n = lambda v: ops.convert_to_numpy(v).astype("float64")  # noqa: E731
    (kt, k), (st, s) = layer.kernel_size, layer.strides
    b, t = x5.shape[:2]
    x = x5.reshape(-1, *x5.shape[2:])
    if layer.padding == "torch":
        pads = ((k // 2, k // 2), (k // 2, k // 2))
    else:
        pads = (same_pads(x.shape[1], k, s), same_pads(x.shape[2], k, s))
    x = np_conv2d(x, n(layer.spatial_conv.kernel), (s, s), pads)
    x = np.maximum(np_bn(x, layer.spatial_bn, layer.epsilon), 0)
    x = x.reshape(b, t, *x.shape[1:])
    if kt == 1:
        return x[:, ::st]
    kernel = n(layer.temporal_conv.kernel)[:, 0]  # [kt, C, C]
    if layer.padding == "torch":
        before = after = kt // 2
    else:
        before, after = same_pads(t, kt, st)
    xp = np.pad(x, [(0, 0), (before, after), (0, 0), (0, 0), (0, 0)])
    starts = range(0, xp.shape[1] - kt + 1, st)
    y = np.stack(
        [
            sum(np.einsum("bhwc,cd->bhwd", xp[:, s0 + i], kernel[i]) for i in range(kt))
            for s0 in starts
        ],
        axis=1,
    )
    if layer.flavour == "slim":
        y = y + n(layer.temporal_conv.bias)
    else:
        y = np_bn(y, layer.temporal_bn, layer.epsilon)
    return np.maximum(y, 0)


# ---------------------------------------------------------------------------
# Tests.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_matches_numpy_equation(name):
    layer, x = make(name, seed=7)
    got = to_np(call(layer, x))
    want = np_reference(name, layer, x)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_route_weights_are_nonzero_in_numpy_check():
    # The TAdaConv equation test must use alpha != 1 (else it tests a Conv2D).
    layer, x = make("TAdaConv2D_cin", seed=7)
    alpha = to_np(layer.route(x))[0]
    assert np.abs(alpha - 1).max() > 0.1


@pytest.mark.parametrize(
    "name, expected",
    [
        ("TemporalShift", FOLDED),
        ("TemporalAggregation", FOLDED),
        ("MotionEnhancement", FOLDED),
        ("TemporalEnhancementInteraction", FOLDED),
        ("RouteFunc", (B * T, C)),
        ("TAdaConv2D_cin", (B * T, H, W, 8)),
        ("TAdaConv2D_cout", (B * T, 3, 3, 8)),
        ("TAdaConv2D_dw", FOLDED),
        ("TAdaAggregation", FOLDED),
        ("SeparableConv3D_slim", (B, 2, 3, 3, 8)),
        ("SeparableConv3D_torchvision", (B, T, 3, 3, 8)),
        ("SeparableConv3D_tv_stem", (B, 2, 3, 3, 8)),
        ("SeparableConv3D_2d", (B, 2, H, W, 8)),
        ("SpatioTemporalGating", CLIP),
    ],
)
def test_output_shapes(name, expected):
    layer, x = make(name)
    y = call(layer, x)
    assert tuple(y.shape) == expected
    # The symbolic (functional) path agrees with the eager one.
    inputs = keras.Input(batch_shape=x.shape)
    assert tuple(layer(inputs).shape) == expected


@pytest.fixture
def mixed_float16():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("name", list(CASES))
def test_mixed_float16(name, mixed_float16):
    layer, x = make(name)
    outs = as_list(call(layer, x, training=True))
    for y in outs:
        assert keras.backend.standardize_dtype(y.dtype) == "float16"
        assert np.all(np.isfinite(ops.convert_to_numpy(y)))
    assert layer.weights or name in WEIGHTLESS
    for v in layer.weights:
        assert keras.backend.standardize_dtype(v.dtype) == "float32", v.path


# --- identity at initialisation ---------------------------------------------
def test_separable_conv_slim_temporal_half_is_identity_at_init():
    layer, x = make("SeparableConv3D_slim")
    kernel = ops.convert_to_numpy(layer.temporal_conv.kernel)
    assert kernel.shape == (3, 1, 8, 8)
    np.testing.assert_array_equal(kernel[1, 0], np.eye(8))
    np.testing.assert_array_equal(kernel[[0, 2]], 0)
    # Without temporal stride, the layer equals its spatial half.
    layer = L.SeparableConv3D(8, 3, (1, 2))
    y = ops.convert_to_numpy(layer(x))
    folded = ops.reshape(x, (-1, H, W, C))
    spatial = ops.relu(layer.spatial_bn(layer.spatial_conv(folded)))
    spatial = ops.convert_to_numpy(spatial).reshape(y.shape)
    np.testing.assert_allclose(y, spatial, rtol=1e-6, atol=1e-7)


def test_separable_conv_torchvision_has_bn_and_no_bias():
    layer, _ = make("SeparableConv3D_torchvision")
    names = sorted(v.path.split("/", 1)[1] for v in layer.weights)
    assert "temporal_conv/bias" not in names
    assert "temporal_bn/gamma" in names and "spatial_bn/gamma" in names
    slim, _ = make("SeparableConv3D_slim")
    slim_names = [v.path.split("/", 1)[1] for v in slim.weights]
    assert "temporal_conv/bias" in slim_names
    assert "spatial_bn/gamma" not in slim_names  # slim's BN has no scale


def test_tim_identity_init_returns_input():
    layer = L.TemporalInteraction(T, initializer="identity")
    x = randn(FOLDED)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), x, rtol=0, atol=1e-7)


def test_tim_shift_init_equals_temporal_shift():
    x = randn(FOLDED)
    tim = ops.convert_to_numpy(L.TemporalInteraction(T, initializer="shift")(x))
    tsm = ops.convert_to_numpy(L.TemporalShift(T)(x))
    np.testing.assert_allclose(tim, tsm, rtol=0, atol=1e-7)
    # ... and it is not the identity: the shifted slices moved.
    assert np.abs(tim - x).max() > 0.1


def test_tim_random_init_is_not_identity():
    layer = L.TemporalInteraction(T, initializer="random")
    layer.build(FOLDED)
    kernel = ops.convert_to_numpy(layer.kernel)
    assert np.abs(kernel).max() <= 1 / np.sqrt(3) + 1e-6
    assert not np.allclose(kernel[1], 1.0)


def test_temporal_shift_direction():
    # Frame index as the value: channel 0 reads t+1, channel 2 reads t-1.
    x = np.broadcast_to(
        np.arange(T, dtype="float32")[None, :, None, None, None] + 1, (B, T, 1, 1, 16)
    ).reshape(B * T, 1, 1, 16)
    y = ops.convert_to_numpy(L.TemporalShift(T)(x)).reshape(B, T, 16)
    np.testing.assert_array_equal(y[0, :, 0], [2, 3, 4, 0])
    np.testing.assert_array_equal(y[0, :, 2], [0, 1, 2, 3])
    np.testing.assert_array_equal(y[0, :, 5], [1, 2, 3, 4])


def test_mem_last_frame_passes_unchanged():
    layer, x = make("MotionEnhancement", seed=5)
    y = ops.convert_to_numpy(layer(x)).reshape(B, T, H, W, C)
    x5 = x.reshape(B, T, H, W, C)
    np.testing.assert_array_equal(y[:, -1], x5[:, -1])
    assert np.abs(y[:, 0] - x5[:, 0]).max() > 1e-3


@pytest.mark.parametrize("bias_calibration", [False, True])
def test_route_func_is_exactly_one_at_init(bias_calibration):
    layer = L.RouteFunc(T, bias_calibration=bias_calibration)
    for out in to_np(layer(randn(FOLDED))):
        np.testing.assert_array_equal(out, np.ones((B * T, C)))


def test_tadaconv_cin_at_init_equals_conv2d_exactly():
    x = randn(FOLDED)
    layer = L.TAdaConv2D(8, 3, T)
    y = ops.convert_to_numpy(layer(x, training=False))
    conv = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)
    conv.build(FOLDED)
    conv.kernel.assign(layer.kernel)
    np.testing.assert_array_equal(y, ops.convert_to_numpy(conv(x)))


def test_tadaconv_cout_depthwise_at_init_equals_depthwise_conv2d_exactly():
    x = randn(FOLDED)
    layer, _ = make("TAdaConv2D_dw")
    layer.bias.assign(randn((C,), seed=4))
    y = ops.convert_to_numpy(layer(x, training=False))
    conv = keras.layers.DepthwiseConv2D(3, padding="valid")
    conv.build((None, H + 2, W + 2, C))
    conv.kernel.assign(layer.kernel)
    conv.bias.assign(layer.bias)
    want = conv(ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]))
    np.testing.assert_array_equal(y, ops.convert_to_numpy(want))


def test_tada_aggregation_branch_is_zero_at_init():
    layer, x = make("TAdaAggregation")
    for v in layer.bn.weights:  # make the main branch non-trivial
        v.assign(np.random.default_rng(2).uniform(0.5, 1.5, tuple(v.shape)))
    y = ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_array_equal(y, ops.convert_to_numpy(layer.bn(x, training=False)))
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.avgpool_bn.gamma), 0)


# --- serialisation, gradients, compilation ---------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_keras_save_load_round_trip(name, tmp_path):
    layer, x = make(name, seed=11)
    inputs = keras.Input(shape=x.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[-1]) is type(layer)
    assert loaded.layers[-1].get_config() == layer.get_config()
    for a, b in zip(to_np(model(x)), to_np(loaded(x))):
        np.testing.assert_array_equal(a, b)


def trainable_gradients(layer, x):
    def loss_of(outputs):
        return sum(ops.sum(ops.square(y)) for y in as_list(outputs))

    kwargs = {}
    if "training" in inspect.signature(layer.call).parameters:
        kwargs["training"] = True
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_of(layer(x, **kwargs))
        return tape.gradient(loss, layer.trainable_variables)
    if BACKEND == "jax":
        import jax

        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(trainable):
            out, _ = layer.stateless_call(trainable, non_trainable, x, **kwargs)
            return loss_of(out)

        return jax.grad(loss_fn)([v.value for v in layer.trainable_variables])
    if BACKEND == "torch":
        import torch

        loss = loss_of(layer(x, **kwargs))
        # allow_unused: a weight the loss does not reach gets None (and fails the test).
        return torch.autograd.grad(
            loss, [v.value for v in layer.trainable_variables], allow_unused=True
        )
    pytest.skip(f"no gradient helper for the {BACKEND} backend")


@pytest.mark.parametrize("name", [n for n in CASES if n not in WEIGHTLESS])
def test_gradients_reach_every_trainable_weight(name):
    layer, x = make(name, seed=13)
    grads = trainable_gradients(layer, x)
    assert len(grads) == len(layer.trainable_variables) > 0
    for v, g in zip(layer.trainable_variables, grads):
        assert g is not None, v.path
        assert np.abs(ops.convert_to_numpy(g)).max() > 0, v.path


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_call_matches_eager(name):
    layer, x = make(name, seed=17)
    eager = to_np(call(layer, x))
    if BACKEND == "tensorflow":
        import tensorflow as tf

        # Unknown batch (and, for clips, unknown frame count) inside tf.function.
        unknown = 2 if x.ndim == 5 and name not in STATIC_FRAMES else 1
        dims = [None] * unknown + list(x.shape[unknown:])
        fn = tf.function(lambda t: call(layer, t), input_signature=[tf.TensorSpec(dims, "float32")])
        compiled = to_np(fn(x))
    elif BACKEND == "jax":
        import jax

        def fn(trainable, non_trainable, t):
            return layer.stateless_call(trainable, non_trainable, t)[0]

        compiled = to_np(
            jax.jit(fn)(
                [v.value for v in layer.trainable_variables],
                [v.value for v in layer.non_trainable_variables],
                x,
            )
        )
    elif BACKEND == "torch":
        import torch

        # Keras' compiled path on torch (`jit_compile=True`) is `torch.compile`, graph
        # breaks allowed. TORCH_COMPILE_BACKEND picks the backend: "aot_eager" by default
        # (Dynamo capture + AOTAutograd, run with eager kernels), because Inductor's C++
        # code generation costs 5-80 s per case on a 2-core CPU; "inductor" is Keras'
        # own default. A fresh Dynamo cache per case: every case shares this function's
        # code, and past Dynamo's recompile limit it would silently run eagerly.
        torch._dynamo.reset()
        counters = torch._dynamo.utils.counters
        counters.clear()
        fn = torch.compile(lambda t: call(layer, t), backend=TORCH_COMPILE_BACKEND)
        compiled = to_np(fn(torch.as_tensor(x)))
        if not all(np.array_equal(e, x) for e in eager):  # DropPath at inference: no ops
            assert counters["stats"]["unique_graphs"] >= 1, dict(counters["frames"])
    else:
        pytest.skip(f"no compiled path for the {BACKEND} backend")
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


class _Block(keras.layers.Layer):
    """A subclassed block (no compute_output_shape), as model code writes them."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = [
            L.TemporalEnhancementInteraction(T, reduction=4),
            L.TAdaConv2D(C, 3, T, padding=1),
            L.TAdaAggregation(T),
            L.TemporalAggregation(T),
            L.TemporalShift(T),
            L.TAdaConv2D(C, 3, T, calibration="cout", use_bias=True, bias_calibration=True),
        ]

    def call(self, x, training=None):
        for layer in self.inner:
            x = call(layer, x, training=training)
        return x


def test_layers_inside_subclassed_block_with_unknown_batch():
    # On JAX, Keras infers the block's shape with a symbolic batch that is not
    # provably a multiple of num_frames; the layers must still build.
    inputs = keras.Input((T, H, W, C))
    block = _Block()
    y = block(ops.reshape(inputs, (-1, H, W, C)))
    assert tuple(y.shape) == (None, H, W, C)
    model = keras.Model(inputs, ops.reshape(y, (-1, T, H, W, C)))
    randomize(model, seed=29)
    x = randn(CLIP, seed=31)
    want = ops.convert_to_numpy(block(x.reshape(FOLDED))).reshape(CLIP)
    np.testing.assert_allclose(ops.convert_to_numpy(model(x)), want, rtol=1e-5, atol=1e-5)


def test_training_updates_route_bn_statistics():
    layer, x = make("TAdaConv2D_cin")
    before = ops.convert_to_numpy(layer.route.bn.moving_mean).copy()
    layer(x * 3.0 + 1.0, training=True)
    assert np.abs(ops.convert_to_numpy(layer.route.bn.moving_mean) - before).max() > 0


# --- argument errors --------------------------------------------------------
@pytest.mark.parametrize("name", FOLDED_CASES)
def test_frames_not_matching_num_frames_raise(name):
    layer, _ = make(name)
    with pytest.raises(ValueError, match="not divisible by `num_frames`"):
        call(layer, randn((B * T + 1, H, W, C)))


NOT_DIVISIBLE = "divisible by `reduction`"


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: L.RouteFunc(T, reduction=3)(randn(FOLDED)), NOT_DIVISIBLE),
        (lambda: L.MotionEnhancement(T, reduction=5)(randn(FOLDED)), NOT_DIVISIBLE),
        (lambda: L.TAdaConv2D(8, 3, T, route_reduction=6)(randn(FOLDED)), NOT_DIVISIBLE),
        (lambda: L.TemporalInteraction(T, kernel_size=2), "`kernel_size` must be odd"),
        (lambda: L.RouteFunc(T, kernel_sizes=(3, 4)), "`kernel_sizes` must be odd"),
        (lambda: L.TAdaConv2D(8, 3, T, route_kernel_sizes=(2, 3)), "`kernel_sizes` must be odd"),
        (lambda: L.SeparableConv3D(8, (2, 3)), "`kernel_size` must be odd"),
        (lambda: L.SeparableConv3D(8, (3, 3), flavour="pytorch"), "`flavour` must be one of"),
        (lambda: L.SeparableConv3D(8, 3)(randn(FOLDED)), "expects a 5D input"),
        (lambda: L.SpatioTemporalGating()(randn(FOLDED)), "expects a 5D input"),
        (lambda: L.TemporalShift(T)(randn(CLIP)), "expects a 4D input"),
        (lambda: L.TemporalShift(0), "`num_frames` must be a positive integer"),
        (lambda: L.TemporalShift(T, shift_div=32)(randn(FOLDED)), "at least `shift_div`"),
        (lambda: L.TemporalInteraction(T, initializer="zeros"), "`initializer` must be one of"),
        (lambda: L.TAdaConv2D(8, 3, T, calibration="cmid"), "`calibration` must be one of"),
        (lambda: L.TAdaConv2D(C, 3, T, groups=C), "needs calibration='cout'"),
        (lambda: L.TAdaConv2D(8, 3, T, groups=4, calibration="cout"), "depthwise"),
        (lambda: L.TAdaConv2D(8, 3, T, calibration="cout", bias_calibration=True), "use_bias=True"),
        (lambda: L.TAdaConv2D(8, 3, T, padding="full"), "`padding` must be"),
        (lambda: L.TemporalAggregation(T, blending_frames=0), "`blending_frames` must be"),
    ],
)
def test_wrong_arguments_raise_value_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()


# --- TFLite -----------------------------------------------------------------
@pytest.mark.skipif(BACKEND != "tensorflow", reason="TFLite conversion needs TF")
def test_all_layers_convert_to_tflite_builtins():
    import tensorflow as tf

    inputs = keras.Input(batch_shape=FOLDED)
    y = L.TemporalShift(T)(inputs)
    y = L.TemporalAggregation(T)(y)
    y = L.TemporalEnhancementInteraction(T, reduction=4)(y)
    y = L.TAdaConv2D(C, 3, T)(y)
    y = L.TAdaAggregation(T)(y)
    y = L.TAdaConv2D(
        C, 3, T, groups=C, calibration="cout", use_bias=True, bias_calibration=True, padding=1
    )(y)
    y = ops.reshape(y, CLIP)
    y = L.SeparableConv3D(8, 3, 2)(y)
    y = L.SeparableConv3D(8, 3, 1, flavour="torchvision", padding="torch")(y)
    y = L.SpatioTemporalGating()(y)
    model = keras.Model(inputs, y)
    randomize(model, seed=19)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    x = randn(FOLDED, seed=23)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    want = ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TFLite conversion needs TF")
def test_building_blocks_convert_to_tflite_builtins():
    import tensorflow as tf

    inputs = keras.Input(batch_shape=RGB_CLIP)
    y = L.Normalize(*((0.4, 0.5, 0.6), (0.2, 0.25, 0.3)))(inputs)
    y = L.SeparablePooling3D((3, 3, 3), 1, padding=1, pool_type="max")(y)
    y = L.SeparablePooling3D((3, 3, 3), 1, padding=1, pool_type="avg")(y)  # keeps T frames
    y = L.TemporalWindows(3, 1, 1)(y)
    folded = L.FoldFrames()(y)
    folded = L.LayerScale(0.5)(L.DropPath(0.2, num_frames=T)(folded))
    folded = L.FrameRepeat(2)(L.FrameSubsample(2, 1)(folded))
    y = L.TemporalMean()(L.UnfoldFrames(T)(folded))
    model = keras.Model(inputs, y)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    x = np.random.default_rng(29).uniform(0, 255, RGB_CLIP).astype("float32")
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, ops.convert_to_numpy(model(x)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "module",
    [
        "tsm",
        "blvnet",
        "teinet",
        "s3d",
        "tada",
        "tada_v2",
        "frames",
        "normalization",
        "pooling",
        "regularization",
    ],
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(f"tfvideo.layers.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_temporal_windows_every_kernel_stride_and_padding():
    """TemporalWindows (unit-step slices of a reshaped view) against the windows by definition:
    output frame t holds padded frames t * s + j, j < k, on the channel axis."""
    rng = np.random.default_rng(0)
    cases = 0
    for frames in (1, 2, 3, 4, 5, 8, 9, 16):
        for k in range(1, 6):
            for s in (1, 2, 3):
                for p in (0, 1, 2):
                    out = (frames + 2 * p - k) // s + 1
                    if out < 1:
                        continue
                    x = rng.normal(size=(2, frames, 3, 2, 3)).astype("float32")
                    padded = np.pad(x, [(0, 0), (p, p), (0, 0), (0, 0), (0, 0)])
                    want = np.stack(
                        [
                            np.concatenate([padded[:, t * s + j] for j in range(k)], -1)
                            for t in range(out)
                        ],
                        1,
                    )
                    got = ops.convert_to_numpy(L.TemporalWindows(k, s, p)(x))
                    np.testing.assert_array_equal(got, want, err_msg=f"{frames=} {k=} {s=} {p=}")
                    cases += 1
    assert cases == 321
