"""2D ResNet backbone on folded frames, and the TSN / TSM / TEINet video models built on it.

The backbone follows torchvision's ResNet "v1.5" with PyTorch-exact padding (7x7/2 stem as
`ZeroPadding2D(3)` + VALID, 3x3/2 max-pool with a 1-pixel pad, stride on the 3x3 conv of the first
bottleneck of a stage, BN eps 1e-5 / momentum 0.1). Layer names mirror torchvision's state-dict keys
with "." replaced by "_" (`conv1`, `bn1`, `layer1_0_conv1`, `layer3_5_downsample_0`, ...), so 2D
ImageNet weights map one to one (`tfvideo.convert.load_torch_state_dict`, torchvision or
keras.applications sources).

Video models fold the frames into the batch (`[B*T, H, W, C]`) and differ only in what runs at the
start of each residual branch (`branch_fn`) or in what replaces the 3x3 conv (`conv3x3_fn`):

| name | temporal module | params (400 cls) | GMACs (8 x 224) |
|---|---|---|---|
| `tsn_r50` | none (frames independent, logits averaged) | 24.33M | 32.7 |
| `tsm_r50` | `TemporalShift` (residual shift, 1/8 + 1/8 channels) | 24.33M | 32.7 |
| `teinet_r50` | `TemporalEnhancementInteraction` (MEM -> TIM) | 30.36M | 32.9 (65.8 @ 16f) |

Example:
    >>> import numpy as np, tfvideo
    >>> model = tfvideo.models.create("tsm_tiny", num_classes=5)
    >>> model(np.zeros((1, 8, 64, 64, 3), "float32")).shape
    TensorShape([1, 5])
"""

import keras
from keras import layers

from tfvideo.models import common
from tfvideo.models.registry import register

# Blocks per stage and block type for each supported depth.
DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
EXPANSION = {"basic": 1, "bottleneck": 4}

# keras.applications ResNet ImageNet weights expect Caffe preprocessing: BGR pixels in [0, 255]
# minus the ImageNet mean pixel. As (mean, std) for `Normalize` (RGB input scaled to [0, 1]),
# combined with the BGR flip of the stem kernel that the `keras_applications_resnet` conversion
# applies, this reproduces it exactly.
CAFFE = ((123.68 / 255.0, 116.779 / 255.0, 103.939 / 255.0), (1.0 / 255.0,) * 3)


def conv_initializer():
    """torchvision's ResNet conv init: kaiming normal, fan_out, ReLU gain."""
    return keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


def conv_bn(
    x,
    filters,
    kernel_size,
    strides=1,
    *,
    conv_name,
    bn_name,
    epsilon=1e-5,
    momentum=0.9,
    relu=False,
):
    """PyTorch-padded conv (no bias) + BatchNorm (+ ReLU), with explicit layer names."""
    x = common.torch_padded_conv2d(
        x,
        filters,
        kernel_size,
        strides=strides,
        name=conv_name,
        kernel_initializer=conv_initializer(),
    )
    x = common.batch_norm(x, name=bn_name, epsilon=epsilon, momentum=momentum)
    return layers.ReLU(name=f"{bn_name}_relu")(x) if relu else x


def _check_options(depth, width, stride_on, first_stride):
    if not (
        depth in DEPTHS
        or (
            isinstance(depth, (tuple, list))
            and len(depth) == 4
            and all(isinstance(n, int) and n >= 1 for n in depth)
        )
    ):
        raise ValueError(
            f"depth must be one of {sorted(DEPTHS)} or 4 bottleneck counts per "
            f"stage such as (1, 1, 1, 1), got {depth!r}"
        )
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int (64 for the standard ResNet), got {width}")
    if stride_on not in ("3x3", "1x1"):
        raise ValueError(
            f"stride_on must be '3x3' (torchvision v1.5) or '1x1' (v1, "
            f"keras.applications), got {stride_on!r}"
        )
    if first_stride not in (1, 2):
        raise ValueError(f"first_stride must be 1 or 2, got {first_stride}")


def residual_block(
    x,
    filters,
    strides,
    *,
    kind="bottleneck",
    name,
    stride_on="3x3",
    branch_fn=None,
    conv3x3_fn=None,
    epsilon=1e-5,
    momentum=0.9,
):
    """One ResNet block on `[N, H, W, C]`.

    Args:
        x: block input.
        filters: width of the block (bottleneck output is `4 * filters`).
        strides: spatial stride of the block.
        kind: "bottleneck" (1x1 -> 3x3 -> 1x1) or "basic" (3x3 -> 3x3).
        name: prefix of the layer names, torchvision style (`layer1_0`).
        stride_on: where a bottleneck strides: "3x3" (v1.5) or "1x1" (v1).
        branch_fn: optional `fn(x, name) -> x` applied to the residual branch input only
            (the shortcut keeps `x`), e.g. a residual temporal shift.
        conv3x3_fn: optional `fn(x, filters, strides, name) -> y` replacing the bottleneck's
            3x3 conv and its BN (no activation; the block applies the ReLU). `name` is the block
            prefix; the replacement should call its conv `{name}_conv2`.
        epsilon, momentum: BatchNorm settings.
    """
    norm = dict(epsilon=epsilon, momentum=momentum)
    out_channels = filters * EXPANSION[kind]
    shortcut = x
    if strides != 1 or x.shape[-1] != out_channels:
        shortcut = conv_bn(
            x,
            out_channels,
            1,
            strides,
            conv_name=f"{name}_downsample_0",
            bn_name=f"{name}_downsample_1",
            **norm,
        )
    y = branch_fn(x, name) if branch_fn is not None else x
    if kind == "basic":
        if conv3x3_fn is not None:
            raise ValueError(
                "conv3x3_fn replaces the 3x3 conv of bottleneck blocks; "
                "depths 18/34 use basic blocks"
            )
        y = conv_bn(
            y,
            filters,
            3,
            strides,
            conv_name=f"{name}_conv1",
            bn_name=f"{name}_bn1",
            relu=True,
            **norm,
        )
        y = conv_bn(y, filters, 3, 1, conv_name=f"{name}_conv2", bn_name=f"{name}_bn2", **norm)
    else:
        stride1, stride3 = (strides, 1) if stride_on == "1x1" else (1, strides)
        y = conv_bn(
            y,
            filters,
            1,
            stride1,
            conv_name=f"{name}_conv1",
            bn_name=f"{name}_bn1",
            relu=True,
            **norm,
        )
        if conv3x3_fn is None:
            y = conv_bn(
                y, filters, 3, stride3, conv_name=f"{name}_conv2", bn_name=f"{name}_bn2", **norm
            )
        else:
            y = conv3x3_fn(y, filters, stride3, name)
        y = layers.ReLU(name=f"{name}_bn2_relu")(y)
        y = conv_bn(y, out_channels, 1, 1, conv_name=f"{name}_conv3", bn_name=f"{name}_bn3", **norm)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def resnet_backbone(
    x,
    *,
    depth=50,
    width=64,
    stem_pool=True,
    first_stride=1,
    stride_on="3x3",
    branch_fn=None,
    conv3x3_fn=None,
    epsilon=1e-5,
    momentum=0.9,
):
    """Applies a 2D ResNet to frame-folded input `[B*T, H, W, C]`; returns the last feature map.

    Args:
        x: symbolic input tensor `[N, H, W, C]` (already normalised).
        depth: 18, 34, 50, 101 or 152, or bottleneck blocks per stage, e.g. (1, 1, 1, 1).
        width: base width (64 for the standard ResNet; stage widths are 1x, 2x, 4x, 8x).
        stem_pool: keep the 3x3/2 max-pool after the stem (False for TAda2D).
        first_stride: stride of the first stage (res2): 1 for ResNet, 2 for TAda2D.
        stride_on: "3x3" (torchvision v1.5) or "1x1" (original v1 / keras.applications).
        branch_fn, conv3x3_fn: per-block hooks, see `residual_block`.
        epsilon, momentum: BatchNorm settings (PyTorch defaults).

    Example:
        >>> import keras
        >>> inp = keras.Input((64, 64, 3))
        >>> resnet_backbone(inp, depth=50, width=8).shape
        (None, 2, 2, 256)
    """
    depth = tuple(depth) if isinstance(depth, list) else depth
    _check_options(depth, width, stride_on, first_stride)
    kind, blocks = DEPTHS[depth] if depth in DEPTHS else ("bottleneck", tuple(depth))
    norm = dict(epsilon=epsilon, momentum=momentum)
    x = conv_bn(x, width, 7, 2, conv_name="conv1", bn_name="bn1", relu=True, **norm)
    if stem_pool:
        # Zero padding equals PyTorch's -inf padding here: the input is post-ReLU (>= 0).
        x = layers.ZeroPadding2D(1, name="maxpool_pad")(x)
        x = layers.MaxPooling2D(3, 2, name="maxpool")(x)
    for stage, num_blocks in enumerate(blocks):
        filters = width * 2**stage
        for index in range(num_blocks):
            strides = (first_stride if stage == 0 else 2) if index == 0 else 1
            x = residual_block(
                x,
                filters,
                strides,
                kind=kind,
                name=f"layer{stage + 1}_{index}",
                stride_on=stride_on,
                branch_fn=branch_fn,
                conv3x3_fn=conv3x3_fn,
                **norm,
            )
    return x


def tsn_head(features, num_classes, num_frames, dropout=0.5, prefix=""):
    """TSN consensus: per-frame dropout + FC, then the mean of the frame logits (layers
    `{prefix}fc`, `{prefix}unfold`, `{prefix}consensus`)."""
    logits = common.classifier_head(
        features,
        num_classes,
        dropout=dropout,
        name=f"{prefix}fc",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
    )
    logits = common.UnfoldFrames(num_frames, name=f"{prefix}unfold")(logits)
    return common.TemporalMean(name=f"{prefix}consensus", dtype="float32")(logits)


def video_resnet(
    num_classes,
    num_frames,
    input_size,
    *,
    name,
    temporal=None,
    mean=common.IMAGENET[0],
    std=common.IMAGENET[1],
    depth=50,
    width=64,
    stem_pool=True,
    dropout=0.5,
    stride_on="3x3",
    temporal_every=1,
    shift_div=8,
    tei_reduction=8,
    tim_initializer="shift",
    causal=False,
):
    """Builds a TSN-style frame-folded ResNet video classifier.

    Args:
        num_classes: number of logits.
        num_frames: frames per clip (static; temporal modules need it).
        input_size: square side or (height, width) of the frames.
        name: model name.
        temporal: None (TSN), "tsm" (residual `TemporalShift`) or "tei" (TEINet's
            `TemporalEnhancementInteraction`), inserted at the start of every residual branch.
        mean, std: per-channel normalisation of `Normalize`; ImageNet by default.
        depth, width, stem_pool, stride_on: backbone options (see `resnet_backbone`).
        dropout: dropout rate before the FC layer.
        temporal_every: put the temporal module in blocks `0, n, 2n, ...` of each stage (TSM's
            reference shifts every 2nd block of ResNet-101, every block of ResNet-50).
        shift_div: TSM shifts `2 / shift_div` of the channels.
        tei_reduction, tim_initializer: TEINet MEM reduction and TIM init.
        causal: causal temporal modules (online TSM: shift from the past only; TEINet: MEM
            difference with the previous frame, left-padded TIM), so frame t's logits depend
            on frames `<= t` only and the model streams (`VideoClassifier.stream_step`).
    """
    if temporal not in (None, "tsm", "tei"):
        raise ValueError(f"temporal must be None, 'tsm' or 'tei', got {temporal!r}")
    if not isinstance(temporal_every, int) or temporal_every < 1:
        raise ValueError(f"temporal_every must be a positive int, got {temporal_every!r}")
    branch_fn = None
    if temporal is not None:
        from tfvideo import layers as video_layers

        def branch_fn(y, block):
            if int(block.rsplit("_", 1)[1]) % temporal_every:  # block = layer{stage}_{index}
                return y
            if temporal == "tsm":
                return video_layers.TemporalShift(
                    num_frames, shift_div=shift_div, causal=causal, name=f"{block}_shift"
                )(y)
            return video_layers.TemporalEnhancementInteraction(
                num_frames,
                reduction=tei_reduction,
                tim_initializer=tim_initializer,
                causal=causal,
                name=f"{block}_tei",
            )(y)

    clips = common.clip_input(num_frames, input_size)
    x = common.Normalize(mean, std, name="normalize")(clips)
    x = common.FoldFrames(name="fold")(x)
    x = resnet_backbone(
        x, depth=depth, width=width, stem_pool=stem_pool, stride_on=stride_on, branch_fn=branch_fn
    )
    features = layers.GlobalAveragePooling2D(name="avgpool")(x)
    return keras.Model(clips, tsn_head(features, num_classes, num_frames, dropout), name=name)


# ---------------------------------------------------------------------------------------------
# Named configurations. Tiny variants (width 16, one bottleneck per stage, no stem max-pool so a
# 64 px frame still ends at 4 x 4) are for CPU demos, tests and the synthetic-motion example.

TINY = dict(depth=(1, 1, 1, 1), width=16)


def _register(name, temporal, input_size=224, **config):
    def build(num_classes, num_frames, input_size, **options):
        return video_resnet(
            num_classes, num_frames, input_size, temporal=temporal, name=name, **options
        )

    register(
        name,
        family="resnet",
        num_frames=8,
        input_size=input_size,
        mean=common.IMAGENET[0],
        std=common.IMAGENET[1],
        **config,
    )(build)


for _prefix, _temporal in (("tsn", None), ("tsm", "tsm"), ("teinet", "tei")):
    _register(f"{_prefix}_r50", _temporal, depth=50)
    # TSM's reference shifts every 2nd block of ResNet-101 (`n_round = 2`).
    _register(f"{_prefix}_r101", _temporal, depth=101, temporal_every=2 if _prefix == "tsm" else 1)
    _register(f"{_prefix}_tiny", _temporal, input_size=64, stem_pool=False, **TINY)
# Causal (streaming) tiny variants: tfvideo.models.streaming steps them frame by frame. The
# online shift moves 1/shift_div of the channels from t-1: with 1/8, the 16 channels of the
# tiny first stage would carry 2 (the demo measured 88.1 % held-out top-1 with 8, 98.8 % with 4).
_register(
    "tsm_causal_tiny", "tsm", input_size=64, stem_pool=False, causal=True, shift_div=4, **TINY
)
_register("teinet_causal_tiny", "tei", input_size=64, stem_pool=False, causal=True, **TINY)
