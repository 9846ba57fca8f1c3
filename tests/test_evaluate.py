"""Evaluation metrics on constructed cases with known answers, and multi-view averaging."""

import json

import numpy as np
import pytest

from tfvideo.data.pipeline import aggregate_views
from tfvideo.training import evaluation, metrics, plots

# 6 videos, 4 classes. Labels 0,0,0,1,2,3. Hand-ranked scores:
SCORES = np.array(
    [
        [5.0, 1.0, 0.0, 0.0],  # label 0 -> predicted 0 (correct)
        [1.0, 5.0, 0.0, 0.0],  # label 0 -> predicted 1, label is 2nd
        [0.0, 1.0, 5.0, 2.0],  # label 0 -> predicted 2, label is 4th (last)
        [0.0, 5.0, 1.0, 0.0],  # label 1 -> predicted 1 (correct)
        [3.0, 0.0, 1.0, 0.0],  # label 2 -> predicted 0, label is 2nd
        [0.0, 0.0, 1.0, 4.0],  # label 3 -> predicted 3 (correct)
    ]
)
LABELS = np.array([0, 0, 0, 1, 2, 3])


def test_top_k_and_mean_class_accuracy_known_answer():
    assert metrics.top_k_accuracy(SCORES, LABELS, 1) == pytest.approx(3 / 6)
    assert metrics.top_k_accuracy(SCORES, LABELS, 2) == pytest.approx(5 / 6)
    assert metrics.top_k_accuracy(SCORES, LABELS, 4) == 1.0
    matrix = metrics.confusion_matrix(LABELS, SCORES.argmax(1), 4)
    np.testing.assert_array_equal(matrix, [[1, 1, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
    # per class recall: 1/3, 1, 0, 1 -> mean 7/12 (top-1 is 1/2: the classes are unbalanced)
    np.testing.assert_allclose(metrics.per_class_accuracy(matrix), [1 / 3, 1, 0, 1])
    assert metrics.mean_class_accuracy(matrix) == pytest.approx(7 / 12)


def test_ties_count_for_the_true_class():
    scores = np.array([[1.0, 1.0, 0.0]])
    assert metrics.top_k_accuracy(scores, [1], 1) == 1.0
    assert metrics.top_k_accuracy(np.array([[2.0, 1.0, 1.0]]), [2], 2) == 1.0


def test_per_class_report_and_table():
    matrix = metrics.confusion_matrix(LABELS, SCORES.argmax(1), 4)
    report = metrics.per_class_report(matrix, ["a", "b", "c", "d"])
    a, b, c, d = report
    assert (a["support"], a["correct"]) == (3, 1)
    assert a["precision"] == pytest.approx(1 / 2)  # column 0: 1 right of 2 predicted
    assert a["f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert b["precision"] == pytest.approx(1 / 2) and b["accuracy"] == 1.0
    assert c["accuracy"] == 0.0 and c["most_confused_with"] == "a"
    assert d["most_confused_with"] is None
    table = metrics.format_report_table(report)
    assert "  33.3" in table.splitlines()[2] and "c" in table


def test_summarize_top5_with_fewer_classes_and_json():
    result = metrics.summarize(SCORES, LABELS, ["a", "b", "c", "d"])
    assert result["top1"] == pytest.approx(0.5) and result["top5"] == 1.0
    assert result["mean_class_accuracy"] == pytest.approx(7 / 12)
    json.dumps(result)  # serialisable as written by write_report


def test_view_averaging_logits_versus_softmax():
    """Video 0 has a very confident wrong view: mean logits follow it, mean softmax does not."""
    views = np.array(
        [
            [10.0, 0.0],
            [0.0, 2.0],
            [0.0, 2.0],  # video 0 (label 1)
            [0.0, 1.0],
            [2.0, 0.0],
            [3.0, 0.0],
        ]
    )  # video 1 (label 0)
    video_index = np.array([0, 0, 0, 1, 1, 1])
    labels = np.array([1, 1, 1, 0, 0, 0])
    ids, by_logits, video_labels = aggregate_views(views, video_index, labels)
    np.testing.assert_allclose(by_logits[0], [10 / 3, 4 / 3])
    _, by_softmax, _ = aggregate_views(views, video_index, labels, softmax=True)
    p = 1 / (1 + np.exp(-2.0))  # softmax of [0, 2] for class 1
    expected = [(1 / (1 + np.exp(-10.0)) + 2 * (1 - p)) / 3, (1 / (1 + np.exp(10.0)) + 2 * p) / 3]
    np.testing.assert_allclose(by_softmax[0], expected, rtol=1e-6)
    assert ids.tolist() == [0, 1] and video_labels.tolist() == [1, 0]
    assert metrics.top_k_accuracy(by_logits, video_labels, 1) == 0.5
    assert metrics.top_k_accuracy(by_softmax, video_labels, 1) == 1.0


def test_paper_view_aggregation_per_family():
    assert evaluation.default_view_aggregation("tsm_tiny") == "logits"
    assert evaluation.default_view_aggregation("s3d_tiny") == "logits"
    assert evaluation.default_view_aggregation("tada2d_tiny") == "softmax"
    assert evaluation.default_view_aggregation("blvnet_tam_tiny") == "softmax"
    assert evaluation.default_view_aggregation("no_such_model") == "logits"


def test_report_files(tmp_path):
    result = metrics.summarize(SCORES, LABELS, ["a", "b", "c", "d"])
    paths = evaluation.write_report(result, str(tmp_path), "eval")
    with open(paths["confusion_matrix"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert json.loads(open(paths["json"]).read())["confusion_matrix"][0] == [1, 1, 1, 0]
    assert "top1 50.0%" in open(paths["table"]).read()
    history = {
        "epoch": [0, 1],
        "loss": [2.0, 1.0],
        "val_loss": [2.5, 1.5],
        "accuracy": [0.2, 0.6],
        "learning_rate": [0.1, 0.05],
    }
    png = plots.plot_history(history, str(tmp_path / "curves.png"))
    with open(png, "rb") as f:
        assert f.read(4) == b"\x89PNG"
