"""`tfvideo predict VIDEO... --model PATH` / `scripts/predict.py`: top-k labels of video files.

    tfvideo predict clip1.mp4 clip2.webm --model saved_models/tsm_tiny_synthetic
    tfvideo predict clip.gif --model model.tflite --json

Each file is decoded with the model's evaluation sampling and crop. A file that cannot be read
gets one line on stderr (`error: <file>: <cause>`) and the others are still classified; the exit
code is 1 if any file failed.
"""

import json
import sys

from tfvideo.cli.flags import CommandFlags

FLAGS = CommandFlags()

FLAGS.define(
    "string",
    "model",
    None,
    "A SavedModel directory (or TF Serving base directory), .keras file, training directory "
    "or .tflite file. Default: the model committed under saved_models/.",
)
FLAGS.define("integer", "top_k", 5, "How many labels to print per video.")
FLAGS.define("bool", "json", False, "Print one JSON document instead of text.")


def run(videos, model=None, top_k=5, as_json=False, out=None, err=None) -> int:
    """Classifies `videos` with `model` and prints the results; returns the exit code."""
    from tfvideo.export.predict import (
        classify_files,
        default_model_path,
        format_result,
        load_predictor,
    )

    out = out or sys.stdout
    err = err or sys.stderr
    if not videos:
        print("error: no video files given", file=err)
        return 2
    model = model or default_model_path()
    if model is None:
        print("error: no --model given and no model under saved_models/", file=err)
        return 2
    try:
        predictor = load_predictor(model)
    except Exception as error:  # noqa: BLE001 - one line for the user, not a traceback
        print(f"error: cannot load model {model}: {' '.join(str(error).split())}", file=err)
        return 2
    results = classify_files(videos, predictor, top_k)
    if as_json:
        json.dump(
            {"model": str(model), "format": predictor.kind, "results": results}, out, indent=2
        )
        out.write("\n")
    for result in results:
        if "error" in result:
            print(format_result(result), file=err)
        elif not as_json:
            print(format_result(result), file=out)
    return 1 if any("error" in r for r in results) else 0


def main(args):
    return run(args, FLAGS.model, FLAGS.top_k, FLAGS.json)
