"""PNG figures (matplotlib, Agg backend): training curves and a confusion matrix."""

import csv
import math

import numpy as np

from tfvideo._atomic import atomic_save


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _atomic_savefig(fig, path):
    atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"))


def read_history_csv(path):
    """`keras.callbacks.CSVLogger` file -> dict of column -> list of floats."""
    history = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                try:
                    history.setdefault(key, []).append(float(value))
                except (TypeError, ValueError):
                    history.setdefault(key, []).append(float("nan"))
    return history


def plot_history(history, path, title=None):
    """Training curves: one panel per metric (loss, accuracy, ...), train and `val_` together.

    Args:
        history: dict metric -> list of per-epoch values (`History.history` or
            `read_history_csv`); an `epoch` column is used as the x axis when present.
        path: output PNG.
    """
    plt = _pyplot()
    epochs = history.get("epoch")
    metrics = [
        k
        for k in history
        if k != "epoch"
        and not k.startswith("val_")
        and k not in ("learning_rate", "lr")
        and not (k == "decode_errors" and not any(history[k]))
    ]  # only when videos failed
    panels = metrics + (["learning_rate"] if "learning_rate" in history else [])
    if not panels:
        raise ValueError("`history` has no metric to plot.")
    cols = min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, panels):
        values = history[name]
        x = [e + 1 for e in epochs] if epochs else list(range(1, len(values) + 1))
        ax.plot(x, values, marker="o", ms=3, label="train" if name != "learning_rate" else name)
        if f"val_{name}" in history:
            val = history[f"val_{name}"]
            ax.plot(x[: len(val)], val, marker="o", ms=3, label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _atomic_savefig(fig, path)
    plt.close(fig)
    return path


def plot_confusion_matrix(matrix, path, class_names=None, normalize=True, title=None):
    """Confusion matrix heat map (rows: true class, columns: predicted), row-normalised."""
    plt = _pyplot()
    matrix = np.asarray(matrix, np.float64)
    num_classes = matrix.shape[0]
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
    shown = matrix
    if normalize:
        support = matrix.sum(axis=1, keepdims=True)
        shown = np.divide(matrix, support, out=np.zeros_like(matrix), where=support > 0)
    size = min(max(4.0, 0.45 * num_classes + 2.5), 30.0)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if num_classes <= 40:
        labels = [n if len(n) <= 32 else n[:30] + ".." for n in names]
        ax.set_xticks(range(num_classes), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(num_classes), labels, fontsize=7)
    if num_classes <= 20:
        for i in range(num_classes):
            for j in range(num_classes):
                if matrix[i, j]:
                    ax.text(
                        j,
                        i,
                        int(matrix[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if shown[i, j] > 0.5 else "black",
                    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix" + (" (row-normalised)" if normalize else ""))
    fig.tight_layout()
    _atomic_savefig(fig, path)
    plt.close(fig)
    return path
