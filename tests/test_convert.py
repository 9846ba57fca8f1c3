"""Checkpoint reading, layout detection, strictness and the `tfvideo convert` command.

These run without PyTorch: the checkpoints are torchvision-layout numpy state dicts written from a
tiny model (`resnet_state_dict`). Numerical parity with PyTorch is in test_convert_parity.py.
"""

import keras
import numpy as np
import pytest

import tfvideo
from tfvideo import cli
from tfvideo.convert import (ConversionError, detect_source, load_torch_state_dict,
                             model_family, read_checkpoint, unwrap_state_dict)
from tfvideo.models import common
from tfvideo.models.resnet_weights import resnet_state_dict


def tiny(name="tsn_tiny", **options):
    return tfvideo.models.create(name, num_classes=5, num_frames=2, input_size=64, **options)


def weights_of(model):
    return [keras.ops.convert_to_numpy(v).copy() for v in model.weights]


def torchvision_layout(seed=0):
    """A torchvision-layout state dict (with BN buffers) for `tiny()`, random values."""
    rng = np.random.default_rng(seed)
    state = resnet_state_dict(tiny())
    keras.backend.clear_session()
    return {k: rng.normal(size=v.shape).astype("float32") for k, v in state.items()}


def test_unwrap_handles_wrappers_prefixes_and_buffers():
    weight = np.ones((2, 3), "float32")
    for wrapped in ({"model_state": {"fc.weight": weight}, "epoch": 3, "cfg": "..."},
                    {"state_dict": {"module.fc.weight": weight}, "arch": "x"},
                    {"model": {"module.module.fc.weight": weight}},
                    {"state_dict": {"model": {"fc.weight": weight}}}):
        assert list(unwrap_state_dict(wrapped)) == ["fc.weight"]
    state = unwrap_state_dict({"bn.running_mean": np.zeros(2),
                               "bn.num_batches_tracked": np.array(3)})
    assert list(state) == ["bn.running_mean"] and state["bn.running_mean"].dtype == np.float32
    ema = {"model_state": {"w": weight}, "model_ema_state": {"w": 2 * weight}}
    assert unwrap_state_dict(ema, ema=True)["w"][0, 0] == 2
    with pytest.raises(ValueError, match="model_ema_state"):
        unwrap_state_dict({"model_state": {"w": weight}}, ema=True)
    with pytest.raises(ValueError, match="no tensors"):
        unwrap_state_dict({"epoch": 1})


def test_read_checkpoint_npz_and_missing_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    np.savez(path, **{"module.conv1.weight": np.ones((4, 3, 7, 7))})
    assert read_checkpoint(path)["conv1.weight"].shape == (4, 3, 7, 7)
    with pytest.raises(FileNotFoundError):
        read_checkpoint(tmp_path / "nope.pth")


@pytest.mark.parametrize("keys, source", [
    (["conv1.weight", "layer1.0.conv1.weight", "fc.weight"], "torchvision_resnet"),
    (["base_model.layer1.0.conv1.net.weight", "new_fc.weight"], "tsm"),
    (["backbone.conv1.a.weight", "backbone.conv2.res_1.conv_branch.b_rf.g.weight"], "tada2d"),
    (["backbone.downsample_layers.0.0.weight", "backbone.stages.0.0.dwconv_rf.a.weight"],
     "tadaconvnext"),
    (["baseline_model.b_conv0.weight", "baseline_model.layer1.tam.prev.weight"], "blvnet_tam"),
    (["features.0.0.0.weight", "classifier.1.weight"], "torchvision_s3d"),
])
def test_detect_source(keys, source):
    assert detect_source(dict.fromkeys(keys)) == source


def test_detect_source_names_the_unknown_layout():
    with pytest.raises(ValueError, match="cannot tell"):
        detect_source({"encoder.weight": None})


def test_torchvision_resnet_round_trip_is_exact():
    state = torchvision_layout()
    model = tiny()
    report = load_torch_state_dict(model, state)
    assert report.source == "torchvision_resnet" and not report.left_at_init
    assert len(report.loaded_keys) == len(state)
    back = resnet_state_dict(model)
    assert all(np.array_equal(back[k], state[k]) for k in state)


def test_errors_list_every_problem_and_leave_the_model_unchanged():
    state = torchvision_layout()
    del state["layer2.0.conv2.weight"]
    del state["bn1.running_var"]
    state["layer9.0.conv1.weight"] = np.zeros((1, 1, 1, 1), "float32")
    state["fc.weight"] = np.zeros((7, 128), "float32")
    model = tiny()
    before = weights_of(model)
    with pytest.raises(ConversionError) as info:
        load_torch_state_dict(model, state)
    message = str(info.value)
    for text in ("layer2.0.conv2.weight", "bn1.running_var", "layer9.0.conv1.weight",
                 "fc.weight (7, 128)", "missing checkpoint keys (2)",
                 "unexpected checkpoint keys (1)", "shape mismatches (1)"):
        assert text in message, message
    assert all(np.array_equal(a, b) for a, b in zip(before, weights_of(model)))


def test_bn_epsilon_must_match_the_release():
    model = tiny()
    model.get_layer("layer1_0_bn2").epsilon = 1e-3
    with pytest.raises(ConversionError, match=r"layer1_0_bn2: BN epsilon is 0.001"):
        load_torch_state_dict(model, torchvision_layout())


def test_v1_stride_layout_is_rejected_before_loading():
    model = tiny(stride_on="1x1")
    with pytest.raises(ConversionError, match="stride_on='1x1'"):
        load_torch_state_dict(model, torchvision_layout())


def test_include_head_false_skips_and_reports_the_classifier():
    state = torchvision_layout()
    state["fc.weight"] = np.zeros((1000, 128), "float32")  # ImageNet classes into a 5-class model
    state["fc.bias"] = np.zeros((1000,), "float32")
    model = tiny()
    fc_before = weights_of(model.get_layer("fc"))
    report = load_torch_state_dict(model, state, include_head=False)
    assert report.ignored_keys == ["fc.bias", "fc.weight"]
    assert sorted(report.left_at_init) == ["fc/bias", "fc/kernel"]
    assert all(np.array_equal(a, b) for a, b in zip(fc_before, weights_of(model.get_layer("fc"))))


def test_imagenet_start_of_a_temporal_model_reports_the_new_modules():
    model = tiny("teinet_tiny")
    report = load_torch_state_dict(model, torchvision_layout())
    assert report.left_at_init and all("_tei" in name for name in report.left_at_init)


def test_family_and_normalisation_checks():
    model = tiny()
    assert model_family(model) == "resnet"
    with pytest.raises(ValueError, match="does not load into model"):
        load_torch_state_dict(model, {"baseline_model.b_conv0.weight": np.zeros(1)})
    tsm_layout = {"base_model." + k: v for k, v in torchvision_layout().items()}
    wrong = tiny("tsm_tiny", mean=common.TADA[0], std=common.TADA[1])
    with pytest.raises(ValueError, match="normalises with mean/std"):
        load_torch_state_dict(wrong, tsm_layout)


def test_tsm_layout_renames_shifted_convs():
    state = torchvision_layout()
    model = tiny("tsm_tiny")
    tsm = {}
    for key, value in state.items():
        key = "new_" + key if key.startswith("fc.") else "base_model." + key
        if key.startswith("base_model.layer") and key.endswith(".conv1.weight"):
            key = key.replace(".conv1.weight", ".conv1.net.weight")
        tsm[f"module.{key}"] = value
    report = load_torch_state_dict(model, {"state_dict": tsm})
    assert report.source == "tsm" and len(report.loaded_keys) == len(state)
    assert np.array_equal(resnet_state_dict(model)["layer3.0.conv1.weight"],
                          state["layer3.0.conv1.weight"])


def test_convert_command_writes_loadable_weights(tmp_path):
    state = torchvision_layout(seed=1)
    checkpoint, out = tmp_path / "r.npz", tmp_path / "tsn_tiny.weights.h5"
    np.savez(checkpoint, **{"module." + k: v for k, v in state.items()})
    code = cli.main(["tfvideo", "convert", "--arch", "tsn_tiny", "--checkpoint", str(checkpoint),
                     "--out", str(out), "--num_frames", "2"])
    assert code == 0
    model = tiny()
    model.load_weights(str(out))
    assert np.array_equal(resnet_state_dict(model)["fc.weight"], state["fc.weight"])


def test_convert_command_reports_a_bad_checkpoint(tmp_path, capsys):
    state = torchvision_layout()
    del state["layer4.0.conv3.weight"]
    checkpoint = tmp_path / "bad.npz"
    np.savez(checkpoint, **state)
    code = cli.main(["tfvideo", "convert", "--arch", "tsn_tiny", "--checkpoint", str(checkpoint),
                     "--out", str(tmp_path / "bad.weights.h5")])
    assert code == 1
    assert "missing checkpoint keys (1): layer4.0.conv3.weight" in capsys.readouterr().err
    assert not (tmp_path / "bad.weights.h5").exists()


def test_pickled_training_checkpoints_need_allow_pickle(tmp_path):
    torch = pytest.importorskip("torch")
    import argparse

    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"state_dict": {"module.fc.weight": torch.ones(2, 3, dtype=torch.bfloat16)},
                "args": argparse.Namespace(lr=0.01)}, path)
    with pytest.raises(ValueError, match="allow_pickle"):
        read_checkpoint(path)
    state = read_checkpoint(path, allow_pickle=True)
    assert list(state) == ["fc.weight"] and state["fc.weight"].dtype == np.float32
