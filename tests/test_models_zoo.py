"""Properties every model of the zoo must have, checked on each family's tiny variant:
a `.keras` round trip with identical outputs, the same outputs on the JAX backend, and a TFLite
conversion with builtin ops only whose LiteRT outputs match Keras."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import keras
from model_helpers import random_clip, randomize_zero_initialised_weights
from tfvideo import models

TINY_MODELS = [name for name in models.available() if name.endswith("_tiny")]
FAMILIES = {"s3d", "resnet", "tada2d", "blvnet", "tadaconvnext"}


@pytest.fixture(scope="module", params=TINY_MODELS)
def tiny_model(request, tmp_path_factory):
    model = models.create(request.param, num_classes=5)
    randomize_zero_initialised_weights(model)
    clip = random_clip(model, batch=2)
    return request.param, model, clip, model(clip, training=False).numpy()


def test_every_family_has_a_tiny_variant():
    families = {models.registry.get_entry(name).family for name in TINY_MODELS}
    assert families == FAMILIES


def test_every_model_builds_from_the_registry_with_defaults():
    for name in models.available():
        entry = models.registry.get_entry(name)
        assert set(entry.defaults) >= {"num_classes", "num_frames", "input_size", "sampling"}


def test_keras_round_trip_gives_identical_outputs(tiny_model, tmp_path):
    name, model, clip, expected = tiny_model
    path = tmp_path / f"{name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(restored(clip, training=False).numpy(), expected)


def test_uint8_and_float_inputs_agree(tiny_model):
    name, model, clip, _ = tiny_model
    as_uint8 = np.round(clip).astype("uint8")
    np.testing.assert_allclose(model(as_uint8, training=False).numpy(),
                               model(as_uint8.astype("float32"), training=False).numpy(),
                               rtol=1e-6, atol=1e-6)


def test_jax_backend_matches_tensorflow(tmp_path):
    """Every tiny model, saved from TensorFlow, loads on JAX and gives the same logits."""
    cases = {}
    for index, name in enumerate(TINY_MODELS):
        model = models.create(name, num_classes=5)
        randomize_zero_initialised_weights(model, seed=index)
        clip = random_clip(model, seed=index)
        model.save(tmp_path / f"{name}.keras")
        np.save(tmp_path / f"{name}_clip.npy", clip)
        np.save(tmp_path / f"{name}_logits.npy", model(clip, training=False).numpy())
        cases[name] = str(tmp_path / name)
    script = textwrap.dedent("""
        import json, sys
        import numpy as np, keras
        import tfvideo  # registers the layers
        assert keras.backend.backend() == "jax"
        report = {}
        for name, prefix in json.loads(sys.argv[1]).items():
            model = keras.saving.load_model(prefix + ".keras")
            logits = np.asarray(model(np.load(prefix + "_clip.npy"), training=False))
            expected = np.load(prefix + "_logits.npy")
            report[name] = float(np.max(np.abs(logits - expected)) / max(1e-6, np.max(np.abs(expected))))
        print(json.dumps(report))
    """)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", script, json.dumps(cases)], env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report) == set(TINY_MODELS)
    for name, relative_error in report.items():
        assert relative_error < 1e-4, (name, relative_error)


def test_tflite_builtin_ops_and_litert_parity(tiny_model, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    name, model, clip, _ = tiny_model
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()   # raises if any op would need Flex
    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    single = clip[:1]
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], single)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    expected = model(single, training=False).numpy()
    scale = max(1e-6, float(np.max(np.abs(expected))))
    assert float(np.max(np.abs(got - expected))) <= 1e-4 * scale, name
