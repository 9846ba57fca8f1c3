"""bLVNet-TAM (Fan et al., NeurIPS 2019, "More Is Less"): Big-Little video network with TAM.

A clip of `2T` frames is split into two branches that share the work: the *big* branch sees the
odd frames (1, 3, 5, ...) at half resolution through a deep stack of bottlenecks, the *little*
branch sees the even frames (0, 2, 4, ...) at full resolution through one thin bottleneck. Frame
`2i + 1` of the big branch is upsampled (nearest, 2x) and added to frame `2i` of the little
branch, a fusion bottleneck merges them and the fused map is written back to *both* frames of the
pair. A Temporal Aggregation Module (TAM, `tfvideo.layers.TemporalAggregation`) mixes
neighbouring frames at the start of every big-little stage and of every block of the last stage,
which runs on the T big frames only. A per-frame classifier is averaged over the T frames.

The layout follows `IBM/bLVNet-TAM` (`core/models/blvnet_tam_backbone.py`) exactly, including its
quirks, so official checkpoints map one to one: Keras layer names are the PyTorch module paths
with "." replaced by "_" (`layer1.big.0.conv1` -> `layer1_big_0_conv1`, `layer4_0_downsample_1`,
`layer1_tam` holding `prev`/`curr`/`next` as kernel rows 0/1/2, `new_fc`). Conversion: conv
`weight[o, i, kh, kw]` -> `kernel[kh, kw, i, o]`; BN weight/bias/running_mean/running_var ->
gamma/beta/moving_mean/moving_variance.

Example:
    >>> import numpy as np, tfvideo
    >>> model = tfvideo.models.create("blvnet_tam_tiny", num_classes=5)
    >>> model(np.zeros((1, 16, 64, 64, 3), "float32")).shape
    TensorShape([1, 5])
"""

import keras
from keras import layers

from tfvideo.layers import FrameRepeat, FrameSubsample, TemporalAggregation
from tfvideo.models import common
from tfvideo.models.registry import register

_STAGE_DEPTHS = {50: (3, 4, 6, 3), 101: (4, 8, 18, 3), 152: (5, 12, 30, 3)}
_EXPANSION = 4
_BN_EPSILON = 1e-5
_BN_MOMENTUM = 0.9  # PyTorch momentum 0.1

# `kaiming_normal_(mode="fan_out", nonlinearity="relu")`, as the reference initialises every conv.
_CONV_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal"},
}
_FC_INIT = {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.001}}


def _conv_bn(
    x, filters, kernel_size, *, strides=1, relu=True, zero_init_bn=False, conv_name, bn_name
):
    """PyTorch-padded conv (no bias, kaiming fan_out) -> BN -> optional ReLU."""
    x = common.torch_padded_conv2d(
        x, filters, kernel_size, strides=strides, name=conv_name, kernel_initializer=_CONV_INIT
    )
    x = common.batch_norm(
        x, name=bn_name, epsilon=_BN_EPSILON, momentum=_BN_MOMENTUM, zero_init=zero_init_bn
    )
    return layers.ReLU(name=f"{conv_name}_relu")(x) if relu else x


def _shortcut(x, planes, strides, name):
    """Projection shortcut `downsample`: AvgPool(3, s2, p1, count padding) then conv1x1 + BN.

    Each part only when needed (stride != 1 / channels change); returns `x` when neither.
    """
    index = 0
    if strides != 1:
        x = layers.ZeroPadding2D(1, name=f"{name}_{index}_pad")(x)
        x = layers.AveragePooling2D(3, strides=2, padding="valid", name=f"{name}_{index}")(x)
        index += 1
    if x.shape[-1] != planes:
        x = _conv_bn(
            x, planes, 1, relu=False, conv_name=f"{name}_{index}", bn_name=f"{name}_{index + 1}"
        )
    return x


def _bottleneck(
    x,
    planes,
    *,
    strides=1,
    last_relu=True,
    tam_frames=None,
    shortcut_after_tam=True,
    causal=False,
    name,
):
    """bLVNet bottleneck; `planes` is the output width (internal width planes / 4).

    With `tam_frames`, a TAM over that many frames runs on the block input first. The reference
    takes the identity shortcut from the input *before* TAM but feeds the projection shortcut the
    TAM output (`shortcut_after_tam=True`); False uses the input before TAM for both.
    """
    identity = x
    if tam_frames:
        x = TemporalAggregation(tam_frames, causal=causal, name=f"{name}_tam")(x)
    width = planes // _EXPANSION
    out = _conv_bn(x, width, 1, conv_name=f"{name}_conv1", bn_name=f"{name}_bn1")
    out = _conv_bn(out, width, 3, strides=strides, conv_name=f"{name}_conv2", bn_name=f"{name}_bn2")
    out = _conv_bn(
        out,
        planes,
        1,
        relu=False,
        zero_init_bn=True,
        conv_name=f"{name}_conv3",
        bn_name=f"{name}_bn3",
    )
    if strides != 1 or x.shape[-1] != planes:
        identity = _shortcut(
            x if shortcut_after_tam else identity, planes, strides, name=f"{name}_downsample"
        )
    out = layers.Add(name=f"{name}_add")([out, identity])
    return layers.ReLU(name=f"{name}_relu")(out) if last_relu else out


def _res_layer(x, planes, blocks, *, strides=1, last_relu=True, name, **block_options):
    """`blocks` bottlenecks, the first with `strides`; `last_relu` applies to the last when
    there are at least two (as in the reference `_make_layer`)."""
    for index in range(blocks):
        x = _bottleneck(
            x,
            planes,
            strides=strides if index == 0 else 1,
            last_relu=last_relu if 0 < index == blocks - 1 else True,
            name=f"{name}_{index}",
            **block_options,
        )
    return x


def _merge_big_little(big, little, name):
    """Nearest 2x upsampling of the big branch, add frame-pairwise to the little one, ReLU."""
    big_size, little_size = tuple(big.shape[1:3]), tuple(little.shape[1:3])
    if little_size != (2 * big_size[0], 2 * big_size[1]):
        raise ValueError(
            f"{name}: little-branch maps {little_size} are not twice the big-branch "
            f"maps {big_size}; use an input_size divisible by 32"
        )
    big = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_upsample")(big)
    merged = layers.Add(name=f"{name}_add")([big, little])
    return layers.ReLU(name=f"{name}_relu")(merged)


def _bl_stem(x, num_frames, width, alpha, causal):
    """`conv1` 7x7/2 + TAM + the big-little `layer0` (`_forward_bL_layer0`)."""
    x = _conv_bn(x, width, 7, strides=2, conv_name="conv1", bn_name="bn1")
    x = TemporalAggregation(num_frames, causal=causal, name="tam")(x)
    big = FrameSubsample(2, 1, name="layer0_big_frames")(x)
    little = FrameSubsample(2, 0, name="layer0_little_frames")(x)
    big = _conv_bn(big, width, 3, strides=2, relu=False, conv_name="b_conv0", bn_name="bn_b0")
    little = _conv_bn(little, width // alpha, 3, conv_name="l_conv0", bn_name="bn_l0")
    little = _conv_bn(little, width // alpha, 3, strides=2, conv_name="l_conv1", bn_name="bn_l1")
    little = _conv_bn(little, width, 1, relu=False, conv_name="l_conv2", bn_name="bn_l2")
    x = layers.ReLU(name="layer0_relu")(layers.Add(name="layer0_add")([big, little]))
    x = _conv_bn(x, width, 1, conv_name="bl_init", bn_name="bn_bl_init")
    return FrameRepeat(2, name="layer0_duplicate")(x)


def _bl_module(x, planes, blocks, *, num_frames, alpha, beta, strides, causal, name):
    """`bLModule`: TAM, big branch (stride 2, blocks - 1), little branch, merge, fusion block."""
    x = TemporalAggregation(num_frames, causal=causal, name=f"{name}_tam")(x)
    big = FrameSubsample(2, 1, name=f"{name}_big_frames")(x)
    little = FrameSubsample(2, 0, name=f"{name}_little_frames")(x)
    big = _res_layer(big, planes, blocks - 1, strides=2, last_relu=False, name=f"{name}_big")
    little = _res_layer(little, planes // alpha, max(1, blocks // beta - 1), name=f"{name}_little")
    little = _conv_bn(
        little, planes, 1, relu=False, conv_name=f"{name}_little_e_0", bn_name=f"{name}_little_e_1"
    )
    x = _merge_big_little(big, little, name=name)
    x = _res_layer(x, planes, 1, strides=strides, name=f"{name}_fusion")
    return FrameRepeat(2, name=f"{name}_duplicate")(x)


def build_blvnet_tam(
    num_classes=174,
    num_frames=16,
    input_size=224,
    *,
    depth=50,
    stage_depths=None,
    widths=(64, 128, 256, 512),
    alpha=2,
    beta=4,
    dropout=0.5,
    shortcut_after_tam=True,
    mean=common.IMAGENET[0],
    std=common.IMAGENET[1],
    causal=False,
    name=None,
):
    """bLVNet-TAM as a functional `keras.Model`: clips `[B, num_frames, H, W, 3]` -> logits.

    Args:
        num_classes: classifier outputs.
        num_frames: input frames, 2T (even; "f8x2" is 16). Odd frames feed the big branch,
            even frames the little one; the logits are averaged over the T big frames.
        input_size: int or (H, W); both divisible by 32 so the big/little maps pair up.
        depth: 50, 101 or 152 (bLResNet stage depths (3,4,6,3), (4,8,18,3), (5,12,30,3)).
        stage_depths: explicit four stage depths; overrides `depth` (each >= 2 for stages 1-3).
        widths: bottleneck internal widths of the four stages (outputs are 4x); the stem has
            `widths[0]` channels.
        alpha: little branch width divisor. beta: little branch depth divisor.
        dropout: rate before the per-frame classifier.
        shortcut_after_tam: True reproduces the reference (the projection shortcut of the first
            layer4 block sees the TAM output); False feeds it the block input.
        mean, std: per-channel normalisation of [0, 1] pixels, applied inside the model.
        causal: causal TAMs (left-padded: frames t-2..t). A frame pair is processed together
            (the big frame feeds the little one), so the model streams by frame pairs.
    """
    if num_frames < 2 or num_frames % 2:
        raise ValueError(
            f"num_frames must be even and >= 2 (big + little frame pairs), got {num_frames}"
        )
    stage_depths = tuple(stage_depths or _stage_depths(depth))
    if len(stage_depths) != 4 or min(stage_depths[:3]) < 2 or stage_depths[3] < 1:
        raise ValueError(
            f"stage_depths needs 4 entries, the first three >= 2 (a big branch "
            f"of depth - 1 blocks), got {stage_depths}"
        )
    if len(widths) != 4:
        raise ValueError(f"widths needs 4 entries, got {widths}")
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    if height % 32 or width % 32:
        raise ValueError(f"input_size must be divisible by 32, got {input_size}")
    outs = [w * _EXPANSION for w in widths]

    clips = common.clip_input(num_frames, (height, width))
    x = common.Normalize(mean, std, name="normalize")(clips)
    x = common.FoldFrames(name="fold_frames")(x)
    x = _bl_stem(x, num_frames, widths[0], alpha, causal)
    for stage, strides in enumerate((2, 2, 1)):
        x = _bl_module(
            x,
            outs[stage],
            stage_depths[stage],
            num_frames=num_frames,
            alpha=alpha,
            beta=beta,
            strides=strides,
            causal=causal,
            name=f"layer{stage + 1}",
        )
    x = FrameSubsample(2, 1, name="layer4_big_frames")(x)
    x = _res_layer(
        x,
        outs[3],
        stage_depths[3],
        strides=2,
        tam_frames=num_frames // 2,
        shortcut_after_tam=shortcut_after_tam,
        causal=causal,
        name="layer4",
    )
    x = layers.GlobalAveragePooling2D(name="gappool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="fc")(x)  # the reference replaces `fc` by dropout
    x = layers.Dense(num_classes, kernel_initializer=_FC_INIT, name="new_fc", dtype="float32")(x)
    x = common.UnfoldFrames(num_frames // 2, name="unfold_frames")(x)
    logits = common.TemporalMean(name="consensus", dtype="float32")(x)
    return keras.Model(clips, logits, name=name or f"blvnet_tam_{depth}")


def _stage_depths(depth):
    if depth not in _STAGE_DEPTHS:
        raise ValueError(f"depth must be one of {sorted(_STAGE_DEPTHS)}, got {depth}")
    return _STAGE_DEPTHS[depth]


_SSV = dict(
    family="blvnet",
    num_classes=174,
    sampling="segments",
    mean=common.IMAGENET[0],
    std=common.IMAGENET[1],
)


@register("blvnet_tam_r50", num_frames=16, input_size=224, **_SSV)
def blvnet_tam_r50(num_classes, num_frames, input_size, **options):
    """bLVNet-TAM-50 (bLResNet-50, alpha 2, beta 4); 8x2 = 16 frames: 25.0M params, 23.9 GMACs."""
    return build_blvnet_tam(
        num_classes, num_frames, input_size, **{"depth": 50, "name": "blvnet_tam_r50", **options}
    )


@register("blvnet_tam_r101", num_frames=48, input_size=224, **_SSV)
def blvnet_tam_r101(num_classes, num_frames, input_size, **options):
    """bLVNet-TAM-101 (stages 4/8/18/3); 24x2 = 48 frames: 40.2M params, 96.5 GMACs."""
    return build_blvnet_tam(
        num_classes, num_frames, input_size, **{"depth": 101, "name": "blvnet_tam_r101", **options}
    )


@register("blvnet_tam_tiny", num_frames=16, input_size=64, **{**_SSV, "num_classes": 10})
def blvnet_tam_tiny(num_classes, num_frames, input_size, **options):
    """A narrow, shallow bLVNet-TAM (widths 8-64, stages 2/2/2/2) for CPU demos and tests."""
    return build_blvnet_tam(
        num_classes,
        num_frames,
        input_size,
        **{
            "stage_depths": (2, 2, 2, 2),
            "widths": (8, 16, 32, 64),
            "name": "blvnet_tam_tiny",
            **options,
        },
    )


@register(
    "blvnet_tam_causal_tiny",
    num_frames=16,
    input_size=64,
    causal=True,
    **{**_SSV, "num_classes": 10},
)
def blvnet_tam_causal_tiny(num_classes, num_frames, input_size, **options):
    """`blvnet_tam_tiny` with causal TAMs: it streams by frame pairs."""
    return blvnet_tam_tiny(
        num_classes, num_frames, input_size, **{"name": "blvnet_tam_causal_tiny", **options}
    )
