"""Multi-view evaluation of a clip classifier on a `VideoDataset`.

Each video is scored on `num_clips x num_crops` views (temporal clips from the sampler in
evaluation mode x spatial crops), the views are averaged (`"logits"` or `"softmax"`), and
top-1 / top-5 / mean class accuracy, the confusion matrix and a per-class report are computed
(`tfvideo.training.metrics`). `reverse_frames=True` plays every clip backwards: the S3D paper's
test of temporal sensitivity (a model that ignores frame order scores the same both ways).

A multi-label dataset (`VideoDataset.multi_label`, e.g. Charades) is scored by mAP instead, with
a per-class AP report (`metrics.summarize_multilabel`); its `"softmax"` aggregation averages
per-class sigmoid probabilities.
"""

import json
import os

import numpy as np
import tensorflow as tf

from tfvideo._atomic import atomic_write_text
from tfvideo.data import pipeline
from tfvideo.data.errors import ErrorLog
from tfvideo.training import metrics as metrics_lib
from tfvideo.training import plots


def default_view_aggregation(model):
    """How the paper of `model` (a tfvideo model, its `ModelSpec` or a registered name) averages
    test views: its spec's `view_aggregation`, "logits" or "softmax"; "logits" for others."""
    from tfvideo.models import ModelSpec, default_spec

    spec = model if isinstance(model, ModelSpec) else getattr(model, "spec", None)
    if spec is None and isinstance(model, str):
        try:
            spec = default_spec(model)
        except ValueError:  # not a registered name
            return "logits"
    return spec.view_aggregation if isinstance(spec, ModelSpec) else "logits"


def _forward(model):
    """The compiled inference call of `model` on a batch of clips (a `tf.function` on the
    TensorFlow backend, Keras' `predict_on_batch`, jitted on JAX, on the others)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        return tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return lambda x: model.predict_on_batch(np.asarray(x))


def predict_views(
    model,
    dataset,
    sampler,
    num_clips=1,
    num_crops=1,
    batch_size=8,
    crop_size=224,
    short_side=256,
    reverse_frames=False,
    on_error="skip",
    error_log=None,
):
    """Per-view logits: `(logits [V_total, C], video_index [V_total], labels [V_total])`."""
    eval_ds = pipeline.build_eval_dataset(
        dataset,
        sampler,
        batch_size,
        num_clips=num_clips,
        num_crops=num_crops,
        crop_size=crop_size,
        short_side=short_side,
        on_error=on_error,
        error_log=error_log,
    )
    forward = _forward(model)
    logits, videos, labels = [], [], []
    for batch in eval_ds:
        clips = batch["clip"]
        if reverse_frames:
            clips = tf.reverse(clips, axis=[1])
        logits.append(np.asarray(tf.cast(forward(clips), tf.float32)))
        videos.append(batch["video_index"].numpy())
        labels.append(batch["label"].numpy())
    if not logits:
        raise ValueError(f"no video of {dataset.name or 'the dataset'} could be evaluated")
    return np.concatenate(logits), np.concatenate(videos), np.concatenate(labels)


def evaluate_model(
    model,
    dataset,
    sampler,
    num_clips=1,
    num_crops=1,
    aggregation="logits",
    batch_size=8,
    crop_size=224,
    short_side=256,
    reverse_frames=False,
    on_error="skip",
):
    """Scores every video of `dataset`; returns the `metrics.summarize` dict plus settings.

    Args:
        model: Keras clip classifier (logits out).
        dataset: `VideoDataset` with labels.
        sampler: a `Sampler` (segments / dense) in evaluation mode.
        num_clips, num_crops: views per video (crops: 1 = centre, 3 = three along the long side).
        aggregation: "logits" or "softmax" view averaging.
        reverse_frames: evaluate on time-reversed clips.
    """
    if aggregation not in metrics_lib.VIEW_AGGREGATIONS:
        raise ValueError(
            f"`aggregation` must be one of {metrics_lib.VIEW_AGGREGATIONS}, got {aggregation!r}."
        )
    error_log = ErrorLog("evaluation")
    logits, videos, labels = predict_views(
        model,
        dataset,
        sampler,
        num_clips,
        num_crops,
        batch_size,
        crop_size,
        short_side,
        reverse_frames,
        on_error,
        error_log,
    )
    if dataset.multi_label:
        if aggregation == "softmax":  # independent classes: average sigmoid probabilities
            logits = 1.0 / (1.0 + np.exp(-logits))
        _, scores, targets = pipeline.aggregate_views(logits, videos, labels)
        result = metrics_lib.summarize_multilabel(scores, targets, dataset.class_names)
    else:
        _, scores, video_labels = pipeline.aggregate_views(
            logits, videos, labels, softmax=aggregation == "softmax"
        )
        known = video_labels >= 0
        result = metrics_lib.summarize(scores[known], video_labels[known], dataset.class_names)
    result.update(
        {
            "views": {"num_clips": num_clips, "num_crops": num_crops, "aggregation": aggregation},
            "reverse_frames": bool(reverse_frames),
            "skipped_videos": error_log.count,
            "skipped_paths": error_log.paths if error_log.count else [],
        }
    )
    return result


def write_report(result, directory, prefix="eval", title=None):
    """Writes `<prefix>_report.json`, `<prefix>_per_class.txt` and
    `<prefix>_confusion_matrix.png` (not for multi-label results) into `directory`; returns
    their paths."""
    os.makedirs(directory, exist_ok=True)
    json_path = os.path.join(directory, f"{prefix}_report.json")
    txt_path = os.path.join(directory, f"{prefix}_per_class.txt")
    png_path = os.path.join(directory, f"{prefix}_confusion_matrix.png")
    atomic_write_text(json_path, json.dumps(result, indent=1, default=_json_default))
    table = (
        metrics_lib.format_multilabel_table
        if result.get("multi_label")
        else metrics_lib.format_report_table
    )
    atomic_write_text(txt_path, format_summary(result) + "\n\n" + table(result["per_class"]) + "\n")
    if result.get("multi_label"):
        return {"json": json_path, "table": txt_path}
    names = [row["name"] for row in result["per_class"]]
    plots.plot_confusion_matrix(result["confusion_matrix"], png_path, names, title=title)
    return {"json": json_path, "table": txt_path, "confusion_matrix": png_path}


def format_summary(result):
    views = result.get("views", {})
    if result.get("multi_label"):
        text = (
            f"videos {result['num_videos']}  mAP {100 * result['mAP']:.1f}% "
            f"({result['classes_with_positives']} classes with positives)"
        )
    else:
        text = (
            f"videos {result['num_videos']}  top1 {100 * result['top1']:.1f}%  "
            f"top5 {100 * result['top5']:.1f}%  mean class acc "
            f"{100 * result['mean_class_accuracy']:.1f}%"
        )
    if views:
        text += (
            f"  ({views['num_clips']} clip(s) x {views['num_crops']} crop(s), "
            f"{views['aggregation']} averaged"
        )
        text += ", frames reversed)" if result.get("reverse_frames") else ")"
    if result.get("skipped_videos"):
        text += f"  [{result['skipped_videos']} video(s) skipped]"
    return text


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
