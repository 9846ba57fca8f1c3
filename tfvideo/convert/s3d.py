"""torchvision S3D checkpoints (`S3D_Weights.KINETICS400_V1`) -> `s3d`.

Delegates to `tfvideo.models.s3d.load_torchvision_weights` (which knows the Inception layout), and
adds what the engine guarantees for every family: an atomic load (the weights are restored when
the delegate rejects the checkpoint), the BN epsilon check, and `include_head=False`.
"""

import keras
import numpy as np

from tfvideo.convert import _plan

BN_EPSILON = 1e-3  # torchvision S3D's BatchNorm3d(eps=0.001)


def plan_s3d(plan, model, include_head):
    from tfvideo.models import s3d as s3d_model

    for layer in _plan.all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            plan.check_setting(f"{layer.name}: BN epsilon", layer.epsilon, BN_EPSILON)
    state = dict(plan.state)
    head = model.get_layer("logits_conv")
    if not include_head:
        plan.ignore([k for k in state if k.startswith("classifier.")])
        plan.allow_uncovered(head.weights)
        kernel = keras.ops.convert_to_numpy(head.kernel)  # (1, 1, C, K)
        state["classifier.1.weight"] = np.transpose(kernel[0, 0])[:, :, None, None, None]
        state["classifier.1.bias"] = keras.ops.convert_to_numpy(head.bias)
    # The delegate checks names and shapes itself; run it on a snapshot so that a rejected
    # checkpoint leaves the model as it was, and report its verdict with the others.
    snapshot = [keras.ops.convert_to_numpy(v) for v in model.weights]
    try:
        s3d_model.load_torchvision_weights(model, state)
    except ValueError as error:
        plan.mismatched.append(f"torchvision S3D layout: {error}")
        plan.used.update(plan.state)
    else:
        plan.used.update(k for k in plan.state if k not in plan.ignored)
        plan.cover([v for v in model.weights
                    if include_head or all(v is not w for w in head.weights)])
    finally:
        loaded = [keras.ops.convert_to_numpy(v) for v in model.weights]
        for variable, value in zip(model.weights, snapshot):
            variable.assign(value)
    plan.assignments.extend(zip(model.weights, loaded))
