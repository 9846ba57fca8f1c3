"""Loading official PyTorch checkpoints into tfvideo's Keras models, with numerical parity.

    tfvideo convert --arch tada2d_r50 --checkpoint tada2d_8x8.pyth --out tada2d_r50.weights.h5

or, in Python, `load_torch_state_dict(model, "checkpoint.pth")`. PyTorch is needed only to read
`.pth` files (`pip install 'tfvideo[torch]'`); the converted weights load into the pure Keras model
on any backend. Supported layouts: `SOURCES`, keras.applications ImageNet ResNets included
(`load_torch_state_dict(model, keras.applications.ResNet50(weights="imagenet"))`). Every layout
goes through one engine (`_plan.WeightPlan`): all problems are listed before anything is written.
"""

from tfvideo.convert._plan import ConversionError, ConversionReport
from tfvideo.convert.core import (
    SOURCES,
    checkpoint_num_classes,
    detect_source,
    load_torch_state_dict,
    model_family,
    read_state_dict,
)
from tfvideo.convert.resnet import resnet_state_dict
from tfvideo.convert.torch_io import read_checkpoint, unwrap_state_dict

__all__ = [
    "ConversionError",
    "ConversionReport",
    "SOURCES",
    "checkpoint_num_classes",
    "detect_source",
    "load_torch_state_dict",
    "model_family",
    "read_checkpoint",
    "read_state_dict",
    "resnet_state_dict",
    "unwrap_state_dict",
]
