"""Export: SavedModel for TF Serving (signatures, assets, warmup), TFLite/LiteRT, prediction.

Example:
    >>> from tfvideo import export
    >>> sorted(export.SIGNATURE_INPUTS)
    ['encoded_frames', 'serving_default', 'tf_example']
"""

from tfvideo.export.metadata import ExportMetadata
from tfvideo.export.saved_model import (export_saved_model, next_version,
                                        read_saved_model_metadata, write_saved_model)
from tfvideo.export.signatures import CLASSIFY_OUTPUTS, SIGNATURE_INPUTS, ServingModule
from tfvideo.export.source import load_source, metadata_for_model

__all__ = [
    "CLASSIFY_OUTPUTS", "ExportMetadata", "SIGNATURE_INPUTS", "ServingModule",
    "export_saved_model", "load_source", "metadata_for_model", "next_version",
    "read_saved_model_metadata", "write_saved_model",
]
