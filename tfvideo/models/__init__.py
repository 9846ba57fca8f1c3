"""Video recognition models: `create(name, ...)` builds a named configuration."""

from tfvideo.models.registry import available, create, defaults, register

__all__ = ["available", "create", "defaults", "register"]
