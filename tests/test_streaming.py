"""Causal models stream (issue 14): stepping through a clip frame by frame (bLVNet-TAM: by frame
pairs) gives the causal clip model's per-frame logits, for every streaming family, with
randomised weights; on TensorFlow here and on JAX in a child process (tests/streaming_child.py).
"""

import json

import keras
import numpy as np
import pytest
from conftest import REPO_ROOT, run_child
from model_helpers import randomize_zero_initialised_weights

import tfvideo

# name -> (frames, size) of the test clips.
CAUSAL = {
    "tsm_causal_tiny": (4, 32),
    "teinet_causal_tiny": (4, 32),
    "tada2d_causal_tiny": (4, 32),
    "blvnet_tam_causal_tiny": (8, 32),
}
TOLERANCE = 1e-5  # max |step - per-frame| / max |per-frame logit|
# On JAX: the one-frame shift state, and TAda's running mean and causal route convs (CI time).
JAX_MODELS = ("tsm_causal_tiny", "tada2d_causal_tiny")


def build(name, seed=0):
    frames, size = CAUSAL[name]
    keras.utils.set_random_seed(seed)
    model = tfvideo.models.create(name, num_classes=5, num_frames=frames, input_size=size)
    randomize_zero_initialised_weights(model, seed=seed)
    clips = np.random.default_rng(seed).uniform(0, 255, (2, frames, size, size, 3))
    return model, clips.astype("float32")


def step_through(model, clips, reset=False):
    """Per-step logits `[B, steps, classes]` of stepping `model` through `clips`."""
    n = model.stream_frames
    states = model.init_states(clips.shape[0])
    logits = []
    for t in range(0, clips.shape[1], n):
        if reset:
            states = model.init_states(clips.shape[0])
        frames = clips[:, t] if n == 1 else clips[:, t : t + n]
        out, states = model.stream_step(frames, states)
        logits.append(keras.ops.convert_to_numpy(out))
    return np.stack(logits, axis=1)


@pytest.fixture(scope="module", params=sorted(CAUSAL))
def causal(request):
    model, clips = build(request.param)
    per_frame = keras.ops.convert_to_numpy(model.per_frame_logits(clips))
    return request.param, model, clips, per_frame


def test_stepping_gives_the_clip_models_per_frame_logits(causal):
    name, model, clips, per_frame = causal
    steps = step_through(model, clips)
    assert steps.shape == per_frame.shape == (2, clips.shape[1] // model.stream_frames, 5)
    error = np.abs(steps - per_frame).max() / np.abs(per_frame).max()
    assert error < TOLERANCE, f"{name}: {error}"


def test_clip_logits_are_the_mean_of_the_per_frame_logits(causal):
    _, model, clips, per_frame = causal
    logits = keras.ops.convert_to_numpy(model(clips, training=False))
    np.testing.assert_allclose(per_frame.mean(axis=1), logits, rtol=1e-5, atol=1e-5)


def test_states_carry_the_past(causal):
    # Starting every step from fresh states loses the past: the outputs after the first step
    # change, so the states are what carries the temporal modules.
    name, model, clips, per_frame = causal
    fresh = step_through(model, clips, reset=True)
    np.testing.assert_allclose(fresh[:, 0], per_frame[:, 0], rtol=1e-4, atol=1e-4)
    assert np.abs(fresh[:, 1:] - per_frame[:, 1:]).max() > 1e-3 * np.abs(per_frame).max(), name


def test_a_later_frame_never_changes_an_earlier_output(causal):
    _, model, clips, per_frame = causal
    changed = clips.copy()
    changed[:, -1] = 255.0 - changed[:, -1]
    other = keras.ops.convert_to_numpy(model.per_frame_logits(changed))
    np.testing.assert_allclose(other[:, :-1], per_frame[:, :-1], rtol=1e-5, atol=1e-5)
    assert np.abs(other[:, -1] - per_frame[:, -1]).max() > 1e-4


def test_streaming_model_is_a_keras_model_with_named_static_states(causal):
    name, model, _, _ = causal
    step = model.streaming_model(batch_size=3)
    shapes = model.state_shapes(batch_size=3)
    assert isinstance(step, keras.Model) and step is model.streaming_model(batch_size=3)
    assert set(step.input) == {"frames", *shapes} and set(step.output) == {"logits", *shapes}
    frames_shape = (3,) + (model.stream_frames,) * (model.stream_frames > 1) + (32, 32, 3)
    assert tuple(step.input["frames"].shape) == frames_shape
    assert tuple(step.output["logits"].shape) == (3, 5)
    for key, shape in shapes.items():
        assert len(shape) <= 4 and None not in shape, (name, key, shape)
        assert tuple(step.input[key].shape) == shape == tuple(step.output[key].shape)
    # Shared weights: the step model runs the clip model's own variables.
    assert {id(v) for v in step.weights} <= {id(v) for v in model.weights}


def test_every_family_exports_a_builtin_op_streaming_tflite_that_steps_as_keras(causal, tmp_path):
    # Randomised weights (not trained): the layout, the ops and the arithmetic of each family's
    # step, through LiteRT; tests/test_streaming_deploy.py checks a trained model and int8.
    from ai_edge_litert.interpreter import Interpreter

    from tfvideo.export.streaming import TFLiteStepper, export_streaming_tflite

    name, model, clips, _ = causal
    path = export_streaming_tflite(model, str(tmp_path / f"{name}.tflite"))
    ops = {o["op_name"] for o in Interpreter(model_path=path)._get_ops_details()}
    assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), (name, ops)
    stepper = TFLiteStepper(path)
    shapes = model.state_shapes(batch_size=1)
    assert {k: v.shape for k, v in stepper.states.items()} == shapes
    assert all(len(shape) <= 4 for shape in shapes.values()), shapes
    n = model.stream_frames
    expected = step_through(model, clips[:1])[0]
    frames = [clips[0, t] if n == 1 else clips[0, t : t + n] for t in range(0, clips.shape[1], n)]
    got = np.stack([stepper.step(f) for f in frames])
    scale = np.abs(expected).max()
    assert scale > 1e-3, (name, scale)  # logits that say something (randomised heads)
    np.testing.assert_allclose(got, expected, atol=1e-4 * scale, err_msg=name)


def test_a_saved_causal_model_loads_causal_and_streams_the_same(tmp_path):
    model, clips = build("teinet_causal_tiny", seed=1)
    path = tmp_path / "causal.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.spec.options["causal"] is True
    np.testing.assert_allclose(
        step_through(loaded, clips), step_through(model, clips), rtol=1e-6, atol=1e-6
    )


def test_models_that_cannot_stream_say_why():
    with pytest.raises(ValueError, match="tsm_tiny is not causal .*causal=True"):
        tfvideo.models.create("tsm_tiny", num_classes=3, num_frames=2, input_size=32).init_states()
    s3d = tfvideo.models.create("s3d_tiny", num_classes=3)
    with pytest.raises(ValueError, match="s3d family does not stream"):
        _ = s3d.stream_frames


def test_tsn_streams_without_states():
    model = tfvideo.models.create("tsn_tiny", num_classes=3, num_frames=2, input_size=32)
    assert model.init_states(1) == {}
    clips = np.random.default_rng(0).uniform(0, 255, (1, 2, 32, 32, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(model.per_frame_logits(clips))
    np.testing.assert_allclose(step_through(model, clips), expected, rtol=1e-5, atol=1e-5)


def test_a_causal_model_fits_with_ordinary_fit():
    keras.utils.set_random_seed(0)
    model = tfvideo.models.create("tsm_causal_tiny", num_classes=2, num_frames=2, input_size=32)
    rng = np.random.default_rng(0)
    clips = rng.uniform(0, 255, (8, 2, 32, 32, 3)).astype("float32")
    labels = np.arange(8) % 2
    clips[labels == 1] *= 0.3  # a class a few steps can separate
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(3e-3), loss, run_eagerly=True)  # no tracing: fast
    history = model.fit(clips, labels, batch_size=8, epochs=6, verbose=0).history["loss"]
    assert history[-1] < 0.7 * history[0], history


def test_stepping_matches_per_frame_logits_on_jax():
    pytest.importorskip("jax")
    script = str(REPO_ROOT / "tests" / "streaming_child.py")
    result = run_child("jax", [script, *JAX_MODELS], timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    errors = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(errors) == set(JAX_MODELS)
    for name, error in errors.items():
        assert error < TOLERANCE, (name, error)
