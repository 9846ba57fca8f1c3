r"""Converts an annotated video dataset into sharded SequenceExample TFRecords.

One JPEG per frame (`image/encoded` feature list) with `clip/label/index`, `clip/label/text`,
`clip/data_path`, `video/id` and `clip/num_frames` in the context (TF Model Garden / DMVR
keys), plus `classes.json` next to the shards. Videos that cannot be decoded are skipped,
counted and listed at the end (`--on_error=raise` stops instead).

Examples:

  # the synthetic SSv2-layout dataset (its label flip map is picked up automatically)
  tfvideo build_tfrecords --format=ssv2 \
      --labels=/tmp/synthetic/something-something-v2-labels.json \
      --annotations=/tmp/synthetic/something-something-v2-train.json \
      --video_root=/tmp/synthetic/videos --extension=.mp4 \
      --output_dir=/tmp/records --prefix=train --num_shards=4

  # Kinetics CSV, frames resized to short side 256
  tfvideo build_tfrecords --format=kinetics --annotations=train.csv \
      --video_root=/data/k400/train --output_dir=/data/k400_tfr --prefix=train \
      --num_shards=256 --resize_short_side=256 --jpeg_quality=90

  # UCF101 split 1 (--annotations is the folder with classInd.txt / trainlist01.txt)
  tfvideo build_tfrecords --format=ucf101 --annotations=ucfTrainTestlist \
      --video_root=UCF-101 --split_number=1 --subset=test --output_dir=/tmp/ucf_tfr
"""

import json
import os

from tfvideo.cli.flags import CommandFlags, UsageError, no_arguments

FORMATS = ("kinetics", "list", "ssv2", "ucf101", "hmdb51", "folder")

FLAGS = CommandFlags()

FLAGS.define("enum", "format", None, "Annotation format.", enum_values=FORMATS)
FLAGS.define("string", "annotations", None,
                    "Annotation file: Kinetics CSV, `path label` list, SSv2 split JSON; the "
                    "split folder for ucf101/hmdb51; unused for folder.")
FLAGS.define("string", "labels", None,
                    "SSv2 labels JSON (required for ssv2); class names file for "
                    "kinetics/list/folder (optional).")
FLAGS.define("string", "video_root", None, "Folder holding the videos.")
FLAGS.define("string", "output_dir", None, "Output folder for the shards and classes.json.")
FLAGS.define("string", "prefix", None, "Shard name prefix (default: --subset, or 'train').")
FLAGS.define("integer", "num_shards", 8, "Number of shards.")
FLAGS.define("integer", "jpeg_quality", 90, "JPEG quality (1-100).")
FLAGS.define("integer", "resize_short_side", 0, "Resize frames to this short side (0: keep).")
FLAGS.define("integer", "max_frames", 0, "At most this many frames per video, evenly spaced "
                     "(0: all).")
FLAGS.define("float", "fps", 0.0, "Resample videos to this frame rate (0: keep).")
FLAGS.define("string", "split", None, "Kinetics: keep rows whose `split` column equals this.")
FLAGS.define("integer", "split_number", 1, "UCF101/HMDB51 split (1, 2 or 3).")
FLAGS.define("enum", "subset", "train", "UCF101/HMDB51 subset.", enum_values=["train", "test"])
FLAGS.define("string", "extension", None, "Video file extension (ssv2 default .webm, "
                    "kinetics default .mp4).")
FLAGS.define("string", "label_flip_map", None,
                    "JSON file {label: label after a horizontal flip} (or a list). For ssv2, "
                    "a label_flip_map.json beside --labels is used when present, else the "
                    "official 174-class pairs.")
FLAGS.define("bool", "shuffle", True, "Shuffle samples before sharding.")
FLAGS.define("integer", "seed", 0, "Shuffling seed.")
FLAGS.define("integer", "limit", 0, "Convert only the first N samples (0: all).")
FLAGS.define("enum", "on_error", "skip", "What to do with undecodable videos.",
             enum_values=["skip", "raise"])
FLAGS.define("bool", "progress", True, "Show a progress bar.")


def _read_flip_map(path):
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict) and "label_flip_map" in data:  # classes.json / VideoDataset JSON
        data = data["label_flip_map"] or {}
    if isinstance(data, list):
        return {i: int(v) for i, v in enumerate(data) if int(v) != i}
    return {int(k): int(v) for k, v in data.items() if int(k) != int(v)}


def read_dataset():
    """The `VideoDataset` described by the flags."""
    from tfvideo.data import annotations

    fmt = FLAGS.format
    if fmt != "folder" and not FLAGS.annotations:
        raise UsageError(f"--annotations is required for --format={fmt}.")
    if not FLAGS.video_root and fmt != "list":
        raise UsageError("--video_root is required.")
    if fmt == "kinetics":
        dataset = annotations.read_kinetics_csv(
            FLAGS.annotations, FLAGS.video_root, split=FLAGS.split, class_names=FLAGS.labels,
            extension=FLAGS.extension or ".mp4")
    elif fmt == "list":
        dataset = annotations.read_path_label_list(
            FLAGS.annotations, root=FLAGS.video_root, class_names=FLAGS.labels)
    elif fmt == "ssv2":
        if not FLAGS.labels:
            raise UsageError("--labels (the SSv2 labels JSON) is required for ssv2.")
        flip_path = FLAGS.label_flip_map
        beside = os.path.join(os.path.dirname(FLAGS.labels), "label_flip_map.json")
        if flip_path is None and os.path.exists(beside):
            flip_path = beside
        kwargs = {}
        if flip_path:
            kwargs["flip_pairs"] = [(a, b) for a, b in _read_flip_map(flip_path).items()
                                    if a < b]
        dataset = annotations.read_ssv2(FLAGS.labels, FLAGS.annotations, FLAGS.video_root,
                                        extension=FLAGS.extension or ".webm", **kwargs)
    elif fmt == "ucf101":
        dataset = annotations.read_ucf101(FLAGS.annotations, FLAGS.video_root,
                                          split=FLAGS.split_number, subset=FLAGS.subset)
    elif fmt == "hmdb51":
        dataset = annotations.read_hmdb51(FLAGS.annotations, FLAGS.video_root,
                                          split=FLAGS.split_number, subset=FLAGS.subset)
    else:
        dataset = annotations.read_folder_per_class(FLAGS.video_root, class_names=FLAGS.labels)
    if FLAGS.label_flip_map and fmt != "ssv2":
        dataset.label_flip_map = _read_flip_map(FLAGS.label_flip_map)
    if FLAGS.limit:
        dataset = dataset.subset(range(min(FLAGS.limit, len(dataset))))
    return dataset


def main(args):
    no_arguments(args)
    if not FLAGS.output_dir:
        raise UsageError("--output_dir is required.")
    if FLAGS.format is None:
        raise UsageError(f"--format is required, one of {FORMATS}.")
    from tfvideo.data import tfrecords

    dataset = read_dataset()
    prefix = FLAGS.prefix or (FLAGS.subset if FLAGS.format in ("ucf101", "hmdb51") else "train")
    print(f"{len(dataset)} videos, {dataset.num_classes} classes -> {FLAGS.output_dir}/"
          f"{prefix}-*-of-{FLAGS.num_shards:05d}.tfrecord")
    result = tfrecords.write_tfrecords(
        dataset, FLAGS.output_dir, num_shards=FLAGS.num_shards, prefix=prefix,
        jpeg_quality=FLAGS.jpeg_quality, resize_short_side=FLAGS.resize_short_side or None,
        max_frames=FLAGS.max_frames or None, fps=FLAGS.fps or None, shuffle=FLAGS.shuffle,
        seed=FLAGS.seed, on_error=FLAGS.on_error, progress=FLAGS.progress)
    print(f"wrote {result['num_written']} videos into {len(result['shards'])} shards; "
          f"skipped {result['num_skipped']} bad video(s)")
    for path, cause in result["skipped"]:
        print(f"  skipped {path}: {cause}")
    print(f"class names: {result['classes_json']}")
    return 0
