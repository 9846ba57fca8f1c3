"""Export to TFLite / LiteRT with builtin ops only, optionally quantized.

The `.tflite` model takes float32 frames `[1, T, h, w, 3]` in [0, 255] (input `frames`, already
resized and cropped; `tfvideo predict` does that) and returns `logits` `[1, classes]`. Its
`ExportMetadata` JSON is embedded in the flatbuffer's metadata list under `tfvideo_metadata`
(`read_tflite_metadata`).

Quantization (`quantize`):
- `"none"`: float32.
- `"float16"`: float16 weights (half the size), float32 compute.
- `"dynamic"`: int8 weights, activations quantized on the fly.
- `"int8"`: full integer kernels, calibrated on representative clips (float32 input/output).

A model that would need TensorFlow (Flex) ops fails with `TFLiteExportError` naming them.

Example:
    >>> import keras
    >>> from tfvideo.export.tflite import export_tflite, read_tflite_metadata
    >>> inputs = keras.Input((4, 32, 32, 3))
    >>> model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    >>> path = export_tflite(model, "/tmp/toy.tflite", model_name="toy")
    >>> read_tflite_metadata(path).num_frames
    4
"""

import dataclasses
import os
import re
import tempfile

import numpy as np
import tensorflow as tf

from tfvideo._atomic import atomic_write_text
from tfvideo.export.metadata import ExportMetadata
from tfvideo.export.preprocessing import eval_crop
from tfvideo.export.source import load_source, require_tensorflow_backend

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
TFLITE_METADATA_NAME = "tfvideo_metadata"


class TFLiteExportError(ValueError):
    """The model cannot become a builtin-ops TFLite model (e.g. it needs Flex ops)."""

    def __init__(self, message, ops=()):
        super().__init__(message)
        self.ops = tuple(ops)


def flex_ops_from_error(message: str) -> list:
    """The TensorFlow op names a converter error says need Flex (TF Select), sorted."""
    ops = set()
    for line in re.findall(r"TF Select ops: ([^\n]+)", message):
        ops.update(o.strip() for o in line.split(",") if o.strip())
    ops.update(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", message))
    return sorted(ops)


def _saved_model_for_conversion(model, metadata, directory):
    """A plain SavedModel (`serving_default`: `frames` -> `logits`) written by Keras's
    ExportArchive, whose variables the converter freezes into constants."""
    import keras

    spec = tf.TensorSpec(
        [1, metadata.num_frames, *metadata.input_size, 3], tf.float32, name="frames"
    )
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        lambda frames: {"logits": tf.cast(model(frames, training=False), tf.float32)},
        input_signature=[spec],
    )
    archive.write_out(directory, verbose=False)
    return directory


def calibration_clips(clips, metadata, limit=None):
    """The clips (`[T, H, W, 3]` or `[1, T, H, W, 3]`, values in [0, 255]) as `[T, h, w, 3]` at
    the model's input size (other sizes resized and cropped like at evaluation), `limit` at most."""
    for count, clip in enumerate(clips):
        if limit is not None and count >= limit:
            break
        clip = np.asarray(clip)
        if clip.ndim == 5:
            clip = clip[0]
        if clip.shape[1:3] != tuple(metadata.input_size):
            clip = eval_crop(clip, metadata.input_size, metadata.short_side).numpy()
        yield clip


def representative_dataset(clips, metadata, limit=None):
    """A converter `representative_dataset` from clips (see `calibration_clips`)."""

    def generate():
        for clip in calibration_clips(clips, metadata, limit):
            yield [clip[np.newaxis].astype(np.float32)]

    return generate


def convert(
    model, metadata, quantize="none", representative_clips=None, num_calibration_clips=100
) -> bytes:
    """The `.tflite` flatbuffer (bytes, metadata not embedded) of a Keras clip classifier."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    require_tensorflow_backend("TFLite export")
    with tempfile.TemporaryDirectory(prefix="tfvideo-tflite-") as directory:
        converter = tf.lite.TFLiteConverter.from_saved_model(
            _saved_model_for_conversion(model, metadata, directory)
        )
        dataset = None
        if representative_clips is not None:
            dataset = representative_dataset(representative_clips, metadata, num_calibration_clips)
        return convert_with(converter, metadata, quantize, dataset)


def convert_with(converter, metadata, quantize, representative=None) -> bytes:
    """Runs a `TFLiteConverter` with builtin ops only and `quantize`; `representative` (a
    `representative_dataset` generator function) calibrates int8. Flex ops raise
    `TFLiteExportError` naming them."""
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        if representative is None:
            raise ValueError(
                "quantize='int8' needs representative_clips (a sample of the "
                "training clips) to calibrate the activation ranges"
            )
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    try:
        return converter.convert()
    except Exception as error:  # ConverterError; its text lists the missing ops
        ops = flex_ops_from_error(str(error))
        if ops:
            raise TFLiteExportError(
                f"{metadata.model_name} needs TensorFlow ops that TFLite has no builtin kernel for "
                f"(Flex ops): {', '.join(ops)}. Reformulate them with builtin ops (see "
                "DESIGN.md: TFLite-friendly formulations).",
                ops,
            ) from error
        raise


def embed_metadata(flatbuffer: bytes, metadata: ExportMetadata) -> bytes:
    """Adds the metadata JSON to the flatbuffer's `metadata` list (name `tfvideo_metadata`)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata.to_json().encode("utf-8"), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = TFLITE_METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [
        m
        for m in (model.metadata or [])
        if m.name not in (TFLITE_METADATA_NAME, TFLITE_METADATA_NAME.encode())
    ]
    model.metadata.append(entry)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def read_tflite_metadata(path_or_bytes) -> ExportMetadata:
    """The `ExportMetadata` embedded in a `.tflite` file (or its bytes)."""
    from tensorflow.lite.python import schema_py_generated as schema

    data = path_or_bytes
    if isinstance(path_or_bytes, (str, os.PathLike)):
        with open(path_or_bytes, "rb") as f:
            data = f.read()
    model = schema.Model.GetRootAsModel(bytearray(data), 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode() == TFLITE_METADATA_NAME:
            raw = model.Buffers(entry.Buffer()).DataAsNumpy()
            return ExportMetadata.from_json(bytes(raw).decode("utf-8"))
    raise ValueError(
        f"{path_or_bytes if isinstance(path_or_bytes, str) else 'model'}: no "
        f"{TFLITE_METADATA_NAME} metadata in this .tflite file"
    )


def export_tflite(
    source,
    output_path,
    quantize="none",
    representative_clips=None,
    num_calibration_clips=100,
    class_names=None,
    metadata=None,
    **metadata_fields,
) -> str:
    """Converts a model to `output_path` (`.tflite`, written atomically) and returns the path.

    Args:
        source: a Keras model, a `.keras` file or a training output directory.
        output_path: where the `.tflite` file goes.
        quantize: `"none"`, `"float16"`, `"dynamic"` or `"int8"`.
        representative_clips: for `"int8"`: an iterable of clips from the training data.
        num_calibration_clips: how many of them calibrate.
        class_names, metadata, **metadata_fields: as in `export_saved_model`.
    """
    if metadata is None:
        model, metadata = load_source(source, class_names=class_names, **metadata_fields)
    else:
        model = load_source(source)[0] if isinstance(source, (str, os.PathLike)) else source
    flatbuffer = convert(model, metadata, quantize, representative_clips, num_calibration_clips)
    metadata = dataclasses.replace(
        metadata, extra={**metadata.extra, "tflite_quantization": quantize}
    )
    atomic_write_text(output_path, embed_metadata(flatbuffer, metadata))
    return output_path
