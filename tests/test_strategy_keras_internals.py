"""`tfvideo.training.strategy._patch_keras_for_multi_worker` replaces two private pieces of Keras'
TensorFlow trainer (`keras.src.backend.tensorflow.trainer`) so that `fit` runs under
`MultiWorkerMirroredStrategy`. setup.py pins Keras to the releases whose trainer was checked
(`keras>=3.12,<3.16`); these tests fail, naming the internal, when a release changes one."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvideo.training import strategy as strategy_lib

TRAINER_MODULE = "keras.src.backend.tensorflow.trainer"


def _changed(internal, what):
    return (
        f"Keras {keras.__version__} changed {TRAINER_MODULE}.{internal} ({what}); "
        "tfvideo.training.strategy._patch_keras_for_multi_worker patches it: check the patch "
        "against this Keras, then widen the keras bound in setup.py"
    )


def _trainer_module():
    try:
        from keras.src.backend.tensorflow import trainer
    except ImportError as error:
        pytest.fail(
            f"Keras {keras.__version__} has no module {TRAINER_MODULE} ({error}); "
            "tfvideo.training.strategy._patch_keras_for_multi_worker patches it"
        )
    return trainer


def _internal(owner, name, path):
    if not hasattr(owner, name):
        pytest.fail(_changed(path, "it is gone"))
    return getattr(owner, name)


def _parameters(function):
    return list(inspect.signature(function).parameters)


def test_patched_functions_exist_with_the_signatures_the_patch_replaces():
    trainer = _trainer_module()
    expected = {
        "reduce_per_replica": (trainer, ["values", "strategy", "reduction"]),
        "_collective_all_reduce_multi_worker": (trainer, ["strategy"]),
        "TensorFlowTrainer._maybe_symbolic_build": (
            _internal(trainer, "TensorFlowTrainer", "TensorFlowTrainer"),
            ["self", "iterator", "data_batch"],
        ),
    }
    for path, (owner, parameters) in expected.items():
        function = _internal(owner, path.rsplit(".", 1)[-1], path)
        assert _parameters(function) == parameters, _changed(
            path, f"parameters {_parameters(function)}, the patch expects {parameters}"
        )
    build = inspect.signature(trainer.TensorFlowTrainer._maybe_symbolic_build).parameters
    assert build["iterator"].default is None and build["data_batch"].default is None, _changed(
        "TensorFlowTrainer._maybe_symbolic_build", "iterator / data_batch lost their None default"
    )
    symbolic = _internal(
        trainer.TensorFlowTrainer, "_symbolic_build", "TensorFlowTrainer._symbolic_build"
    )
    assert "data_batch" in _parameters(symbolic), _changed(
        "TensorFlowTrainer._symbolic_build", "no data_batch argument"
    )
    assert isinstance(
        inspect.getattr_static(trainer.TensorFlowTrainer, "distribute_strategy"), property
    ), _changed("TensorFlowTrainer.distribute_strategy", "no longer a property")


def test_collective_check_is_false_off_multi_worker():
    trainer = _trainer_module()
    for strategy in (tf.distribute.get_strategy(), tf.distribute.MirroredStrategy(["/cpu:0"])):
        assert trainer._collective_all_reduce_multi_worker(strategy) is False, _changed(
            "_collective_all_reduce_multi_worker", f"True for {type(strategy).__name__}"
        )


class _RecordingIterator:
    """Wraps the iterator `fit` hands `_maybe_symbolic_build` and records what it yields."""

    def __init__(self, iterator, items):
        self.iterator, self.items = iterator, items

    def __iter__(self):
        for item in self.iterator:
            self.items.append(item)
            yield item


def test_fit_goes_through_the_patched_names(monkeypatch):
    """Under a strategy, `fit` calls `TensorFlowTrainer._maybe_symbolic_build(iterator=...)`,
    whose items are `(begin_step, end_step, iterator of batches)`, and each step reduces its
    outputs through the module global `reduce_per_replica(..., reduction="auto")`: replacing
    both (as the patch does) changes what `fit` runs. With the patch applied, `fit` still trains."""
    trainer = _trainer_module()
    # The patch is applied once per process; undo it (and the recorders) after this test.
    monkeypatch.setattr(strategy_lib, "_PATCHED", False)
    monkeypatch.setattr(trainer, "reduce_per_replica", trainer.reduce_per_replica)
    monkeypatch.setattr(
        trainer.TensorFlowTrainer,
        "_maybe_symbolic_build",
        trainer.TensorFlowTrainer._maybe_symbolic_build,
    )
    strategy_lib._patch_keras_for_multi_worker()
    patched_reduce = trainer.reduce_per_replica
    patched_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    assert patched_reduce.__module__ == strategy_lib.__name__
    assert patched_build.__module__ == strategy_lib.__name__

    reductions, builds, items = [], [], []

    def recording_reduce(values, strategy, reduction):
        reductions.append(reduction)
        return patched_reduce(values, strategy, reduction)

    def recording_build(self, iterator=None, data_batch=None):
        builds.append({"iterator": iterator is not None, "data_batch": data_batch is not None})
        if iterator is not None:
            iterator = _RecordingIterator(iterator, items)
        return patched_build(self, iterator=iterator, data_batch=data_batch)

    monkeypatch.setattr(trainer, "reduce_per_replica", recording_reduce)
    monkeypatch.setattr(trainer.TensorFlowTrainer, "_maybe_symbolic_build", recording_build)

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        inputs = keras.Input((3,))
        model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
        model.compile(keras.optimizers.SGD(0.1), loss="mse")
    assert (
        _internal(model, "_distribute_strategy", "TensorFlowTrainer._distribute_strategy")
        is strategy
    ), _changed(
        "TensorFlowTrainer._distribute_strategy", "not the strategy the model was created under"
    )
    x = np.ones((8, 3), "float32")
    y = np.zeros((8, 2), "float32")
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)

    assert builds and builds[0] == {"iterator": True, "data_batch": False}, _changed(
        "TensorFlowTrainer._maybe_symbolic_build", f"fit called it as {builds}"
    )
    assert items, _changed(
        "TensorFlowTrainer._maybe_symbolic_build", "fit's iterator yielded nothing"
    )
    assert (
        isinstance(items[0], tuple) and len(items[0]) == 3 and hasattr(items[0][2], "__next__")
    ), _changed(
        "TensorFlowTrainer._maybe_symbolic_build",
        f"fit's iterator yields {items[0]!r}, not (begin_step, end_step, iterator)",
    )
    assert "auto" in reductions, _changed(
        "reduce_per_replica",
        f"a training step reduced with {reductions}, not 'auto' through the module global",
    )
    assert model.built and int(model.optimizer.iterations.numpy()) == 4
    assert history.history["loss"][-1] < history.history["loss"][0]
