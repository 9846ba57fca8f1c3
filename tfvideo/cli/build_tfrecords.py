r"""Converts an annotated video dataset into sharded SequenceExample TFRecords.

One JPEG per frame (`image/encoded` feature list) with `clip/label/index`, `clip/label/text`,
`clip/data_path`, `video/id` and `clip/num_frames` in the context (TF Model Garden / DMVR
keys), plus `classes.json` next to the shards. Videos that cannot be decoded are skipped,
counted and listed at the end (`--on_error=raise` stops instead).

The dataset flags are the training job's (`tfvideo.data.datasets.DataConfig`): each subset
given is written, `--train_annotations` to `train-*` shards and `--val_annotations` to
`validation-*` (ucf101/hmdb51: both from the split folder; synthetic: both).

Examples:

  # the synthetic SSv2-layout dataset (its label flip map is picked up automatically)
  tfvideo build_tfrecords --dataset=ssv2 \
      --labels=/tmp/synthetic/something-something-v2-labels.json \
      --train_annotations=/tmp/synthetic/something-something-v2-train.json \
      --video_root=/tmp/synthetic/videos --video_extension=.mp4 \
      --output_dir=/tmp/records --num_shards=4

  # Kinetics CSVs, frames resized to short side 256
  tfvideo build_tfrecords --dataset=kinetics --train_annotations=train.csv \
      --val_annotations=validate.csv --video_root=/data/k400/videos \
      --output_dir=/data/k400_tfr --num_shards=256 --resize_short_side=256 --jpeg_quality=90

  # UCF101 split 1 (the folder with classInd.txt / trainlist01.txt / testlist01.txt)
  tfvideo build_tfrecords --dataset=ucf101 --train_annotations=ucfTrainTestlist \
      --video_root=UCF-101 --split=1 --output_dir=/tmp/ucf_tfr
"""

import dataclasses

from tfvideo.cli.flags import CommandFlags, UsageError, no_arguments
from tfvideo.data.datasets import DataConfig, load_datasets


@dataclasses.dataclass
class BuildConfig:
    """Settings of a conversion (the flags of `scripts/build_tfrecords.py`)."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    output_dir: str = ""
    num_shards: int = 8
    jpeg_quality: int = 90
    resize_short_side: int = 0
    max_frames: int = 0
    fps: float = 0.0
    max_train_videos: int = 0
    max_val_videos: int = 0
    shuffle: bool = True
    seed: int = 0
    on_error: str = "skip"
    progress: bool = True


BUILD_HELP = {
    "output_dir": "Output folder for the shards (train-*, validation-*) and classes.json.",
    "num_shards": "Number of shards per subset.",
    "jpeg_quality": "JPEG quality (1-100).",
    "resize_short_side": "Resize frames to this short side (0: keep).",
    "max_frames": "At most this many frames per video, evenly spaced (0: all).",
    "fps": "Resample videos to this frame rate (0: keep).",
    "shuffle": "Shuffle samples before sharding.",
    "seed": "Shuffling seed.",
    "progress": "Show a progress bar.",
}
FLAGS = CommandFlags()
FLAGS.define_dataclass(BuildConfig, help_overrides=BUILD_HELP)


def read_datasets(config):
    """`{"train": VideoDataset, "validation": VideoDataset}` for the subsets the flags give."""
    from tfvideo.data.errors import check_on_error

    if not config.output_dir:
        raise UsageError("--output_dir is required.")
    need_train, need_val = config.data.has("train"), config.data.has("validation")
    if not (need_train or need_val):
        raise UsageError(
            f"--dataset={config.data.dataset} needs --train_annotations or --val_annotations."
        )
    try:
        check_on_error(config.on_error)
        train, val = load_datasets(config.data, need_train=need_train, need_val=need_val)
    except ValueError as error:  # a missing flag or file, an unknown format
        raise UsageError(str(error)) from error
    limits = {"train": config.max_train_videos, "validation": config.max_val_videos}
    out = {}
    for subset, dataset in (("train", train), ("validation", val)):
        if dataset is not None and limits[subset]:
            dataset = dataset.subset(range(min(limits[subset], len(dataset))))
        if dataset is not None:
            out[subset] = dataset
    return out


def main(args):
    no_arguments(args)
    from tfvideo.data import tfrecords

    config = FLAGS.config(BuildConfig)
    for prefix, dataset in read_datasets(config).items():
        print(
            f"{len(dataset)} videos, {dataset.num_classes} classes -> {config.output_dir}/"
            f"{prefix}-*-of-{config.num_shards:05d}.tfrecord"
        )
        result = tfrecords.write_tfrecords(
            dataset,
            config.output_dir,
            num_shards=config.num_shards,
            prefix=prefix,
            jpeg_quality=config.jpeg_quality,
            resize_short_side=config.resize_short_side or None,
            max_frames=config.max_frames or None,
            fps=config.fps or None,
            shuffle=config.shuffle,
            seed=config.seed,
            on_error=config.on_error,
            progress=config.progress,
        )
        print(
            f"wrote {result['num_written']} videos into {len(result['shards'])} shards; "
            f"skipped {result['num_skipped']} bad video(s)"
        )
        for path, cause in result["skipped"]:
            print(f"  skipped {path}: {cause}")
    print(f"class names: {result['classes_json']}")
    return 0
