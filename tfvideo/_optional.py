"""Optional dependencies: one place that knows which extra installs which package.

    >>> from tfvideo._optional import require
    >>> require("numpy", "this example").__name__
    'numpy'

A missing one raises `MissingDependencyError` with one line naming the package, what needs it and
the `pip install` that brings it; the `tfvideo` command prints that line instead of a traceback.
"""

import importlib

# Importable module -> (PyPI package, tfvideo extra that installs it).
EXTRAS = {
    "ai_edge_litert": ("ai-edge-litert", "litert"),
    "torch": ("torch", "torch"),
    "torchvision": ("torchvision", "test"),
    "jax": ("jax", "jax"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "tf2onnx": ("tf2onnx", "onnx"),
}


class MissingDependencyError(ImportError):
    """An optional package that a feature needs is not installed."""


def require(module, purpose):
    """Imports and returns `module`, or raises `MissingDependencyError` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        package, extra = EXTRAS.get(top, (top, None))
        hint = f"pip install 'tfvideo[{extra}]'" if extra else f"pip install {package}"
        raise MissingDependencyError(
            f"{purpose} needs {package}, which is not installed ({hint})"
        ) from error
