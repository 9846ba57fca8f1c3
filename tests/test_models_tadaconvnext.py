"""TAdaConvNeXt models: paper sizes, 2D-formulated 3D stem, identity at init, export."""

import keras
import numpy as np
import pytest

import tfvideo.models as tvm
from tfvideo.layers import TAdaConv2D
from tfvideo.models.tadaconvnext import DropPath, TemporalWindows
from tfvideo.profile import count_macs


def _clip(num_frames=8, size=64, batch=1, seed=0):
    return (
        np.random.default_rng(seed)
        .uniform(0, 255, (batch, num_frames, size, size, 3))
        .astype("float32")
    )


def _perturb_routes(model, seed=0, scale=0.05):
    """Non-zero route outputs (alpha, beta != 1), as after training."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, TAdaConv2D):
            for conv in (layer.route.b, layer.route.b_bias):
                conv.kernel.assign(rng.normal(0, scale, conv.kernel.shape))


def test_paper_params_and_macs():
    # papers.md §4.4: 38.66M params, 46.9 GMACs per 16 x 256 x 256 view (400 classes).
    model = tvm.create("tadaconvnext_t", input_size=256)
    assert model.output_shape == (None, 400)
    assert model.count_params() == pytest.approx(38.66e6, rel=0.02)
    assert count_macs(model) / 1e9 == pytest.approx(46.9, rel=0.02)
    # 16 input frames -> 8 temporal positions after the (3, 4, 4) / (2, 4, 4) stem.
    assert model.get_layer("unfold_frames").num_frames == 8
    assert model.get_layer("stages_2_8_dwconv").num_frames == 8
    assert "stages_2_9_dwconv" not in {layer.name for layer in model.layers}


def test_registry_defaults():
    d = tvm.defaults("tadaconvnext_t")
    assert (d["num_classes"], d["num_frames"], d["input_size"]) == (400, 16, 224)
    assert d["mean"] == (0.45, 0.45, 0.45) and d["std"] == (0.225, 0.225, 0.225)
    assert {"tadaconvnext_t", "tadaconvnext_tiny"} <= set(tvm.available("tadaconvnext"))


def test_block_settings_follow_v1():
    model = tvm.create("tadaconvnext_tiny", drop_path_rate=0.1, depths=(1, 1, 2, 1))
    conv = model.get_layer("stages_2_1_dwconv")
    assert (conv.groups, conv.filters, conv.kernel_size, conv.padding) == (64, 64, (7, 7), 3)
    assert (conv.calibration, conv.use_bias, conv.bias_calibration) == ("cout", True, True)
    assert (conv.route_reduction, conv.route_kernel_sizes) == (4, (3, 3))
    # Stochastic depth grows linearly from 0 over the blocks; layer scale starts at 1e-6.
    rates = [
        model.get_layer(f"stages_{s}_{i}_drop_path").rate
        for s, i in ((1, 0), (2, 0), (2, 1), (3, 0))
    ]
    np.testing.assert_allclose(rates, [0.1 / 4, 0.2 / 4, 0.3 / 4, 0.1])
    assert "stages_0_0_drop_path" not in {layer.name for layer in model.layers}
    np.testing.assert_allclose(model.get_layer("stages_0_0_gamma").gamma, 1e-6)


def test_stem_is_the_reference_conv3d():
    # Conv3d(3 -> 5, kernel (3, 4, 4), stride (2, 4, 4), padding (1, 0, 0)) in NumPy.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 8, 12, 3)).astype("float32")
    w = rng.normal(size=(5, 3, 3, 4, 4)).astype("float32")  # PyTorch [out, in, kt, kh, kw]
    xp = np.pad(x, [(0, 0), (1, 1), (0, 0), (0, 0), (0, 0)])
    frames = (7 + 2 - 3) // 2 + 1
    want = np.zeros((2, frames, 2, 3, 5), "float32")
    for t in range(frames):
        for i in range(2):
            for j in range(3):
                patch = xp[
                    :, 2 * t : 2 * t + 3, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4
                ]  # b kt kh kw c
                want[:, t, i, j] = np.einsum("bthwc,octhw->bo", patch, w)
    windows = TemporalWindows(3, 2, 1)(x)
    assert windows.shape == (2, frames, 8, 12, 9)
    conv = keras.layers.Conv2D(5, 4, strides=4, use_bias=False)
    conv.build((None, 8, 12, 9))
    # Keras kernel [kh, kw, 3 * tap + colour, out].
    conv.kernel.assign(w.transpose(3, 4, 2, 1, 0).reshape(4, 4, 9, 5))
    got = conv(keras.ops.reshape(windows, (-1, 8, 12, 9)))
    np.testing.assert_allclose(np.reshape(got, want.shape), want, rtol=1e-4, atol=1e-4)


def test_tada_equals_plain_convnext_at_init():
    keras.utils.set_random_seed(0)
    # layer_scale=1 so that the block branches are not scaled away.
    options = dict(num_classes=7, layer_scale=1.0)
    tada = tvm.create("tadaconvnext_tiny", **options)
    plain = tvm.create("tadaconvnext_tiny", adaptive=False, **options)
    for layer in plain.layers:
        if layer.weights:
            target = tada.get_layer(layer.name)
            if isinstance(target, TAdaConv2D):
                target.kernel.assign(layer.kernel)
                target.bias.assign(layer.bias)
            else:
                target.set_weights(layer.get_weights())
    clip = _clip(batch=2)
    want = np.asarray(plain(clip))
    np.testing.assert_allclose(tada(clip), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    _perturb_routes(tada)
    assert np.abs(np.asarray(tada(clip)) - want).max() > 1e-3 * np.abs(want).max()


def test_drop_path_drops_whole_clips():
    x = np.ones((4 * 3, 2, 2, 5), "float32")  # 4 clips of 3 frames
    layer = DropPath(0.5, num_frames=3, seed=1)
    np.testing.assert_array_equal(layer(x), x)  # inference: identity
    y = np.asarray(layer(x, training=True)).reshape(4, -1)
    kept = y[:, 0] > 0
    np.testing.assert_array_equal(y[kept], 2.0)
    np.testing.assert_array_equal(y[~kept], 0.0)
    with pytest.raises(ValueError, match="rate"):
        DropPath(1.0)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="input_size"):
        tvm.create("tadaconvnext_tiny", input_size=72)
    with pytest.raises(ValueError, match="depths and dims"):
        tvm.create("tadaconvnext_tiny", depths=(1, 1))
    with pytest.raises(ValueError, match="stem_kernel_frames"):
        tvm.create("tadaconvnext_tiny", stem_kernel_frames=2)
