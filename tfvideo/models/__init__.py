"""Video recognition models: `create(name, ...)` builds a named configuration.

Importing this package registers every model family and its custom layers with Keras, so a
saved `.keras` model loads after a plain `import tfvideo`.
"""

from tfvideo.models import _families, common  # noqa: F401  (registers serializable classes)
from tfvideo.models.classifier import VideoClassifier, copy_weights, from_preset, spec_of
from tfvideo.models.registry import available, create, default_spec, defaults, register
from tfvideo.models.spec import ModelSpec
from tfvideo.models.temporalized import temporalize

__all__ = [
    "ModelSpec",
    "VideoClassifier",
    "available",
    "copy_weights",
    "create",
    "default_spec",
    "defaults",
    "from_preset",
    "register",
    "spec_of",
    "temporalize",
]
