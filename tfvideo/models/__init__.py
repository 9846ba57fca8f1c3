"""Video recognition models: `create(name, ...)` builds a named configuration.

Importing this package registers every model family and its custom layers with Keras, so a
saved `.keras` model loads after a plain `import tfvideo`.
"""

from tfvideo.models import _families, common  # noqa: F401  (registers serializable classes)
from tfvideo.models.registry import available, create, defaults, register

__all__ = ["available", "create", "defaults", "register"]
