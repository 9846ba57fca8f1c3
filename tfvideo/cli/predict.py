"""`tfvideo predict VIDEO... --model PATH` / `scripts/predict.py`: top-k labels of video files.

    tfvideo predict clip1.mp4 clip2.webm --model saved_models/tsm_tiny_synthetic
    tfvideo predict clip.gif --model model.tflite --json
    tfvideo predict --stream clip.mp4 --model tsm_causal_stream.tflite --smoothing 8

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
# Long videos (tfvideo.timeline): windows slid over the whole video.
FLAGS.define(
    "bool",
    "timeline",
    False,
    "Classify every window of the whole video: each window's top-k and the merged segments "
    "(JSON with --json).",
)
FLAGS.define("string", "window", "2s", "--timeline: window length, frames (64) or seconds (2s).")
FLAGS.define("string", "stride", "1s", "--timeline: window stride, frames (32) or seconds (1s).")
FLAGS.define("integer", "batch_size", 8, "--timeline: windows classified together.")
FLAGS.define(
    "string",
    "overlay",
    None,
    "Write the video with each frame's timeline label and score drawn on it to this path "
    "(implies --timeline; several videos: put {stem} in the path).",
)
FLAGS.define(
    "string",
    "explain",
    None,
    "Write a Grad-CAM strip of the evaluation clip for the top label (frames, then the heat "
    "maps over them) to this image path (several videos: put {stem} in the path).",
)
# Streaming (tfvideo.streaming): a causal model stepped frame by frame with carried states.
FLAGS.define(
    "bool",
    "stream",
    False,
    "Stream each video (a file, a URL or a device) frame by frame through a causal model "
    "(.keras, streaming .tflite or a SavedModel with stream_step): top-k labels per frame.",
)
FLAGS.define("integer", "smoothing", 0, "--stream: average the probabilities of N steps (0: off).")


def run(videos, model=None, top_k=5, as_json=False, out=None, err=None, **long_video) -> int:
    """Classifies `videos` with `model` and prints the results; returns the exit code.

    `long_video`: `timeline=True` (with `window`, `stride`, `batch_size`) and/or `overlay=PATH`
    run `tfvideo.timeline` instead of one evaluation clip per video; `explain=PATH` writes the
    Grad-CAM strip of each video (`tfvideo.explain`)."""
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
    if long_video:
        return _run_long(videos, predictor, top_k, as_json, out, err, **long_video)
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


def _output_path(template, video, count, flag):
    """`template` with `{stem}` replaced by the video's file name without extension."""
    import os

    if count > 1 and "{stem}" not in template:
        raise ValueError(f"--{flag} {template}: several videos need {{stem}} in the path")
    return template.replace("{stem}", os.path.splitext(os.path.basename(video))[0])


def _run_long(
    videos,
    predictor,
    top_k,
    as_json,
    out,
    err,
    timeline=False,
    window="2s",
    stride="1s",
    batch_size=8,
    overlay=None,
    explain=None,
):
    """`--timeline` / `--overlay` / `--explain`: a timeline (or the clip's top-k) per video, the
    overlay video and the Grad-CAM image; a failed video is one line on `err`."""
    from tfvideo.export.predict import classify_files, format_result, one_line_error
    from tfvideo.timeline import format_timeline, video_timeline, write_overlay

    results, failed = [], False
    for video in videos:
        try:
            if timeline:
                doc = video_timeline(video, predictor, window, stride, top_k, batch_size)
            else:
                [doc] = classify_files([video], predictor, top_k)
                if "error" in doc:
                    raise ValueError(doc["error"])
            if overlay:
                doc["overlay"] = write_overlay(
                    video, doc, _output_path(overlay, video, len(videos), "overlay")
                )
            if explain:
                from tfvideo.explain import explain_video

                target = _output_path(explain, video, len(videos), "explain")
                doc["explain"] = explain_video(video, predictor, target)
        except Exception as error:  # noqa: BLE001 - reported per file, the others go on
            failed = True
            print(f"error: {one_line_error(video, error)}", file=err)
            results.append({"path": str(video), "error": one_line_error(video, error)})
            continue
        results.append(doc)
        if not as_json:
            print(format_timeline(doc) if timeline else format_result(doc), file=out)
    if as_json:
        doc = {"model": str(predictor.path), "format": predictor.kind, "results": results}
        json.dump(doc, out, indent=2)
        out.write("\n")
    return 1 if failed else 0


def run_stream(videos, model, top_k=5, smoothing=0, as_json=False, out=None, err=None) -> int:
    """`--stream`: the per-frame timeline of each video (`tfvideo.streaming`); exit code 1 if a
    video failed, 2 if the model cannot stream."""
    from tfvideo.streaming import StreamingClassifier, format_stream, stream_videos

    out, err = out or sys.stdout, err or sys.stderr
    if not videos or not model:
        print("error: --stream needs videos and --model (a causal model)", file=err)
        return 2
    try:
        classifier = StreamingClassifier(model, top_k=top_k, smoothing=smoothing or None)
    except Exception as error:  # noqa: BLE001 - one line for the user, not a traceback
        print(f"error: cannot stream with {model}: {' '.join(str(error).split())}", file=err)
        return 2
    results = stream_videos(videos, classifier)
    if as_json:
        doc = {"model": str(model), "format": classifier.kind, "smoothing": smoothing or None}
        json.dump({**doc, "results": results}, out, indent=2)
        out.write("\n")
    for result in results:
        if "error" in result or not as_json:
            print(format_stream(result), file=err if "error" in result else out)
    return 1 if any("error" in r for r in results) else 0


def main(args):
    if FLAGS.stream:
        return run_stream(args, FLAGS.model, FLAGS.top_k, FLAGS.smoothing, FLAGS.json)
    long_video = {}
    if FLAGS.timeline or FLAGS.overlay or FLAGS.explain:
        long_video = dict(
            timeline=bool(FLAGS.timeline or FLAGS.overlay),
            window=FLAGS.window,
            stride=FLAGS.stride,
            batch_size=FLAGS.batch_size,
            overlay=FLAGS.overlay,
            explain=FLAGS.explain,
        )
    return run(args, FLAGS.model, FLAGS.top_k, FLAGS.json, **long_video)
