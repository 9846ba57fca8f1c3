"""`tfvideo evaluate` / `python scripts/evaluate.py`: multi-view evaluation of a trained model.

Reads a `.keras` file or a training output directory (its `tfvideo_metadata.json` gives frames,
input size, sampling and class names), scores the chosen split with clips x crops views and writes
`<output_dir>/<prefix>_report.json`, `_per_class.txt` and `_confusion_matrix.png`.
"""

import dataclasses
import os

from tfvideo.cli.flags import CommandFlags, no_arguments
from tfvideo.training.datasets import DataConfig


@dataclasses.dataclass
class EvalConfig:
    """Settings of an evaluation run (the flags of `scripts/evaluate.py`)."""

    model_path: str = ""
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    eval_split: str = "validation"
    max_val_videos: int = 0
    num_clips: int = 1
    num_crops: int = 1
    view_aggregation: str = "auto"
    reverse_frames: bool = False
    batch_size: int = 8
    sampling: str = "auto"
    frame_interval: int = 0  # with --sampling dense (0: 1)
    short_side: int = 0  # 0: from the model's metadata
    on_error: str = "skip"
    output_dir: str = ""  # default: the model's directory


EVAL_HELP = {
    "batch_size": "Views per forward pass.",
    "sampling": "Frame sampling: auto (the model's metadata), segments or dense.",
    "short_side": "Short side before cropping (0: the model's metadata).",
    "output_dir": "Where the reports go (default: the model's directory).",
    "frame_interval": "Stride between frames with --sampling=dense (0: 1).",
}
FLAGS = CommandFlags()
FLAGS.define_dataclass(EvalConfig, help_overrides=EVAL_HELP)


def evaluate(config):
    """Runs the evaluation described by `config`; returns the result dict."""
    if not config.model_path:
        raise ValueError("--model_path (a .keras file or a training output directory) is required.")
    from tfvideo.export.source import load_source
    from tfvideo.training import datasets as data_setup
    from tfvideo.training import evaluation

    model, meta = load_source(config.model_path)
    train_set, val_set = data_setup.load_datasets(
        config.data, need_train=config.eval_split == "train"
    )
    dataset = train_set if config.eval_split == "train" else val_set
    if config.max_val_videos:
        dataset = dataset.subset(range(min(config.max_val_videos, len(dataset))))
    if dataset.num_classes != len(meta.class_names):
        raise ValueError(
            f"the model has {len(meta.class_names)} classes, the dataset {dataset.num_classes}."
        )
    if config.sampling == "auto":
        from tfvideo.data.sampling import get_sampler

        sampler = get_sampler(meta.sampling)
    else:
        sampler = data_setup.make_sampler(
            config.sampling, meta.num_frames, config.frame_interval or 1
        )
    aggregation = (
        evaluation.default_view_aggregation(getattr(model, "spec", None) or meta.model_name)
        if config.view_aggregation == "auto"
        else config.view_aggregation
    )
    result = evaluation.evaluate_model(
        model,
        dataset,
        sampler,
        config.num_clips,
        config.num_crops,
        aggregation,
        batch_size=config.batch_size,
        crop_size=meta.input_size[0],
        short_side=config.short_side or meta.short_side,
        reverse_frames=config.reverse_frames,
        on_error=config.on_error,
    )
    output_dir = config.output_dir or (
        config.model_path
        if os.path.isdir(config.model_path)
        else os.path.dirname(os.path.abspath(config.model_path))
    )
    prefix = f"evaluate_{config.eval_split}_{config.num_clips}x{config.num_crops}" + (
        "_reversed" if config.reverse_frames else ""
    )
    paths = evaluation.write_report(result, output_dir, prefix, title=meta.model_name)
    result["paths"] = paths
    from tfvideo.training.metrics import format_report_table

    print(format_report_table(result["per_class"]))
    print(evaluation.format_summary(result))
    for kind, path in paths.items():
        print(f"  {kind}: {path}")
    return result


def main(args):
    no_arguments(args)
    evaluate(FLAGS.config(EvalConfig))
