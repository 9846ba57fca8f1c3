"""From command-line style options to `VideoDataset`s, samplers and `tf.data` pipelines.

Formats (`--dataset`):

| format    | `--train_annotations` / `--val_annotations` | other flags                               |
|-----------|----------------------------------------------|-------------------------------------------|
| synthetic | (generated under `--data_root`, cached)      | `--synthetic_*`                            |
| ssv2      | `something-something-v2-{train,validation}.json` | `--labels` (labels json), `--video_root`, `--video_extension` (.webm) |
| kinetics  | CSV (`label,youtube_id,time_start,time_end,split`) | `--video_root`, `--video_extension` (.mp4) |
| list      | lines `<path> <label>`                        | `--video_root` (prefix), `--labels` (class names) |
| ucf101 / hmdb51 | the official split folder (both flags)  | `--video_root`, `--split`                  |
| folder    | a `root/<class>/<video>` folder per split     | `--labels` (optional class order)          |
"""

import dataclasses
import json
import os

from tfvideo.data import annotations, synthetic
from tfvideo.data.sampling import get_sampler, sampler_config

FORMATS = ("synthetic", "ssv2", "kinetics", "list", "ucf101", "hmdb51", "folder")
DEFAULT_DATA_ROOT = os.path.join(os.path.expanduser("~"), ".cache", "tfvideo", "synthetic")


@dataclasses.dataclass
class DataConfig:
    """Where the videos are and how to read them (see the module docstring)."""

    dataset: str = "synthetic"
    train_annotations: str = ""
    val_annotations: str = ""
    video_root: str = ""
    labels: str = ""
    video_extension: str = ""
    split: int = 1
    data_root: str = DEFAULT_DATA_ROOT
    synthetic_classes: int = 8
    synthetic_train_per_class: int = 80
    synthetic_val_per_class: int = 20
    synthetic_frames: int = 16
    synthetic_size: int = 96
    synthetic_seed: int = 0


def _synthetic(config, verbose):
    info = synthetic.make_dataset(
        config.data_root, num_classes=config.synthetic_classes,
        videos_per_class_train=config.synthetic_train_per_class,
        videos_per_class_val=config.synthetic_val_per_class,
        num_frames=config.synthetic_frames, size=config.synthetic_size,
        seed=config.synthetic_seed, verbose=verbose)
    # `load` keeps the dataset's flip map: a horizontal flip swaps left<->right and
    # clockwise<->anticlockwise labels.
    return synthetic.load(info["root"], "train"), synthetic.load(info["root"], "validation")


def _require(value, flag, fmt):
    if not value:
        raise ValueError(f"--dataset={fmt} needs --{flag}.")
    return value


def load_datasets(config, need_train=True, verbose=False):
    """`(train, validation)` `VideoDataset`s (train is None when `need_train` is False)."""
    fmt = config.dataset
    if fmt not in FORMATS:
        raise ValueError(f"`dataset` must be one of {FORMATS}, got {fmt!r}.")
    if fmt == "synthetic":
        train, val = _synthetic(config, verbose)
        return (train if need_train else None), val

    def read(path, class_names=None, subset=None):
        if fmt == "ssv2":
            return annotations.read_ssv2(_require(config.labels, "labels", fmt), path,
                                         _require(config.video_root, "video_root", fmt),
                                         extension=config.video_extension or ".webm")
        if fmt == "kinetics":
            return annotations.read_kinetics_csv(
                path, _require(config.video_root, "video_root", fmt), class_names=class_names,
                extension=config.video_extension or ".mp4")
        if fmt == "list":
            return annotations.read_path_label_list(
                path, root=config.video_root or None, class_names=class_names or config.labels
                or None)
        if fmt in ("ucf101", "hmdb51"):
            reader = annotations.read_ucf101 if fmt == "ucf101" else annotations.read_hmdb51
            return reader(path, _require(config.video_root, "video_root", fmt),
                          split=config.split, subset=subset)
        return annotations.read_folder_per_class(path, class_names=class_names or config.labels
                                                 or None)

    train = None
    if need_train:
        train = read(_require(config.train_annotations, "train_annotations", fmt), subset="train")
    val_path = config.val_annotations or (
        config.train_annotations if fmt in ("ucf101", "hmdb51") else "")
    val = read(_require(val_path, "val_annotations", fmt),
               class_names=train.class_names if train is not None else None, subset="test")
    if train is not None and list(val.class_names) != list(train.class_names):
        raise ValueError(
            f"training ({train.num_classes}) and validation ({val.num_classes}) class lists "
            "differ; pass --labels to fix the class order.")
    return train, val


def make_sampler(sampling, num_frames, frame_interval=1):
    """The sampler of `--sampling` for `num_frames`-frame clips: `"segments"` ->
    `SegmentSampler(T)`, `"dense"` -> `DenseSampler(T, frame_interval)` (any name of
    `tfvideo.data.sampling.NAMES`, read by `tfvideo.data.sampling.sampler_config`)."""
    return get_sampler(sampler_config(sampling, num_frames, frame_interval))


def resize_size(input_size, short_side=0):
    """Short side before cropping: `short_side` if given, else the spec's rule
    (`tfvideo.models.spec.default_short_side`: round(input_size * 8 / 7))."""
    from tfvideo.models.spec import default_short_side

    return int(short_side) if short_side else default_short_side(input_size)


def training_dataset(source):
    """The training set recorded with a training run (its `train_config.json`, written by
    `tfvideo train`), as a `tfvideo.data.VideoDataset`; None when nothing is recorded.

    `source` is a training output directory or a `.keras` file inside one (or in its
    `checkpoints/`)."""
    if not isinstance(source, (str, os.PathLike)):
        return None
    directory = os.path.abspath(os.fspath(source))
    if not os.path.isdir(directory):
        directory = os.path.dirname(directory)
    for candidate in (directory, os.path.dirname(directory)):
        path = os.path.join(candidate, "train_config.json")
        if os.path.exists(path):
            break
    else:
        return None
    with open(path, encoding="utf-8") as f:
        data = json.load(f).get("data")
    if not data:
        return None
    known = {f.name for f in dataclasses.fields(DataConfig)}
    config = DataConfig(**{k: v for k, v in data.items() if k in known})
    train, _ = load_datasets(config, need_train=True)
    return train
