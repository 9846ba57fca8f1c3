"""`tfvideo export` / `scripts/export.py`: a trained model to TF Serving's SavedModel layout, to
TFLite or to ONNX.

    tfvideo export --model runs/tsm_tiny --output_dir saved_models
    tfvideo export --model runs/tsm_tiny/model.keras --format tflite --quantize int8 \\
        --calibration_data data/synthetic
    tfvideo export --model saved_models/tsm_tiny --format onnx --output tsm_tiny.onnx
    tfvideo export --model runs/tsm_causal_tiny --format tflite --streaming --quantize int8
"""

import dataclasses
import os
import sys

from tfvideo.cli.flags import CommandFlags, UsageError, no_arguments
from tfvideo.training.datasets import training_dataset

FLAGS = CommandFlags()

FLAGS.define(
    "string",
    "model",
    None,
    "A .keras file, a training output directory or a tfvideo SavedModel (rebuilt from the "
    "registry with its weights).",
)
FLAGS.define(
    "string",
    "output_dir",
    "saved_models",
    "SavedModel: the parent of <name>/<version>/. TFLite: where <name>_<quantize>.tflite goes "
    "unless --output is given; ONNX: <name>.onnx.",
)
FLAGS.define("string", "name", None, "Served model name (default: the model's registry name).")
FLAGS.define("integer", "version", None, "SavedModel version (default: one more than the newest).")
FLAGS.define(
    "enum",
    "format",
    "saved_model",
    "Export format.",
    enum_values=["saved_model", "savedmodel", "tflite", "onnx"],
)
FLAGS.define(
    "enum",
    "quantize",
    "none",
    "TFLite quantization.",
    enum_values=["none", "float16", "dynamic", "int8"],
)
FLAGS.define("string", "output", None, "TFLite / ONNX: the output .tflite / .onnx path.")
FLAGS.define(
    "string",
    "class_names",
    None,
    "A classes .json or labels .txt (default: the one stored with the model).",
)
FLAGS.define("integer", "top_k", 5, "How many labels the serving signatures return.")
FLAGS.define(
    "integer",
    "short_side",
    None,
    "Evaluation short side before the centre crop (default: the model's).",
)
FLAGS.define("bool", "warmup", True, "Write assets.extra/tf_serving_warmup_requests.")
FLAGS.define(
    "string",
    "calibration_data",
    None,
    "int8: training data to calibrate on (a dataset directory, dataset JSON, TFRecord glob or "
    "a directory of videos); default: the dataset recorded in the training directory.",
)
FLAGS.define("integer", "num_calibration_clips", 100, "int8: how many clips calibrate.")
FLAGS.define(
    "bool",
    "streaming",
    False,
    "TFLite: the single-step model of a causal model (signature stream_step: the frame and the "
    "named states in, logits and states out; int8 calibrates on states carried through the "
    "clips). SavedModels of causal models always have a stream_step signature.",
)
FLAGS.define(
    "enum",
    "precision",
    "float32",
    "SavedModel: the compute type (tfvideo.models.inference: batch norm folded into the "
    "convolutions; bfloat16 computes in bf16 with float32 variables). Inputs and outputs keep "
    "their types; the float32 export keeps the model as trained.",
    enum_values=["float32", "bfloat16"],
)


def _load(model, class_names, top_k, short_side):
    """`(keras_model, metadata)` of a `.keras` file or training directory, or of a tfvideo
    SavedModel (the registry model rebuilt with its weights, e.g. the committed one)."""
    from tfvideo.export import predict, source

    saved = os.path.isdir(model) and predict.resolve_saved_model_dir(model)
    if not saved:
        return source.load_source(
            model, class_names=class_names, top_k=top_k, short_side=short_side
        )
    predictor = predict.SavedModelPredictor(saved)
    meta = predictor.metadata
    overrides = {"class_names": class_names, "top_k": top_k, "short_side": short_side}
    fields = {k: v for k, v in overrides.items() if v is not None}
    return predictor.keras_model(), dataclasses.replace(meta, **fields)


def run(
    model,
    output_dir="saved_models",
    name=None,
    version=None,
    format="saved_model",
    quantize="none",
    output=None,
    class_names=None,
    top_k=5,
    short_side=None,
    warmup=True,
    calibration_data=None,
    num_calibration_clips=100,
    streaming=False,
    precision="float32",
) -> str:
    """Does one export (what the flags describe) and returns the written path."""
    from tfvideo.export import source as source_lib

    names = source_lib.read_class_names(class_names) if class_names else None
    keras_model, metadata = _load(model, names, top_k, short_side)
    if streaming:
        from tfvideo.export.streaming import stream_layout

        stream_layout(keras_model)  # a model that cannot stream fails here, named
    if precision != "float32":
        if format not in ("saved_model", "savedmodel"):
            raise ValueError(f"--precision {precision} applies to SavedModels, not {format}")
        from tfvideo.models.inference import inference_model

        keras_model = inference_model(keras_model, precision)
    if format in ("saved_model", "savedmodel"):
        from tfvideo.export.saved_model import export_saved_model

        return export_saved_model(
            keras_model,
            output_dir,
            name=name or metadata.model_name,
            version=version,
            metadata=metadata,
            warmup_requests=warmup,
        )
    if format == "onnx":
        from tfvideo.export.onnx import export_onnx

        path = output or os.path.join(output_dir, f"{name or metadata.model_name}.onnx")
        return export_onnx(keras_model, path, metadata=metadata)
    from tfvideo.export.tflite import export_tflite

    clips = None
    if quantize == "int8":
        from tfvideo.export.calibration import representative_clips

        data = calibration_data or training_dataset(model)
        if data is None:
            raise ValueError(
                "--quantize int8 needs --calibration_data (the training data to "
                "calibrate on); none is recorded with the model"
            )
        clips = representative_clips(data, metadata, num_calibration_clips)
    stem = f"{name or metadata.model_name}{'_stream' if streaming else ''}_{quantize}"
    path = output or os.path.join(output_dir, f"{stem}.tflite")
    from tfvideo.export.streaming import export_streaming_tflite

    return (export_streaming_tflite if streaming else export_tflite)(
        keras_model,
        path,
        quantize=quantize,
        representative_clips=clips,
        num_calibration_clips=num_calibration_clips,
        metadata=metadata,
    )


def main(args):
    no_arguments(args)
    if not FLAGS.model:
        raise UsageError("--model is required (a .keras file or a training directory)")
    try:
        path = run(
            FLAGS.model,
            FLAGS.output_dir,
            FLAGS.name,
            FLAGS.version,
            FLAGS.format,
            FLAGS.quantize,
            FLAGS.output,
            FLAGS.class_names,
            FLAGS.top_k,
            FLAGS.short_side,
            FLAGS.warmup,
            FLAGS.calibration_data,
            FLAGS.num_calibration_clips,
            FLAGS.streaming,
            FLAGS.precision,
        )
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    print(path)
    return 0
