"""Unit tests of tfvideo.training: schedules, LR scaling, optimizer, callbacks, flags."""

import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvideo.optim import optimizers as optim
from tfvideo.optim import schedules
from tfvideo.training import callbacks as cb
from tfvideo.training.loop import TrainConfig


def test_linear_lr_scaling_rule():
    assert schedules.scaled_learning_rate(0.1, 512) == pytest.approx(0.2)
    assert schedules.scaled_learning_rate(0.1, 64) == pytest.approx(0.025)
    assert schedules.scaled_learning_rate(0.1, 64, "sqrt") == pytest.approx(0.05)
    assert schedules.scaled_learning_rate(0.1, 64, "none") == 0.1
    with pytest.raises(ValueError, match="lr_scaling"):
        schedules.scaled_learning_rate(0.1, 64, "cubic")


def test_warmup_cosine_matches_formula():
    peak, total, warm, start, final = 0.4, 50, 10, 0.04, 0.004
    schedule = schedules.WarmupCosine(peak, total, warm, start, final)
    for step in (0, 5, 10, 20, 37, 50, 60):
        if step < warm:
            expected = start + (peak - start) * step / warm
        else:
            progress = min((step - warm) / (total - warm), 1.0)
            expected = final + 0.5 * (peak - final) * (1 + math.cos(math.pi * progress))
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5)
    clone = schedules.WarmupCosine.from_config(schedule.get_config())
    assert float(clone(23)) == pytest.approx(float(schedule(23)))


def test_warmup_step_schedule():
    schedule = schedules.WarmupStep(0.1, boundaries=[30, 40], factor=0.1, warmup_steps=10)
    assert float(schedule(0)) == pytest.approx(0.0)
    assert float(schedule(5)) == pytest.approx(0.05)
    assert float(schedule(29)) == pytest.approx(0.1)
    assert float(schedule(30)) == pytest.approx(0.01)
    assert float(schedule(45)) == pytest.approx(0.001)
    with pytest.raises(ValueError, match="increasing"):
        schedules.WarmupStep(0.1, boundaries=[40, 30])


def _toy_model():
    inputs = keras.Input((3,))
    x = keras.layers.Dense(2, name="dense")(inputs)
    outputs = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, outputs)


def test_weight_decay_skips_norm_and_bias():
    model = _toy_model()
    skipped = {v.path for v in optim.no_decay_variables(model)}
    assert skipped == {"dense/bias", "bn/gamma", "bn/beta"}


def test_sgd_l2_is_torch_sgd_with_nesterov():
    """One step of SGDL2 equals torch.optim.SGD(momentum, nesterov, weight_decay) in NumPy:
    g' = g + wd * w for decayed weights only; buf = g'; w -= lr * (g' + m * buf)."""
    model = _toy_model()
    lr, momentum, wd = 0.5, 0.9, 0.1
    optimizer = optim.build_optimizer("sgd", lr, model, weight_decay=wd, momentum=momentum)
    variables = model.trainable_variables
    before = [v.numpy().copy() for v in variables]
    grads = [np.full(v.shape, 0.25, np.float32) for v in variables]
    optimizer.apply_gradients(zip([tf.constant(g) for g in grads], variables))
    for v, w0, g in zip(variables, before, grads):
        decayed = len(v.shape) > 1
        g_eff = g + (wd * w0 if decayed else 0.0)
        # torch, step 1: buf = g'; w -= lr * (g' + m * buf) = w - lr * g' * (1 + m)
        expected = w0 + (-lr * g_eff) * momentum - lr * g_eff
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-5, atol=1e-6)


def _mlp(seed=0):
    """Dense(5, tanh) -> Dense(3): decayed kernels, undecayed biases."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(5, activation="tanh", bias_initializer="random_normal", name="hidden")(
        inputs
    )
    outputs = keras.layers.Dense(3, bias_initializer="random_normal", name="out")(x)
    return keras.Model(inputs, outputs)


def _batches(steps, seed=1):
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(8, 4)).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32))
        for _ in range(steps)
    ]


# torch.optim.SGD in a subprocess (torch.optim pulls in triton, which crashes in a process that
# has TensorFlow loaded): the same initial weights (torch.nn.Linear layout, kernel transposed),
# batches, per-step rates and MSE loss; kernels decayed, biases not.
TORCH_SGD_CHILD = textwrap.dedent("""
    import sys
    import numpy as np, torch

    data = np.load(sys.argv[1])
    results = {}
    for nesterov in (True, False):
        params = {k[5:]: torch.tensor(data[k], requires_grad=True)
                  for k in data.files if k.startswith("init/")}
        decayed = [p for k, p in params.items() if k.endswith("kernel")]
        plain = [p for k, p in params.items() if k.endswith("bias")]
        sgd = torch.optim.SGD([{"params": decayed, "weight_decay": float(data["wd"])},
                               {"params": plain, "weight_decay": 0.0}],
                              lr=0.0, momentum=float(data["momentum"]), nesterov=nesterov)
        for step, rate in enumerate(data["rates"]):
            for group in sgd.param_groups:
                group["lr"] = float(rate)
            x, y = torch.from_numpy(data["x"][step]), torch.from_numpy(data["y"][step])
            h = torch.tanh(x @ params["hidden/kernel"].T + params["hidden/bias"])
            out = h @ params["out/kernel"].T + params["out/bias"]
            sgd.zero_grad()
            torch.mean((out - y) ** 2).backward()
            sgd.step()
        for k, p in params.items():
            results[f"{nesterov}/{k}"] = p.detach().numpy()
    np.savez(sys.argv[2], **results)
""")


def _torch_layout(value):
    return value.T.copy() if value.ndim == 2 else value


def test_sgd_l2_matches_torch_sgd_over_a_schedule(tmp_path):
    """50 steps of warmup + cosine, momentum 0.9 with and without Nesterov, L2 5e-3 (kernels
    only): SGDL2 through Keras' train step equals torch.optim.SGD fed the same rates, initial
    weights and MSE loss. (Keras' own SGD, `v = m * v - lr * g`, departs from step 2 when the
    rate changes.)"""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    steps, momentum, wd = 50, 0.9, 5e-3
    schedule = schedules.WarmupCosine(
        peak_lr=0.2, total_steps=steps, warmup_steps=10, warmup_start_lr=0.02, final_lr=0.002
    )
    batches = _batches(steps)
    rates = np.array([float(schedule(step)) for step in range(steps)], np.float32)
    assert rates[0] == pytest.approx(0.02) and rates.max() == pytest.approx(0.2)
    trained = {}
    for nesterov in (True, False):
        model = _mlp()
        if nesterov:
            initial = {v.path: _torch_layout(v.numpy()) for v in model.trainable_variables}
        model.compile(
            optim.build_optimizer(
                "sgd", schedule, model, weight_decay=wd, momentum=momentum, nesterov=nesterov
            ),
            loss="mse",
        )
        for x, y in batches:
            model.train_on_batch(x, y)
        assert int(model.optimizer.iterations.numpy()) == steps
        trained.update(
            {f"{nesterov}/{v.path}": _torch_layout(v.numpy()) for v in model.trainable_variables}
        )
        keras.backend.clear_session()
    np.savez(
        tmp_path / "inputs.npz",
        rates=rates,
        wd=wd,
        momentum=momentum,
        x=np.stack([x for x, _ in batches]),
        y=np.stack([y for _, y in batches]),
        **{f"init/{k}": v for k, v in initial.items()},
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            TORCH_SGD_CHILD,
            str(tmp_path / "inputs.npz"),
            str(tmp_path / "torch.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reference = np.load(tmp_path / "torch.npz")
    assert sorted(reference.files) == sorted(trained)
    for key, value in trained.items():
        assert not np.allclose(value, initial[key.split("/", 1)[1]])  # it did train
        np.testing.assert_allclose(value, reference[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_sgd_l2_keras_round_trip_keeps_state_and_exclusions(tmp_path):
    """A `.keras` model compiled with SGDL2 + WarmupCosine reloads with its config, schedule,
    step, momentum buffers and decay exclusions, and trains on exactly as the original; so does
    the resume path (fresh `build_optimizer`, `.weights.h5` with the optimizer)."""
    schedule = schedules.WarmupCosine(
        peak_lr=0.1, total_steps=20, warmup_steps=4, warmup_start_lr=0.01
    )
    model = _mlp()
    model.compile(optim.build_optimizer("sgd", schedule, model, weight_decay=1e-2), loss="mse")
    batches = _batches(10)
    for x, y in batches[:5]:
        model.train_on_batch(x, y)
    model.save(tmp_path / "model.keras")
    model.save_weights(tmp_path / "backup.weights.h5")

    loaded = keras.models.load_model(tmp_path / "model.keras")
    opt = loaded.optimizer
    assert isinstance(opt, optim.SGDL2)
    assert (opt.l2, opt.momentum, opt.nesterov) == (1e-2, 0.9, True)
    assert opt.l2_exclude == ["hidden/bias", "out/bias"]
    assert isinstance(opt._learning_rate, schedules.WarmupCosine)
    assert opt._learning_rate.get_config() == schedule.get_config()
    assert int(opt.iterations.numpy()) == 5
    assert not opt._use_weight_decay(loaded.get_layer("out").bias)
    assert opt._use_weight_decay(loaded.get_layer("out").kernel)

    resumed = _mlp(seed=7)  # other initial weights: all must come from the backup
    resumed.compile(optim.build_optimizer("sgd", schedule, resumed, weight_decay=1e-2), loss="mse")
    resumed.optimizer.build(resumed.trainable_variables)
    resumed.load_weights(tmp_path / "backup.weights.h5")
    for other in (loaded, resumed):
        for a, b in zip(model.optimizer.momentums, other.optimizer.momentums):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    for x, y in batches[5:]:
        for m in (model, loaded, resumed):
            m.train_on_batch(x, y)
    for other in (loaded, resumed):
        assert int(other.optimizer.iterations.numpy()) == 10
        for a, b in zip(model.trainable_variables, other.trainable_variables):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.path)


def test_adamw_and_clipping_options():
    model = _toy_model()
    optimizer = optim.build_optimizer("adamw", 1e-3, model, weight_decay=0.05, clipnorm=1.0)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert optimizer.global_clipnorm == 1.0
    assert not optimizer._use_weight_decay(model.get_layer("bn").gamma)
    assert optimizer._use_weight_decay(model.get_layer("dense").kernel)
    with pytest.raises(ValueError, match="optimizer"):
        optim.build_optimizer("lamb", 1e-3, model)


def test_stop_on_non_finite_names_the_step():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(keras.optimizers.SGD(0.01), loss="mse")
    x = np.ones((12, 2), np.float32)
    x[6] = np.nan  # batch size 2: the 4th step (index 3) sees the NaN
    y = np.zeros((12, 1), np.float32)
    stopper = cb.StopOnNonFiniteLoss()
    model.fit(x, y, batch_size=2, epochs=3, callbacks=[stopper], verbose=0, shuffle=False)
    assert stopper.event["step"] == 4 and stopper.event["batch"] == 3
    assert stopper.event["epoch"] == 0
    assert int(model.optimizer.iterations.numpy()) == 4  # stopped right there
    error = cb.NonFiniteLossError(
        **{k: stopper.event[k] for k in ("step", "epoch", "batch", "value")}
    )
    assert "optimizer step 4 (epoch 1, batch 4)" in str(error)


def test_step_backup_is_atomic_and_records_position(tmp_path):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(keras.optimizers.SGD(0.01), loss="mse")
    backup = cb.StepBackup(str(tmp_path / "backup"), save_freq=2, verbose=False)
    x, y = np.ones((10, 2), np.float32), np.zeros((10, 1), np.float32)
    model.fit(x, y, batch_size=2, epochs=1, callbacks=[backup], verbose=0)
    # 5 steps: backups after steps 2 and 4 (mid-epoch) and at the epoch end (step 5).
    assert cb.read_backup_state(backup.backup_dir) == {"epoch": 1, "batch": 0, "step": 5}
    assert sorted(os.listdir(backup.backup_dir)) == sorted(
        [cb.BACKUP_WEIGHTS, cb.BACKUP_METADATA, cb.BACKUP_SEEDS]
    )
    fresh = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    fresh.compile(keras.optimizers.SGD(0.01), loss="mse")
    fresh.build((None, 2))
    state = cb.StepBackup(backup.backup_dir, save_freq=2).restore(fresh)
    assert state["step"] == 5 and int(fresh.optimizer.iterations.numpy()) == 5
    np.testing.assert_allclose(fresh.layers[-1].kernel.numpy(), model.layers[-1].kernel.numpy())


def test_step_backup_restores_dropout_seed_states(tmp_path):
    # Keras' weight files leave SeedGenerator states out; without them a resumed run would
    # draw other dropout masks than the uninterrupted one.
    def build():
        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dropout(0.5)(inputs)))
        model.compile(keras.optimizers.SGD(0.01), loss="mse")
        return model

    model = build()
    backup = cb.StepBackup(str(tmp_path / "backup"), save_freq=1, verbose=False)
    model.fit(np.ones((6, 4), "float32"), np.zeros((6, 1), "float32"), batch_size=2,
              callbacks=[backup], verbose=0)  # fmt: skip
    (state,) = [v for v in model.variables if "seed" in v.path]
    fresh = build()
    (fresh_state,) = [v for v in fresh.variables if "seed" in v.path]
    assert not np.array_equal(np.asarray(fresh_state), np.asarray(state))  # 3 steps drawn
    backup.restore(fresh)
    np.testing.assert_array_equal(np.asarray(fresh_state), np.asarray(state))


def test_atomic_checkpoint_keeps_best(tmp_path):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    checkpoint = cb.AtomicCheckpoint(str(tmp_path), monitor="val_accuracy")
    checkpoint.set_model(model)
    for epoch, acc in enumerate([0.5, 0.8, 0.6]):
        checkpoint.on_epoch_end(epoch, {"loss": 1.0, "val_accuracy": acc})
    assert json.loads((tmp_path / "best.json").read_text()) == {
        "epoch": 2,
        "monitor": "val_accuracy",
        "value": 0.8,
    }
    assert (tmp_path / "last.keras").is_file() and (tmp_path / "best.keras").is_file()
    assert not [p for p in os.listdir(tmp_path) if "tmp" in p]
    checkpoint.on_epoch_end(3, {"loss": float("nan"), "val_accuracy": 0.9})
    assert checkpoint.best == 0.8  # non-finite epochs never become "best"


def test_epoch_summaries_are_tensorboard_scalars(tmp_path):
    writer = cb.EpochSummaries(str(tmp_path))
    writer.on_epoch_end(0, {"loss": 1.5, "val_loss": 2.5})
    writer.on_train_end()
    (train_file,) = os.listdir(tmp_path / "train")
    values = {}
    for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "train" / train_file)):
        for value in event.summary.value:
            values[value.tag] = (
                tf.make_ndarray(value.tensor).item(),
                value.metadata.plugin_data.plugin_name,
            )
    assert values == {"epoch_loss": (1.5, "scalars")}


def test_flags_round_trip_config():
    from tfvideo.cli.train import FLAGS

    FLAGS.parse(
        [
            "train",
            "--model=tsn_tiny",
            "--epochs=3",
            "--lr_steps=2,4",
            "--model_options=dropout=0.5,shift_div=4",
            "--noflip",
            "--dataset=list",
        ]
    )
    config = FLAGS.config(TrainConfig)
    assert config.model == "tsn_tiny" and config.epochs == 3 and config.lr_steps == (2.0, 4.0)
    assert config.model_options == {"dropout": 0.5, "shift_div": 4}
    assert config.flip is False and config.data.dataset == "list"


def test_each_command_has_its_own_flags():
    """No flag is shared between commands: `--model` is a registry name for `train` (default
    tsm_tiny) and a path for `predict` (no default); each parses its own command line."""
    from tfvideo.cli.predict import FLAGS as PREDICT
    from tfvideo.cli.train import FLAGS as TRAIN

    assert TRAIN.values is not PREDICT.values
    assert TRAIN.parse(["train", "--model=tsn_tiny"]) == [] and TRAIN.model == "tsn_tiny"
    assert PREDICT.parse(["predict", "clip.mp4"]) == ["clip.mp4"] and PREDICT.model is None
    assert "epochs" in TRAIN.values and "epochs" not in PREDICT.values


# Over 100 SGD steps on the synthetic clips, mixed_bfloat16 follows float32's loss curve: the
# mean loss of every window of 10 steps within BF16_CURVE_TOLERANCE x float32's first window
# of float32's, and both fall. Measured 2026-12-02 (tsm_tiny, 4 frames of 32 px, batch 8,
# SGD 0.01): float32 2.07 -> 0.008, bf16 2.06 -> 0.009, largest gap 0.044 of the first window.
BF16_CURVE_TOLERANCE = 0.1


def test_bfloat16_training_follows_the_float32_loss_curve():
    from tfvideo import models
    from tfvideo.data.synthetic import render_clip

    rng = np.random.default_rng(0)
    labels = np.arange(64) % 8
    clips = np.stack([render_clip(int(k), rng, num_frames=4, size=32)[0] for k in labels])

    def curve(policy):
        keras.config.set_dtype_policy(policy)
        keras.utils.set_random_seed(0)
        model = models.create("tsm_tiny", num_classes=8, num_frames=4, input_size=32)
        keras.config.set_dtype_policy("float32")
        model.compile(
            optim.build_optimizer("sgd", 0.01, model, weight_decay=1e-4),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=False,
        )
        batches = [(clips[i : i + 8].astype("float32"), labels[i : i + 8]) for i in range(0, 64, 8)]
        return np.array([float(model.train_on_batch(*batches[s % 8])) for s in range(100)])

    full, half = curve("float32"), curve("mixed_bfloat16")
    full_windows, half_windows = full.reshape(10, 10).mean(1), half.reshape(10, 10).mean(1)
    gap = np.abs(half_windows - full_windows) / full_windows[0]
    print(f"float32 {np.round(full_windows, 3)}\nbf16    {np.round(half_windows, 3)}")
    print(f"largest gap {gap.max():.3f}")
    assert full_windows[-1] < 0.7 * full_windows[0] and half_windows[-1] < 0.7 * half_windows[0]
    assert gap.max() <= BF16_CURVE_TOLERANCE, gap


def test_mixed_bfloat16_training_step():
    from tfvideo import models

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = models.create("tsm_tiny", num_classes=4, num_frames=2, input_size=32)
    model.compile(
        optim.build_optimizer("sgd", 0.01, model, weight_decay=1e-4),
        keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    x = np.random.default_rng(0).uniform(0, 255, (2, 2, 32, 32, 3)).astype("float32")
    loss = model.train_on_batch(x, np.eye(4, dtype="float32")[[0, 1]])
    assert np.isfinite(loss)
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
