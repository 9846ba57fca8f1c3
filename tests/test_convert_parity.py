"""Numerical parity of converted PyTorch checkpoints: Keras logits == PyTorch logits (<= 1e-4).

For torchvision's `resnet50` and `s3d` the reference is torchvision itself. For TAda2D,
TAdaConvNeXt v1 and bLVNet-TAM the reference is a small PyTorch model written here from the
equations in papers.md (sections 3.2-3.5, 4.2-4.4), with the official checkpoints' module names
(so its `state_dict()` has the release's key layout) and tiny widths/depths. Every reference
gets random weights, random scales in place of constant-initialised ones (layer scales, zero-init
convs) and BN statistics calibrated to the clip (so no block's effect on the logits fades below
the tolerance: each test checks that zeroing an early block moves them > 100x TOLERANCE), and
runs in eval mode on that clip.
TAdaConv is computed here the direct way (one conv per frame with the calibrated kernel), not by
the linearity trick the Keras layer uses.

torchvision (its `torch._dynamo` import) segfaults when TensorFlow is already loaded, so the
torchvision-based references run in a subprocess (this file run as a script) that saves their
state dicts, the input clip and the expected logits.
"""

import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the parity tests need PyTorch (pip install torch)")
nn = torch.nn
F = torch.nn.functional

if __name__ != "__main__":  # the reference subprocess (see `torchvision_refs`) needs no Keras
    import keras

    import tfvideo
    from tfvideo.cli.convert import convert
    from tfvideo.convert import load_torch_state_dict

# Input normalisation each release trained with (papers.md 1.3, 3.4, 4.5), written out here so the
# test checks the models' built-in `Normalize` independently.
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
TADA = ((0.45, 0.45, 0.45), (0.225, 0.225, 0.225))
KINETICS_S3D = ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))
TOLERANCE = 1e-4


# ---------------------------------------------------------------------------------------------
# Helpers.


def randomize(module, seed=0, inputs=None):
    """Random BN/LN statistics and affine parameters; constant-initialised tensors get random
    values too, so nothing is trivially 1/0: scales (layer scales of 1e-6, LN weights of 1) in
    [0.5, 1.5], zero-initialised ones (route convs, biases) N(0, 0.2). With `inputs`, the BN
    running statistics are then those of `inputs` (`calibrate_batch_norms`)."""
    generator = torch.Generator().manual_seed(seed)

    def normal(t, std):
        t.copy_(torch.randn(t.shape, generator=generator) * std)

    def uniform(t, low, high):
        t.copy_(low + (high - low) * torch.rand(t.shape, generator=generator))

    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                uniform(m.weight, 0.5, 1.0)
                normal(m.bias, 0.1)
                normal(m.running_mean, 0.1)
                uniform(m.running_var, 0.5, 1.5)
        for p in module.parameters():
            if p.numel() > 1 and float(p.std()) == 0.0:
                if float(p.abs().max()) > 0:
                    uniform(p, 0.5, 1.5)
                else:
                    normal(p, 0.2)
    if inputs is not None:
        calibrate_batch_norms(module, inputs)
    return module.eval()


def calibrate_batch_norms(module, inputs):
    """BN running statistics := the batch statistics of `inputs` (one train-mode pass), as a
    trained network's are. Left at random values, the BNs do not normalise: the activations
    shrink layer by layer (PyTorch's default conv init) until the early blocks' effect on the
    logits is below the parity tolerance (bLVNet's stem moved them by 1e-5, S3D's by 2e-7
    relative), so a wrongly converted early block would pass. A channel's variance is floored
    at its layer's mean variance, so quiet channels are not amplified (which would let float32
    rounding alone approach the tolerance)."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0  # running <- batch statistics
    module.train()
    try:
        with torch.no_grad():
            module(inputs)
            for m in norms:
                m.running_var.clamp_(min=float(m.running_var.mean()))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
    return module.eval()


def block_effect(module, inputs, name):
    """max |change of the logits| when the named submodule's parameters are zeroed (and then
    restored): how far a wrongly converted early block would move the logits. The parity tests
    require it to be far above TOLERANCE. Each reference names an early block (its stem, its
    first temporal module or its first block's TAdaConv)."""
    block = dict(module.named_modules())[name]
    saved = {k: v.clone() for k, v in block.state_dict().items()}
    with torch.no_grad():
        expected = module(inputs)
        for p in block.parameters():
            p.zero_()
        effect = float((module(inputs) - expected).abs().max())
    block.load_state_dict(saved)
    return effect


def assert_blocks_visible(effect):
    assert effect > 100 * TOLERANCE, f"an early block moves the logits by only {effect}"


def random_clip(frames, size, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (1, frames, size, size, 3)).astype("float32")


def normalized(clip, mean_std):
    mean, std = (np.asarray(v, "float32") for v in mean_std)
    return torch.from_numpy(((clip / 255.0 - mean) / std).astype("float32"))


def as_frames(x):  # [B, T, H, W, 3] -> [B*T, 3, H, W]
    return x.reshape((-1,) + tuple(x.shape[2:])).permute(0, 3, 1, 2).contiguous()


def as_video(x):  # [B, T, H, W, 3] -> [B, 3, T, H, W]
    return x.permute(0, 4, 1, 2, 3).contiguous()


def assert_parity(model, clip, reference):
    keras_logits = keras.ops.convert_to_numpy(model(clip, training=False))
    assert keras_logits.shape == reference.shape
    diff = np.abs(keras_logits - reference).max()
    assert diff <= TOLERANCE, f"max |keras - torch| = {diff}"
    assert np.abs(reference).max() > 1e-2  # the comparison is not between two near-zero outputs


# ---------------------------------------------------------------------------------------------
# torchvision references, computed in a subprocess.


class TemporalShiftRef(nn.Module):
    """TSM's residual shift wrapper around a block's conv1 (`.net`), from papers.md 2.1."""

    def __init__(self, net, num_frames, div=8):
        super().__init__()
        self.net, self.num_frames, self.div = net, num_frames, div

    def forward(self, x):
        n, c, h, w = x.shape
        x = x.view(n // self.num_frames, self.num_frames, c, h, w)
        fold, out = c // self.div, torch.zeros_like(x)
        out[:, :-1, :fold] = x[:, 1:, :fold]
        out[:, 1:, fold : 2 * fold] = x[:, :-1, fold : 2 * fold]
        out[:, :, 2 * fold :] = x[:, :, 2 * fold :]
        return self.net(out.view(n, c, h, w))


class TSMRef(nn.Module):
    def __init__(self, num_classes, num_frames):
        super().__init__()
        import torchvision

        self.num_frames = num_frames
        self.base_model = torchvision.models.resnet50()
        self.base_model.fc = nn.Dropout(0.5)
        for layer in (
            self.base_model.layer1,
            self.base_model.layer2,
            self.base_model.layer3,
            self.base_model.layer4,
        ):
            for block in layer:
                block.conv1 = TemporalShiftRef(block.conv1, num_frames)
        self.new_fc = nn.Linear(2048, num_classes)

    def forward(self, frames):
        logits = self.new_fc(self.base_model(frames))
        return logits.view(-1, self.num_frames, logits.shape[-1]).mean(1)


def write_torchvision_refs(out_dir):
    """Runs in the subprocess: saves `<case>.npz` (state dict, clip, expected logits)."""
    import torchvision

    out_dir = pathlib.Path(out_dir)

    def save(case, module, clip, logits, effect):
        state = {f"sd/{k}": v.numpy() for k, v in module.state_dict().items()}
        np.savez(out_dir / f"{case}.npz", clip=clip, logits=logits.numpy(), effect=effect, **state)

    with torch.no_grad():
        clip = random_clip(2, 64)
        frames = as_frames(normalized(clip, IMAGENET))
        resnet = randomize(torchvision.models.resnet50(num_classes=10), inputs=frames)
        save(
            "resnet50",
            resnet,
            clip,
            resnet(frames).mean(0, keepdim=True),
            block_effect(resnet, frames, "conv1"),
        )

        clip = random_clip(4, 64, seed=1)
        frames = as_frames(normalized(clip, IMAGENET))
        tsm = randomize(TSMRef(num_classes=6, num_frames=4), inputs=frames)
        save("tsm", tsm, clip, tsm(frames), block_effect(tsm, frames, "base_model.conv1"))
        torch.save(
            {"epoch": 50, "state_dict": {f"module.{k}": v for k, v in tsm.state_dict().items()}},
            out_dir / "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment4.pth",
        )

        s3d = torchvision.models.video.s3d(num_classes=7)
        # torchvision's head pools (2, 7, 7), the 224 px map; at 96 px the map is 3 x 3 and the
        # Keras head shrinks its window to it (slim's reduced_kernel_size_3d): do the same here.
        s3d.avgpool = nn.AvgPool3d((2, 3, 3), stride=1)
        clip = random_clip(16, 96, seed=2)
        video = as_video(normalized(clip, KINETICS_S3D))
        s3d = randomize(s3d, inputs=video)
        save("s3d", s3d, clip, s3d(video), block_effect(s3d, video, "features.0"))


@pytest.fixture(scope="module")
def torchvision_refs(tmp_path_factory):
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed")
    out_dir = tmp_path_factory.mktemp("torchvision_refs")
    result = subprocess.run(
        [sys.executable, __file__, str(out_dir)], capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out_dir


def load_case(out_dir, case):
    with np.load(out_dir / f"{case}.npz") as data:
        state = {k[3:]: data[k] for k in data.files if k.startswith("sd/")}
        assert_blocks_visible(float(data["effect"]))
        return state, data["clip"], data["logits"]


def test_torchvision_resnet50_into_tsn_r50(torchvision_refs):
    state, clip, expected = load_case(torchvision_refs, "resnet50")
    model = tfvideo.models.create("tsn_r50", num_classes=10, num_frames=2, input_size=64)
    report = load_torch_state_dict(model, state)
    assert report.source == "torchvision_resnet" and not report.left_at_init
    assert_parity(model, clip, expected)


def test_tsm_release_layout_through_the_converter(torchvision_refs, tmp_path):
    _, clip, expected = load_case(torchvision_refs, "tsm")
    checkpoint = torchvision_refs / "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment4.pth"
    out = tmp_path / "tsm.weights.h5"
    model, report = convert("tsm_r50", str(checkpoint), str(out), num_frames=4, input_size=64)
    assert report.source == "tsm" and model.output_shape[-1] == 6
    assert_parity(model, clip, expected)
    # The saved weights reproduce it in a freshly built model.
    fresh = tfvideo.models.create("tsm_r50", num_classes=6, num_frames=4, input_size=64)
    fresh.load_weights(str(out))
    assert_parity(fresh, clip, expected)


def test_torchvision_s3d_into_s3d(torchvision_refs):
    state, clip, expected = load_case(torchvision_refs, "s3d")
    model = tfvideo.models.create("s3d", num_classes=7, num_frames=16, input_size=96)
    report = load_torch_state_dict(model, state)
    assert report.source == "torchvision_s3d"
    assert_parity(model, clip, expected)


# ---------------------------------------------------------------------------------------------
# TAdaConv references (papers.md 4.2-4.4), with the releases' module names.


class RouteFuncRef(nn.Module):
    """alpha = b(ReLU(BN(a(GAP_HW(x) + g(GAP_THW(x)))))) + 1 (and beta from b_bias)."""

    def __init__(self, channels, ratio=4, kernels=(3, 3), bias_calibration=False):
        super().__init__()
        hidden = channels // ratio
        self.g = nn.Conv3d(channels, channels, 1)
        self.a = nn.Conv3d(channels, hidden, (kernels[0], 1, 1), padding=(kernels[0] // 2, 0, 0))
        self.bn = nn.BatchNorm3d(hidden)
        self.b = nn.Conv3d(
            hidden, channels, (kernels[1], 1, 1), padding=(kernels[1] // 2, 0, 0), bias=False
        )
        self.b_bias = (
            nn.Conv3d(
                hidden, channels, (kernels[1], 1, 1), padding=(kernels[1] // 2, 0, 0), bias=False
            )
            if bias_calibration
            else None
        )

    def forward(self, x):
        h = F.relu(
            self.bn(self.a(x.mean((3, 4), keepdim=True) + self.g(x.mean((2, 3, 4), keepdim=True))))
        )
        alpha = self.b(h) + 1
        return (alpha, self.b_bias(h) + 1) if self.b_bias is not None else (alpha, None)


class TAdaConv2dRef(nn.Module):
    """Per frame t of clip b: conv2d(x_bt, W_bt) with W_bt = alpha_bt * W (cin or cout)."""

    def __init__(self, cin, cout, k, stride=1, padding=0, groups=1, bias=False, cal="cin"):
        super().__init__()
        self.weight = nn.Parameter(
            torch.randn(1, 1, cout, cin // groups, k, k) / np.sqrt(cin // groups * k * k)
        )
        self.bias = nn.Parameter(torch.randn(1, 1, cout) * 0.1) if bias else None
        self.stride, self.padding, self.groups, self.cal = stride, padding, groups, cal

    def forward(self, x, alpha, beta=None):
        b, _, t, _, _ = x.shape
        outputs = []
        for i in range(b):
            frames = []
            for j in range(t):
                a = alpha[i, :, j, 0, 0]
                w = self.weight[0, 0] * (
                    a[None, :, None, None] if self.cal == "cin" else a[:, None, None, None]
                )
                bias = None
                if self.bias is not None:
                    bias = self.bias[0, 0] * (beta[i, :, j, 0, 0] if beta is not None else 1)
                frames.append(
                    F.conv2d(
                        x[i : i + 1, :, j], w, bias, self.stride, self.padding, groups=self.groups
                    )
                )
            outputs.append(torch.stack(frames, 2))
        return torch.cat(outputs, 0)


class Namespace(nn.Module):
    """An empty module to hang named children on (mirrors the releases' nesting)."""


class TAda2DRef(nn.Module):
    """TAda2D (papers.md 4.3) with `backbone.conv{1..5}` / `head.out` names."""

    def __init__(self, depths, width, num_classes):
        super().__init__()
        self.backbone, self.head = Namespace(), Namespace()
        stem = Namespace()
        stem.a = nn.Conv3d(3, width, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False)
        stem.a_bn = nn.BatchNorm3d(width)
        self.backbone.conv1 = stem
        dim_in = width
        for s, blocks in enumerate(depths):
            planes, stage = width * 2**s, Namespace()
            for i in range(blocks):
                stride, out = (2 if i == 0 else 1), planes * 4
                block, branch = Namespace(), Namespace()
                if stride != 1 or dim_in != out:
                    block.short_cut = nn.Conv3d(dim_in, out, 1, (1, stride, stride), bias=False)
                    block.short_cut_bn = nn.BatchNorm3d(out)
                branch.a = nn.Conv3d(dim_in, planes, 1, bias=False)
                branch.a_bn = nn.BatchNorm3d(planes)
                branch.b = TAdaConv2dRef(planes, planes, 3, stride, 1, cal="cin")
                branch.b_rf = RouteFuncRef(planes)
                branch.b_bn = nn.BatchNorm3d(planes)
                branch.b_avgpool_bn = nn.BatchNorm3d(planes)
                branch.c = nn.Conv3d(planes, out, 1, bias=False)
                branch.c_bn = nn.BatchNorm3d(out)
                block.conv_branch = branch
                setattr(stage, f"res_{i + 1}", block)
                dim_in = out
            setattr(self.backbone, f"conv{s + 2}", stage)
        self.head.out = nn.Linear(dim_in, num_classes)
        self.depths = depths

    def forward(self, x):
        stem = self.backbone.conv1
        x = F.relu(stem.a_bn(stem.a(x)))
        for s, blocks in enumerate(self.depths):
            for i in range(blocks):
                block = getattr(getattr(self.backbone, f"conv{s + 2}"), f"res_{i + 1}")
                br = block.conv_branch
                shortcut = (
                    block.short_cut_bn(block.short_cut(x)) if hasattr(block, "short_cut") else x
                )
                y = F.relu(br.a_bn(br.a(x)))
                y = br.b(y, br.b_rf(y)[0])
                pooled = F.avg_pool3d(y, (3, 1, 1), 1, (1, 0, 0), count_include_pad=True)
                y = F.relu(br.b_bn(y) + br.b_avgpool_bn(pooled))
                x = F.relu(shortcut + br.c_bn(br.c(y)))
        return self.head.out(x.mean((2, 3, 4)))


def assert_tada_release_parity(model, reference, checkpoint, source, clip):
    """Loads a TAdaConv-release checkpoint of `reference` into `model`; the layout is detected
    as `source`, every weight is loaded, and the logits match the reference's on `clip`."""
    report = load_torch_state_dict(model, checkpoint)
    assert report.source == source and not report.left_at_init
    with torch.no_grad():
        expected = reference(as_video(normalized(clip, TADA)))
    assert_parity(model, clip, expected.numpy())


def test_tada2d_release_layout_into_tada2d():
    clip = random_clip(4, 64, seed=3)
    video = as_video(normalized(clip, TADA))
    reference = randomize(
        TAda2DRef(depths=(1, 2, 1, 1), width=8, num_classes=5), seed=3, inputs=video
    )
    assert_blocks_visible(block_effect(reference, video, "backbone.conv2.res_1.conv_branch.b_rf"))
    model = tfvideo.models.create(
        "tada2d_r50", num_classes=5, num_frames=4, input_size=64, depth=(1, 2, 1, 1), width=8
    )
    checkpoint = {"model_state": reference.state_dict(), "epoch": 100, "cfg": "..."}
    assert_tada_release_parity(model, reference, checkpoint, "tada2d", clip)


class LayerNormChannelsFirst(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):  # [B, C, T, H, W]
        y = F.layer_norm(x.permute(0, 2, 3, 4, 1), x.shape[1:2], self.weight, self.bias, 1e-6)
        return y.permute(0, 4, 1, 2, 3)


class TAdaConvNeXtBlockRef(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dwconv = TAdaConv2dRef(dim, dim, 7, padding=3, groups=dim, bias=True, cal="cout")
        self.dwconv_rf = RouteFuncRef(dim, bias_calibration=True)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x):
        y = self.dwconv(x, *self.dwconv_rf(x)).permute(0, 2, 3, 4, 1)
        y = self.gamma * self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return x + y.permute(0, 4, 1, 2, 3)


class TAdaConvNeXtRef(nn.Module):
    """TAdaConvNeXt v1 (papers.md 4.4) with `backbone.downsample_layers/stages/norm`, `head.out`;
    `block(dim)` makes the blocks (v1's by default)."""

    def __init__(self, depths, dims, num_classes, block=None):
        super().__init__()
        self.backbone, self.head = Namespace(), Namespace()
        layers = [
            nn.Sequential(
                nn.Conv3d(3, dims[0], (3, 4, 4), (2, 4, 4), (1, 0, 0)),
                LayerNormChannelsFirst(dims[0]),
            )
        ]
        layers += [
            nn.Sequential(
                LayerNormChannelsFirst(dims[i]),
                nn.Conv3d(dims[i], dims[i + 1], (1, 2, 2), (1, 2, 2)),
            )
            for i in range(len(dims) - 1)
        ]
        self.backbone.downsample_layers = nn.ModuleList(layers)
        self.backbone.stages = nn.ModuleList(
            nn.Sequential(*[(block or TAdaConvNeXtBlockRef)(d) for _ in range(n)])
            for n, d in zip(depths, dims)
        )
        self.backbone.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head.out = nn.Linear(dims[-1], num_classes)

    def forward(self, x):
        for downsample, stage in zip(self.backbone.downsample_layers, self.backbone.stages):
            x = stage(downsample(x))
        return self.head.out(self.backbone.norm(x.mean((2, 3, 4))))


def test_tadaconvnext_release_layout_into_tadaconvnext():
    depths, dims = (1, 1, 2, 1), (16, 32, 64, 128)
    clip = random_clip(8, 64, seed=4)
    video = as_video(normalized(clip, TADA))
    reference = randomize(TAdaConvNeXtRef(depths, dims, num_classes=5), seed=4, inputs=video)
    assert_blocks_visible(block_effect(reference, video, "backbone.stages.0.0.dwconv"))
    model = tfvideo.models.create(
        "tadaconvnext_t", num_classes=5, num_frames=8, input_size=64, depths=depths, dims=dims
    )
    assert_tada_release_parity(
        model, reference, {"model_state": reference.state_dict()}, "tadaconvnext", clip
    )


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class RouteFuncTransformerRef(nn.Module):
    """TAdaConvV2's route: h = QuickGELU(LN(a(GAP_HW(x)))); h += attn_out(MHSA_t(LN_t(h)));
    alpha = b(h) + 1, beta = b_bias(h) + 1. Head `j` of q/k/v owns channels d * heads + j;
    the output merges them as j * head_dim + d; the logits are scaled by C' ** -0.5."""

    def __init__(self, channels, head_dim, ratio=2, kernels=(3, 3)):
        super().__init__()
        hidden = channels // ratio
        self.head_dim, self.heads = head_dim, hidden // head_dim
        self.a = nn.Conv3d(channels, hidden, (kernels[0], 1, 1), padding=(kernels[0] // 2, 0, 0))
        self.norm = LayerNormChannelsFirst(hidden)
        self.norm_transformer = LayerNormChannelsFirst(hidden)
        self.qkv_proj = nn.Conv3d(hidden, 3 * hidden, 1)
        self.attn_out = nn.Conv3d(hidden, hidden, 1)
        pad = (kernels[1] // 2, 0, 0)
        self.b = nn.Conv3d(hidden, channels, (kernels[1], 1, 1), padding=pad, bias=False)
        self.b_bias = nn.Conv3d(hidden, channels, (kernels[1], 1, 1), padding=pad, bias=False)

    def attention(self, u):  # [B, C', T, 1, 1]
        qkv = self.qkv_proj(u)[:, :, :, 0, 0]
        hidden = qkv.shape[1] // 3
        q, k, v = (
            qkv[:, i * hidden : (i + 1) * hidden].reshape(-1, self.head_dim, self.heads, u.shape[2])
            for i in range(3)
        )  # [B, d, head, T]
        logits = torch.einsum("bdjt,bdjs->bjts", q, k) * hidden**-0.5
        out = torch.einsum("bjts,bdjs->bjdt", logits.softmax(-1), v)  # [B, head, d, T]
        return self.attn_out(out.reshape(u.shape))

    def forward(self, x):
        h = quick_gelu(self.norm(self.a(x.mean((3, 4), keepdim=True))))
        h = h + self.attention(self.norm_transformer(h))
        return self.b(h) + 1, self.b_bias(h) + 1


class TAdaConvNeXtV2BlockRef(nn.Module):
    """x + gamma * pwconv2(QuickGELU(pwconv1(LN(y) + LN_0(AvgPool_t3(y))))),
    y = TAdaConv(x, route(x)) (papers.md / TAdaConvNeXtV2Block)."""

    def __init__(self, dim, head_dim):
        super().__init__()
        self.dwconv = TAdaConv2dRef(dim, dim, 7, padding=3, groups=dim, bias=True, cal="cout")
        self.dwconv_rf = RouteFuncTransformerRef(dim, head_dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.norm_avgpool = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x):
        y = self.dwconv(x, *self.dwconv_rf(x))
        pooled = F.avg_pool3d(y, (3, 1, 1), 1, (1, 0, 0), count_include_pad=True)
        y = self.norm(y.permute(0, 2, 3, 4, 1)) + self.norm_avgpool(pooled.permute(0, 2, 3, 4, 1))
        y = self.gamma * self.pwconv2(quick_gelu(self.pwconv1(y)))
        return x + y.permute(0, 4, 1, 2, 3)


def test_tadaconvnextv2_release_layout_into_tadaconvnextv2():
    depths, dims, head_dim = (1, 1, 2, 1), (16, 32, 64, 128), 8  # 1, 2, 4, 8 heads
    clip = random_clip(8, 64, seed=5)
    video = as_video(normalized(clip, TADA))
    block = lambda dim: TAdaConvNeXtV2BlockRef(dim, head_dim)  # noqa: E731
    reference = randomize(TAdaConvNeXtRef(depths, dims, 5, block), seed=5, inputs=video)
    assert_blocks_visible(block_effect(reference, video, "backbone.stages.0.0.dwconv_rf"))
    assert_blocks_visible(block_effect(reference, video, "backbone.stages.3.0.dwconv_rf"))
    model = tfvideo.models.create(
        "tadaconvnextv2_t",
        num_classes=5,
        num_frames=8,
        input_size=64,
        depths=depths,
        dims=dims,
        head_dim=head_dim,
    )
    assert_tada_release_parity(
        model, reference, {"model_state": reference.state_dict()}, "tadaconvnextv2", clip
    )


# ---------------------------------------------------------------------------------------------
# bLVNet-TAM reference (papers.md 3.2-3.5), with the release's module names.


class TAMRef(nn.Module):
    """out[t] = ReLU(prev * x[t-1] + curr * x[t] + next * x[t+1]), zero outside the clip."""

    def __init__(self, channels, duration):
        super().__init__()
        self.duration = duration
        self.prev, self.curr, self.next = (
            nn.Conv2d(channels, channels, 1, groups=channels, bias=False) for _ in range(3)
        )

    def forward(self, x):
        p, c, n = (
            m(x).view((-1, self.duration) + x.shape[1:]) for m in (self.prev, self.curr, self.next)
        )
        out = c.clone()
        out[:, 1:] += p[:, :-1]
        out[:, :-1] += n[:, 1:]
        return F.relu(out).view(x.shape)


class BottleneckRef(nn.Module):
    def __init__(self, inplanes, planes, stride=1, last_relu=True, tam_duration=None):
        super().__init__()
        width = planes // 4
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        parts = [nn.AvgPool2d(3, 2, 1)] if stride != 1 else []
        if inplanes != planes:
            parts += [nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes)]
        self.downsample = nn.Sequential(*parts) if parts else None
        self.tam = TAMRef(inplanes, tam_duration) if tam_duration else None
        self.last_relu = last_relu

    def forward(self, x):
        residual = x
        if self.tam is not None:
            x = self.tam(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            residual = self.downsample(x)  # the release's quirk: the TAM output
        out = out + residual
        return F.relu(out) if self.last_relu else out


def make_layer(inplanes, planes, blocks, stride=1, last_relu=True, tam_duration=None):
    layers = [BottleneckRef(inplanes, planes, stride, True, tam_duration)]
    for i in range(1, blocks):
        layers.append(
            BottleneckRef(planes, planes, 1, last_relu if i == blocks - 1 else True, tam_duration)
        )
    return nn.Sequential(*layers)


def big_little(x, num_frames):
    clips = x.view((-1, num_frames) + x.shape[1:])
    return (
        clips[:, 1::2].reshape((-1,) + x.shape[1:]),
        clips[:, 0::2].reshape((-1,) + x.shape[1:]),
    )


def duplicate(x):
    return torch.stack([x, x], 1).view((-1,) + x.shape[1:])


class BLModuleRef(nn.Module):
    def __init__(self, inplanes, planes, blocks, stride, num_frames, alpha=2, beta=4):
        super().__init__()
        self.num_frames = num_frames
        self.big = make_layer(inplanes, planes, blocks - 1, 2, last_relu=False)
        self.little = make_layer(inplanes, planes // alpha, max(1, blocks // beta - 1))
        self.little_e = nn.Sequential(
            nn.Conv2d(planes // alpha, planes, 1, bias=False), nn.BatchNorm2d(planes)
        )
        self.fusion = make_layer(planes, planes, 1, stride)
        self.tam = TAMRef(inplanes, num_frames)

    def forward(self, x):
        big, little = big_little(self.tam(x), self.num_frames)
        little = self.little_e(self.little(little))
        big = F.interpolate(self.big(big), little.shape[2:])
        return duplicate(self.fusion(F.relu(big + little)))


class BLVNetBackboneRef(nn.Module):
    def __init__(self, stage_depths, widths, num_frames, alpha=2):
        super().__init__()
        w0 = widths[0]
        self.num_frames = num_frames
        self.conv1 = nn.Conv2d(3, w0, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w0)
        self.tam = TAMRef(w0, num_frames)
        self.b_conv0 = nn.Conv2d(w0, w0, 3, 2, 1, bias=False)
        self.bn_b0 = nn.BatchNorm2d(w0)
        self.l_conv0 = nn.Conv2d(w0, w0 // alpha, 3, 1, 1, bias=False)
        self.bn_l0 = nn.BatchNorm2d(w0 // alpha)
        self.l_conv1 = nn.Conv2d(w0 // alpha, w0 // alpha, 3, 2, 1, bias=False)
        self.bn_l1 = nn.BatchNorm2d(w0 // alpha)
        self.l_conv2 = nn.Conv2d(w0 // alpha, w0, 1, bias=False)
        self.bn_l2 = nn.BatchNorm2d(w0)
        self.bl_init = nn.Conv2d(w0, w0, 1, bias=False)
        self.bn_bl_init = nn.BatchNorm2d(w0)
        inplanes = w0
        for i, stride in enumerate((2, 2, 1)):
            setattr(
                self,
                f"layer{i + 1}",
                BLModuleRef(inplanes, widths[i] * 4, stage_depths[i], stride, num_frames, alpha),
            )
            inplanes = widths[i] * 4
        self.layer4 = make_layer(
            inplanes, widths[3] * 4, stage_depths[3], 2, tam_duration=num_frames // 2
        )

    def forward(self, x):
        x = self.tam(F.relu(self.bn1(self.conv1(x))))
        big, little = big_little(x, self.num_frames)
        big = self.bn_b0(self.b_conv0(big))
        little = F.relu(self.bn_l0(self.l_conv0(little)))
        little = F.relu(self.bn_l1(self.l_conv1(little)))
        little = self.bn_l2(self.l_conv2(little))
        x = duplicate(F.relu(self.bn_bl_init(self.bl_init(F.relu(big + little)))))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.layer4(big_little(x, self.num_frames)[0])
        return x.mean((2, 3))


class BLVNetTAMRef(nn.Module):
    def __init__(self, stage_depths, widths, num_frames, num_classes):
        super().__init__()
        self.num_frames = num_frames
        self.baseline_model = BLVNetBackboneRef(stage_depths, widths, num_frames)
        self.new_fc = nn.Linear(widths[3] * 4, num_classes)

    def forward(self, frames):
        logits = self.new_fc(self.baseline_model(frames))
        return logits.view(-1, self.num_frames // 2, logits.shape[-1]).mean(1)


def test_blvnet_tam_release_layout_into_blvnet_tam():
    depths, widths = (3, 2, 2, 2), (8, 16, 32, 64)
    clip = random_clip(8, 64, seed=5)
    frames = as_frames(normalized(clip, IMAGENET))
    reference = randomize(
        BLVNetTAMRef(depths, widths, num_frames=8, num_classes=5), seed=5, inputs=frames
    )
    assert_blocks_visible(block_effect(reference, frames, "baseline_model.tam"))
    model = tfvideo.models.create(
        "blvnet_tam_r50",
        num_classes=5,
        num_frames=8,
        input_size=64,
        stage_depths=depths,
        widths=widths,
    )
    state = {"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}
    report = load_torch_state_dict(model, state)
    assert report.source == "blvnet_tam" and not report.left_at_init
    with torch.no_grad():
        expected = reference(frames).numpy()
    assert_parity(model, clip, expected)
    # The shortcut quirk matters: feeding the projection shortcut the pre-TAM input differs.
    fixed = tfvideo.models.create(
        "blvnet_tam_r50",
        num_classes=5,
        num_frames=8,
        input_size=64,
        stage_depths=depths,
        widths=widths,
        shortcut_after_tam=False,
    )
    load_torch_state_dict(fixed, state)
    assert np.abs(keras.ops.convert_to_numpy(fixed(clip, training=False)) - expected).max() > 1e-3


if __name__ == "__main__":
    write_torchvision_refs(sys.argv[1])
