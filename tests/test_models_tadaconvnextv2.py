"""TAdaConvNeXtV2 models and layers: the release's sizes and settings, the calibrated depthwise
conv against per-frame calibrated kernels, identity at initialisation."""

import keras
import numpy as np
import pytest

import tfvideo.models as tvm
from tfvideo.layers import RouteFuncTransformer, TAdaConv2DV2, TAdaLayerNormAggregation
from tfvideo.models.tadaconvnextv2 import SIZES
from tfvideo.profile import count_macs

# Counted on the release's own build (alibaba-mmai-research/TAdaConv at 75b7839,
# `build_model` on configs/projects/tadaconvnextv2/tadaconvnextv2_{tiny,small,base}_k400_16f.yaml,
# 400 classes): sum(p.numel() for p in model.parameters()).
OFFICIAL_PARAMS = {"t": 45_971_488, "s": 82_249_120, "b": 145_687_632}


def test_tiny_release_params_and_zoo_macs():
    # MODEL_ZOO.md: TAdaConvNeXtV2-T, 16 frames, "47x3x4" GFLOPs: 47 G multiply-adds per
    # 16 x 256 x 256 view (the K400 test crop, TEST_CROP_SIZE 256).
    model = tvm.create("tadaconvnextv2_t", input_size=256)
    assert model.output_shape == (None, 400)
    assert model.count_params() == OFFICIAL_PARAMS["t"]
    assert count_macs(model) / 1e9 == pytest.approx(47, rel=0.02)
    assert model.get_layer("unfold_frames").num_frames == 8  # stem: kernel 3, stride 2
    assert model.get_layer("stages_2_8_dwconv_rf").num_frames == 8
    assert "stages_2_9_dwconv" not in {layer.name for layer in model.layers}


def test_named_configurations_follow_the_release_yaml():
    for size, depths, dims, drop, head_dim in (
        ("t", (3, 3, 9, 3), (96, 192, 384, 768), 0.2, 48),
        ("s", (3, 3, 27, 3), (96, 192, 384, 768), 0.4, 48),
        ("b", (3, 3, 27, 3), (128, 256, 512, 1024), 0.6, 64),
    ):
        spec = tvm.default_spec(f"tadaconvnextv2_{size}")
        assert spec.family == "tadaconvnextv2" and spec.checkpoint_layouts == ("tadaconvnextv2",)
        assert (spec.num_classes, spec.num_frames, spec.sampling) == (400, 16, "dense")
        assert spec.mean == (0.45,) * 3 and spec.std == (0.225,) * 3
        assert spec.view_aggregation == "softmax"  # ENSEMBLE_METHOD: sum (of softmax scores)
        assert SIZES[size] == dict(depths=depths, dims=dims, drop_path_rate=drop, head_dim=head_dim)


def test_block_settings_follow_the_release():
    model = tvm.create("tadaconvnextv2_tiny", drop_path_rate=0.1, depths=(1, 1, 2, 1))
    route = model.get_layer("stages_2_1_dwconv_rf")
    assert (route.reduction, route.kernel_sizes, route.head_dim, route.heads) == (2, (3, 3), 8, 4)
    assert route.bias_calibration and route.epsilon == 1e-6
    conv = model.get_layer("stages_2_1_dwconv")
    assert (conv.kernel_size, conv.padding, conv.strides, conv.use_bias) == (
        (7, 7),
        3,
        (1, 1),
        True,
    )
    assert tuple(conv.kernel.shape) == (7, 7, 64, 1)
    rates = [
        model.get_layer(f"stages_{s}_{i}_drop_path").rate
        for s, i in ((1, 0), (2, 0), (2, 1), (3, 0))
    ]
    np.testing.assert_allclose(rates, [0.1 / 4, 0.2 / 4, 0.3 / 4, 0.1])
    assert "stages_0_0_drop_path" not in {layer.name for layer in model.layers}
    np.testing.assert_allclose(model.get_layer("stages_0_0_gamma").gamma, 1e-6)
    aggregation = model.get_layer("stages_0_0_norm")
    np.testing.assert_array_equal(aggregation.norm_avgpool.gamma, 0)
    np.testing.assert_array_equal(aggregation.norm_avgpool.beta, 0)
    assert model.get_layer("stages_0_0_act").__class__.__name__ == "QuickGELU"


def test_tadaconv2dv2_is_a_per_frame_calibrated_depthwise_conv():
    rng = np.random.default_rng(0)
    n, h, w, c, k = 3, 6, 5, 4, 3
    x = rng.normal(size=(n, h, w, c)).astype("float32")
    alpha = rng.uniform(0.5, 1.5, (n, c)).astype("float32")
    beta = rng.uniform(0.5, 1.5, (n, c)).astype("float32")
    layer = TAdaConv2DV2(k, padding=1)
    layer.build([x.shape, alpha.shape, beta.shape])
    kernel = rng.normal(size=(k, k, c, 1)).astype("float32")
    bias = rng.normal(size=(c,)).astype("float32")
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    # Frame i: its own kernel alpha_i[c] * W[..., c] and bias beta_i[c] * b[c], zero padding 1.
    xp = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    want = np.zeros_like(x)
    for i in range(n):
        kernel_i = kernel[..., 0] * alpha[i]
        for y in range(h):
            for z in range(w):
                want[i, y, z] = (xp[i, y : y + k, z : z + k] * kernel_i).sum((0, 1))
        want[i] += beta[i] * bias
    got = np.asarray(layer([x, alpha, beta]))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    uncalibrated = np.asarray(layer([x, alpha]))  # no beta: the bias is not calibrated
    shift = np.broadcast_to((1 - beta)[:, None, None] * bias, got.shape)
    np.testing.assert_allclose(uncalibrated - got, shift, atol=1e-5)


def test_identity_at_initialisation():
    x = np.random.default_rng(1).normal(size=(2 * 4, 5, 5, 16)).astype("float32")
    alpha, beta = RouteFuncTransformer(4, head_dim=4)(x)
    np.testing.assert_array_equal(alpha, 1.0)
    np.testing.assert_array_equal(beta, 1.0)
    aggregation = TAdaLayerNormAggregation(4)
    np.testing.assert_array_equal(aggregation(x), aggregation.norm(x))
    conv = TAdaConv2DV2(7, padding=3)
    y = conv([x, alpha, beta])
    plain = keras.layers.DepthwiseConv2D(7, padding="same", use_bias=False)
    plain.build(x.shape)
    plain.kernel.assign(conv.kernel)
    np.testing.assert_allclose(y, plain(x), rtol=1e-6, atol=1e-6)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="head_dim"):
        tvm.create("tadaconvnextv2_tiny", head_dim=6)
    with pytest.raises(ValueError, match="input_size"):
        tvm.create("tadaconvnextv2_tiny", input_size=72)
    with pytest.raises(ValueError, match="depths and dims"):
        tvm.create("tadaconvnextv2_tiny", depths=(1, 1))
    with pytest.raises(ValueError, match="head_dim"):
        RouteFuncTransformer(4, head_dim=5)(np.zeros((8, 2, 2, 16), "float32"))
    with pytest.raises(ValueError, match="alpha"):
        TAdaConv2DV2(3, padding=1)([np.zeros((2, 4, 4, 8)), np.zeros((2, 4))])
