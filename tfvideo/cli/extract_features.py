"""`tfvideo extract_features SOURCE --output_dir DIR`: pooled backbone features of whole videos.

    tfvideo extract_features videos/ --output_dir features/
    tfvideo extract_features train_list.txt --model runs/tsm_tiny --window 16 --stride 8

SOURCE is a folder (every video under it) or an annotation file (one video per line, `path` or
`path label`). Each video gets `<output_dir>/<relative path>.npy`, float32 `[num_windows, C]`
(one pooled feature per window, as in `predict --timeline`), and a `.json` with its windows.
Videos already done are skipped, so an interrupted run resumes; a video that cannot be read gets
one line on stderr and in `<output_dir>/failed.txt`, and the others go on (exit code 1).
"""

import sys

from tfvideo.cli.flags import CommandFlags, UsageError

FLAGS = CommandFlags()

FLAGS.define(
    "string",
    "model",
    None,
    "A SavedModel directory, .keras file or training directory. Default: the model committed "
    "under saved_models/.",
)
FLAGS.define("string", "output_dir", "features", "Where the .npy and .json files go.")
FLAGS.define(
    "string",
    "root",
    None,
    "Relative paths of an annotation file start here, and outputs mirror the paths below it "
    "(default: the folder, or the annotation file's folder).",
)
FLAGS.define("string", "window", "2s", "Window length, frames (64) or seconds (2s).")
FLAGS.define("string", "stride", "1s", "Window stride, frames (32) or seconds (1s).")
FLAGS.define("integer", "batch_size", 8, "Windows computed together.")


def run(
    source, output_dir, model=None, root=None, window="2s", stride="1s", batch_size=8, err=None
) -> int:
    """Extracts the features of every video of `source`; returns the exit code."""
    from tfvideo.export.predict import default_model_path
    from tfvideo.features import extract_features, feature_extractor, list_videos

    err = err or sys.stderr
    model = model or default_model_path()
    if model is None:
        print("error: no --model given and no model under saved_models/", file=err)
        return 2
    try:
        extractor = feature_extractor(model)
        videos, root = list_videos(source, root)
    except Exception as error:  # noqa: BLE001 - one line for the user, not a traceback
        print(f"error: {' '.join(str(error).split())}", file=err)
        return 2
    summary = extract_features(
        videos,
        output_dir,
        extractor,
        root,
        window,
        stride,
        batch_size,
        log=lambda line: print(line, file=err),
    )
    print(
        f"{len(summary['done'])} written, {len(summary['skipped'])} already done, "
        f"{len(summary['failed'])} failed ({extractor.source}) -> {output_dir}",
        file=err,
    )
    return 1 if summary["failed"] else 0


def main(args):
    if len(args) != 1:
        raise UsageError("give one SOURCE: a folder of videos or an annotation file")
    return run(
        args[0],
        FLAGS.output_dir,
        FLAGS.model,
        FLAGS.root,
        FLAGS.window,
        FLAGS.stride,
        FLAGS.batch_size,
    )
