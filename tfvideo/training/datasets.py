"""From command-line style options to `VideoDataset`s, samplers and `tf.data` pipelines.

The datasets come from the one dispatcher, `tfvideo.data.datasets` (`DataConfig`, `FORMATS`,
`load_datasets`, re-exported here; its docstring lists the formats and their `--dataset`
options); the samplers from `tfvideo.data.sampling`.
"""

import dataclasses
import json
import os

from tfvideo.data.datasets import DEFAULT_DATA_ROOT, FORMATS, DataConfig, load_datasets
from tfvideo.data.sampling import get_sampler, sampler_config

__all__ = [
    "DEFAULT_DATA_ROOT",
    "FORMATS",
    "DataConfig",
    "load_datasets",
    "make_sampler",
    "resize_size",
    "training_dataset",
]


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
