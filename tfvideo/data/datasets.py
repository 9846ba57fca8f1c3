"""The dataset dispatcher: a format name and its options (`DataConfig`) -> `VideoDataset`s.

Every command reads datasets here, with the same option names (`--dataset`,
`--train_annotations`, `--val_annotations`, `--video_root`, `--labels`, `--video_extension`,
`--split`, ...): the training and evaluation jobs and `tfvideo build_tfrecords`.

Formats (`--dataset`), with what `--train_annotations` / `--val_annotations` name and the
other options each reads:

- `synthetic`: nothing (generated under `--data_root`, cached); `--synthetic_*`.
- `ssv2`: `something-something-v2-{train,validation}.json`; `--labels` (the labels JSON),
  `--video_root`, `--video_extension` (default .webm).
- `kinetics`: a CSV (`label,youtube_id,time_start,time_end,split`); `--video_root`,
  `--video_extension` (default .mp4), `--kinetics_split` (keep rows of that `split`),
  `--labels` (class order).
- `list`: lines `<path> <label>`; `--video_root` (prefix), `--labels` (class names).
- `ucf101` / `hmdb51`: the official split folder (one folder for both subsets);
  `--video_root`, `--split` (1, 2 or 3).
- `folder`: a `root/<class>/<video>` folder per subset; `--labels` (class order).
- `charades`: `Charades_v1_{train,test}.csv` (multi-label: every action class of a video);
  `--labels` (`Charades_v1_classes.txt`), `--video_root`, `--video_extension` (default .mp4).
- `list` is multi-label too when its lines give several comma-separated labels (`path 3,7`).

`--label_flip_map` (a JSON `{label: label after a horizontal flip}` or a list) sets the labels a
flip swaps; for ssv2 a `label_flip_map.json` beside `--labels` is used when present (the
synthetic set writes one), else the official 174-class pairs.

Example:

>>> from tfvideo.data.datasets import DataConfig
>>> config = DataConfig(dataset="ucf101", train_annotations="ucfTrainTestlist")
>>> config.annotations("validation"), config.has("validation")
('ucfTrainTestlist', True)
"""

import dataclasses
import json
import os

from tfvideo.data import annotations, synthetic

FORMATS = ("synthetic", "ssv2", "kinetics", "list", "ucf101", "hmdb51", "folder", "charades")
SUBSETS = ("train", "validation")
DEFAULT_DATA_ROOT = os.path.join(os.path.expanduser("~"), ".cache", "tfvideo", "synthetic")
SSV2_FLIP_MAP_FILE = "label_flip_map.json"  # beside the SSv2 labels file


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
    kinetics_split: str = ""
    label_flip_map: str = ""
    data_root: str = DEFAULT_DATA_ROOT
    synthetic_classes: int = 8
    synthetic_train_per_class: int = 80
    synthetic_val_per_class: int = 20
    synthetic_frames: int = 16
    synthetic_size: int = 96
    synthetic_seed: int = 0

    def annotations(self, subset):
        """The annotations of `subset` ("train" or "validation"): ucf101/hmdb51 read both
        subsets from one split folder, so validation falls back to `train_annotations`."""
        if subset not in SUBSETS:
            raise ValueError(f"`subset` must be one of {SUBSETS}, got {subset!r}.")
        if subset == "train":
            return self.train_annotations
        if self.dataset in ("ucf101", "hmdb51"):
            return self.val_annotations or self.train_annotations
        return self.val_annotations

    def has(self, subset):
        """Whether `subset` can be read: the synthetic set has both, the others need
        annotations."""
        return self.dataset == "synthetic" or bool(self.annotations(subset))


def read_flip_map(path):
    """`{label: label after a flip}` (changed labels only) from a JSON file: a dict, a list
    (label -> label) or a `classes.json` / `VideoDataset` JSON with a `label_flip_map`."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict) and "label_flip_map" in data:
        data = data["label_flip_map"] or {}
    if isinstance(data, list):
        return {i: int(v) for i, v in enumerate(data) if int(v) != i}
    return {int(k): int(v) for k, v in data.items() if int(k) != int(v)}


def _require(value, flag, fmt):
    if not value:
        raise ValueError(f"--dataset={fmt} needs --{flag}.")
    return value


def _synthetic_root(config, verbose):
    info = synthetic.make_dataset(
        config.data_root,
        num_classes=config.synthetic_classes,
        videos_per_class_train=config.synthetic_train_per_class,
        videos_per_class_val=config.synthetic_val_per_class,
        num_frames=config.synthetic_frames,
        size=config.synthetic_size,
        seed=config.synthetic_seed,
        verbose=verbose,
    )
    return info["root"]


def _ssv2_flip_pairs(config):
    path = config.label_flip_map
    beside = os.path.join(os.path.dirname(config.labels), SSV2_FLIP_MAP_FILE)
    if not path and os.path.exists(beside):
        path = beside
    if not path:
        return {}  # the reader's default: the official pairs
    return {"flip_pairs": [(a, b) for a, b in read_flip_map(path).items() if a < b]}


def _read(config, subset, path, class_names):
    """One subset of an annotated format, through `annotations.read_annotations`."""
    fmt = config.dataset
    names = class_names or config.labels or None
    if fmt == "ssv2":
        _require(config.labels, "labels", fmt)
        return annotations.read_annotations(
            "ssv2",
            config.labels,
            path,
            _require(config.video_root, "video_root", fmt),
            extension=config.video_extension or ".webm",
            **_ssv2_flip_pairs(config),
        )
    if fmt == "kinetics":
        return annotations.read_annotations(
            "kinetics",
            path,
            _require(config.video_root, "video_root", fmt),
            split=config.kinetics_split or None,
            class_names=names,
            extension=config.video_extension or ".mp4",
        )
    if fmt == "list":
        return annotations.read_annotations(
            "list", path, root=config.video_root or None, class_names=names
        )
    if fmt == "charades":
        return annotations.read_annotations(
            "charades",
            path,
            _require(config.video_root, "video_root", fmt),
            _require(config.labels, "labels", fmt),
            extension=config.video_extension or ".mp4",
        )
    if fmt in ("ucf101", "hmdb51"):
        return annotations.read_annotations(
            fmt,
            path,
            _require(config.video_root, "video_root", fmt),
            split=config.split,
            subset="train" if subset == "train" else "test",
        )
    return annotations.read_annotations("folder", path, class_names=names)


def load_dataset(config="synthetic", subset="train", class_names=None, verbose=False, **options):
    """One subset ("train" or "validation") of a dataset, as a `VideoDataset`.

    Args:
        config: a `DataConfig`, or a format name (one of `FORMATS`) whose other options are
            `options` (the fields of `DataConfig`).
        subset: "train" (`train_annotations`) or "validation" (`val_annotations`; the test
            list of the ucf101/hmdb51 split folder).
        class_names: the class order (e.g. the training classes when reading validation);
            default `labels`, else the format's own order.
        verbose: report the synthetic set's generation.
        **options: `DataConfig` fields when `config` is a format name.

    Raises:
        ValueError: an unknown format, or an option the format needs is missing (the message
            names the flag).
        AnnotationError: an annotation file is missing or holds an invalid entry.
    """
    if not isinstance(config, DataConfig):
        config = DataConfig(dataset=config, **options)
    elif options:
        config = dataclasses.replace(config, **options)
    fmt = config.dataset
    if fmt not in FORMATS:
        raise ValueError(f"`dataset` must be one of {FORMATS}, got {fmt!r}.")
    if fmt == "synthetic":
        # `load` keeps the dataset's flip map: a horizontal flip swaps left<->right and
        # clockwise<->anticlockwise labels.
        dataset = synthetic.load(_synthetic_root(config, verbose), subset)
    else:
        flag = "train_annotations" if subset == "train" else "val_annotations"
        dataset = _read(
            config, subset, _require(config.annotations(subset), flag, fmt), class_names
        )
    if config.label_flip_map and fmt != "ssv2":
        dataset = dataclasses.replace(dataset, label_flip_map=read_flip_map(config.label_flip_map))
    return dataset


def load_datasets(config, need_train=True, verbose=False, need_val=True):
    """`(train, validation)` `VideoDataset`s; train is None when `need_train` is False,
    validation when `need_val` is False. Validation takes the training class order."""
    train = load_dataset(config, "train", verbose=verbose) if need_train else None
    if not need_val:
        return train, None
    val = load_dataset(
        config, "validation", class_names=train.class_names if train else None, verbose=verbose
    )
    if train is not None and list(val.class_names) != list(train.class_names):
        raise ValueError(
            f"training ({train.num_classes}) and validation ({val.num_classes}) class lists "
            "differ; pass --labels to fix the class order."
        )
    return train, val
