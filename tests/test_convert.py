"""Checkpoint reading, layout detection, strictness and the `tfvideo convert` command.

These run without PyTorch: the checkpoints are torchvision-layout numpy state dicts written from a
tiny model (`resnet_state_dict`), whose layout one test checks against torchvision's own ResNets
(skipped without torchvision). Numerical parity with PyTorch is in test_convert_parity.py.
"""

import importlib.util
import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from model_helpers import random_clip, randomize_zero_initialised_weights, relative_error

import tfvideo
from tfvideo import cli
from tfvideo.convert import (
    ConversionError,
    detect_source,
    load_torch_state_dict,
    model_family,
    read_checkpoint,
    resnet_state_dict,
    unwrap_state_dict,
)
from tfvideo.models import common


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
    for wrapped in (
        {"model_state": {"fc.weight": weight}, "epoch": 3, "cfg": "..."},
        {"state_dict": {"module.fc.weight": weight}, "arch": "x"},
        {"model": {"module.module.fc.weight": weight}},
        {"state_dict": {"model": {"fc.weight": weight}}},
    ):
        assert list(unwrap_state_dict(wrapped)) == ["fc.weight"]
    state = unwrap_state_dict(
        {"bn.running_mean": np.zeros(2), "bn.num_batches_tracked": np.array(3)}
    )
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


@pytest.mark.parametrize(
    "keys, source",
    [
        (["conv1.weight", "layer1.0.conv1.weight", "fc.weight"], "torchvision_resnet"),
        (["base_model.layer1.0.conv1.net.weight", "new_fc.weight"], "tsm"),
        (["backbone.conv1.a.weight", "backbone.conv2.res_1.conv_branch.b_rf.g.weight"], "tada2d"),
        (
            ["backbone.downsample_layers.0.0.weight", "backbone.stages.0.0.dwconv_rf.a.weight"],
            "tadaconvnext",
        ),
        (
            [
                "backbone.downsample_layers.0.0.weight",
                "backbone.stages.0.0.dwconv_rf.qkv_proj.weight",
                "backbone.stages.0.0.norm_avgpool.weight",
            ],
            "tadaconvnextv2",
        ),
        (["baseline_model.b_conv0.weight", "baseline_model.layer1.tam.prev.weight"], "blvnet_tam"),
        (["features.0.0.0.weight", "classifier.1.weight"], "torchvision_s3d"),
    ],
)
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


# torchvision's own ResNets, in a subprocess (torchvision and TensorFlow do not share a process
# here): their state_dict keys and shapes, and their logits with the weights that
# `resnet_state_dict` wrote from a Keras model, TSN-style (per-frame logits averaged).
TORCHVISION_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np, torch, torchvision
    from torchvision.models.resnet import Bottleneck, ResNet

    folder = sys.argv[1]
    builders = {"bottleneck_1111": lambda: ResNet(Bottleneck, [1, 1, 1, 1], num_classes=5),
                "resnet18": lambda: torchvision.models.resnet18(num_classes=5)}
    report = {}
    for case, build in builders.items():
        model = build().eval()
        data = np.load(f"{folder}/{case}.npz")
        shapes = {k: list(v.shape) for k, v in model.state_dict().items()
                  if not k.endswith("num_batches_tracked")}
        state = {k[3:]: torch.from_numpy(data[k]) for k in data.files if k.startswith("sd/")}
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        clip = data["clip"]  # [1, T, H, W, 3] in [0, 255]
        mean = np.array([0.485, 0.456, 0.406], "float32")
        std = np.array([0.229, 0.224, 0.225], "float32")
        frames = torch.from_numpy(((clip[0] / 255.0 - mean) / std).astype("float32"))
        with torch.no_grad():
            logits = model(frames.permute(0, 3, 1, 2).contiguous()).mean(0, keepdim=True)
        report[case] = {"shapes": shapes, "missing": missing, "unexpected": list(unexpected),
                        "logits": logits.numpy().tolist()}
    print(json.dumps(report))
""")


def test_resnet_state_dict_is_torchvisions_layout(tmp_path):
    """`resnet_state_dict` writes torchvision's own keys and shapes (checked against
    torchvision's ResNet, not against the project's loader), and torchvision's ResNet with
    those weights gives the Keras model's logits."""
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed")
    keras_logits, states = {}, {}
    for case, depth in (("bottleneck_1111", (1, 1, 1, 1)), ("resnet18", 18)):
        model = tfvideo.models.create(
            "tsn_r50", num_classes=5, num_frames=2, input_size=64, depth=depth
        )
        randomize_zero_initialised_weights(model, seed=7)
        clip = random_clip(model, seed=7)
        keras_logits[case] = model(clip, training=False).numpy()
        states[case] = resnet_state_dict(model)
        np.savez(
            tmp_path / f"{case}.npz", clip=clip, **{f"sd/{k}": v for k, v in states[case].items()}
        )
        keras.backend.clear_session()
    result = subprocess.run(
        [sys.executable, "-c", TORCHVISION_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for case, state in states.items():
        torch_side = report[case]
        assert not torch_side["missing"] and not torch_side["unexpected"], case
        assert {k: list(v.shape) for k, v in state.items()} == torch_side["shapes"], case
        error = relative_error(torch_side["logits"], keras_logits[case])
        assert error < 1e-4, (case, error)


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
    for text in (
        "layer2.0.conv2.weight",
        "bn1.running_var",
        "layer9.0.conv1.weight",
        "fc.weight (7, 128)",
        "missing checkpoint keys (2)",
        "unexpected checkpoint keys (1)",
        "shape mismatches (1)",
    ):
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


def test_tadaconvnext_v1_and_v2_layouts_do_not_cross():
    v2_keys = {"backbone.stages.0.0.dwconv_rf.qkv_proj.weight": np.zeros((24, 8, 1, 1, 1))}
    v1 = tfvideo.models.create("tadaconvnext_tiny", num_classes=5, num_frames=4, input_size=32)
    with pytest.raises(ValueError, match="'tadaconvnextv2' checkpoint .* does not load"):
        load_torch_state_dict(v1, v2_keys)
    v1_keys = {"backbone.stages.0.0.dwconv_rf.g.weight": np.zeros((16, 16, 1, 1, 1))}
    v2 = tfvideo.models.create("tadaconvnextv2_tiny", num_classes=5, num_frames=4, input_size=32)
    with pytest.raises(ValueError, match="'tadaconvnext' checkpoint .* does not load"):
        load_torch_state_dict(v2, v1_keys)


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
    assert np.array_equal(
        resnet_state_dict(model)["layer3.0.conv1.weight"], state["layer3.0.conv1.weight"]
    )


def test_convert_command_writes_loadable_weights(tmp_path):
    state = torchvision_layout(seed=1)
    checkpoint, out = tmp_path / "r.npz", tmp_path / "tsn_tiny.weights.h5"
    np.savez(checkpoint, **{"module." + k: v for k, v in state.items()})
    code = cli.main(
        [
            "tfvideo",
            "convert",
            "--arch",
            "tsn_tiny",
            "--checkpoint",
            str(checkpoint),
            "--out",
            str(out),
            "--num_frames",
            "2",
        ]
    )
    assert code == 0
    model = tiny()
    model.load_weights(str(out))
    assert np.array_equal(resnet_state_dict(model)["fc.weight"], state["fc.weight"])


def test_convert_command_reports_a_bad_checkpoint(tmp_path, capsys):
    state = torchvision_layout()
    del state["layer4.0.conv3.weight"]
    checkpoint = tmp_path / "bad.npz"
    np.savez(checkpoint, **state)
    code = cli.main(
        [
            "tfvideo",
            "convert",
            "--arch",
            "tsn_tiny",
            "--checkpoint",
            str(checkpoint),
            "--out",
            str(tmp_path / "bad.weights.h5"),
        ]
    )
    assert code == 1
    assert "missing checkpoint keys (1): layer4.0.conv3.weight" in capsys.readouterr().err
    assert not (tmp_path / "bad.weights.h5").exists()


def test_pickled_training_checkpoints_need_allow_pickle(tmp_path):
    torch = pytest.importorskip("torch")
    import argparse

    path = tmp_path / "checkpoint.pth.tar"
    torch.save(
        {
            "state_dict": {"module.fc.weight": torch.ones(2, 3, dtype=torch.bfloat16)},
            "args": argparse.Namespace(lr=0.01),
        },
        path,
    )
    with pytest.raises(ValueError, match="allow_pickle"):
        read_checkpoint(path)
    state = read_checkpoint(path, allow_pickle=True)
    assert list(state) == ["fc.weight"] and state["fc.weight"].dtype == np.float32
