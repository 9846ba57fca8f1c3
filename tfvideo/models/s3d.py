"""I3D, I2D, S3D, S3D-G and their top-/bottom-heavy variants (Xie et al., ECCV 2018).

All of them are one Inception-v1 network inflated to video (`s3d_network`); the named
configurations differ in which blocks convolve over time, whether those convolutions are
full 3D or separable (1xkxk spatial then kx1x1 temporal), whether the feature gating of
S3D-G is on, and which reference implementation the details follow:

- `flavour="slim"`, `padding="same"`: TF-slim `s3dg.py` (the paper authors' code). The
  temporal half of a separable conv has a bias, no batch norm, and starts as the identity.
- `flavour="torchvision"`, `padding="torch"`: torchvision `S3D`. Batch norm after both
  halves and PyTorch's symmetric padding, so torchvision's Kinetics-400 weights can load.

Every 3D max/avg pool runs as a spatial 2D pool on `[B*T, H, W, C]` followed by a temporal
pool on `[B, T, H*W, C]` (max and mean are separable), so the models convert to TFLite with
builtin ops only. Full 3D convolutions (I3D) use `Conv3D` (TFLite CONV_3D); 1x1x1
convolutions run as 1x1 `Conv2D` on a `[B, T*H, W, C]` view.

Example:
    >>> import numpy as np, tfvideo
    >>> model = tfvideo.models.create("s3d_tiny", num_classes=5)
    >>> model(np.zeros((1, 8, 64, 64, 3), "float32")).shape
    TensorShape([1, 5])
"""

import keras
from keras import layers

from tfvideo.layers import (
    FusedBatchNormalization,
    SeparableConv3D,
    SeparablePooling3D,
    SpatioTemporalGating,
)
from tfvideo.models import common
from tfvideo.models.registry import register

FAMILY = "s3d"

# Inception-v1 layout, in torchvision's `S3D.features` order (`tfvideo.convert.s3d` maps its
# checkpoints by it). Pools: (kernel (t, h, w), strides (t, h, w)). Inception blocks:
# (Branch_0 1x1, Branch_1 1x1, Branch_1 3x3, Branch_2 1x1, Branch_2 3x3, Branch_3 1x1).
LAYOUT = (
    ("Conv2d_1a_7x7", "stem", 64),
    ("MaxPool_2a_3x3", "pool", ((1, 3, 3), (1, 2, 2))),
    ("Conv2d_2b_1x1", "pointwise", 64),
    ("Conv2d_2c_3x3", "conv", 192),
    ("MaxPool_3a_3x3", "pool", ((1, 3, 3), (1, 2, 2))),
    ("Mixed_3b", "inception", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", "inception", (128, 128, 192, 32, 96, 64)),
    ("MaxPool_4a_3x3", "pool", ((3, 3, 3), (2, 2, 2))),
    ("Mixed_4b", "inception", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", "inception", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", "inception", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", "inception", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", "inception", (256, 160, 320, 32, 128, 128)),
    ("MaxPool_5a_2x2", "pool", ((2, 2, 2), (2, 2, 2))),
    ("Mixed_5b", "inception", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", "inception", (384, 192, 384, 48, 128, 128)),
)

# Blocks whose 3x3 convolutions may be temporal (kt = 3) and that may be gated.
BLOCKS = tuple(name for name, kind, _ in LAYOUT if kind in ("conv", "inception"))

FLAVOURS = ("slim", "torchvision")
PADDINGS = ("same", "torch")
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.999  # TF-slim decay 0.999 = PyTorch momentum 0.001


# ---------------------------------------------------------------------------
# Network construction (functional).
# ---------------------------------------------------------------------------
class _Config:
    """Resolved options shared by every unit of one network."""

    def __init__(self, *, flavour, padding, separable, depth_multiplier, min_depth):
        self.flavour = flavour
        self.padding = padding
        self.separable = separable
        self.depth_multiplier = depth_multiplier
        self.min_depth = min_depth

    def depth(self, channels):
        return max(int(channels * self.depth_multiplier), self.min_depth)

    def conv_init(self):
        if self.flavour == "slim":  # TF-slim initialises every conv with trunc_normal(0.01)
            return keras.initializers.TruncatedNormal(stddev=0.01)
        # PyTorch's default conv init, kaiming_uniform(a=sqrt(5)).
        return keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")


def _bn_relu(x, cfg, name):
    # slim's batch_norm has no scale (gamma) by default; torchvision's BatchNorm3d has one.
    x = FusedBatchNormalization(
        epsilon=BN_EPSILON, momentum=BN_MOMENTUM, scale=cfg.flavour != "slim", name=f"{name}_bn"
    )(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _pointwise(x, filters, cfg, name, use_bias=False, bn_relu=True, dtype=None):
    """1x1x1 conv (+ BN + ReLU) as a 1x1 Conv2D on the `[B, T*H, W, C]` view."""
    _, t, h, w, _ = x.shape
    x = layers.Reshape((t * h, w, x.shape[-1]), name=f"{name}_flat")(x)
    x = layers.Conv2D(
        filters, 1, use_bias=use_bias, kernel_initializer=cfg.conv_init(), name=name, dtype=dtype
    )(x)
    if bn_relu:
        x = _bn_relu(x, cfg, name)
    return layers.Reshape((t, h, w, filters), name=f"{name}_unflat", dtype=dtype)(x)


def _spatial(x, filters, kernel, strides, cfg, name):
    """1xkxk conv + BN + ReLU per frame (a 2D conv on the frame-folded view)."""
    frames = x.shape[1]
    x = common.FoldFrames(name=f"{name}_fold")(x)
    if cfg.padding == "torch":
        x = common.torch_padded_conv2d(
            x, filters, kernel, strides=strides, name=name, kernel_initializer=cfg.conv_init()
        )
    else:
        x = layers.Conv2D(
            filters,
            kernel,
            strides=strides,
            padding="same",
            use_bias=False,
            kernel_initializer=cfg.conv_init(),
            name=name,
        )(x)
    x = _bn_relu(x, cfg, name)
    return common.UnfoldFrames(frames, name=f"{name}_unfold")(x)


def _spatiotemporal(x, filters, kernel, strides, cfg, name, separable=None):
    """A `[kt, k, k]` conv + BN + ReLU with strides `(st, s)`: 2D when kt == 1, else
    separable (`SeparableConv3D`) or full (`Conv3D`)."""
    (kt, k), (st, s) = kernel, strides
    separable = cfg.separable if separable is None else separable
    if kt == 1:
        if st > 1:  # a 1-frame kernel with temporal stride just drops frames
            x = SeparablePooling3D(
                1, strides=(st, 1, 1), padding="valid", name=f"{name}_subsample"
            )(x)
        return _spatial(x, filters, k, s, cfg, name)
    if separable:
        return SeparableConv3D(
            filters,
            kernel_size=(kt, k),
            strides=(st, s),
            flavour=cfg.flavour,
            padding=cfg.padding,
            epsilon=BN_EPSILON,
            momentum=BN_MOMENTUM,
            name=name,
        )(x)
    if cfg.padding == "torch":
        x = layers.ZeroPadding3D((kt // 2, k // 2, k // 2), name=f"{name}_pad")(x)
    x = layers.Conv3D(
        filters,
        (kt, k, k),
        strides=(st, s, s),
        padding="valid" if cfg.padding == "torch" else "same",
        use_bias=False,
        kernel_initializer=cfg.conv_init(),
        name=name,
    )(x)
    return _bn_relu(x, cfg, name)


def _max_pool(x, kernel, strides, cfg, name):
    padding = tuple((k - 1) // 2 for k in kernel) if cfg.padding == "torch" else "same"
    return SeparablePooling3D(kernel, strides=strides, padding=padding, name=name)(x)


def _inception(x, widths, kt, gated, cfg, name):
    """Inception-v1 block; with gating, each branch output is gated before the concat."""
    b0, b1a, b1b, b2a, b2b, b3 = (cfg.depth(w) for w in widths)

    def gate(y, branch):
        return SpatioTemporalGating(name=f"{name}_{branch}_gating")(y) if gated else y

    branch_0 = gate(_pointwise(x, b0, cfg, f"{name}_b0_0a"), "b0")
    branch_1 = _spatiotemporal(
        _pointwise(x, b1a, cfg, f"{name}_b1_0a"), b1b, (kt, 3), (1, 1), cfg, f"{name}_b1_0b"
    )
    branch_2 = _spatiotemporal(
        _pointwise(x, b2a, cfg, f"{name}_b2_0a"), b2b, (kt, 3), (1, 1), cfg, f"{name}_b2_0b"
    )
    branch_3 = _max_pool(x, (3, 3, 3), (1, 1, 1), cfg, f"{name}_b3_pool")
    branch_3 = _pointwise(branch_3, b3, cfg, f"{name}_b3_0b")
    branches = [branch_0, gate(branch_1, "b1"), gate(branch_2, "b2"), gate(branch_3, "b3")]
    return layers.Concatenate(axis=-1, name=f"{name}_concat")(branches)


def _logits(x, num_classes, dropout, cfg):
    """AvgPool [2, 7, 7] stride 1 VALID (shrunk to the feature map, like slim's
    `reduced_kernel_size_3d`), dropout, 1x1x1 conv with bias, mean over (T, H, W)."""
    window = tuple(min(size, k) for size, k in zip(x.shape[1:4], (2, 7, 7)))
    x = SeparablePooling3D(
        window, strides=1, padding="valid", pool_type="avg", name="logits_avgpool"
    )(x)
    if dropout:
        x = layers.Dropout(dropout, name="logits_dropout")(x)
    x = _pointwise(
        x, num_classes, cfg, "logits_conv", use_bias=True, bn_relu=False, dtype="float32"
    )
    return layers.GlobalAveragePooling3D(name="logits", dtype="float32")(x)


def _block_index(option, value):
    if value is None:
        return None
    if value not in BLOCKS:
        raise ValueError(f"`{option}` must be None or one of {list(BLOCKS)}, got {value!r}")
    return BLOCKS.index(value)


def s3d_network(
    num_classes=400,
    num_frames=64,
    input_size=224,
    *,
    first_temporal_kernel_size=7,
    first_conv_separable=True,
    separable=True,
    flavour="slim",
    padding="same",
    temporal_conv_startat="Conv2d_2c_3x3",
    temporal_conv_endat=None,
    gating_startat="Conv2d_2c_3x3",
    depth_multiplier=1.0,
    min_depth=16,
    dropout=0.2,
    mean=common.INCEPTION[0],
    std=common.INCEPTION[1],
    name="s3dg",
):
    """Builds an Inception-v1 video network: I3D, I2D, S3D, S3D-G or a heavy variant.

    Args:
        num_classes: number of logits.
        num_frames: T of the `[batch, T, H, W, 3]` input clips (values in [0, 255]).
        input_size: H = W, or an `(H, W)` pair.
        first_temporal_kernel_size: kt of `Conv2d_1a_7x7` (1, 3, 5 or 7); stride 2 in T, H, W.
        first_conv_separable: `Conv2d_1a_7x7` as 1x7x7 then kt x1x1 (torchvision, and the
            paper's FLOPs) rather than one full kt x7x7 conv (TF-slim).
        separable: temporal 3x3x3 convs of the blocks as 1x3x3 + 3x1x1 (S3D) or full (I3D).
        flavour: "slim" (temporal half: bias, no BN, identity init) or "torchvision"
            (temporal half: BN, no bias).
        padding: "same" (TensorFlow/slim) or "torch" (PyTorch's symmetric padding).
        temporal_conv_startat: first block (`BLOCKS`) whose 3x3 convs have kt = 3; earlier
            blocks are 2D (top-heavy models). None: no temporal block at all (I2D).
        temporal_conv_endat: last block with kt = 3; later blocks are 2D (bottom-heavy).
        gating_startat: first block with S3D-G self-gating (None: no gating).
        depth_multiplier: channel multiplier; `min_depth` is the floor on every width.
        dropout: dropout rate before the logits conv.
        mean, std: per-channel normalisation of [0, 1] pixels, applied inside the model.
        name: model name.

    Returns:
        A functional `keras.Model` mapping `[batch, num_frames, H, W, 3]` to logits
        `[batch, num_classes]` (float32).
    """
    if first_temporal_kernel_size not in (1, 3, 5, 7):
        raise ValueError(
            f"`first_temporal_kernel_size` must be 1, 3, 5 or 7, got {first_temporal_kernel_size!r}"
        )
    if flavour not in FLAVOURS:
        raise ValueError(f"`flavour` must be one of {FLAVOURS}, got {flavour!r}")
    if padding not in PADDINGS:
        raise ValueError(f"`padding` must be one of {PADDINGS}, got {padding!r}")
    if not depth_multiplier > 0:
        raise ValueError(f"`depth_multiplier` must be > 0, got {depth_multiplier!r}")
    if not isinstance(min_depth, int) or min_depth < 1:
        raise ValueError(f"`min_depth` must be a positive int, got {min_depth!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive int, got {num_classes!r}")
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"`num_frames` must be a positive int, got {num_frames!r}")
    start = _block_index("temporal_conv_startat", temporal_conv_startat)
    end = _block_index("temporal_conv_endat", temporal_conv_endat)
    gate_start = _block_index("gating_startat", gating_startat)
    if start is not None and end is not None and end < start:
        raise ValueError(
            f"`temporal_conv_endat` ({temporal_conv_endat}) comes before "
            f"`temporal_conv_startat` ({temporal_conv_startat})"
        )
    if end is not None and start is None:
        start = 0

    cfg = _Config(
        flavour=flavour,
        padding=padding,
        separable=separable,
        depth_multiplier=depth_multiplier,
        min_depth=min_depth,
    )
    clips = common.clip_input(num_frames, input_size)
    x = common.Normalize(mean, std, name="normalize")(clips)
    for block_name, kind, spec in LAYOUT:
        lname = block_name.lower()
        if kind == "stem":
            x = _spatiotemporal(
                x,
                cfg.depth(spec),
                (first_temporal_kernel_size, 7),
                (2, 2),
                cfg,
                lname,
                separable=first_conv_separable,
            )
        elif kind == "pool":
            x = _max_pool(x, *spec, cfg, lname)
        elif kind == "pointwise":
            x = _pointwise(x, cfg.depth(spec), cfg, lname)
        else:
            index = BLOCKS.index(block_name)
            temporal = start is not None and index >= start and (end is None or index <= end)
            kt = 3 if temporal else 1
            gated = gate_start is not None and index >= gate_start
            if kind == "conv":
                x = _spatiotemporal(x, cfg.depth(spec), (kt, 3), (1, 1), cfg, lname)
                if gated:
                    x = SpatioTemporalGating(name=f"{lname}_gating")(x)
            else:
                x = _inception(x, spec, kt, gated, cfg, lname)
    logits = _logits(x, num_classes, dropout, cfg)
    return keras.Model(clips, logits, name=name)


# ---------------------------------------------------------------------------
# Named configurations.
# ---------------------------------------------------------------------------
_PAPER = dict(family=FAMILY, sampling="dense", mean=common.INCEPTION[0], std=common.INCEPTION[1])
_TORCHVISION = dict(
    family=FAMILY, sampling="dense", mean=common.KINETICS_S3D[0], std=common.KINETICS_S3D[1]
)


@register("s3d", num_frames=16, **_TORCHVISION)
def s3d(num_classes, num_frames, input_size, **options):
    """S3D exactly as torchvision's `s3d` (8,320,048 parameters with 400 classes): separable
    7x7x7 first conv, BN + ReLU after both halves of every separable conv, no gating,
    PyTorch padding, torchvision's Kinetics mean/std."""
    options = {
        "flavour": "torchvision",
        "padding": "torch",
        "gating_startat": None,
        "first_temporal_kernel_size": 7,
        "first_conv_separable": True,
        "name": "s3d",
        **options,
    }
    return s3d_network(num_classes, num_frames, input_size, **options)


@register("s3dg", num_frames=64, layout="paper", **_PAPER)
def s3dg(num_classes, num_frames, input_size, layout="paper", **options):
    """S3D-G: S3D with self-gating on every branch from `Conv2d_2c_3x3`, slim-style temporal
    halves, [-1, 1] inputs.

    `layout="paper"` (default) uses a separable 7x7x7 first conv, which the paper's FLOPs
    imply (71.9 GMACs at 64x224x224); `layout="slim"` the TF-slim default, a full 3x7x7 first
    conv (64.2 GMACs).
    """
    layouts = {
        "paper": dict(first_temporal_kernel_size=7, first_conv_separable=True),
        "slim": dict(first_temporal_kernel_size=3, first_conv_separable=False),
    }
    if layout not in layouts:
        raise ValueError(f"`layout` must be one of {list(layouts)}, got {layout!r}")
    options = {**layouts[layout], "name": "s3dg", **options}
    return s3d_network(num_classes, num_frames, input_size, **options)


@register("i3d", num_frames=64, **_PAPER)
def i3d(num_classes, num_frames, input_size, **options):
    """I3D as TF-slim `i3d`: full 7x7x7 first conv, full 3x3x3 convs, no gating."""
    options = {
        "first_temporal_kernel_size": 7,
        "first_conv_separable": False,
        "separable": False,
        "gating_startat": None,
        "name": "i3d",
        **options,
    }
    return s3d_network(num_classes, num_frames, input_size, **options)


@register("i2d", num_frames=64, **_PAPER)
def i2d(num_classes, num_frames, input_size, **options):
    """I2D: every conv 2D (the first conv keeps its temporal stride 2, as in slim)."""
    options = {
        "first_temporal_kernel_size": 1,
        "temporal_conv_startat": None,
        "gating_startat": None,
        "name": "i2d",
        **options,
    }
    return s3d_network(num_classes, num_frames, input_size, **options)


def _heavy(name, **preset):
    """A builder for `s3d_network` with `preset` options (overridable by the caller)."""

    def builder(num_classes, num_frames, input_size, **options):
        return s3d_network(
            num_classes, num_frames, input_size, **{**preset, "name": name, **options}
        )

    builder.__name__ = name
    builder.__doc__ = f"`s3d_network` with {preset}."
    return builder


# Top-heavy: 2D bottom (first conv 1x7x7 included), separable 3D from Mixed_4b on.
s3d_top_heavy = register("s3d_top_heavy", num_frames=64, **_PAPER)(
    _heavy(
        "s3d_top_heavy",
        first_temporal_kernel_size=1,
        temporal_conv_startat="Mixed_4b",
        gating_startat=None,
    )
)
# Bottom-heavy: separable 3D up to Mixed_3c (first conv separable 7x7x7), 2D from Mixed_4b.
s3d_bottom_heavy = register("s3d_bottom_heavy", num_frames=64, **_PAPER)(
    _heavy("s3d_bottom_heavy", temporal_conv_endat="Mixed_3c", gating_startat=None)
)


@register("s3d_tiny", num_frames=8, input_size=64, **_TORCHVISION)
def s3d_tiny(num_classes, num_frames, input_size, **options):
    """`s3d` at 1/8 width (min 8 channels) and 8x64x64 clips, for CPU demos and tests."""
    options = {"depth_multiplier": 0.125, "min_depth": 8, "name": "s3d_tiny", **options}
    return s3d(num_classes, num_frames, input_size, **options)


# Fast-S3D: top-heavy S3D-G. 2D convs (first conv 1x7x7, temporal stride 2 kept) up to
# Mixed_3c, separable 3D from Mixed_4b on, gating from Conv2d_2c_3x3 as in S3D-G.
fast_s3d = register("fast_s3d", num_frames=64, **_PAPER)(
    _heavy("fast_s3d", first_temporal_kernel_size=1, temporal_conv_startat="Mixed_4b")
)
