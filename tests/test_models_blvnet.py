"""bLVNet-TAM models: paper sizes, big-little structure, TAM, shortcut quirk, export."""

import keras
import numpy as np
import pytest

import tfvideo.models as tvm
from tfvideo.models.blvnet import FrameRepeat, FrameSubsample
from tfvideo.profile import count_macs


def _trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _clip(num_frames=16, size=64, batch=1, seed=0):
    return (
        np.random.default_rng(seed)
        .uniform(0, 255, (batch, num_frames, size, size, 3))
        .astype("float32")
    )


def _tiny(**options):
    """The tiny model with non-degenerate weights: BN gammas 1 (bn3 is zero-initialised),
    random BN statistics, and a classifier large enough for differences to show."""
    keras.utils.set_random_seed(1)
    model = tvm.create("blvnet_tam_tiny", num_classes=6, **options)
    rng = np.random.default_rng(2)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, c))
            layer.beta.assign(rng.normal(0, 0.1, c))
            layer.moving_mean.assign(rng.normal(0, 0.1, c))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, c))
    fc = model.get_layer("new_fc")
    fc.kernel.assign(rng.normal(0, 0.1, fc.kernel.shape))
    return model


# Paper / reference sizes (papers.md §3.3, 174 SSv1/v2 classes, 224x224).
@pytest.mark.parametrize(
    "name,frames,params,gmacs",
    [
        ("blvnet_tam_r50", 16, 25.02e6, 23.85),
        ("blvnet_tam_r101", 48, 40.18e6, 96.45),
    ],
)
def test_paper_params_and_macs(name, frames, params, gmacs):
    model = tvm.create(name, num_frames=frames)
    assert model.output_shape == (None, 174)
    assert _trainable_params(model) == pytest.approx(params, rel=0.002)
    assert model.count_params() == pytest.approx(params, rel=0.02)
    assert count_macs(model) / 1e9 == pytest.approx(gmacs, rel=0.02)


def test_registry_defaults():
    r50 = tvm.defaults("blvnet_tam_r50")
    assert (r50["num_classes"], r50["num_frames"], r50["input_size"]) == (174, 16, 224)
    assert r50["mean"] == (0.485, 0.456, 0.406) and r50["std"] == (0.229, 0.224, 0.225)
    assert tvm.defaults("blvnet_tam_r101")["num_frames"] == 48
    assert {"blvnet_tam_r50", "blvnet_tam_r101", "blvnet_tam_tiny"} <= set(tvm.available("blvnet"))


def test_r101_stage_depths_and_8x2_macs():
    r101 = tvm.create("blvnet_tam_r101", num_frames=16)
    # depth 101 is [4, 8, 18, 3]: big branches of 3 / 7 / 17 blocks, little 1 / 1 / 3.
    names = {layer.name for layer in r101.layers}
    for stage, big, little in ((1, 3, 1), (2, 7, 1), (3, 17, 3)):
        assert f"layer{stage}_big_{big - 1}_conv3" in names
        assert f"layer{stage}_big_{big}_conv3" not in names
        assert f"layer{stage}_little_{little - 1}_conv3" in names
        assert f"layer{stage}_little_{little}_conv3" not in names
    assert "layer4_2_conv3" in names and "layer4_3_conv3" not in names
    # MACs are linear in the frames: 8x2 is a third of the 24x2 table row.
    assert count_macs(r101) / 1e9 == pytest.approx(32.15, rel=0.02)


def test_resolution_trace_at_224():
    model = tvm.create("blvnet_tam_r50")
    size = {
        name: model.get_layer(name).output.shape[1]
        for name in (
            "bn1",
            "layer0_duplicate",
            "layer1_big_1_add",
            "layer1_little_e_1",
            "layer1_duplicate",
            "layer2_big_2_add",
            "layer2_duplicate",
            "layer3_big_4_add",
            "layer3_little_e_1",
            "layer3_duplicate",
            "layer4_2_relu",
        )
    }
    assert size == {
        "bn1": 112,
        "layer0_duplicate": 56,
        "layer1_big_1_add": 28,
        "layer1_little_e_1": 56,
        "layer1_duplicate": 28,
        "layer2_big_2_add": 14,
        "layer2_duplicate": 14,
        "layer3_big_4_add": 7,
        "layer3_little_e_1": 14,
        "layer3_duplicate": 14,
        "layer4_2_relu": 7,
    }
    # All 2T frames run through the big-little stages, T big frames through layer4.
    assert model.get_layer("layer4_big_frames").offset == 1
    assert model.get_layer("layer4_0_tam").num_frames == 8
    assert model.get_layer("layer3_tam").num_frames == 16


def test_frame_subsample_and_repeat_match_numpy():
    x = np.random.default_rng(0).normal(size=(2 * 6, 3, 2, 4)).astype("float32")
    clips = x.reshape(2, 6, 3, 2, 4)
    np.testing.assert_array_equal(FrameSubsample(2, 1)(x), clips[:, 1::2].reshape(6, 3, 2, 4))
    np.testing.assert_array_equal(FrameSubsample(2, 0)(x), clips[:, 0::2].reshape(6, 3, 2, 4))
    np.testing.assert_array_equal(FrameRepeat(2)(x), np.repeat(x, 2, axis=0))
    with pytest.raises(ValueError, match="offset"):
        FrameSubsample(2, 2)


def test_fused_maps_are_written_to_both_frames_of_each_pair():
    model = _tiny()
    probe = keras.Model(
        model.input, [model.get_layer(f"layer{i}_duplicate").output for i in (0, 1, 2, 3)]
    )
    for fused in probe(_clip()):
        fused = np.asarray(fused)
        np.testing.assert_array_equal(fused[0::2], fused[1::2])
        assert not np.allclose(fused[0::2][0], fused[0::2][1])


def test_big_branch_is_odd_frames_and_upsampling_is_nearest():
    model = _tiny()
    clip = _clip()
    probe = keras.Model(
        model.input,
        [
            model.get_layer("tam").output,
            model.get_layer("layer0_big_frames").output,
            model.get_layer("layer0_little_frames").output,
            model.get_layer("layer1_upsample").input,
            model.get_layer("layer1_upsample").output,
        ],
    )
    tam, big, little, big_out, upsampled = (np.asarray(t) for t in probe(clip))
    np.testing.assert_array_equal(big, tam[1::2])
    np.testing.assert_array_equal(little, tam[0::2])
    np.testing.assert_array_equal(upsampled, big_out.repeat(2, axis=1).repeat(2, axis=2))


def test_shortcut_quirk_projection_sees_tam_output():
    quirk = tvm.create("blvnet_tam_tiny")
    block_tam = quirk.get_layer("layer4_0_tam")
    pool_pad = quirk.get_layer("layer4_0_downsample_0_pad")
    assert pool_pad.input is block_tam.output
    fixed = tvm.create("blvnet_tam_tiny", shortcut_after_tam=False)
    assert (
        fixed.get_layer("layer4_0_downsample_0_pad").input is fixed.get_layer("layer4_0_tam").input
    )
    # Identity shortcuts (no projection) always take the block input, before TAM.
    add_inputs = quirk.get_layer("layer4_1_add").input
    assert add_inputs[1] is quirk.get_layer("layer4_1_tam").input


def test_avg_pool_shortcut_counts_padding_like_pytorch():
    model = _tiny()
    pad = model.get_layer("layer4_0_downsample_0_pad")
    pool = model.get_layer("layer4_0_downsample_0")
    x = np.random.default_rng(3).uniform(size=(1, 4, 4, 2)).astype("float32")
    got = np.asarray(pool(pad(x)))
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    want = np.stack(
        [
            np.stack(
                [padded[0, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].sum((0, 1)) / 9 for j in range(2)]
            )
            for i in range(2)
        ]
    )[None]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_tam_makes_the_model_sensitive_to_frame_order():
    model = _tiny()
    clip = _clip(batch=1)
    reversed_clip = clip[:, ::-1]
    # Permuting whole (little, big) pairs keeps each frame's role; only TAM sees the change.
    pairs = clip.reshape(1, 8, 2, 64, 64, 3)
    permuted = pairs[:, np.random.default_rng(0).permutation(8)].reshape(clip.shape)
    out, out_rev, out_perm = (np.asarray(model(c)) for c in (clip, reversed_clip, permuted))
    assert np.abs(out - out_rev).max() > 1e-3 * np.abs(out).max()
    assert np.abs(out - out_perm).max() > 1e-3 * np.abs(out).max()
    # With identity TAMs (curr = 1, prev = next = 0; inputs are post-ReLU) every frame is
    # processed on its own and the logits are averaged: pair order no longer matters.
    for layer in model.layers:
        if layer.name.split("_")[-1] == "tam":
            kernel = np.zeros(layer.kernel.shape, "float32")
            kernel[1] = 1.0
            layer.kernel.assign(kernel)
    np.testing.assert_allclose(model(clip), model(permuted), rtol=1e-4, atol=1e-6)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="num_frames"):
        tvm.create("blvnet_tam_tiny", num_frames=15)
    with pytest.raises(ValueError, match="input_size"):
        tvm.create("blvnet_tam_tiny", input_size=80)
    with pytest.raises(ValueError, match="depth"):
        tvm.create("blvnet_tam_r50", depth=34)
