"""Keras 3 layers of the four efficient video recognition papers.

All layers use `keras.ops` only (TensorFlow, JAX and PyTorch backends) and
lower to TFLite builtin ops. Frame-folded layers take `[batch * num_frames,
H, W, C]` and a static `num_frames`; the S3D layers take `[batch, T, H, W, C]`.
"""

from tfvideo.layers.blvnet import TemporalAggregation
from tfvideo.layers.s3d import CentreInitializer
from tfvideo.layers.s3d import SeparableConv3D
from tfvideo.layers.s3d import SpatioTemporalGating
from tfvideo.layers.tada import RouteFunc
from tfvideo.layers.tada import TAdaAggregation
from tfvideo.layers.tada import TAdaConv2D
from tfvideo.layers.teinet import MotionEnhancement
from tfvideo.layers.teinet import TemporalEnhancementInteraction
from tfvideo.layers.teinet import TemporalInteraction
from tfvideo.layers.tsm import TemporalShift

__all__ = [
    "CentreInitializer",
    "MotionEnhancement",
    "RouteFunc",
    "SeparableConv3D",
    "SpatioTemporalGating",
    "TAdaAggregation",
    "TAdaConv2D",
    "TemporalAggregation",
    "TemporalEnhancementInteraction",
    "TemporalInteraction",
    "TemporalShift",
]
