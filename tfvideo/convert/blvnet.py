"""bLVNet-TAM checkpoints (IBM/bLVNet-TAM model zoo) -> `blvnet_tam_r50` / `blvnet_tam_r101`.

The release saves `bLVNet_TAM.state_dict()`: the backbone under `baseline_model.` (`conv1`,
`bn1`, `tam.{prev,curr,next}`, `b_conv0`, `bn_b0`, `l_conv{0,1,2}`, `bn_l{0,1,2}`, `bl_init`,
`bn_bl_init`, `layer{1,2,3}.{tam,big,little,little_e,fusion}`, `layer4.{i}`) and the classifier as
`new_fc`. The Keras layers carry the same paths with "." -> "_", so the mapping walks the model:
conv `[O, I, kh, kw]` -> `(kh, kw, I, O)`, BN fields, and each TAM's three depthwise 1x1 weights
`prev` / `curr` / `next` (`[C, 1, 1, 1]`) -> rows 0 / 1 / 2 of the `TemporalAggregation` kernel.
"""

import keras
import numpy as np

from tfvideo.convert import _plan
from tfvideo.layers import TemporalAggregation

BN_EPSILON = 1e-5  # nn.BatchNorm2d defaults throughout
PREFIX = "baseline_model."
TAM_ROWS = ("prev", "curr", "next")


def _tam_kernel(weights):
    rows = []
    for weight in weights:
        if weight.ndim != 4 or weight.shape[1:] != (1, 1, 1):
            raise _plan.ShapeMismatch(f"shape {weight.shape}, expected [C, 1, 1, 1]")
        rows.append(weight[:, 0, 0, 0])
    return np.stack(rows)


def plan_blvnet(plan, model, include_head):
    for layer in model.layers:
        if not layer.weights:
            continue
        path = _plan.module_path(layer.name)
        if isinstance(layer, keras.layers.Dense):  # new_fc, outside the backbone
            if include_head:
                plan.dense(layer, path)
            else:
                plan.allow_uncovered(layer.weights)
                plan.ignore([f"{path}.weight", f"{path}.bias"])
            continue
        prefix = PREFIX + path
        if isinstance(layer, TemporalAggregation):
            if layer.blending_frames != 3:
                plan.settings.append(
                    f"{layer.name}: blending_frames {layer.blending_frames}; "
                    "the release's TAM blends 3 frames (prev/curr/next)"
                )
                continue
            weights = [plan.take(f"{prefix}.{row}.weight") for row in TAM_ROWS]
            value = None if any(w is None for w in weights) else weights
            plan.assign_value(
                layer.kernel, value, f"{prefix}.{{prev,curr,next}}.weight", _tam_kernel
            )
        elif isinstance(layer, keras.layers.BatchNormalization):
            plan.batch_norm(layer, prefix, BN_EPSILON)
        elif isinstance(layer, keras.layers.Conv2D):
            plan.conv2d(layer, prefix)
        else:
            plan.settings.append(
                f"{layer.name}: no bLVNet-TAM counterpart for a {type(layer).__name__}"
            )
