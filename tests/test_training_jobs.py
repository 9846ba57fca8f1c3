"""End-to-end tests of the training job (subprocesses): the default job's code path on a tiny
synthetic set (train -> evaluate -> export), MirroredStrategy over 2 logical CPUs, resuming a
killed run, MultiWorkerMirroredStrategy with two local workers, a non-finite loss.

Tiny everything: 4 classes x 3 training videos, 4 frames of 32 px, tsm_tiny."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, str(REPO / "scripts" / "train.py")]
TINY = [
    "--model=tsm_tiny",
    "--num_frames=4",
    "--input_size=32",
    "--batch_size=2",
    "--dataset=synthetic",
    "--synthetic_classes=4",
    "--synthetic_train_per_class=3",
    "--synthetic_val_per_class=2",
    "--synthetic_frames=8",
    "--synthetic_size=32",
    "--base_lr=0.5",
    "--verbose=2",
]


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    from tfvideo.data import synthetic

    root = tmp_path_factory.mktemp("synthetic")
    synthetic.make_dataset(
        str(root),
        num_classes=4,
        videos_per_class_train=3,
        videos_per_class_val=2,
        num_frames=8,
        size=32,
    )
    return str(root)


def _train(args, timeout=600, **env):
    result = subprocess.run(
        TRAIN + args, env=_env(**env), capture_output=True, text=True, timeout=timeout, cwd=REPO
    )
    return result


def _summary(output_dir):
    return json.loads((pathlib.Path(output_dir) / "summary.json").read_text())


def one_epoch_job(data_root, out, exports) -> list:
    """The default job's flags on the tiny set: 1 epoch, evaluated on 1 clip, exported."""
    return TINY + [
        f"--data_root={data_root}",
        f"--output_dir={out}",
        f"--export_dir={exports}",
        "--epochs=1",
        "--eval_num_clips=1",
    ]


def test_default_job_code_path_trains_evaluates_exports(tmp_path, data_root):
    out, exports = tmp_path / "run", tmp_path / "saved_models"
    result = _train(one_epoch_job(data_root, out, exports))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = _summary(out)
    assert summary["optimizer_steps"] == summary["expected_steps"] == 6  # 12 videos / batch 2
    assert summary["resumed_from_step"] == 0
    for name in (
        "model.keras",
        "history.csv",
        "training_curves.png",
        "classes.json",
        "tfvideo_metadata.json",
        "checkpoints/last.keras",
        "checkpoints/best.keras",
        "eval_report.json",
        "eval_per_class.txt",
        "eval_confusion_matrix.png",
        "eval_reversed_report.json",
    ):
        assert (out / name).is_file(), name
    assert not (out / "backup").exists()  # removed once the run has finished
    assert os.listdir(out / "logs" / "train")
    assert (exports / "tsm_tiny" / "1" / "saved_model.pb").is_file()
    assert (exports / "tsm_tiny.tflite").stat().st_size > 0
    assert summary["evaluation"]["normal"]["num_videos"] == 8
    assert "Summary: tsm_tiny on synthetic" in result.stdout

    # The evaluate job on the run directory: 2 clips x 3 crops, frames reversed.
    from tfvideo.cli.evaluate import EvalConfig, evaluate
    from tfvideo.training.datasets import DataConfig

    report = evaluate(
        EvalConfig(
            model_path=str(out),
            num_clips=2,
            num_crops=3,
            reverse_frames=True,
            data=DataConfig(
                data_root=data_root,
                synthetic_classes=4,
                synthetic_train_per_class=3,
                synthetic_val_per_class=2,
                synthetic_frames=8,
                synthetic_size=32,
            ),
        )
    )
    assert report["num_videos"] == 8 and report["views"]["num_clips"] == 2
    assert report["reverse_frames"] is True
    assert sum(map(sum, report["confusion_matrix"])) == 8
    saved = json.loads(pathlib.Path(report["paths"]["json"]).read_text())
    assert saved["top1"] == report["top1"]


MIRRORED_SCRIPT = r"""
import json, numpy as np
from tfvideo.training import strategy as S
strategy = S.select_strategy(num_cpu_devices=2)
import keras, tensorflow as tf
from tfvideo import models
from tfvideo.optim import optimizers as optim
with strategy.scope():
    model = models.create("tsm_tiny", num_classes=4, num_frames=4, input_size=32)
    model.compile(optim.build_optimizer("sgd", 0.02, model, weight_decay=1e-4),
                  keras.losses.CategoricalCrossentropy(from_logits=True),
                  jit_compile=S.resolve_jit_compile("auto", strategy))
rng = np.random.default_rng(0)
x = rng.uniform(0, 255, (8, 4, 32, 32, 3)).astype("float32")
y = np.eye(4, dtype="float32")[np.arange(8) % 4]
ds = tf.data.Dataset.from_tensors((x, y)).repeat()
history = model.fit(ds, epochs=6, steps_per_epoch=1, verbose=0)
print("RESULT", json.dumps({
    "replicas": strategy.num_replicas_in_sync, "type": type(strategy).__name__,
    "jit_auto": S.resolve_jit_compile("auto", strategy),
    "jit_forced": S.resolve_jit_compile("true", strategy),
    "steps": int(model.optimizer.iterations.numpy()), "loss": history.history["loss"]}))
"""


def test_mirrored_strategy_on_two_logical_cpus_loss_decreases():
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("RESULT "))
    info = json.loads(line[len("RESULT ") :])
    assert info["replicas"] == 2 and info["type"] == "MirroredStrategy"
    assert info["jit_auto"] is False and info["jit_forced"] is False
    assert info["steps"] == 6
    assert info["loss"][-1] < info["loss"][0]


def _kill_when(args, should_kill):
    """Runs the job and SIGKILLs it at the first output line for which `should_kill(line)`;
    returns that line."""
    process = subprocess.Popen(
        TRAIN + args,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    killed_on = None
    try:
        for line in process.stdout:
            if should_kill(line):
                process.send_signal(signal.SIGKILL)
                killed_on = line.strip()
                break
    finally:
        process.stdout.close()
        process.wait(timeout=60)
    assert killed_on is not None, "the job ended before the line to kill it on"
    assert process.returncode == -signal.SIGKILL
    return killed_on


def _resume_and_check(args, out, state, total_steps=18):
    result = _train(args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Resuming from the backup at optimizer step {state['step']}" in result.stdout
    summary = _summary(out)
    assert summary["resumed_from_step"] == state["step"]
    assert summary["optimizer_steps"] == summary["expected_steps"] == total_steps
    epochs = [row.split(",")[0] for row in (out / "history.csv").read_text().splitlines()[1:]]
    assert epochs == ["0", "1", "2"]
    assert not (out / "backup").exists()
    return result


def _backup_state(out):
    return json.loads((out / "backup" / "training_metadata.json").read_text())


def _backup_line(line):
    """(step, batch) of a "[backup] step S (epoch E, batch B)" line, or None."""
    if not line.startswith("[backup] step"):
        return None
    return int(line.split()[2]), int(line.rsplit("batch", 1)[1].strip(" )\n"))


def test_killed_run_resumes_with_the_same_number_of_steps(tmp_path, data_root):
    out = tmp_path / "run"
    # 12 videos / batch 2 = 6 steps per epoch, 3 epochs = 18 optimizer steps; backup every 2.
    args = TINY + [
        f"--data_root={data_root}",
        f"--output_dir={out}",
        "--epochs=3",
        "--backup_every=2",
        "--evaluate=false",
        "--export=false",
        "--val_every=0",
    ]

    def inside_the_second_epoch(line):
        position = _backup_line(line)
        return position is not None and position[0] > 6 and position[1] > 0

    killed_on = _kill_when(args, inside_the_second_epoch)
    state = _backup_state(out)
    assert state["step"] >= _backup_line(killed_on)[0] and state["batch"] > 0
    _resume_and_check(args, out, state)


# The boundary of issue 12: with 6 steps per epoch and a backup every 3, the backup position
# after an epoch's last batch once had 0 steps left in its epoch, and the resumed run never ended.
BOUNDARY = [
    "--epochs=3",
    "--steps_per_epoch=6",
    "--backup_every=3",
    "--evaluate=false",
    "--export=false",
]


def test_run_killed_right_after_the_backup_of_an_epochs_last_step_resumes(tmp_path, data_root):
    out = tmp_path / "run"
    args = TINY + [f"--data_root={data_root}", f"--output_dir={out}"] + BOUNDARY
    killed_on = _kill_when(args, lambda line: (_backup_line(line) or (0,))[0] == 6)
    state = _backup_state(out)
    assert state == {"epoch": 1, "batch": 0, "step": 6}, killed_on  # the epoch-end backup
    _resume_and_check(args, out, state)


def test_run_killed_during_validation_resumes_and_validates_that_epoch(tmp_path, data_root):
    out = tmp_path / "run"
    args = TINY + [f"--data_root={data_root}", f"--output_dir={out}"] + BOUNDARY
    _kill_when(args, lambda line: line.startswith("[validate] epoch 2"))
    state = _backup_state(out)
    # Killed after the 12th step, before the epoch-end backup: it resumes mid-epoch 2.
    assert state == {"epoch": 1, "batch": 3, "step": 9}
    result = _resume_and_check(args, out, state)
    assert "[validate] epoch 2 (after step 12)" in result.stdout
    rows = (out / "history.csv").read_text().splitlines()
    assert "val_accuracy" in rows[0] and all(row.split(",")[-1] for row in rows[1:])


def test_resume_position_after_a_backup_at_the_end_of_an_epoch():
    from tfvideo.training.callbacks import resume_position

    assert resume_position({"epoch": 0, "batch": 6, "step": 6}, 6) == (1, 0)
    assert resume_position({"epoch": 0, "batch": 8, "step": 8}, 6) == (1, 0)
    assert resume_position({"epoch": 1, "batch": 3, "step": 9}, 6) == (1, 3)
    assert resume_position({"epoch": 3, "batch": 0, "step": 18}, 6) == (3, 0)


def test_truncate_history_drops_epochs_that_will_be_trained_again(tmp_path):
    from tfvideo.training.callbacks import truncate_history

    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,1.5\n1,1.2\n2,1.1\n")
    truncate_history(str(path), 2)
    assert path.read_text() == "epoch,loss\n0,1.5\n1,1.2\n"
    truncate_history(str(path), 5)
    assert path.read_text() == "epoch,loss\n0,1.5\n1,1.2\n"


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_multi_worker_mirrored_strategy_two_local_workers(tmp_path, data_root):
    cluster = {"worker": [f"localhost:{_free_port()}", f"localhost:{_free_port()}"]}
    out = tmp_path / "run"
    exports = tmp_path / "saved_models"
    args = TINY + [
        f"--data_root={data_root}",
        f"--output_dir={out}",
        "--epochs=1",
        f"--export_dir={exports}",
        "--eval_num_clips=1",
        "--val_every=0",
    ]
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(
            subprocess.Popen(
                TRAIN + args,
                env=_env(TF_CONFIG=tf_config),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=REPO,
            )
        )
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=600)[0])
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    summary = _summary(out)  # written by the chief (worker 0) only
    assert summary["replicas"] == 2 and summary["global_batch"] == 4
    assert summary["optimizer_steps"] == summary["expected_steps"] == 3  # 12 / (2 x 2)
    assert "Summary:" in outputs[0] and "Summary:" not in outputs[1]
    # The chief alone evaluates and exports, after the other worker has returned.
    assert summary["evaluation"]["normal"]["num_videos"] == 8
    assert (exports / "tsm_tiny" / "1" / "saved_model.pb").is_file()
    assert (exports / "tsm_tiny.tflite").stat().st_size > 0


def test_non_finite_loss_stops_and_names_the_step(tmp_path, data_root):
    out = tmp_path / "run"
    result = _train(
        TINY
        + [
            f"--data_root={data_root}",
            f"--output_dir={out}",
            "--epochs=2",
            "--base_lr=1e38",
            "--lr_scaling=none",
            "--warmup_epochs=0",
            "--optimizer=sgd",
            "--momentum=0",
            "--backup_every=1",
            "--evaluate=false",
            "--export=false",
            "--val_every=0",
        ]
    )
    assert result.returncode == 3, result.stderr[-3000:]
    event = json.loads((out / "nonfinite.json").read_text())
    assert "Non-finite loss" in result.stderr
    assert f"optimizer step {event['step']} " in result.stderr
    state = json.loads((out / "backup" / "training_metadata.json").read_text())
    assert state["step"] < event["step"]  # the last backup is from a finite step


def test_export_failure_after_training_keeps_the_run_and_resumes_after_it(tmp_path, data_root):
    """An export that fails after training exits with status 4 and one line naming model.keras
    and the export command; the backup stays, so the same command re-run trains no step and
    exports."""
    out, blocked = tmp_path / "run", tmp_path / "not_a_directory"
    blocked.write_text("a file where the export directory should be")
    args = TINY + [
        f"--data_root={data_root}",
        f"--output_dir={out}",
        "--epochs=1",
        "--evaluate=false",
        "--tflite=false",
    ]
    failed = _train(args + [f"--export_dir={blocked}"])
    assert failed.returncode == 4, failed.stderr[-3000:]
    errors = [line for line in failed.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "Traceback" not in failed.stderr, failed.stderr[-3000:]
    assert "export failed after training" in errors[0]
    assert f"The trained model is saved at {out / 'model.keras'}" in errors[0]
    assert f"tfvideo export --model {out / 'model.keras'}" in errors[0]
    assert (out / "model.keras").is_file() and (out / "backup").is_dir()

    exports = tmp_path / "saved_models"
    result = _train(args + [f"--export_dir={exports}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming from the backup at optimizer step 6 (epoch 2, batch 0) of 6" in result.stdout
    summary = _summary(out)
    assert summary["optimizer_steps"] == summary["expected_steps"] == 6
    assert (exports / "tsm_tiny" / "1" / "saved_model.pb").is_file()
    assert not (out / "backup").exists()


# Reproducibility (issue 16) and resumption compared on weights (issue 20): with --deterministic
# and one seed, a run killed in its second epoch and resumed (two processes) ends with the same
# weights, BN statistics and optimizer state, bit for bit, as an uninterrupted run (a third).
DETERMINISTIC = TINY + [
    "--deterministic",
    "--seed=3",
    "--epochs=2",
    "--backup_every=2",
    "--evaluate=false",
    "--export=false",
    "--val_every=0",
]


def _final_state(out):
    """(weights, optimizer variables) of a run's model.keras, as NumPy arrays."""
    import keras

    model = keras.saving.load_model(str(out / "model.keras"))
    return (
        [keras.ops.convert_to_numpy(w) for w in model.weights],
        [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables],
    )


@pytest.fixture(scope="module")
def deterministic_run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("deterministic") / "run"
    result = _train(DETERMINISTIC + [f"--data_root={data_root}", f"--output_dir={out}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert ", deterministic" in result.stdout
    return out


def test_run_model_keras_loads_with_its_optimizer_after_a_plain_import(deterministic_run):
    """`import tfvideo` alone registers the compiled optimizer and schedule (tfvideo.optim), so a
    user's `keras.saving.load_model` reads the run's model.keras back, optimizer included, without
    importing tfvideo.training."""
    code = (
        "import sys, keras, tfvideo; "
        f"m = keras.saving.load_model({str(deterministic_run / 'model.keras')!r}); "
        "print(type(m.optimizer).__name__, type(m.optimizer._learning_rate).__name__, "
        "int(m.optimizer.iterations), 'tfvideo.training' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    optimizer, schedule, iterations, training_imported = result.stdout.split()[-4:]
    assert optimizer in ("AdamW", "AdamWL", "SGDL2") and training_imported == "False"
    assert schedule in ("WarmupCosine", "PerUpdate"), schedule  # tfvideo's (tfvideo.optim)
    assert int(iterations) > 0


def _assert_same_state(a, b):
    for kind, x, y in (("weight", a[0], b[0]), ("optimizer variable", a[1], b[1])):
        assert len(x) == len(y)
        differ = [i for i, (u, v) in enumerate(zip(x, y)) if not np.array_equal(u, v)]
        assert not differ, f"{len(differ)} {kind}s differ, first #{differ[0]}"


def test_killed_and_resumed_run_ends_with_the_uninterrupted_weights(
    tmp_path, data_root, deterministic_run
):
    out = tmp_path / "run"
    args = DETERMINISTIC + [f"--data_root={data_root}", f"--output_dir={out}"]
    # 6 steps per epoch: killed after the backup at step 8 (epoch 2, batch 2), mid-epoch.
    killed_on = _kill_when(args, lambda line: (_backup_line(line) or (0,))[0] == 8)
    assert _backup_state(out) == {"epoch": 1, "batch": 2, "step": 8}, killed_on
    result = _train(args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming from the backup at optimizer step 8" in result.stdout
    assert _summary(out)["optimizer_steps"] == 12
    # Bit-identical: the first 8 steps ran in another process than the reference, so this is
    # also the run-to-run reproducibility of --deterministic.
    reference = _final_state(deterministic_run)
    _assert_same_state(_final_state(out), reference)
    import tfvideo

    fresh = tfvideo.models.create("tsm_tiny", num_classes=4, num_frames=4, input_size=32)
    assert not np.allclose(np.asarray(fresh.weights[0]), reference[0][0])  # trained
