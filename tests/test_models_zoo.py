"""Properties every model of the zoo must have, checked on each family's tiny variant:
a `.keras` round trip with identical outputs and a TFLite
conversion with builtin ops only whose LiteRT outputs match Keras, and a check that those
comparisons can see every block: changing one block's weights moves the logits far past their
tolerance. (The same outputs on the JAX and PyTorch backends: tests/test_backends.py.)"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from model_helpers import random_clip, randomize_zero_initialised_weights, relative_error

from tfvideo import models

# The *_causal_tiny variants are covered by tests/test_streaming.py.
TINY_MODELS = [n for n in models.available() if n.endswith("_tiny") and "_causal_" not in n]
FAMILIES = {"s3d", "resnet", "tada2d", "blvnet", "tadaconvnext", "tadaconvnextv2", "temporalized"}
# Relative tolerance of the JAX and TFLite parity checks (max |difference| / max |logit|).
PARITY_TOLERANCE = 1e-4

# One layer per block (and per temporal module) of each tiny model, by the layers' public
# names; `test_every_block_moves_the_logits_past_the_parity_tolerance` zeroes each in turn.
_STAGES = (1, 2, 3, 4)
_MIXED = ("3b", "3c", "4b", "4c", "4d", "4e", "4f", "5b", "5c")
BLOCK_LAYERS = {
    "tsn_tiny": [f"layer{s}_0_conv2" for s in _STAGES],
    "tsm_tiny": [f"layer{s}_0_conv2" for s in _STAGES],
    "teinet_tiny": [f"layer{s}_0_{n}" for s in _STAGES for n in ("tei", "conv2")],
    "tada2d_tiny": [f"layer{s}_0_{n}" for s in _STAGES for n in ("conv2", "bn2")],
    "tadaconvnext_tiny": [f"stages_{s}_0_{n}" for s in range(4) for n in ("dwconv", "gamma")],
    "tadaconvnextv2_tiny": [
        f"stages_{s}_0_{n}" for s in range(4) for n in ("dwconv_rf", "dwconv", "norm", "gamma")
    ],
    "blvnet_tam_tiny": (
        [
            "tam",
            "layer1_tam",
            "layer2_tam",
            "layer3_tam",
            "layer4_0_tam",
            "layer4_1_tam",
            "layer4_0_conv2",
            "layer4_1_conv2",
        ]
        + [f"layer{s}_{b}_0_conv2" for s in (1, 2, 3) for b in ("big", "little", "fusion")]
    ),
    # keras.applications MobileNetV2 through tfvideo.temporalize (TSM has no weights)
    "mobilenetv2_tsm_tiny": ["expanded_conv_depthwise"]
    + [f"block_{b}_depthwise" for b in range(1, 17)],
    "s3d_tiny": ["conv2d_2c_3x3"]
    + [f"mixed_{m}_{b}" for m in _MIXED for b in ("b0_0a", "b1_0b", "b2_0b", "b3_0b")],
}


@pytest.fixture(scope="module", params=TINY_MODELS)
def tiny_model(request, tmp_path_factory):
    # seeded: LiteRT's float error is ~1e-5 absolute, so an unlucky draw of small logits
    # once put s3d_tiny at 1.0003x PARITY_TOLERANCE (relative errors over 8 seeds: 0.8-3e-5)
    keras.utils.set_random_seed(0)
    model = models.create(request.param, num_classes=5)
    randomize_zero_initialised_weights(model)
    clip = random_clip(model, batch=2)
    return request.param, model, clip, model(clip, training=False).numpy()


def test_every_family_has_a_tiny_variant():
    families = {models.registry.get_entry(name).family for name in TINY_MODELS}
    assert families == FAMILIES


def test_every_tiny_model_has_its_block_table():
    assert set(BLOCK_LAYERS) == set(TINY_MODELS)


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
    np.testing.assert_allclose(
        model(as_uint8, training=False).numpy(),
        model(as_uint8.astype("float32"), training=False).numpy(),
        rtol=1e-6,
        atol=1e-6,
    )


def test_tflite_builtin_ops_and_litert_parity(tiny_model, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    name, model, clip, _ = tiny_model
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()  # raises if any op would need Flex
    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    single = clip[:1]
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], single)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    expected = model(single, training=False).numpy()
    scale = max(1e-6, float(np.max(np.abs(expected))))
    assert float(np.max(np.abs(got - expected))) <= PARITY_TOLERANCE * scale, name
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    # frozen weights: from_concrete_functions would keep Keras 3 variables as READ_VARIABLE
    # ops that LiteRT leaves uninitialised; every family (S3D included) runs on 2D convs
    assert not ops & {"READ_VARIABLE", "VAR_HANDLE", "CONV_3D"}, (name, ops)


def test_every_block_moves_the_logits_past_the_parity_tolerance(tiny_model):
    """The parity checks above compare logits at PARITY_TOLERANCE; a block whose weights barely
    reach the logits (a 1e-6 layer scale, a zero-initialised BN gamma, activations that fade
    into BN offsets) would pass them even if it were computed wrongly. Zeroing any one block's
    layer must move the logits by more than 100x that tolerance."""
    name, model, clip, _ = tiny_model
    forward = tf.function(lambda x: model(x, training=False))
    expected = forward(clip).numpy()
    moved = {}
    for layer_name in BLOCK_LAYERS[name]:
        weights = model.get_layer(layer_name).trainable_weights
        assert weights, layer_name
        saved = [keras.ops.convert_to_numpy(w) for w in weights]
        try:
            for weight in weights:
                weight.assign(np.zeros(weight.shape, weight.dtype))
            moved[layer_name] = relative_error(forward(clip).numpy(), expected)
        finally:
            for weight, value in zip(weights, saved):
                weight.assign(value)
    np.testing.assert_array_equal(forward(clip).numpy(), expected)  # restored for the others
    hidden = {layer: error for layer, error in moved.items() if error <= 100 * PARITY_TOLERANCE}
    assert not hidden, (name, hidden)
