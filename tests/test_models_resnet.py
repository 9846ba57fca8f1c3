"""TSN / TSM / TEINet on the shared 2D ResNet backbone: paper sizes, ImageNet 2D weights from
keras.applications, frame-order properties, and the .keras / TFLite round trips."""

import keras
import numpy as np
import pytest
from model_helpers import random_clip, randomize_batch_norms, relative_error  # noqa: F401

from tfvideo import models
from tfvideo.convert import load_torch_state_dict, resnet_state_dict
from tfvideo.models import resnet
from tfvideo.profile import count_macs, count_params

TINY = ["tsn_tiny", "tsm_tiny", "teinet_tiny"]


def trainable_params(model):
    """Parameters as PyTorch and the papers count them (BN moving statistics excluded)."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# ------------------------------------------------------------------------------------------
# Paper sizes: params (PyTorch count) and GMACs of one clip, 400 classes.


@pytest.mark.parametrize(
    "name,frames,size,params_m,gmacs",
    [
        ("tsn_r50", 8, 224, 24.33, 32.7),
        ("tsm_r50", 8, 224, 24.33, 32.7),
        ("teinet_r50", 8, 224, 30.36, 32.9),
        ("teinet_r50", 16, 224, 30.36, 65.8),
    ],
)
def test_paper_params_and_macs(name, frames, size, params_m, gmacs):
    model = models.create(name, num_classes=400, num_frames=frames, input_size=size)
    assert trainable_params(model) / 1e6 == pytest.approx(params_m, rel=0.002)
    assert count_params(model) / 1e6 == pytest.approx(params_m, rel=0.02)  # + BN statistics
    assert count_macs(model) / 1e9 == pytest.approx(gmacs, rel=0.005)


def test_resnet18_and_50_backbones_match_torchvision_sizes():
    # torchvision resnet18 / resnet50: 11,689,512 / 25,557,032 params with a 1000-way fc.
    for depth, expected in ((18, 11_689_512 - 513_000), (50, 25_557_032 - 2_049_000)):
        inputs = keras.Input((64, 64, 3))
        backbone = keras.Model(inputs, resnet.resnet_backbone(inputs, depth=depth))
        assert trainable_params(backbone) == expected
        assert backbone.output.shape == (None, 2, 2, 512 if depth == 18 else 2048)


def test_stem_uses_pytorch_symmetric_padding():
    inputs = keras.Input((8, 8, 1))
    backbone = keras.Model(inputs, resnet.resnet_backbone(inputs, depth=(1, 1, 1, 1), width=1))
    conv = backbone.get_layer("conv1")
    kernel = np.zeros(conv.kernel.shape, "float32")
    kernel[3, 3, 0, 0] = 1.0  # centre tap: output (i, j) reads input (2i, 2j) with padding 3
    conv.kernel.assign(kernel)
    image = np.arange(64, dtype="float32").reshape(1, 8, 8, 1)
    stem = keras.Model(inputs, backbone.get_layer("conv1").output)(image).numpy()
    np.testing.assert_array_equal(stem[0, :, :, 0], image[0, ::2, ::2, 0])


def test_temporal_every_places_the_shift_in_every_nth_block():
    assert models.defaults("tsm_r101")["temporal_every"] == 2  # TSM reference, n_round = 2
    assert models.defaults("tsm_r50").get("temporal_every", 1) == 1
    model = models.create("tsm_tiny", num_classes=5, depth=(2, 2, 3, 1), temporal_every=2)
    shifted = sorted(layer.name for layer in model.layers if layer.name.endswith("_shift"))
    assert shifted == [
        "layer1_0_shift",
        "layer2_0_shift",
        "layer3_0_shift",
        "layer3_2_shift",
        "layer4_0_shift",
    ]


def test_invalid_options_raise():
    inputs = keras.Input((32, 32, 3))
    with pytest.raises(ValueError, match="depth"):
        resnet.resnet_backbone(inputs, depth=42)
    with pytest.raises(ValueError, match="stride_on"):
        resnet.resnet_backbone(inputs, stride_on="7x7")
    with pytest.raises(ValueError, match="basic blocks"):
        resnet.resnet_backbone(inputs, depth=18, conv3x3_fn=lambda x, f, s, n: x)
    with pytest.raises(ValueError, match="temporal"):
        resnet.video_resnet(5, 8, 64, name="x", temporal="nonlocal")


# ------------------------------------------------------------------------------------------
# ImageNet weights from keras.applications (v1 layout) without a download.


@pytest.fixture(scope="module")
def keras_resnet50():
    source = keras.applications.ResNet50(
        weights=None, include_top=False, pooling="avg", input_shape=(64, 64, 3)
    )
    randomize_batch_norms(source)
    return source


def _features(model, clip):
    return keras.Model(model.input, model.get_layer("avgpool").output)(clip).numpy()


def test_tsn_r50_from_keras_applications_reproduces_2d_features(keras_resnet50, tmp_path):
    clip = np.random.default_rng(1).uniform(0, 255, (1, 2, 64, 64, 3)).astype("float32")
    expected = keras_resnet50(keras.applications.resnet50.preprocess_input(clip[0].copy()))
    expected = np.asarray(expected)
    model = models.create(
        "tsn_r50",
        num_frames=2,
        input_size=64,
        stride_on="1x1",
        mean=resnet.CAFFE[0],
        std=resnet.CAFFE[1],
    )
    report = load_torch_state_dict(model, keras_resnet50, include_head=False)
    assert len(report["loaded"]) == 106 and not report["unused"]  # 53 convs + 53 BNs
    assert relative_error(_features(model, clip), expected) < 1e-4
    # The same from a weights file.
    path = tmp_path / "resnet50.weights.h5"
    keras_resnet50.save_weights(path)
    fresh = models.create(
        "tsn_r50",
        num_frames=2,
        input_size=64,
        stride_on="1x1",
        mean=resnet.CAFFE[0],
        std=resnet.CAFFE[1],
    )
    load_torch_state_dict(fresh, path, include_head=False)
    assert relative_error(_features(fresh, clip), expected) < 1e-4


def test_keras_applications_weights_rejected_by_a_v1_5_model(keras_resnet50):
    model = models.create("tsn_r50", num_frames=2, input_size=64)  # stride on the 3x3
    with pytest.raises(ValueError, match="stride_on='1x1'"):
        load_torch_state_dict(model, keras_resnet50, include_head=False)
    report = load_torch_state_dict(model, keras_resnet50, include_head=False, strict=False)
    assert len(report["loaded"]) == 106


def test_state_dict_round_trip_and_torch_layout():
    source = models.create("teinet_tiny", num_classes=5)
    randomize_batch_norms(source)
    state = resnet_state_dict(source)
    assert state["conv1.weight"].shape == (16, 3, 7, 7)  # PyTorch [out, in, kh, kw]
    assert state["layer1.0.downsample.0.weight"].shape == (64, 16, 1, 1)
    assert state["fc.weight"].shape == (5, 512)
    target = models.create("teinet_tiny", num_classes=5)
    for mem, other in zip(source.weights, target.weights):  # temporal modules are not 2D weights
        if "tei" in mem.path:
            other.assign(mem)
    load_torch_state_dict(target, state)
    clip = random_clip(source, seed=2)
    np.testing.assert_allclose(
        target(clip, training=False), source(clip, training=False), rtol=1e-6, atol=1e-6
    )
    state["layer9.0.conv1.weight"] = state["conv1.weight"]
    with pytest.raises(ValueError, match="layer9_0_conv1"):
        load_torch_state_dict(target, state, include_head=False)


# ------------------------------------------------------------------------------------------
# Temporal properties, serialisation and TFLite on the tiny variants.


@pytest.fixture(scope="module", params=TINY)
def tiny(request):
    model = models.create(request.param, num_classes=5)
    randomize_batch_norms(model)
    fc = model.get_layer("fc")
    fc.kernel.assign(np.random.default_rng(3).normal(0, 0.1, fc.kernel.shape))
    clip = random_clip(model, batch=2)
    return request.param, model, clip, model(clip, training=False).numpy()


def test_tiny_defaults_and_logit_shape(tiny):
    name, model, clip, logits = tiny
    assert models.defaults(name)["input_size"] == 64 and models.defaults(name)["num_frames"] == 8
    assert logits.shape == (2, 5)
    assert model.get_layer("layer4_0_out").output.shape[1:3] == (4, 4)  # 64 px -> 4 x 4


def test_frame_order_matters_except_for_tsn(tiny):
    name, model, clip, logits = tiny
    permuted = clip[:, np.random.default_rng(4).permutation(8)]
    difference = relative_error(model(permuted, training=False).numpy(), logits)
    if name.startswith("tsn"):
        assert difference < 1e-5  # TSN: average of independent frames
    else:
        assert difference > 1e-3  # TSM shift / TEI mix frames
