"""torchvision S3D checkpoints (`S3D_Weights.KINETICS400_V1`) -> `s3d`.

torchvision's `S3D.features` is the Inception-v1 layout of `tfvideo.models.s3d.LAYOUT`, one
entry per block (`features.{i}`), and `classifier.1` the logits conv:

- `Conv2d_1a_7x7`, `Conv2d_2c_3x3` and every Inception branch's `0b` conv are `SepConv3d`:
  `.0.0` / `.0.1` (1xkxk conv, BN) -> the layer's `spatial_conv` / `spatial_bn`, `.1.0` / `.1.1`
  (kx1x1 conv, BN) -> `temporal_conv` / `temporal_bn` (a `(k, 1)` Conv2D on `[B, T, H*W, C]`);
  the model must be built in the torchvision flavour (`create("s3d")`);
- `Conv2d_2b_1x1` and the 1x1x1 branches are `BasicConv3d`: `.0` conv, `.1` BN -> the 1x1
  Conv2D `{name}` and `{name}_bn`;
- `features.{i}.branch0` -> `{block}_b0_0a`; `branch{1,2}.0` / `.1` -> `{block}_b{1,2}_0a` /
  `_0b`; `branch3.1` (after the pool) -> `{block}_b3_0b`;
- `classifier.1` (Conv3d 1x1x1 with bias) -> `logits_conv`.

Conv3d weights `[O, I, 1, kh, kw]` become `(kh, kw, I, O)`, `[O, I, k, 1, 1]` become `(k, 1, I, O)`.
"""

from tfvideo.convert import _plan
from tfvideo.layers import SeparableConv3D
from tfvideo.models import s3d as s3d_model

BN_EPSILON = 1e-3  # torchvision S3D's BatchNorm3d(eps=0.001)
HEAD = "logits_conv"


def _conv_bn(plan, model, prefix, name):
    """A `BasicConv3d` (`.0` conv, `.1` BN) -> Conv2D `name` and BN `{name}_bn`."""
    plan.conv2d(model.get_layer(name), f"{prefix}.0")
    plan.batch_norm(model.get_layer(f"{name}_bn"), f"{prefix}.1", BN_EPSILON)


def _separable(plan, model, prefix, name, flavour_problems):
    """A `SepConv3d` -> a torchvision-flavour `SeparableConv3D` `name`."""
    layer = model.get_layer(name)
    if not isinstance(layer, SeparableConv3D) or layer.flavour != "torchvision":
        kind = (
            f"a {layer.flavour}-flavour SeparableConv3D"
            if isinstance(layer, SeparableConv3D)
            else f"a {type(layer).__name__}"
        )
        flavour_problems.append(f"{name} ({kind})")
        return
    plan.conv2d(layer.spatial_conv, f"{prefix}.0.0")
    plan.batch_norm(layer.spatial_bn, f"{prefix}.0.1", BN_EPSILON, name=f"{name}/spatial_bn")
    if layer.temporal_conv is not None:
        plan.assign(
            layer.temporal_conv.kernel, f"{prefix}.1.0.weight", _plan.temporal_conv2d_kernel
        )
    if layer.temporal_bn is not None:
        plan.batch_norm(layer.temporal_bn, f"{prefix}.1.1", BN_EPSILON, name=f"{name}/temporal_bn")


def plan_s3d(plan, model, include_head):
    """Plans an `s3d` model from a torchvision S3D state dict (see the module docstring)."""
    flavour_problems = []
    for index, (block, kind, _) in enumerate(s3d_model.LAYOUT):
        prefix, name = f"features.{index}", block.lower()
        if kind in ("stem", "conv"):
            _separable(plan, model, prefix, name, flavour_problems)
        elif kind == "pointwise":
            _conv_bn(plan, model, prefix, name)
        elif kind == "inception":
            _conv_bn(plan, model, f"{prefix}.branch0", f"{name}_b0_0a")
            for branch in (1, 2):
                _conv_bn(plan, model, f"{prefix}.branch{branch}.0", f"{name}_b{branch}_0a")
                _separable(
                    plan,
                    model,
                    f"{prefix}.branch{branch}.1",
                    f"{name}_b{branch}_0b",
                    flavour_problems,
                )
            _conv_bn(plan, model, f"{prefix}.branch3.1", f"{name}_b3_0b")
    if flavour_problems:
        plan.settings.append(
            f"{len(flavour_problems)} layers are not torchvision-flavour SeparableConv3D "
            f"({', '.join(flavour_problems[:3])}{', ...' if len(flavour_problems) > 3 else ''}); "
            "build the model with create('s3d')"
        )
    head = model.get_layer(HEAD)
    if include_head:
        plan.conv2d(head, "classifier.1")
    else:
        plan.allow_uncovered(head.weights)
        plan.ignore([k for k in plan.state if k.startswith("classifier.")])
