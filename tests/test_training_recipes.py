"""The training job with the recipes of issue 16 switched on, end to end on a tiny multi-label
list dataset (the synthetic videos, two labels each): RandAugment, colour jitter, MixUp, CutMix
and repeated augmentation in one run, a sigmoid (binary cross-entropy) loss, and an evaluation
report with mAP and per-class AP. The properties of each recipe are in tests/test_data_recipes.py.
"""

import json
import pathlib

import numpy as np
import pytest
from test_training_jobs import TINY, _summary, _train, data_root  # noqa: F401  (fixture)


def _multi_label_lists(data_root, directory):
    """`path a,b` lists of the synthetic videos: each keeps its class and adds the next one."""
    from tfvideo.data import synthetic

    paths = {}
    for subset in ("train", "validation"):
        dataset = synthetic.load(
            synthetic.make_dataset(
                data_root,
                num_classes=4,
                videos_per_class_train=3,
                videos_per_class_val=2,
                num_frames=8,
                size=32,
            )["root"],
            subset,
        )
        lines = [f"{p} {label},{(label + 1) % 4}" for p, label in dataset.samples]
        paths[subset] = directory / f"{subset}.txt"
        paths[subset].write_text("\n".join(lines) + "\n")
    return paths


def test_train_job_with_every_recipe_on_a_multi_label_list(tmp_path, data_root):
    lists = _multi_label_lists(data_root, tmp_path)
    out = tmp_path / "run"
    args = [a for a in TINY if not a.startswith(("--dataset", "--synthetic"))] + [
        "--dataset=list",
        f"--train_annotations={lists['train']}",
        f"--val_annotations={lists['validation']}",
        f"--output_dir={out}",
        "--epochs=1",
        "--randaugment=2,5",
        "--color_jitter=0.4",
        "--mixup=0.8",
        "--cutmix=1.0",
        "--repeat_aug=2",
        "--eval_num_clips=1",
        "--eval_num_crops=1",
        "--eval_reverse_frames=false",
        "--export=false",
    ]
    result = _train(args)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = _summary(out)
    # 12 videos x 2 views / batch 2: an epoch decodes every video once and trains on both views.
    assert summary["optimizer_steps"] == summary["expected_steps"] == 12
    assert np.isfinite(summary["final_epoch_logs"]["loss"])
    assert "pr_auc" in summary["final_epoch_logs"]  # the multi-label metrics were compiled
    report = json.loads(pathlib.Path(out / "eval_report.json").read_text())
    assert report["multi_label"] is True and report["num_videos"] == 8
    assert 0.0 <= report["mAP"] <= 1.0 and report["classes_with_positives"] == 4
    assert [row["support"] for row in report["per_class"]] == [4, 4, 4, 4]
    assert "mAP" in (out / "eval_per_class.txt").read_text()
    assert summary["evaluation"]["normal"]["mAP"] == report["mAP"]
    assert "mAP" in result.stdout
    # the model says it is multi-label, so predict and the exports score with sigmoids
    import keras

    import tfvideo  # noqa: F401 - registers the models

    model = keras.saving.load_model(str(out / "model.keras"), compile=False)
    assert model.spec.multi_label is True


def test_losses_take_soft_labels():
    """The job's losses on soft labels (MixUp / CutMix) against NumPy: softmax cross-entropy
    -sum(y log softmax(z)) for single-label data, the mean binary cross-entropy of the sigmoids
    for multi-label data; and the metric each run monitors."""
    from tfvideo.training.loop import loss_and_metrics

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 4)).astype(np.float32)
    soft = rng.dirichlet(np.ones(4), size=5).astype(np.float32)
    loss, metrics, monitor = loss_and_metrics(4, multi_label=False)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -(soft * log_softmax).sum(axis=1).mean()
    assert float(loss(soft, logits)) == pytest.approx(expected, rel=1e-5)
    assert monitor == "val_accuracy" and [m.name for m in metrics] == ["accuracy"]

    loss, metrics, monitor = loss_and_metrics(4, multi_label=True)
    p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    expected = -(soft * np.log(p) + (1 - soft) * np.log(1 - p)).mean()
    assert float(loss(soft, logits)) == pytest.approx(expected, rel=1e-5)
    assert monitor == "val_pr_auc" and [m.name for m in metrics] == ["accuracy", "pr_auc"]


def test_bad_recipes_fail_before_training_naming_the_flag():
    from tfvideo.training.loop import TrainConfig, _check_recipes

    _check_recipes(TrainConfig(randaugment="2,9", mixup=0.8, cutmix=1.0, repeat_aug=2), 4)
    bad = [
        (dict(randaugment="9"), "--randaugment"),
        (dict(mixup=-1.0), "alphas must be >= 0"),
        (dict(repeat_aug=0), "repeat_aug must be an integer >= 1"),
        (dict(repeat_aug=3), "--repeat_aug=3 must divide the global batch"),
    ]
    for options, message in bad:
        with pytest.raises(ValueError, match=message):
            _check_recipes(TrainConfig(**options), 4)
