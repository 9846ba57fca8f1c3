"""Fine-tuning and optimisation options of the training loop (issue 16): `--init_from` (preset,
.keras, .weights.h5, a PyTorch-layout checkpoint) on a different class count, `--partial_bn`,
`--backbone_lr_mult`, `--ema` and `--grad_accum` (an accumulated step equals one step on the
K-times-larger batch)."""

import json

import keras
import numpy as np
import pytest

import tfvideo
from tfvideo.optim import optimizers as optim
from tfvideo.optim import schedules
from tfvideo.training import finetune, loop
from tfvideo.training.datasets import DataConfig


def _config(tmp, classes, **extra):
    return loop.TrainConfig(
        model="tsm_tiny",
        num_frames=4,
        input_size=32,
        batch_size=2,
        data=DataConfig(
            data_root=str(tmp / "data"),
            synthetic_classes=classes,
            synthetic_train_per_class=2,
            synthetic_val_per_class=1,
            synthetic_frames=8,
            synthetic_size=32,
        ),
        base_lr=0.5,
        epochs=1,
        val_every=0,
        evaluate=False,
        export=False,
        verbose=0,
        **extra,
    )


@pytest.fixture(scope="module")
def previous_run(tmp_path_factory):
    """A 4-class run with --ema and --grad_accum 2: its model.keras and a preset of it."""
    tmp = tmp_path_factory.mktemp("previous")
    config = _config(tmp, 4, output_dir=str(tmp / "run"), ema=True, ema_momentum=0.5)
    config.grad_accum = 2
    run, model, summary = loop.train(config)
    loop.complete(run, summary)
    preset = model.save_to_preset(str(tmp / "preset"))
    return {"tmp": tmp, "model": model, "summary": summary, "preset": preset, "run": run}


def _weights_by_layer(model):
    return {
        layer.name: [np.array(w) for w in layer.weights] for layer in model.layers if layer.weights
    }


def test_previous_run_saved_its_ema_weights_after_accumulated_steps(previous_run):
    summary = previous_run["summary"]
    # 8 videos / (batch 2 x 2 accumulated) = 2 optimizer steps per epoch.
    assert (
        summary["grad_accum"] == 2 and summary["optimizer_steps"] == 2 == summary["expected_steps"]
    )
    saved = keras.saving.load_model(summary["model_path"])
    averages = saved.optimizer._model_variables_moving_average
    trainable = saved.optimizer._trainable_variables
    assert len(averages) == len(trainable) > 0
    for average, variable in zip(averages, trainable):
        np.testing.assert_array_equal(np.array(average), np.array(variable))


@pytest.mark.parametrize("kind", ["preset", "keras", "torch"])
def test_init_from_other_class_count_loads_the_backbone_and_resets_the_head(
    previous_run, tmp_path, kind
):
    source_model = previous_run["model"]
    if kind == "preset":
        source = previous_run["preset"]
    elif kind == "keras":
        source = previous_run["summary"]["model_path"]
    else:  # the torchvision/TSM layout of the same weights, as an official checkpoint has them
        from tfvideo.convert import resnet_state_dict
        from tfvideo.convert.torch_io import save_npz

        source = str(tmp_path / "tsm_tiny.npz")
        save_npz(resnet_state_dict(source_model), source)
    config = _config(previous_run["tmp"], 2, output_dir=str(tmp_path / "run"), init_from=source)
    run = loop.prepare(config)
    model = loop.build(run)
    report = run.init_report
    assert report["head"] == "reset (4 -> 2 classes)" and report["fresh"] == ["fc"]
    assert model.get_layer("fc").kernel.shape == (512, 2)
    before, after = _weights_by_layer(source_model), _weights_by_layer(model)
    compared = 0
    for name, values in after.items():
        if name == "fc":
            continue
        for a, b in zip(values, before[name]):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=name)
            compared += 1
    assert compared == len(model.weights) - 2
    # ... and not what a model built from scratch with the run's seed has.
    scratch = tfvideo.models.create("tsm_tiny", num_classes=2, num_frames=4, input_size=32)
    conv = next(l for l in model.layers if isinstance(l, keras.layers.Conv2D)).name
    assert not np.allclose(np.array(scratch.get_layer(conv).kernel), after[conv][0])
    assert "Initialised from" in finetune.describe(report)
    assert loop.save_trained(run, model)["init_from"] is report  # summary.json records it


def test_init_from_weights_h5_with_the_same_classes_keeps_or_resets_the_head(
    previous_run, tmp_path
):
    path = str(tmp_path / "m.weights.h5")
    previous_run["model"].save_weights(path)
    for reset in (False, True):
        model = tfvideo.models.create("tsm_tiny", num_classes=4, num_frames=4, input_size=32)
        report = finetune.initialise(model, path, reset_head=reset)
        kernel = np.array(model.get_layer("fc").kernel)
        same = np.array_equal(kernel, np.array(previous_run["model"].get_layer("fc").kernel))
        assert same is not reset
        assert report["head"] == ("reset (--reset_head)" if reset else "loaded (4 classes)")
    with pytest.raises(ValueError, match="no layer of"):
        other = tfvideo.models.create("s3d_tiny", num_classes=4, num_frames=8, input_size=32)
        finetune.initialise(other, previous_run["preset"])


def test_partial_bn_freezes_every_batch_norm_but_the_first():
    model = tfvideo.models.create("tsm_tiny", num_classes=3, num_frames=4, input_size=32)
    frozen = finetune.partial_bn(model)
    norms = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(frozen) == len(norms) - 1 > 0 and norms[0].trainable
    before = [np.array(v) for n in norms for v in n.weights]
    model.compile(keras.optimizers.SGD(0.1), keras.losses.CategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 32, 32, 3)).astype("float32")
    model.train_on_batch(x, np.eye(3, dtype="float32")[[0, 1]])
    after = [np.array(v) for n in norms for v in n.weights]
    first = len(norms[0].weights)
    assert all(not np.array_equal(a, b) for a, b in zip(before[:first], after[:first]))
    for a, b in zip(before[first:], after[first:]):  # scale, offset and moving statistics
        np.testing.assert_array_equal(a, b)


def _mlp(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(6, activation="tanh", name="body")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


def _grads(model, steps, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=v.shape).astype("float32") for v in model.trainable_variables]
            for _ in range(steps)]  # fmt: skip


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_backbone_lr_mult_steps_the_backbone_at_the_scaled_rate(name):
    # Reference: the same optimizer without scaling at lr (head) and at lr x 0.1 (backbone),
    # as torch's parameter groups; decay (AdamW decoupled, SGD coupled L2) on the kernels.
    scaled = _mlp()
    body = scaled.get_layer("body").trainable_variables
    opt = optim.build_optimizer(name, 0.05, scaled, weight_decay=0.1, scaled=body, lr_scale=0.1)
    references = {}
    for rate in (0.05, 0.005):
        references[rate] = _mlp()
        references[rate].optimizer = optim.build_optimizer(
            name, rate, references[rate], weight_decay=0.1
        )
    grads = _grads(scaled, 4)
    for step in grads:
        opt.apply(step, scaled.trainable_variables)
        for ref in references.values():
            ref.optimizer.apply(step, ref.trainable_variables)
    for layer, rate in (("body", 0.005), ("head", 0.05)):
        for a, b in zip(scaled.get_layer(layer).weights, references[rate].get_layer(layer).weights):
            np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-6, atol=1e-7)
    config = opt.get_config()
    assert config["lr_scale"] == 0.1 and sorted(config["lr_scaled"]) == sorted(v.path for v in body)


def test_ema_swapped_in_is_the_numpy_moving_average():
    model = _mlp()
    model.compile(optim.build_optimizer("adamw", 0.05, model, ema_momentum=0.8), loss="mse")
    trajectory = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: trajectory.append(
            [np.array(v) for v in model.weights]
        )
    )
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 4)).astype("float32"), rng.normal(size=(12, 3)).astype("float32")
    model.optimizer.finalize_variable_values = lambda var_list: None  # as the loop does
    model.fit(x, y, batch_size=3, epochs=1, shuffle=False, callbacks=[record], verbose=0)
    raw = [np.array(v) for v in model.weights]
    expected = trajectory[0]  # Keras: the average starts at the weights after step 1
    for weights in trajectory[1:]:
        expected = [0.8 * e + 0.2 * w for e, w in zip(expected, weights)]
    optim.swap_in_ema(model)
    for got, want, last in zip(model.weights, expected, raw):
        np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-6)
        assert not np.allclose(want, last)


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_grad_accum_step_equals_one_step_on_the_k_times_larger_batch(name):
    # No BatchNormalization (its batch statistics are per micro-batch): a Dense model, MSE,
    # a warmup-cosine schedule over 3 optimizer steps, weight decay, clipping off.
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(24, 4)).astype("float32"), rng.normal(size=(24, 3)).astype("float32")

    def trained(accum, batch):
        model = _mlp()
        schedule = schedules.build_schedule("cosine", 0.1, 3, warmup_steps=1, warmup_start_lr=0.01)
        model.compile(
            optim.build_optimizer(name, schedule, model, weight_decay=0.01, grad_accum=accum),
            loss="mse",
        )
        initial = [np.array(v) for v in model.weights]
        model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        assert optim.optimizer_step(model.optimizer) == 3
        return initial, [np.array(v) for v in model.weights]

    initial, accumulated = trained(4, 2)
    _, large = trained(1, 8)
    for a, b, w0 in zip(accumulated, large, initial):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        assert not np.allclose(a, w0)
