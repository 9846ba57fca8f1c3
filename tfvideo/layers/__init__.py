"""Every Keras layer of tfvideo: the four papers' temporal modules and the layers the models are
built from (normalisation, frame folding, separable pooling, layer scale, stochastic depth).

All layers use `keras.ops` only (TensorFlow, JAX and PyTorch backends; `FusedBatchNormalization`
adds TensorFlow's fused kernel to its training call) and lower to TFLite builtin ops.
Frame-folded layers take `[batch * num_frames, H, W, C]` and a static `num_frames`; the S3D
layers take `[batch, T, H, W, C]`.
"""

from tfvideo.layers.blvnet import TemporalAggregation
from tfvideo.layers.frames import (
    FoldFrames,
    FrameRepeat,
    FrameSubsample,
    TemporalMean,
    TemporalWindows,
    UnfoldFrames,
)
from tfvideo.layers.normalization import FusedBatchNormalization, Normalize
from tfvideo.layers.pooling import SeparablePooling3D
from tfvideo.layers.regularization import DropPath, LayerScale
from tfvideo.layers.s3d import CentreInitializer, SeparableConv3D, SpatioTemporalGating
from tfvideo.layers.tada import RouteFunc, TAdaAggregation, TAdaConv2D
from tfvideo.layers.tada_v2 import (
    QuickGELU,
    RouteFuncTransformer,
    TAdaConv2DV2,
    TAdaLayerNormAggregation,
)
from tfvideo.layers.teinet import (
    MotionEnhancement,
    TemporalEnhancementInteraction,
    TemporalInteraction,
)
from tfvideo.layers.tsm import TemporalShift

__all__ = [
    "CentreInitializer",
    "DropPath",
    "FoldFrames",
    "FrameRepeat",
    "FrameSubsample",
    "FusedBatchNormalization",
    "LayerScale",
    "Normalize",
    "QuickGELU",
    "SeparablePooling3D",
    "TemporalMean",
    "TemporalWindows",
    "UnfoldFrames",
    "MotionEnhancement",
    "RouteFunc",
    "RouteFuncTransformer",
    "SeparableConv3D",
    "SpatioTemporalGating",
    "TAdaAggregation",
    "TAdaConv2D",
    "TAdaConv2DV2",
    "TAdaLayerNormAggregation",
    "TemporalAggregation",
    "TemporalEnhancementInteraction",
    "TemporalInteraction",
    "TemporalShift",
]
