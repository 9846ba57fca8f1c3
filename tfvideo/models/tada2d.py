"""TAda2D (Huang et al., ICLR 2022): a ResNet whose 3x3 convs are temporally adaptive (TAdaConv).

Backbone (`tadaconv` repo, `ResNet3D` + `Base2DStem` + `TAda2DBlock`), on frame-folded input:
stem 7x7/2 conv-BN-ReLU with **no max-pool**; the first block of **every** stage (res2 included)
strides 2 on its 3x3 and on its projection shortcut. Each bottleneck is

    conv1x1-BN-ReLU -> TAdaConv2D 3x3 (alpha from RouteFunc(its input), 'cin' calibration)
    -> TAdaAggregation: BN(y) + BN_0(AvgPool_t3(y)) -> ReLU -> conv1x1-BN -> + shortcut -> ReLU

Head: average over T, H, W -> dropout 0.5 -> Dense. Input normalised with mean 0.45, std 0.225.
At initialisation (alpha = 1, zero-init BN_0) the network equals its 2D counterpart
(`temporal=False`: the same backbone with plain 3x3 convs) given the same 2D weights.

| name | frames x size | params (400 cls) | GMACs |
|---|---|---|---|
| `tada2d_r50` | 8 x 256 / 16 x 256 (test crop; training crop 224) | 27.49M | 43.1 / 86.3 |

Example:
    >>> import numpy as np, tfvideo
    >>> model = tfvideo.models.create("tada2d_tiny", num_classes=5)
    >>> model(np.zeros((1, 8, 64, 64, 3), "float32")).shape
    TensorShape([1, 5])
"""

import keras
from keras import layers

from tfvideo.models import common
from tfvideo.models.registry import register
from tfvideo.models.resnet import TINY, conv_initializer, resnet_backbone


def tada_conv3x3_fn(
    num_frames,
    route_reduction=4,
    route_kernel_sizes=(3, 3),
    epsilon=1e-5,
    momentum=0.9,
    causal=False,
):
    """`conv3x3_fn` hook of `resnet_backbone` that builds TAda2D's temporal 3x3 conv.

    The TAdaConv2D is named `{block}_conv2` and the aggregation `{block}_bn2` (its main BN is
    torchvision's `bn2`), so 2D ImageNet weights load by name. `causal` builds both causal
    (causal route, running-mean context, aggregation over frames t-2..t).
    """
    from tfvideo import layers as video_layers

    def conv3x3(x, filters, strides, block):
        y = video_layers.TAdaConv2D(
            filters,
            3,
            num_frames,
            strides=strides,
            padding=1,
            calibration="cin",
            use_bias=False,
            route_reduction=route_reduction,
            route_kernel_sizes=tuple(route_kernel_sizes),
            kernel_initializer=conv_initializer(),
            causal=causal,
            name=f"{block}_conv2",
        )(x)
        return video_layers.TAdaAggregation(
            num_frames, epsilon=epsilon, momentum=momentum, causal=causal, name=f"{block}_bn2"
        )(y)

    return conv3x3


def tada2d(
    num_classes,
    num_frames,
    input_size,
    *,
    name="tada2d",
    depth=50,
    width=64,
    first_stride=2,
    temporal=True,
    mean=common.TADA[0],
    std=common.TADA[1],
    dropout=0.5,
    stride_on="3x3",
    route_reduction=4,
    route_kernel_sizes=(3, 3),
    causal=False,
):
    """Builds a TAda2D video classifier taking `[B, T, H, W, 3]` clips in [0, 255].

    Args:
        num_classes: number of logits.
        num_frames: frames per clip (static).
        input_size: square side or (height, width) of the frames.
        name: model name.
        depth: 50 / 101 / 152, or bottleneck blocks per stage such as (1, 1, 1, 1).
        width: base width (64 standard).
        first_stride: stride of res2's first block (2 in TAda2D, which drops the max-pool).
        temporal: False builds the 2D counterpart (plain 3x3 conv + BN in every block).
        mean, std: per-channel normalisation of `Normalize`; TAda's 0.45 / 0.225 by default.
        dropout: dropout rate before the FC layer.
        stride_on: "3x3" (v1.5, as TAda2D) or "1x1" (v1).
        route_reduction, route_kernel_sizes: RouteFunc settings (r = 4, k = (3, 3)).
        causal: causal TAdaConvs and aggregations (see `tada_conv3x3_fn`), so the model
            streams frame by frame (`VideoClassifier.stream_step`).
    """
    conv3x3_fn = (
        tada_conv3x3_fn(num_frames, route_reduction, route_kernel_sizes, causal=causal)
        if temporal
        else None
    )
    clips = common.clip_input(num_frames, input_size)
    x = common.Normalize(mean, std, name="normalize")(clips)
    x = common.FoldFrames(name="fold")(x)
    x = resnet_backbone(
        x,
        depth=depth,
        width=width,
        stem_pool=False,
        first_stride=first_stride,
        stride_on=stride_on,
        conv3x3_fn=conv3x3_fn,
    )
    x = layers.GlobalAveragePooling2D(name="avgpool")(x)
    x = common.UnfoldFrames(num_frames, name="unfold")(x)
    x = common.TemporalMean(name="temporal_pool")(x)
    logits = common.classifier_head(
        x,
        num_classes,
        dropout=dropout,
        name="fc",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
    )
    return keras.Model(clips, logits, name=name)


def _register(name, input_size=224, sampling="dense", **config):
    def build(num_classes, num_frames, input_size, **options):
        return tada2d(num_classes, num_frames, input_size, name=name, **options)

    register(
        name,
        family="tada2d",
        num_frames=8,
        input_size=input_size,
        sampling=sampling,
        mean=common.TADA[0],
        std=common.TADA[1],
        **config,
    )(build)


# The paper reports 43 / 86 GMACs at the 256 x 256 test crop; training crops are 224.
_register("tada2d_r50", depth=50)
_register("tada2d_tiny", input_size=64, sampling="segments", first_stride=1, **TINY)
_register(
    "tada2d_causal_tiny", input_size=64, sampling="segments", first_stride=1, causal=True, **TINY
)
