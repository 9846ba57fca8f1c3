"""Export: SavedModel for TF Serving (signatures, assets, warmup), TFLite/LiteRT, prediction.

Example:
    >>> from tfvideo import export
    >>> sorted(export.SIGNATURE_INPUTS)
    ['encoded_frames', 'serving_default', 'tf_example']
"""

from tfvideo.export.metadata import ExportMetadata
from tfvideo.export.predict import classify_files, load_clip, load_predictor
from tfvideo.export.saved_model import (
    export_saved_model,
    next_version,
    read_saved_model_metadata,
    write_saved_model,
)
from tfvideo.export.signatures import CLASSIFY_OUTPUTS, SIGNATURE_INPUTS, ServingModule
from tfvideo.export.source import load_source, metadata_for_model
from tfvideo.export.tflite import TFLiteExportError, export_tflite, read_tflite_metadata

__all__ = [
    "CLASSIFY_OUTPUTS",
    "ExportMetadata",
    "SIGNATURE_INPUTS",
    "ServingModule",
    "TFLiteExportError",
    "classify_files",
    "export_saved_model",
    "export_tflite",
    "load_clip",
    "load_predictor",
    "load_source",
    "metadata_for_model",
    "next_version",
    "read_saved_model_metadata",
    "read_tflite_metadata",
    "write_saved_model",
]
