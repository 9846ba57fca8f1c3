"""TAda2D: paper sizes, equality with its 2D ResNet at initialisation, temporal sensitivity once
the zero-initialised temporal weights move, and the .keras / TFLite round trips."""

import keras
import numpy as np
import pytest
from model_helpers import random_clip, randomize_batch_norms, relative_error
from test_models_resnet import trainable_params

from tfvideo import layers as video_layers
from tfvideo import models
from tfvideo.convert import load_torch_state_dict, resnet_state_dict
from tfvideo.profile import count_macs, count_params


@pytest.mark.parametrize("frames,gmacs", [(8, 43.1), (16, 86.3)])
def test_paper_params_and_macs_at_256(frames, gmacs):
    model = models.create("tada2d_r50", num_classes=400, num_frames=frames, input_size=256)
    assert trainable_params(model) / 1e6 == pytest.approx(27.49, rel=0.002)
    assert count_params(model) / 1e6 == pytest.approx(27.49, rel=0.02)
    assert count_macs(model) / 1e9 == pytest.approx(gmacs, rel=0.005)
    assert_tada2d_r50_layout(model)


def assert_tada2d_r50_layout(model):
    names = {layer.name for layer in model.layers}
    assert "maxpool" not in names
    for stage in (1, 2, 3, 4):  # every stage, res2 included, strides on its first 3x3
        conv = model.get_layer(f"layer{stage}_0_conv2")
        assert isinstance(conv, video_layers.TAdaConv2D)
        assert tuple(conv.strides) == (2, 2) and conv.padding == 1
        assert conv.calibration == "cin" and conv.route_reduction == 4
        assert tuple(model.get_layer(f"layer{stage}_0_downsample_0").strides) == (2, 2)
        assert isinstance(model.get_layer(f"layer{stage}_0_bn2"), video_layers.TAdaAggregation)
    assert model.get_layer("layer4_2_out").output.shape[1:3] == (8, 8)  # 256 / 32


def _tada_and_2d_twin(seed=0):
    """tada2d_tiny and its 2D counterpart sharing random 2D weights and BN statistics."""
    plain = models.create("tada2d_tiny", num_classes=5, temporal=False)
    randomize_batch_norms(plain, seed)
    fc = plain.get_layer("fc")
    fc.kernel.assign(np.random.default_rng(seed).normal(0, 0.1, fc.kernel.shape))
    tada = models.create("tada2d_tiny", num_classes=5)
    report = load_torch_state_dict(tada, resnet_state_dict(plain))
    assert len(report["loaded"]) == 2 * 17 + 1  # 17 convs + 17 BNs, fc
    return tada, plain


def test_tada2d_equals_its_2d_resnet_at_initialisation():
    tada, plain = _tada_and_2d_twin()
    clip = random_clip(tada, batch=2)
    expected = plain(clip, training=False).numpy()
    assert relative_error(tada(clip, training=False).numpy(), expected) < 1e-5
    # The check can fail: once a route's last (zero-initialised) conv moves, alpha != 1.
    route_b = tada.get_layer("layer2_0_conv2").route.b.kernel
    route_b.assign(np.random.default_rng(1).normal(0, 0.1, route_b.shape))
    assert relative_error(tada(clip, training=False).numpy(), expected) > 1e-3


def randomize_temporal_weights(model, seed=0):
    """Moves TAda's zero-initialised weights (route `b`, aggregation `avgpool_bn`)."""
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        value = keras.ops.convert_to_numpy(weight)
        if ("route" in weight.path and "/b/" in weight.path) or "avgpool_bn/gamma" in weight.path:
            assert not np.any(value), weight.path  # zero at init, as in the paper
            weight.assign(rng.normal(0, 0.2, value.shape))


@pytest.fixture(scope="module")
def tiny():
    tada, _ = _tada_and_2d_twin(seed=2)
    clip = random_clip(tada, batch=2, seed=5)
    permuted = clip[:, np.random.default_rng(4).permutation(8)]
    at_init = [tada(x, training=False).numpy() for x in (clip, permuted)]
    randomize_temporal_weights(tada)
    trained = [tada(x, training=False).numpy() for x in (clip, permuted)]
    return tada, clip, at_init, trained


def test_frame_order_invariant_at_init_but_not_once_temporal_weights_move(tiny):
    _, _, (at_init, at_init_permuted), (logits, permuted) = tiny
    assert relative_error(at_init_permuted, at_init) < 1e-5  # = 2D net averaged over frames
    assert relative_error(logits, at_init) > 1e-3
    assert relative_error(permuted, logits) > 1e-3
