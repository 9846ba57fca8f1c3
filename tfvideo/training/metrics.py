"""Video-level evaluation metrics in NumPy: multi-view averaging, top-k, mean class accuracy,
confusion matrix and a per-class report.

Multi-view testing scores every video on V = clips x crops views and averages them
(`tfvideo.data.pipeline.aggregate_views`, see `tfvideo.training.evaluation`):

- `"logits"`: mean of the logits (TSN / TSM / TEINet / S3D convention),
- `"softmax"`: mean of the per-view softmax probabilities (TAda's `ENSEMBLE_METHOD: sum`,
  bLVNet-TAM); the arg-max of a sum equals that of the mean.

Ties: a video counts as correct at top-k when fewer than k classes score *strictly* higher than
its true class.

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
