"""S3D family (tfvideo/models/s3d.py): sizes against the references, structure of the
variants, pooling semantics, torchvision parity, serialisation and TFLite export."""

import importlib.util
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfvideo
from tfvideo.convert import load_torch_state_dict
from tfvideo.layers import SeparableConv3D, SpatioTemporalGating
from tfvideo.models import common
from tfvideo.models.s3d import BLOCKS, SeparablePooling3D
from tfvideo.profile import count_macs

_MODELS = {}


def build(name, **options):
    """`create(name, **options)`, built once per module (the tests only read these models)."""
    key = (name, tuple(sorted(options.items())))
    if key not in _MODELS:
        _MODELS[key] = tfvideo.models.create(name, **options)
    return _MODELS[key]


def trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def randomize(model, seed=0):
    """Random non-identity weights; BN variances positive; keeps activations O(1)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        if "variance" in w.path:
            value = rng.uniform(0.5, 1.5, shape)
        elif "gamma" in w.path:
            value = rng.uniform(0.5, 1.5, shape)
        elif len(shape) <= 1:
            value = rng.normal(0.0, 0.1, shape)
        else:  # kernels: fan-in scaled
            value = rng.normal(0.0, 1.0, shape) * np.sqrt(2.0 / np.prod(shape[:-1]))
        w.assign(value.astype("float32"))
    return model


def random_clip(model, seed=1, batch=1):
    shape = (batch,) + tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


# ---------------------------------------------------------------------------
# Sizes: params and multiply-adds of one clip (400 classes). References: torchvision's
# S3D_Weights metadata (8,320,048 params, 17.98 GFLOPS = GMACs at 16x224x224) and the
# analytic counts of papers.md section 1.4.
# ---------------------------------------------------------------------------
FULL_SIZE = [
    # name, options, trainable params, GMACs
    ("s3d", {}, 8_320_048, 17.98),
    ("s3dg", {}, 9.54e6, 71.9),
    ("i3d", {}, 12.70e6, 111.2),
    ("s3dg", {"layout": "slim"}, 9.529e6, 64.19),
    ("i2d", {}, 6.010e6, 36.89),
    ("s3d_top_heavy", {}, 7.99e6, 40.75),
]


@pytest.mark.parametrize(
    "name,options,params,gmacs",
    FULL_SIZE,
    ids=[f"{n}{'-' + '-'.join(o.values()) if o else ''}" for n, o, _, _ in FULL_SIZE],
)
def test_full_size_params_and_macs(name, options, params, gmacs):
    model = build(name, num_classes=400, **options)
    defaults = tfvideo.models.defaults(name)
    assert model.inputs[0].shape[1:] == (defaults["num_frames"], 224, 224, 3)
    if name == "s3d":
        assert trainable_params(model) == params  # exactly torchvision's num_params
    else:
        assert trainable_params(model) == pytest.approx(params, rel=0.02)
    assert count_macs(model) / 1e9 == pytest.approx(gmacs, rel=0.02)


def test_registry_defaults():
    names = tfvideo.models.available(family="s3d")
    for name in (
        "s3d",
        "s3dg",
        "i3d",
        "i2d",
        "s3d_top_heavy",
        "s3d_bottom_heavy",
        "fast_s3d",
        "s3d_tiny",
    ):
        assert name in names
    s3d = tfvideo.models.defaults("s3d")
    assert (s3d["num_frames"], s3d["input_size"], s3d["num_classes"]) == (16, 224, 400)
    assert (s3d["mean"], s3d["std"]) == common.KINETICS_S3D
    assert s3d["sampling"] == "dense"
    assert tfvideo.models.defaults("s3dg")["mean"] == common.INCEPTION[0]
    assert tfvideo.models.defaults("i3d")["num_frames"] == 64
    tiny = tfvideo.models.defaults("s3d_tiny")
    assert (tiny["num_frames"], tiny["input_size"]) == (8, 64)


# ---------------------------------------------------------------------------
# Structure of the variants (tiny widths: built in a second).
# ---------------------------------------------------------------------------
TINY = dict(depth_multiplier=0.125, min_depth=8, num_frames=8, input_size=64, num_classes=5)


def temporal_kernel(model, name):
    """kt of the 3x3 conv of a block's Branch_1 (or of Conv2d_2c_3x3)."""
    layer = model.get_layer(name)
    if isinstance(layer, SeparableConv3D):
        return layer.kernel_size[0]
    if isinstance(layer, keras.layers.Conv3D):
        return layer.kernel_size[0]
    assert isinstance(layer, keras.layers.Conv2D)
    return 1


def block_conv(block):
    return "conv2d_2c_3x3" if block == "Conv2d_2c_3x3" else f"{block.lower()}_b1_0b"


@pytest.mark.parametrize(
    "name,temporal_blocks",
    [
        ("s3dg", BLOCKS),
        ("i3d", BLOCKS),
        ("i2d", ()),
        ("s3d_top_heavy", BLOCKS[BLOCKS.index("Mixed_4b") :]),
        ("fast_s3d", BLOCKS[BLOCKS.index("Mixed_4b") :]),
        ("s3d_bottom_heavy", BLOCKS[: BLOCKS.index("Mixed_3c") + 1]),
    ],
)
def test_variants_place_temporal_convs(name, temporal_blocks):
    model = build(name, **TINY)
    for block in BLOCKS:
        assert temporal_kernel(model, block_conv(block)) == (3 if block in temporal_blocks else 1)
    full_3d = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv3D)]
    assert bool(full_3d) == (name == "i3d")  # only I3D uses full 3D convs


@pytest.mark.parametrize(
    "name,gates", [("s3d", 0), ("i3d", 0), ("s3dg", 1 + 9 * 4), ("fast_s3d", 1 + 9 * 4)]
)
def test_gating_per_branch(name, gates):
    model = build(name, **TINY)
    gating = [layer for layer in model.layers if isinstance(layer, SpatioTemporalGating)]
    assert len(gating) == gates
    if gates:  # gated on each branch output, before the concat
        assert (
            model.get_layer("mixed_4b_b2_gating").input is model.get_layer("mixed_4b_b2_0b").output
        )


# Where S3D-G gates, written from TF-slim (papers.md 1.2; research/slim/nets/s3dg.py
# `s3dg_base` and i3d_utils.py `inception_block_v1_3d`), not from tfvideo: once gating has
# started (`gating_startat`), `self_gating` follows the conv of Conv2d_2c_3x3 (before
# MaxPool_3a_3x3), and in every Mixed block the final op of each of the four branches, before
# the concat. Nothing else is gated: not Conv2d_1a/2b, not the 0a 1x1 of Branch_1/2, not the
# pools, not the concat, not the logits.
SLIM_MIXED = (
    "Mixed_3b",
    "Mixed_3c",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "Mixed_5b",
    "Mixed_5c",
)
SLIM_BRANCH_GATED_OP = ("Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_0b_3x3", "Conv2d_0b_1x1")
# (model, options) -> the endpoints that are gated. s3dg / fast_s3d gate from Conv2d_2c_3x3 (the
# slim default); gating_startat="Mixed_4b" is slim's inverted-pyramid knob.
SLIM_GATED_ENDPOINTS = [
    ("s3dg", {}, ("Conv2d_2c_3x3",) + SLIM_MIXED),
    ("s3dg", {"layout": "slim"}, ("Conv2d_2c_3x3",) + SLIM_MIXED),
    ("s3dg", {"gating_startat": "Mixed_4b"}, SLIM_MIXED[2:]),
    ("fast_s3d", {}, ("Conv2d_2c_3x3",) + SLIM_MIXED),
    ("s3d", {}, ()),
    ("i3d", {}, ()),
    ("i2d", {}, ()),
    ("s3d_top_heavy", {}, ()),
    ("s3d_bottom_heavy", {}, ()),
]
# Layers a gate's input may pass through back to its conv (BN, ReLU, the frame-folding views).
_PASS_THROUGH = (
    keras.layers.BatchNormalization,
    keras.layers.ReLU,
    keras.layers.Reshape,
    common.FoldFrames,
    common.UnfoldFrames,
)
_CONVS = (keras.layers.Conv2D, keras.layers.Conv3D, SeparableConv3D)


def _keras_conv_name(endpoint, branch=None):
    """TF-slim scope -> the tfvideo layer name: Mixed_4b/Branch_1/Conv2d_0b_3x3 ->
    mixed_4b_b1_0b; Conv2d_2c_3x3 -> conv2d_2c_3x3."""
    if branch is None:
        return endpoint.lower()
    return f"{endpoint.lower()}_b{branch}_{SLIM_BRANCH_GATED_OP[branch][7:9]}"


def _producers(model):
    out = {}
    for layer in model.layers:
        out[id(layer.output)] = layer
    return out


def _conv_behind(tensor, producers):
    """The conv whose (BN + ReLU'd) output `tensor` is, and whether a ReLU was passed."""
    layer, relu = producers[id(tensor)], False
    while isinstance(layer, _PASS_THROUGH):
        relu = relu or isinstance(layer, keras.layers.ReLU)
        layer = producers[id(layer.input)]
    return layer, relu


@pytest.mark.parametrize(
    "name,options,gated",
    SLIM_GATED_ENDPOINTS,
    ids=[f"{n}-{'-'.join(map(str, o.values())) or 'default'}" for n, o, _ in SLIM_GATED_ENDPOINTS],
)
def test_gating_placement_matches_tf_slim(name, options, gated):
    model = build(name, **{**TINY, **options})
    producers = _producers(model)
    expected = set()
    for endpoint in gated:
        if endpoint.startswith("Mixed"):
            expected |= {_keras_conv_name(endpoint, b) for b in range(4)}
        else:
            expected.add(_keras_conv_name(endpoint))
    found = {}
    for gate in (layer for layer in model.layers if isinstance(layer, SpatioTemporalGating)):
        conv, relu = _conv_behind(gate.input, producers)
        assert isinstance(conv, _CONVS), (gate.name, conv.name)  # directly behind a conv
        assert relu or isinstance(conv, SeparableConv3D), gate.name  # on its activation
        assert conv.name not in found, conv.name  # one gate per conv
        found[conv.name] = gate
    assert set(found) == expected
    # Each Mixed block's concat takes the four branch outputs, in order, through their gates
    # when the block is gated and directly otherwise.
    for endpoint in SLIM_MIXED:
        concat = model.get_layer(f"{endpoint.lower()}_concat")
        assert len(concat.input) == 4
        for branch, tensor in enumerate(concat.input):
            conv_name = _keras_conv_name(endpoint, branch)
            if endpoint in gated:
                assert producers[id(tensor)] is found[conv_name], (endpoint, branch)
            else:
                assert not isinstance(producers[id(tensor)], SpatioTemporalGating)
                assert _conv_behind(tensor, producers)[0].name == conv_name
    # Conv2d_2c_3x3's gate (when there is one) feeds MaxPool_3a_3x3.
    pool = model.get_layer("maxpool_3a_3x3")
    behind_pool = producers[id(pool.input)]
    if "Conv2d_2c_3x3" in gated:
        assert behind_pool is found["conv2d_2c_3x3"]
    else:
        assert _conv_behind(pool.input, producers)[0].name == "conv2d_2c_3x3"


def test_first_conv_layouts():
    s3d = build("s3d", **TINY)
    stem = s3d.get_layer("conv2d_1a_7x7")
    assert isinstance(stem, SeparableConv3D)
    assert (stem.kernel_size, stem.strides, stem.flavour, stem.padding) == (
        (7, 7),
        (2, 2),
        "torchvision",
        "torch",
    )
    slim = build("s3dg", layout="slim", **TINY)
    assert slim.get_layer("conv2d_1a_7x7").kernel_size == (3, 7, 7)
    assert isinstance(slim.get_layer("conv2d_2c_3x3"), SeparableConv3D)
    assert slim.get_layer("conv2d_2c_3x3").flavour == "slim"
    i3d = build("i3d", **TINY)
    assert i3d.get_layer("conv2d_1a_7x7").kernel_size == (7, 7, 7)
    i2d = build("i2d", **TINY)
    # A 1x7x7 first conv keeps slim's temporal stride 2: 8 frames -> 4.
    assert i2d.get_layer("conv2d_1a_7x7_unfold").output.shape[1:] == (4, 32, 32, 8)


def test_head_pool_shrinks_for_short_clips():
    # s3d_tiny: 8 frames at 64 px leave 1 x 2 x 2 positions after Mixed_5c.
    model = build("s3d", **TINY)
    assert model.get_layer("mixed_5c_concat").output.shape[1:4] == (1, 2, 2)
    assert model.get_layer("logits_avgpool").pool_size == (1, 2, 2)
    # 16 x 224: torchvision's AvgPool3d((2, 7, 7)) unchanged, one position left.
    full = build("s3d", num_classes=400)
    assert full.get_layer("mixed_5c_concat").output.shape[1:4] == (2, 7, 7)
    assert full.get_layer("logits_avgpool").pool_size == (2, 7, 7)
    assert full.get_layer("logits_avgpool").output.shape[1:4] == (1, 1, 1)


@pytest.mark.parametrize(
    "options,argument",
    [
        ({"temporal_conv_startat": "Mixed_9z"}, "temporal_conv_startat"),
        ({"gating_startat": "Conv2d_1a_7x7"}, "gating_startat"),
        (
            {"temporal_conv_startat": "Mixed_4b", "temporal_conv_endat": "Mixed_3b"},
            "temporal_conv_endat",
        ),
        ({"first_temporal_kernel_size": 4}, "first_temporal_kernel_size"),
        ({"flavour": "caffe"}, "flavour"),
        ({"padding": "reflect"}, "padding"),
        ({"depth_multiplier": 0}, "depth_multiplier"),
        ({"layout": "torch"}, "layout"),
    ],
)
def test_bad_options_raise(options, argument):
    with pytest.raises(ValueError, match=argument):
        tfvideo.models.create("s3dg", **{**TINY, **options})


# ---------------------------------------------------------------------------
# Pooling: separable 2D + temporal pools equal 3D pooling.
# ---------------------------------------------------------------------------
def numpy_pool3d(x, kernel, strides, pads, op):
    """PyTorch MaxPool3d / AvgPool3d(count_include_pad=True), ceil_mode=False, NDHWC."""
    fill = -np.inf if op == "max" else 0.0
    x = np.pad(x, [(0, 0)] + [(p, p) for p in pads] + [(0, 0)], constant_values=fill)
    out = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:4], kernel, strides)]
    y = np.empty((x.shape[0], *out, x.shape[-1]), x.dtype)
    reduce = np.max if op == "max" else np.mean
    for t in range(out[0]):
        for i in range(out[1]):
            for j in range(out[2]):
                t0, i0, j0 = t * strides[0], i * strides[1], j * strides[2]
                window = x[:, t0 : t0 + kernel[0], i0 : i0 + kernel[1], j0 : j0 + kernel[2]]
                y[:, t, i, j] = reduce(window, axis=(1, 2, 3))
    return y


@pytest.mark.parametrize(
    "kernel,strides,pads,op",
    [
        ((1, 3, 3), (1, 2, 2), (0, 1, 1), "max"),  # torchvision MaxPool_2a / 3a
        ((3, 3, 3), (2, 2, 2), (1, 1, 1), "max"),  # MaxPool_4a
        ((2, 2, 2), (2, 2, 2), (0, 0, 0), "max"),  # MaxPool_5a (odd sizes: rounds down)
        ((3, 3, 3), (1, 1, 1), (1, 1, 1), "max"),  # Branch_3
        ((4, 4, 4), (1, 3, 2), (2, 2, 2), "max"),  # padding = half the window: mirrored, exact
        ((2, 3, 3), (1, 1, 1), (0, 0, 0), "avg"),  # logits pool
        ((3, 3, 3), (2, 2, 2), (1, 1, 1), "avg"),  # count_include_pad
    ],
)
def test_pool_matches_pytorch_semantics(kernel, strides, pads, op):
    x = np.random.default_rng(0).normal(size=(2, 5, 7, 9, 3)).astype("float32")  # signed
    layer = SeparablePooling3D(kernel, strides=strides, padding=pads, pool_type=op)
    got = np.asarray(layer(x))
    np.testing.assert_allclose(
        got, numpy_pool3d(x, kernel, strides, pads, op), rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "mixed_float16"])
def test_padded_max_pool_never_picks_padding(dtype):
    # The first clip is the dtype's lowest finite value everywhere, the second lies within
    # 10% of it: any other fill (zeros, a rounded decimal) would win at the borders.
    import ml_dtypes

    compute = dtype.removeprefix("mixed_")
    lowest = float(ml_dtypes.finfo(compute).min)
    rng = np.random.default_rng(2)
    x = (lowest * rng.uniform(0.9, 1.0, size=(2, 5, 7, 9, 3))).astype(compute)
    x[0] = lowest
    x32 = x.astype("float32")
    kernel, strides, pads = (3, 3, 3), (2, 2, 2), (1, 1, 1)
    layer = SeparablePooling3D(kernel, strides=strides, padding=pads, dtype=dtype)
    got = keras.ops.convert_to_numpy(keras.ops.cast(layer(x32), "float32"))
    np.testing.assert_array_equal(got, numpy_pool3d(x32, kernel, strides, pads, "max"))


@pytest.mark.parametrize(
    "kernel,strides",
    [
        ((1, 3, 3), (1, 2, 2)),
        ((3, 3, 3), (2, 2, 2)),
        ((2, 2, 2), (2, 2, 2)),
        ((3, 3, 3), (1, 1, 1)),
    ],
)
def test_pool_same_matches_tf_max_pool3d(kernel, strides):
    x = np.random.default_rng(1).normal(size=(2, 5, 7, 8, 3)).astype("float32")
    got = SeparablePooling3D(kernel, strides=strides, padding="same")(x)
    want = tf.nn.max_pool3d(x, kernel, strides, "SAME")
    np.testing.assert_array_equal(np.asarray(got), want.numpy())


def test_pool_config_round_trip_and_errors():
    layer = SeparablePooling3D((3, 3, 3), strides=2, padding=1, pool_type="avg")
    clone = SeparablePooling3D.from_config(layer.get_config())
    assert (clone.pool_size, clone.strides, clone.padding, clone.pool_type) == (
        (3, 3, 3),
        (2, 2, 2),
        (1, 1, 1),
        "avg",
    )
    with pytest.raises(ValueError, match="padding"):
        SeparablePooling3D(3, padding=2)
    with pytest.raises(ValueError, match="pool_type"):
        SeparablePooling3D(3, pool_type="min")
    with pytest.raises(ValueError, match="frames, height, width"):
        SeparablePooling3D(3)(np.zeros((2, 4, 4, 3), "float32"))


# ---------------------------------------------------------------------------
# Behaviour.
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_s3d():
    """s3d_tiny (10 classes) with random non-identity weights."""
    return randomize(tfvideo.models.create("s3d_tiny", num_classes=10))


def test_s3d_is_sensitive_to_frame_order(tiny_s3d):
    model = tiny_s3d
    clip = random_clip(model)
    out = model(clip, training=False).numpy()
    reversed_out = model(clip[:, ::-1], training=False).numpy()
    assert np.abs(out - reversed_out).max() > 1e-2 * np.abs(out).max()
    # Control: a clip that is constant over time is its own reversal.
    still = np.repeat(clip[:, :1], clip.shape[1], axis=1)
    np.testing.assert_allclose(
        model(still, training=False).numpy(),
        model(still[:, ::-1], training=False).numpy(),
        rtol=1e-6,
    )


@pytest.mark.parametrize("name", ["s3d_tiny", "s3dg"])
def test_keras_round_trip_identical(name, tiny_s3d, tmp_path):
    # s3d_tiny: torchvision flavour; tiny s3dg: slim flavour with gating.
    model = tiny_s3d if name == "s3d_tiny" else randomize(tfvideo.models.create(name, **TINY))
    clip = random_clip(model, batch=2)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        loaded(clip, training=False).numpy(), model(clip, training=False).numpy()
    )


# ---------------------------------------------------------------------------
# torchvision parity: the reference runs in a subprocess (torchvision's C extension and
# TensorFlow do not load into one process here).
# ---------------------------------------------------------------------------
TORCH_REFERENCE = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    from torchvision.models.video import s3d

    out_path, frames, size, classes = sys.argv[1], *map(int, sys.argv[2:5])
    torch.manual_seed(0)
    model = s3d(num_classes=classes).eval()
    with torch.no_grad():  # non-trivial BN statistics, scales and biases
        for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
            elif name.endswith(("running_mean", "bias")):
                tensor.normal_(0.0, 0.1)
            elif tensor.ndim == 1 and tensor.dtype.is_floating_point:
                tensor.uniform_(0.5, 1.5)
    # torchvision's AvgPool3d((2, 7, 7)) needs 224 px; at 64 px our head shrinks it to 2x2.
    model.avgpool = torch.nn.AvgPool3d((2, 2, 2), stride=1)
    clips = np.random.default_rng(0).uniform(0, 255, (2, frames, size, size, 3))
    clips = clips.astype("float32")
    mean = np.array([0.43216, 0.394666, 0.37645], "float32")
    std = np.array([0.22803, 0.22145, 0.216989], "float32")
    x = torch.from_numpy((clips / 255 - mean) / std).permute(0, 4, 1, 2, 3).contiguous()
    # BN running statistics := those of the clip (one train-mode pass), as after training:
    # left random, the BNs do not normalise and the early blocks' effect on the logits fades
    # below the parity tolerance. Quiet channels are not amplified past the layer's mean
    # variance (that would make float32 rounding alone exceed the tolerance).
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    for m in norms:
        m.momentum = 1.0
    with torch.no_grad():
        model.train()(x)
        for m in norms:
            m.momentum = 0.001
            m.running_var.clamp_(min=float(m.running_var.mean()))
    model.eval()
    with torch.no_grad():
        logits = model(x)
        # How far zeroing the stem or Mixed_3b (features.5) moves the logits.
        effect = []
        for block in (model.features[0], model.features[5]):
            saved = {k: v.clone() for k, v in block.state_dict().items()}
            for p in block.parameters():
                p.zero_()
            effect.append(float((model(x) - logits).abs().max() / logits.abs().max()))
            block.load_state_dict(saved)
    arrays = {"sd/" + k: v.numpy() for k, v in model.state_dict().items()}
    np.savez(out_path, clips=clips, logits=logits.numpy(), effect=min(effect), **arrays)
""")


@pytest.fixture(scope="module")
def torchvision_reference(tmp_path_factory):
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed")
    folder = tmp_path_factory.mktemp("torchvision_s3d")
    script, out = folder / "reference.py", folder / "reference.npz"
    script.write_text(TORCH_REFERENCE)
    subprocess.run(
        [sys.executable, str(script), str(out), "16", "64", "10"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    data = np.load(out)
    state_dict = {k[3:]: data[k] for k in data.files if k.startswith("sd/")}
    return state_dict, data["clips"], data["logits"], float(data["effect"])


def test_matches_torchvision_s3d(torchvision_reference):
    state_dict, clips, want, effect = torchvision_reference
    model = build("s3d", num_classes=10, num_frames=16, input_size=64)
    load_torch_state_dict(model, state_dict)
    got = model(clips, training=False).numpy()
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    # The comparison sees the early blocks: zeroing the stem or Mixed_3b in the reference
    # moves its logits by > 100x the tolerance.
    assert effect > 100 * 1e-4, effect


def test_torchvision_loader_rejects_mismatches(torchvision_reference):
    state_dict, _, _, _ = torchvision_reference
    model = build("s3d", num_classes=10, num_frames=16, input_size=64)
    missing = {k: v for k, v in state_dict.items() if not k.startswith("features.8.branch2")}
    with pytest.raises(ValueError, match="features.8.branch2"):
        load_torch_state_dict(model, missing)
    with pytest.raises(ValueError, match="not used"):
        load_torch_state_dict(model, {**state_dict, "extra.weight": np.zeros(3)})
    gated = build("s3dg", **TINY)
    with pytest.raises(ValueError, match="torchvision-flavour"):
        load_torch_state_dict(gated, state_dict)
