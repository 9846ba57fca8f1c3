"""tfvideo: efficient video recognition models (S3D/S3D-G, TEINet, bLVNet-TAM, TAdaConv) in Keras 3.

`tfvideo.layers`, `tfvideo.models` and `tfvideo.profile` load on first use, so `import tfvideo`
(and the `tfvideo` command's start-up) does not import Keras and TensorFlow until needed.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("layers", "models", "profile")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"tfvideo.{name}")
    raise AttributeError(f"module 'tfvideo' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
