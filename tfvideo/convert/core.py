"""`load_torch_state_dict`: official checkpoints (PyTorch releases, torchvision and
keras.applications ImageNet weights) -> tfvideo Keras models, exactly, through one `WeightPlan`.

Example:
    >>> import numpy as np, tfvideo
    >>> from tfvideo.convert import load_torch_state_dict, resnet_state_dict
    >>> model = tfvideo.models.create("tsn_r50", num_classes=1000, num_frames=2, input_size=64)
    >>> state = resnet_state_dict(model)      # any torchvision-style ResNet-50 state dict
    >>> load_torch_state_dict(model, state).source
    'torchvision_resnet'
"""

import collections.abc
import dataclasses
import os

from tfvideo.convert import _plan, keras_applications, torch_io
from tfvideo.convert.blvnet import plan_blvnet
from tfvideo.convert.keras_applications import plan_keras_applications_resnet
from tfvideo.convert.resnet import plan_resnet
from tfvideo.convert.s3d import plan_s3d
from tfvideo.convert.tadaconvnext import plan_tadaconvnext
from tfvideo.convert.tadaconvnextv2 import plan_tadaconvnextv2
from tfvideo.models import common, resnet, spec_of


@dataclasses.dataclass(frozen=True)
class Source:
    """A checkpoint layout: which model family takes it and how its inputs were normalised."""

    name: str
    family: str
    mean_std: tuple | None  # None: the target model's own convention (a backbone start)
    description: str


SOURCES = {
    s.name: s
    for s in (
        Source(
            "torchvision_resnet",
            "resnet",
            None,
            "torchvision ResNet-50/101 ImageNet weights (the 2D start of TSN/TSM/TEINet/TAda2D)",
        ),
        Source(
            "keras_applications_resnet",
            "resnet",
            resnet.CAFFE,
            "keras.applications ResNet50/101/152 (v1, Caffe BGR input) ImageNet weights: a model, "
            ".h5 / .weights.h5 or .keras file (the 2D start of a stride_on='1x1' video ResNet)",
        ),
        Source("tsm", "resnet", common.IMAGENET, "TSM release (mit-han-lab/temporal-shift-module)"),
        Source(
            "tada2d", "tada2d", common.TADA, "TAdaConv release: TAda2D (ResNet3D + TAda2DBlock)"
        ),
        Source(
            "tadaconvnext",
            "tadaconvnext",
            common.TADA,
            "TAdaConvNeXt v1 (Masked-Action-Recognition ConvNeXt + TAdaConvNeXtBlock)",
        ),
        Source(
            "tadaconvnextv2",
            "tadaconvnextv2",
            common.TADA,
            "TAdaConv release: TAdaConvNeXtV2 (ConvNeXt + TAdaConvNeXtV2Block)",
        ),
        Source("blvnet_tam", "blvnet", common.IMAGENET, "IBM/bLVNet-TAM release (bLVNet_TAM)"),
        Source("torchvision_s3d", "s3d", common.KINETICS_S3D, "torchvision S3D (KINETICS400_V1)"),
    )
}

# The planner of each layout (which families take which layouts: `ModelSpec.checkpoint_layouts`).
PLANNERS = {
    "torchvision_resnet": plan_resnet,
    "tsm": plan_resnet,
    "tada2d": plan_resnet,
    "keras_applications_resnet": plan_keras_applications_resnet,
    "tadaconvnext": plan_tadaconvnext,
    "tadaconvnextv2": plan_tadaconvnextv2,
    "blvnet_tam": plan_blvnet,
    "torchvision_s3d": plan_s3d,
}

# A checkpoint entry of the classifier whose first axis is the class count, per source.
HEAD_WEIGHT = {
    "torchvision_resnet": "fc.weight",
    "tsm": "new_fc.weight",
    "tada2d": "head.out.weight",
    "keras_applications_resnet": "predictions.bias",
    "tadaconvnext": "head.out.weight",
    "tadaconvnextv2": "head.out.weight",
    "blvnet_tam": "new_fc.weight",
    "torchvision_s3d": "classifier.1.weight",
}


def detect_source(state):
    """The layout (`SOURCES` key) of a flat state dict, from its key names."""
    keys = set(state)

    def has(fragment):
        return any(fragment in k for k in keys)

    if "conv1_conv.kernel" in keys and "conv2_block1_1_conv.kernel" in keys:
        return "keras_applications_resnet"
    if has("dwconv_rf.qkv_proj.") or has(".norm_avgpool."):
        return "tadaconvnextv2"
    if has("dwconv_rf.") or has("backbone.downsample_layers."):
        return "tadaconvnext"
    if has("conv_branch.") and has("backbone.conv1.a."):
        return "tada2d"
    if has(".tam.prev.") or "baseline_model.b_conv0.weight" in keys:
        return "blvnet_tam"
    if "features.0.0.0.weight" in keys or "classifier.1.weight" in keys:
        return "torchvision_s3d"
    if any(k.startswith("base_model.") for k in keys):
        return "tsm"
    if "layer1.0.conv1.weight" in keys and "conv1.weight" in keys:
        return "torchvision_resnet"
    raise ValueError(
        "cannot tell the checkpoint layout from its keys (first keys: "
        f"{sorted(keys)[:8]}); pass source= one of {sorted(SOURCES)}"
    )


def model_family(model):
    """The tfvideo family of a built model, from its `spec`."""
    return spec_of(model).family


def read_state_dict(state_dict, ema=False, allow_pickle=False, depth=None):
    """A flat `{key: float32 array}` dict from a path, a (possibly wrapped) mapping, or a
    keras.applications ResNet (a model or its `.h5` / `.weights.h5` / `.keras` file; `depth`:
    the ResNet to try first for a weights file)."""
    if keras_applications.is_keras_source(state_dict):
        return keras_applications.read_keras_applications(state_dict, depth=depth)
    if isinstance(state_dict, (str, os.PathLike)):
        return torch_io.read_checkpoint(state_dict, ema=ema, allow_pickle=allow_pickle)
    if not isinstance(state_dict, collections.abc.Mapping):
        raise ValueError(
            f"state_dict must be a mapping or a checkpoint path, got {type(state_dict).__name__}"
        )
    return torch_io.unwrap_state_dict(state_dict, ema=ema)


def _check_normalization(plan, spec):
    expected = SOURCES[plan.source].mean_std
    if expected is None:
        return
    actual = (spec.mean, spec.std)
    if any(abs(a - e) > 1e-6 for a, e in zip(actual[0] + actual[1], expected[0] + expected[1])):
        plan.settings.append(
            f"model {plan.model.name!r} normalises with mean/std {actual}, but the "
            f"{plan.source!r} weights were trained with {expected}; build the model with that "
            "mean/std or pass check_normalization=False"
        )


def load_torch_state_dict(
    model,
    state_dict,
    *,
    source=None,
    include_head=True,
    strict=True,
    ema=False,
    allow_pickle=False,
    check_normalization=True,
):
    """Loads an official checkpoint into a tfvideo model, for identical outputs.

    Every checkpoint tensor must find its Keras weight with a fitting shape and every model weight
    must be written, or one `ConversionError` lists all missing keys, unexpected keys, shape
    mismatches, unwritten model weights and settings (BN/LN epsilon, stride layout, input
    normalisation) that differ from the release; the model is then left unchanged. The only
    weights a source may leave at their initial values are those it does not define by design
    (the temporal modules when starting from ImageNet ResNet weights, the classifier with
    `include_head=False`); the report lists them.

    Args:
        model: a tfvideo model (`tfvideo.models.create(...)`, or a preset) of the source's
            family; its `spec` says which layouts it takes.
        state_dict: a checkpoint path (`.pth`, `.pyth`, `.pth.tar`, `.npz`), a mapping of names
            to arrays / torch tensors, or a keras.applications ResNet50/101/152 (the model, or
            its `.h5` / `.weights.h5` / `.keras` file). `{"model_state": ...}` /
            `{"state_dict": ...}` / `{"model": ...}` wrappers and `module.` prefixes are removed.
        source: the checkpoint layout (`SOURCES`); detected from the key names when None.
        include_head: also load the classifier (its class count must match the model's).
        strict: False loads despite unexpected checkpoint keys and settings that differ from the
            release (a different function, e.g. v1 ImageNet weights in a v1.5 model, to be
            fine-tuned), and lists them in the report (`unused_keys`, `waived`).
        ema: take the EMA weights (`model_ema_state`) of a TAdaConv-style checkpoint.
        allow_pickle: allow `torch.load(weights_only=False)` for a trusted file.
        check_normalization: require the model's input `Normalize` mean/std to be the ones the
            source was trained with.

    Returns:
        A `ConversionReport`.

    Raises:
        ConversionError (a ValueError) or ValueError.
    """
    spec = spec_of(model)
    depth = spec.options.get("depth")
    state = read_state_dict(
        state_dict,
        ema=ema,
        allow_pickle=allow_pickle,
        depth=depth if isinstance(depth, int) else None,
    )
    source = source or detect_source(state)
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}, got {source!r}")
    if source not in spec.checkpoint_layouts:
        raise ValueError(
            f"a {source!r} checkpoint ({SOURCES[source].description}) does not load "
            f"into model {model.name!r} of family {spec.family!r}, which takes "
            f"{list(spec.checkpoint_layouts)}"
        )
    plan = _plan.WeightPlan(model, state, source)
    if check_normalization:
        _check_normalization(plan, spec)
    PLANNERS[source](plan, model, include_head)
    report = plan.finish(strict=strict)
    plan.apply()
    return report


def checkpoint_num_classes(state, source):
    """Number of classes of the checkpoint's classifier (None when it has none)."""
    weight = state.get(HEAD_WEIGHT[source])
    return None if weight is None else int(weight.shape[0])
