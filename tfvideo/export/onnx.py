"""Export to ONNX, for onnxruntime and the runtimes that read ONNX.

`export_onnx(model, path)` converts with Keras's own `model.export(format="onnx")` (tf2onnx on
the TensorFlow backend). The `.onnx` model takes float32 frames `[batch, T, h, w, 3]` in [0, 255]
(input `frames`, already resized and cropped, as for TFLite; the batch is dynamic) and returns
the logits `[batch, classes]`. Its `ExportMetadata` JSON is stored in the model's
`metadata_props` under `tfvideo_metadata` (`read_onnx_metadata`), so `tfvideo predict` runs it.
A model with an op that tf2onnx cannot convert fails with `ONNXExportError` naming the ops.

Needs the `onnx` extra (`pip install 'tfvideo[onnx]'`: onnx, onnxruntime, tf2onnx).

Example:
    >>> import tfvideo
    >>> from tfvideo.export.onnx import export_onnx, read_onnx_metadata
    >>> model = tfvideo.models.create("tsm_tiny", num_classes=3, num_frames=4, input_size=32)
    >>> path = export_onnx(model, "/tmp/tsm_tiny.onnx")  # doctest: +SKIP
    >>> read_onnx_metadata(path).num_frames  # doctest: +SKIP
    4
"""

import contextlib
import os
import re

import numpy as np

from tfvideo._atomic import atomic_save
from tfvideo._optional import require
from tfvideo.export.metadata import ExportMetadata
from tfvideo.export.source import load_source, require_tensorflow_backend

ONNX_METADATA_NAME = "tfvideo_metadata"
INPUT_NAME = "frames"


@contextlib.contextmanager
def _onnx_expressible_gelu():
    """Exact GELU traced as `0.5 x (1 + erf(x / sqrt 2))` while exporting: TensorFlow writes it
    with `Erfc`, which tf2onnx cannot convert (ONNX has `Erf`); the two are the same function
    (TAdaConvNeXt's blocks use it). Patches Keras's TensorFlow backend function for the trace."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import nn as backend_nn

    original = backend_nn.gelu

    def gelu(x, approximate=True):
        if approximate:
            return original(x, approximate=True)
        x = tf.convert_to_tensor(x)
        return 0.5 * x * (1.0 + tf.math.erf(x * tf.cast(0.7071067811865476, x.dtype)))

    backend_nn.gelu = gelu
    try:
        yield
    finally:
        backend_nn.gelu = original


class ONNXExportError(ValueError):
    """tf2onnx could not convert the model; `ops` names the TensorFlow ops it could not map."""

    def __init__(self, message, ops=()):
        super().__init__(message)
        self.ops = list(ops)


def unsupported_ops(message: str) -> list:
    """The op names in tf2onnx's 'Unsupported ops: Counter({...})' report or its per-node
    'No conversion function registered for op type X' / 'Tensorflow op [..: X] is not
    supported' errors."""
    ops = re.findall(r"'([A-Za-z0-9_]+)': \d+", message.split("Unsupported ops", 1)[-1])
    ops += re.findall(r"op type ([A-Za-z0-9_]+)", message)
    ops += re.findall(r"Tensorflow op \[[^:\]]*: ([A-Za-z0-9_]+)\] is not supported", message)
    return sorted(set(ops)) if "nsupported" in message or "op type" in message else []


def export_onnx(source, path, metadata=None, opset=None, **metadata_fields) -> str:
    """Converts a Keras model (or a `.keras` file / training directory) to `path` (atomic);
    returns `path`.

    Args:
        source: the model.
        path: the `.onnx` file to write.
        metadata: its `ExportMetadata` (default: from the model and the files beside it).
        opset: the ONNX opset (default: tf2onnx's).
        **metadata_fields: other `ExportMetadata` fields.

    Raises:
        ONNXExportError: an op has no ONNX conversion (named).
    """
    require_tensorflow_backend("ONNX export")
    onnx = require("onnx", "ONNX export")
    require("tf2onnx", "ONNX export")
    if metadata is None:
        model, metadata = load_source(source, **metadata_fields)
    else:
        model = load_source(source)[0] if isinstance(source, (str, os.PathLike)) else source
    height, width = metadata.input_size
    model(np.zeros((1, metadata.num_frames, height, width, 3), np.float32))  # Keras needs a call

    def save(tmp):
        import tensorflow as tf

        signature = [
            tf.TensorSpec(
                [None, metadata.num_frames, height, width, 3], tf.float32, name=INPUT_NAME
            )
        ]
        try:
            with _onnx_expressible_gelu():
                model.export(
                    tmp,
                    format="onnx",
                    verbose=False,
                    input_signature=signature,
                    opset_version=opset,
                )
        except Exception as error:  # tf2onnx raises plain Exceptions (RuntimeError, ValueError)
            ops = unsupported_ops(str(error))
            if not ops:
                raise
            raise ONNXExportError(
                f"{model.name}: ONNX cannot express the TensorFlow op(s) {', '.join(ops)} "
                "(tf2onnx has no conversion for them)",
                ops,
            ) from None
        proto = onnx.load(tmp)
        # tf2onnx logs the ops it cannot convert and leaves them in the graph as TF op types
        ops = sorted(
            {
                node.op_type
                for node in proto.graph.node
                if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type, node.domain)
            }
        )
        if ops:
            raise ONNXExportError(
                f"{model.name}: ONNX cannot express the TensorFlow op(s) {', '.join(ops)} "
                "(tf2onnx has no conversion for them)",
                ops,
            )
        entry = proto.metadata_props.add()
        entry.key, entry.value = ONNX_METADATA_NAME, metadata.to_json()
        onnx.save(proto, tmp)

    return atomic_save(os.fspath(path), save)


def read_onnx_metadata(path) -> ExportMetadata:
    """The `ExportMetadata` stored in a `.onnx` file by `export_onnx`."""
    onnx = require("onnx", f"reading the ONNX model {path}")
    proto = onnx.load(os.fspath(path), load_external_data=False)
    for entry in proto.metadata_props:
        if entry.key == ONNX_METADATA_NAME:
            return ExportMetadata.from_json(entry.value)
    raise ValueError(f"{path}: no {ONNX_METADATA_NAME} metadata (not written by tfvideo export)")
