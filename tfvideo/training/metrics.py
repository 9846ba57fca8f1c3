"""Video-level evaluation metrics in NumPy: multi-view averaging, top-k, mean class accuracy,
confusion matrix and a per-class report.

Multi-view testing scores every video on V = clips x crops views and averages them
(`tfvideo.data.pipeline.aggregate_views`, see `tfvideo.training.evaluation`):

- `"logits"`: mean of the logits (TSN / TSM / TEINet / S3D convention),
- `"softmax"`: mean of the per-view softmax probabilities (TAda's `ENSEMBLE_METHOD: sum`,
  bLVNet-TAM); the arg-max of a sum equals that of the mean.

Ties: a video counts as correct at top-k when fewer than k classes score *strictly* higher than
its true class.

Multi-label data (several labels per video, Charades): `average_precision` per class and its
mean over the classes that have a positive video, `mean_average_precision` (mAP, the Charades
metric), in `summarize_multilabel` with a per-class AP report.

Example:

>>> import numpy as np
>>> scores = np.array([[1.0, 1.5, 0.5], [0.2, 0.1, 0.7]])   # 2 videos, 3 classes
>>> top_k_accuracy(scores, [0, 2], k=1), top_k_accuracy(scores, [0, 2], k=2)
(0.5, 1.0)
"""

import numpy as np

VIEW_AGGREGATIONS = ("logits", "softmax")


def _check(scores, labels):
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, np.int64).reshape(-1)
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(
            f"`scores` must be [N, C] with N = len(labels) = {labels.shape[0]}, got {scores.shape}."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(
            f"labels must be in [0, {scores.shape[1]}), got {labels.min()}..{labels.max()}."
        )
    return scores, labels


def top_k_correct(scores, labels, k=1):
    """Boolean `[N]`: the true class is among the k highest scores (ties favour it)."""
    scores, labels = _check(scores, labels)
    true = scores[np.arange(len(labels)), labels]
    higher = (scores > true[:, None]).sum(axis=1)
    return higher < k


def top_k_accuracy(scores, labels, k=1):
    """Fraction of videos whose true class is in the top k."""
    correct = top_k_correct(scores, labels, k)
    return float(correct.mean()) if correct.size else float("nan")


def confusion_matrix(labels, predictions, num_classes):
    """`[C, C]` int counts, rows = true class, columns = predicted class."""
    labels = np.asarray(labels, np.int64).reshape(-1)
    predictions = np.asarray(predictions, np.int64).reshape(-1)
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def per_class_accuracy(matrix):
    """Recall of each class (`nan` for classes without videos)."""
    matrix = np.asarray(matrix, np.float64)
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(matrix) / support, np.nan)


def mean_class_accuracy(matrix):
    """Mean of the per-class accuracies over the classes that have videos."""
    accuracy = per_class_accuracy(matrix)
    present = ~np.isnan(accuracy)
    return float(accuracy[present].mean()) if present.any() else float("nan")


def per_class_report(matrix, class_names=None):
    """List of dicts, one per class: name, support, correct, accuracy (recall), precision, f1,
    and the class it is most often mistaken for."""
    matrix = np.asarray(matrix, np.int64)
    num_classes = matrix.shape[0]
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for {num_classes} classes.")
    predicted = matrix.sum(axis=0)
    report = []
    for c in range(num_classes):
        support, correct = int(matrix[c].sum()), int(matrix[c, c])
        recall = correct / support if support else float("nan")
        precision = correct / int(predicted[c]) if predicted[c] else float("nan")
        f1 = (
            2 * precision * recall / (precision + recall)
            if support and predicted[c] and (precision + recall) > 0
            else 0.0
        )
        errors = matrix[c].copy()
        errors[c] = 0
        confused = int(errors.argmax()) if errors.any() else None
        report.append(
            {
                "class": c,
                "name": names[c],
                "support": support,
                "correct": correct,
                "accuracy": recall,
                "precision": precision,
                "f1": f1,
                "most_confused_with": None if confused is None else names[confused],
                "most_confused_count": 0 if confused is None else int(errors[confused]),
            }
        )
    return report


def summarize(scores, labels, class_names=None, top_k=(1, 5)):
    """All metrics of `[N, C]` video scores: top-k, mean class accuracy, confusion matrix,
    per-class report."""
    scores, labels = _check(scores, labels)
    num_classes = scores.shape[1]
    predictions = scores.argmax(axis=1)
    matrix = confusion_matrix(labels, predictions, num_classes)
    result = {"num_videos": int(len(labels)), "num_classes": int(num_classes)}
    for k in top_k:
        result[f"top{k}"] = top_k_accuracy(scores, labels, min(k, num_classes))
    result["mean_class_accuracy"] = mean_class_accuracy(matrix)
    result["confusion_matrix"] = matrix.tolist()
    result["per_class"] = per_class_report(matrix, class_names)
    return result


def format_report_table(per_class, max_name=40):
    """Plain-text table of a `per_class_report`."""
    header = (
        f"{'#':>3}  {'class':<{max_name}}  {'n':>5}  {'acc':>6}  {'prec':>6}  "
        f"{'f1':>6}  confused with"
    )
    lines = [header, "-" * len(header)]
    for row in per_class:
        name = row["name"][:max_name]
        confused = (
            f"{row['most_confused_with'][:max_name]} ({row['most_confused_count']})"
            if row["most_confused_with"]
            else "-"
        )
        lines.append(
            f"{row['class']:>3}  {name:<{max_name}}  {row['support']:>5}  "
            f"{_pct(row['accuracy'])}  {_pct(row['precision'])}  {_pct(row['f1'])}  {confused}"
        )
    return "\n".join(lines)


def _pct(value):
    return "   n/a" if value is None or np.isnan(value) else f"{100 * value:6.1f}"


# ------------------------------------------------------------------------------ multi-label


def _check_multilabel(scores, targets):
    scores = np.asarray(scores, np.float64)
    targets = np.asarray(targets, np.float64)
    if scores.ndim != 2 or scores.shape != targets.shape:
        raise ValueError(
            f"`scores` and `targets` must both be [N, C], got {scores.shape} and {targets.shape}."
        )
    return scores, targets > 0.5


def average_precision(scores, targets):
    """Non-interpolated average precision of each class, `[C]` (`nan` for a class without a
    positive video): the mean, over the positives, of the precision among the videos that score
    at least as high (tied scores form one threshold, as scikit-learn's
    `average_precision_score` does).

    >>> average_precision([[0.9], [0.8], [0.7]], [[1], [0], [1]]).round(4).tolist()
    [0.8333]
    """
    scores, targets = _check_multilabel(scores, targets)
    aps = np.full(scores.shape[1], np.nan)
    for c in range(scores.shape[1]):
        positives = targets[:, c].sum()
        if not positives:
            continue
        order = np.argsort(-scores[:, c], kind="stable")
        s, hits = scores[order, c], targets[order, c]
        tp = np.cumsum(hits)
        # The last row of each group of tied scores: one threshold per distinct score.
        ends = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
        tp_at = tp[ends]
        new_tp = np.diff(np.r_[0, tp_at])
        precision = tp_at / (ends + 1)
        aps[c] = float((new_tp * precision).sum() / positives)
    return aps


def mean_average_precision(scores, targets):
    """mAP: the mean of `average_precision` over the classes with a positive video."""
    aps = average_precision(scores, targets)
    present = ~np.isnan(aps)
    return float(aps[present].mean()) if present.any() else float("nan")


def summarize_multilabel(scores, targets, class_names=None):
    """The metrics of `[N, C]` video scores against multi-hot `[N, C]` targets: mAP, and per
    class its support (positive videos) and AP."""
    scores, hot = _check_multilabel(scores, targets)
    num_classes = scores.shape[1]
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for {num_classes} classes.")
    aps = average_precision(scores, hot)
    present = ~np.isnan(aps)
    return {
        "multi_label": True,
        "num_videos": int(len(scores)),
        "num_classes": int(num_classes),
        "mAP": float(aps[present].mean()) if present.any() else float("nan"),
        "classes_with_positives": int(present.sum()),
        "per_class": [
            {"class": c, "name": names[c], "support": int(hot[:, c].sum()), "ap": float(aps[c])}
            for c in range(num_classes)
        ],
    }


def format_multilabel_table(per_class, max_name=40):
    """Plain-text table of `summarize_multilabel`'s `per_class`."""
    header = f"{'#':>3}  {'class':<{max_name}}  {'n':>5}  {'AP':>6}"
    lines = [header, "-" * len(header)]
    for row in per_class:
        lines.append(
            f"{row['class']:>3}  {row['name'][:max_name]:<{max_name}}  {row['support']:>5}  "
            f"{_pct(row['ap'])}"
        )
    return "\n".join(lines)
