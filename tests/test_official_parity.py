"""Opt-in parity with the authors' own PyTorch code: official model -> tfvideo.convert -> Keras.

Each test builds an official model from a local checkout named by an environment variable,

    TFVIDEO_TADACONV_REPO  alibaba-mmai-research/TAdaConv        (TAda2D-R50, TAdaConvNeXtV2-T)
    TFVIDEO_BLVNET_REPO    IBM/bLVNet-TAM                        (bLVNet-TAM-50)
    TFVIDEO_TSM_REPO       mit-han-lab/temporal-shift-module     (TSM-R50, blockres shift 1/8)

gives it random weights and random BN statistics (calibrated to the test clip, so that every
block matters: zeroing an early block must move the logits by > 100x the tolerance), converts
its `state_dict()` with `tfvideo.convert.load_torch_state_dict` and requires the Keras logits
to match the official ones within 1e-4 of the logit scale (max |keras - torch| <= 1e-4 *
max |torch|). Without the variable the test is skipped:

    TFVIDEO_TADACONV_REPO=~/src/TAdaConv python -m pytest tests/test_official_parity.py

Nothing of the official code is part of tfvideo: it is imported from the checkout, in a
subprocess (this file run as a script: torchvision, which TSM imports, crashes when TensorFlow
is loaded first) that saves the state dict, the clip and the official logits.
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch", reason="the official-parity tests need PyTorch (pip install torch)")

RELATIVE_TOLERANCE = 1e-4
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
TADA = ((0.45, 0.45, 0.45), (0.225, 0.225, 0.225))
NUM_CLASSES = 10

# The official repository of each variable, and the folder name a checkout usually has.
REPOSITORIES = {
    "TFVIDEO_TADACONV_REPO": ("alibaba-mmai-research/TAdaConv", "TAdaConv"),
    "TFVIDEO_BLVNET_REPO": ("IBM/bLVNet-TAM", "bLVNet-TAM"),
    "TFVIDEO_TSM_REPO": ("mit-han-lab/temporal-shift-module", "temporal-shift-module"),
}

# case -> (environment variable, tfvideo model, converter source, frames, size, mean/std)
CASES = {
    "tada2d": ("TFVIDEO_TADACONV_REPO", "tada2d_r50", "tada2d", 8, 64, TADA),
    "tadaconvnextv2": (
        "TFVIDEO_TADACONV_REPO",
        "tadaconvnextv2_t",
        "tadaconvnextv2",
        8,
        64,
        TADA,
    ),
    "blvnet_tam": ("TFVIDEO_BLVNET_REPO", "blvnet_tam_r50", "blvnet_tam", 8, 64, IMAGENET),
    "tsm": ("TFVIDEO_TSM_REPO", "tsm_r50", "tsm", 8, 64, IMAGENET),
}


# ---------------------------------------------------------------------------------------------
# The subprocess: official model, random weights, logits.


def _official_tadaconv(config, checkout, frames):
    """A model of the TAdaConv repository, built by its own config system from `config`."""
    import tempfile
    import types

    sys.modules.setdefault("oss2", types.ModuleType("oss2"))  # cloud storage, unused
    os.chdir(checkout)
    sys.path.insert(0, checkout)
    sys.argv = [
        "parity",
        "--cfg",
        config,
        "OUTPUT_DIR",
        tempfile.mkdtemp(),
    ]
    from tadaconv.models.base.builder import build_model
    from tadaconv.utils.config import Config

    cfg = Config(load=True)
    cfg.NUM_GPUS, cfg.NUM_SHARDS = 0, 1
    cfg.VIDEO.HEAD.NUM_CLASSES, cfg.DATA.NUM_INPUT_FRAMES = NUM_CLASSES, frames
    model, _ = build_model(cfg)
    # The release's head ends with a softmax in eval mode; parity is on the logits before it.
    model.head.activation = __import__("torch").nn.Identity()

    def forward(video):  # [B, T, 3, H, W] -> [B, 3, T, H, W]; the head returns (out, features)
        return model(video.permute(0, 2, 1, 3, 4).contiguous())[0]

    return model, forward


def _official_blvnet(checkout, frames):
    sys.path.insert(0, checkout)
    from core.models.blvnet_tam import bLVNet_TAM

    model = bLVNet_TAM(
        dict(
            depth=50,
            alpha=2,
            beta=4,
            groups=frames,
            blending_frames=3,
            input_channels=3,
            imagenet_blnet_pretrained=False,
            blending_method="sum",
            partial_freeze_bn=False,
            dropout=0.5,
            num_classes=NUM_CLASSES,
            dataset="st2stv2",
            pretrained=False,
        )
    )
    return model, lambda video: model(video.flatten(1, 2))  # [B, T*3, H, W]


def _official_tsm(checkout, frames):
    sys.path.insert(0, checkout)
    from ops.models import TSN

    model = TSN(
        NUM_CLASSES,
        frames,
        "RGB",
        base_model="resnet50",
        consensus_type="avg",
        dropout=0.5,
        partial_bn=False,
        print_spec=False,
        pretrain="",
        is_shift=True,
        shift_div=8,
        shift_place="blockres",
    )
    return model, lambda video: model(video.flatten(1, 2))  # [B, T*3, H, W]


def _official_tada2d(checkout, frames):
    return _official_tadaconv("configs/projects/tada/k400/tada2d_8x8.yaml", checkout, frames)


def _official_tadaconvnextv2(checkout, frames):
    config = "configs/projects/tadaconvnextv2/tadaconvnextv2_tiny_k400_16f.yaml"
    return _official_tadaconv(config, checkout, frames)


OFFICIAL = {
    "tada2d": _official_tada2d,
    "tadaconvnextv2": _official_tadaconvnextv2,
    "blvnet_tam": _official_blvnet,
    "tsm": _official_tsm,
}

# An early block of each official model (its first temporal module, or the conv it wraps): zeroing
# it must move the logits far beyond the tolerance, or a wrongly converted early block would pass.
EARLY_BLOCK = {
    "tada2d": "backbone.conv2.res_1.conv_branch.b_rf",
    "tadaconvnextv2": "backbone.stages.0.0.dwconv_rf",
    "blvnet_tam": "baseline_model.tam",
    "tsm": "base_model.layer1.0.conv1.net",
}


def block_effect(model, forward, video, name, logits):
    """max |change of the logits| when the named submodule's parameters are zeroed."""
    import torch

    block = dict(model.named_modules())[name]
    saved = {k: v.clone() for k, v in block.state_dict().items()}
    with torch.no_grad():
        for parameter in block.parameters():
            parameter.zero_()
        effect = float(np.abs(forward(video).numpy() - logits).max())
    block.load_state_dict(saved)
    return effect


def randomize(model, forward, video, seed=0):
    """Random BN affine parameters, random values for constant-initialised tensors (zero-init
    convs, unit scales), then BN running statistics := the clip's batch statistics (variance
    floored at the layer mean), as a trained network's are, so no block fades below the
    tolerance."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in norms:
            m.weight.copy_(0.5 + 0.5 * torch.rand(m.weight.shape, generator=generator))
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=generator))
        for p in model.parameters():
            if p.numel() > 1 and float(p.std()) == 0.0:
                if float(p.abs().max()) > 0:
                    p.copy_(0.5 + torch.rand(p.shape, generator=generator))
                else:
                    p.copy_(0.2 * torch.randn(p.shape, generator=generator))
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.momentum = 1.0
        model.train()
        forward(video)
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
            m.running_var.clamp_(min=float(m.running_var.mean()))
    return model.eval()


def write_official(case, checkout, out_path):
    import torch

    _, _, _, frames, size, (mean, std) = CASES[case]
    clip = np.random.default_rng(0).uniform(0, 255, (1, frames, size, size, 3)).astype("float32")
    normalized = (clip / 255.0 - np.asarray(mean, "float32")) / np.asarray(std, "float32")
    video = torch.from_numpy(normalized.astype("float32")).permute(0, 1, 4, 2, 3).contiguous()
    torch.manual_seed(0)
    model, forward = OFFICIAL[case](os.path.abspath(os.path.expanduser(checkout)), frames)
    randomize(model, forward, video)
    with torch.no_grad():
        logits = forward(video).numpy()
    effect = block_effect(model, forward, video, EARLY_BLOCK[case], logits)
    state = {f"sd/{k}": v.numpy() for k, v in model.state_dict().items()}
    np.savez(out_path, clip=clip, logits=logits, effect=effect, **state)


# ---------------------------------------------------------------------------------------------
# The tests.


def official_logits(case, tmp_path):
    variable = CASES[case][0]
    checkout = os.environ.get(variable)
    if not checkout:
        repository, folder = REPOSITORIES[variable]
        pytest.skip(
            f"set {variable} to a local checkout of {repository} to run this test: "
            f"git clone https://github.com/{repository} ~/src/{folder} && "
            f"{variable}=~/src/{folder} python -m pytest tests/test_official_parity.py"
        )
    out = tmp_path / f"{case}.npz"
    result = subprocess.run(
        [sys.executable, __file__, case, checkout, str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, f"official {case} failed:\n{result.stderr[-4000:]}"
    with np.load(out) as data:
        state = {k[3:]: data[k] for k in data.files if k.startswith("sd/")}
        return state, data["clip"], data["logits"], float(data["effect"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_official_model_logits_match(case, tmp_path):
    state, clip, expected, effect = official_logits(case, tmp_path)
    import keras

    import tfvideo
    from tfvideo.convert import load_torch_state_dict

    _, name, source, frames, size, _ = CASES[case]
    model = tfvideo.models.create(name, num_classes=NUM_CLASSES, num_frames=frames, input_size=size)
    report = load_torch_state_dict(model, state, source=source)
    assert not report.left_at_init
    logits = keras.ops.convert_to_numpy(model(clip, training=False))
    assert logits.shape == expected.shape
    scale = float(np.abs(expected).max())
    diff = float(np.abs(logits - expected).max())
    print(
        f"{case}: max |keras - torch| = {diff:.3g}, logit scale {scale:.3g}, "
        f"relative {diff / scale:.3g}; zeroing {EARLY_BLOCK[case]} moves them {effect:.3g}"
    )
    assert scale > 0
    assert effect > 100 * RELATIVE_TOLERANCE * scale, (
        f"{case}: zeroing {EARLY_BLOCK[case]} moves the logits by only {effect}"
    )
    assert diff <= RELATIVE_TOLERANCE * scale, (
        f"{case}: max |keras - torch| = {diff} > {RELATIVE_TOLERANCE} x logit scale {scale}"
    )


if __name__ == "__main__":
    write_official(*sys.argv[1:4])
