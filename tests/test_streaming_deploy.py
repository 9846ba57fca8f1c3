"""Streaming applications and export: frames as they arrive (`tfvideo.data.iter_frames`),
`StreamingClassifier` on a video file, `tfvideo predict --stream`, the streaming TFLite model
(`tfvideo export --format tflite --streaming`: signature, ranks, builtin ops, LiteRT parity,
int8 agreement) and the SavedModel `stream_step` signature in a fresh process.

The causal model is `tsm_causal_tiny` (4 synthetic classes, 32 px, 4 frames), trained for a few
epochs once per process (tests/deploy_models.py), so that int8 agreement means something."""

import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests import deploy_models
from tests.data_fixtures import frame_index_of, write_video
from tfvideo.data import VideoDecodeError, decode_video, iter_frames, synthetic
from tfvideo.data.augment import eval_transform

MODEL = "tsm_causal_tiny"
VIDEO_FRAMES = 10
VIDEO_HEIGHT, VIDEO_WIDTH = 40, 48  # not the model's 32 x 32: the resize and crop run


@pytest.mark.parametrize("rotation", [None, 90])
def test_iter_frames_gives_decode_video_frames_with_timestamps(tmp_path, rotation):
    path = write_video(
        tmp_path / "clip.mp4", num_frames=12, options={"g": "4", "bf": "2"}, rotation=rotation
    )
    stamps, frames = zip(*iter_frames(path))
    np.testing.assert_array_equal(np.stack(frames), decode_video(path))
    assert [frame_index_of(f) for f in frames] == list(range(12))
    np.testing.assert_allclose(stamps, np.arange(12) / 25, atol=1e-6)  # 25 fps


def test_iter_frames_names_the_source_it_cannot_open(tmp_path):
    with pytest.raises(VideoDecodeError, match="missing.mp4"):
        next(iter_frames(str(tmp_path / "missing.mp4")))
    with pytest.raises(VideoDecodeError, match="not-a-device"):
        next(iter_frames("not-a-device", format="v4l2"))


def test_docstring_examples_run():
    import doctest

    import tfvideo.export.streaming
    import tfvideo.streaming

    for module in (tfvideo.streaming, tfvideo.export.streaming):
        assert doctest.testmod(module).failed == 0, module.__name__


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def trained():
    model, train_clips = deploy_models.trained_model(MODEL)
    return model, train_clips


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A synthetic clip (class 0, moving right) encoded with PyAV at 40 x 48, 25 fps."""
    frames = synthetic.render_clip(0, 3, num_frames=VIDEO_FRAMES, size=(VIDEO_HEIGHT, VIDEO_WIDTH))[
        0
    ]
    root = tmp_path_factory.mktemp("stream_video")
    return write_video(
        root / "clip.mp4",
        num_frames=VIDEO_FRAMES,
        width=VIDEO_WIDTH,
        height=VIDEO_HEIGHT,
        images=frames,
    )


def prepared_frames(model, path):
    """The decoded frames of `path`, cropped by the data pipeline's evaluation transform."""
    spec = model.spec
    return eval_transform(decode_video(path), spec.input_size[0], spec.short_side)[0].numpy()


def keras_stepping(model, frames):
    """Per-step logits of `model.stream_step` over `frames` `[N, h, w, 3]`."""
    states = model.init_states(1)
    out = []
    for frame in frames:
        logits, states = model.stream_step(frame[None], states)
        out.append(np.asarray(logits)[0])
    return np.stack(out)


@pytest.fixture(scope="module")
def reference(trained, video):
    model, _ = trained
    frames = prepared_frames(model, video)
    return frames, keras_stepping(model, frames)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def assert_close_to_logits(got, expected, what):
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, atol=1e-4 * scale + 1e-6, err_msg=what)


# ----------------------------------------------------------------------------- classifier
def test_streaming_classifier_gives_stream_step_outputs(trained, video, reference):
    from tfvideo.streaming import StreamingClassifier

    model, _ = trained
    frames, expected = reference
    # the stepping is the causal clip model's per-frame output (its first T frames)
    t = model.spec.num_frames
    per_frame = np.asarray(model.per_frame_logits(frames[None, :t]))[0]
    np.testing.assert_allclose(expected[:t], per_frame, atol=1e-5 * np.abs(per_frame).max())

    classifier = StreamingClassifier(model, top_k=2)
    stamps, logits = zip(*classifier.steps(video))
    np.testing.assert_allclose(stamps, np.arange(VIDEO_FRAMES) / 25, atol=1e-6)
    np.testing.assert_allclose(np.stack(logits), expected, atol=1e-5 * np.abs(expected).max())

    names = model.spec.labels
    predictions = list(classifier(video))
    assert len(predictions) == VIDEO_FRAMES
    for (timestamp, labels, scores), row, stamp in zip(predictions, expected, stamps):
        probs = softmax(row.astype(np.float64))
        order = np.argsort(-probs)[:2]
        assert timestamp == pytest.approx(stamp)
        assert labels == [names[i] for i in order]
        np.testing.assert_allclose(scores, probs[order], rtol=1e-5)


def test_frame_pairs_give_one_prediction_per_pair_at_its_second_frame(video):
    import tfvideo
    from tfvideo.streaming import StreamingClassifier

    model = tfvideo.models.create(
        "blvnet_tam_causal_tiny", num_classes=4, num_frames=4, input_size=32
    )
    assert model.stream_frames == 2
    frames = prepared_frames(model, video)
    states, expected = model.init_states(1), []
    for i in range(0, VIDEO_FRAMES, 2):
        logits, states = model.stream_step(frames[None, i : i + 2], states)
        expected.append(np.asarray(logits)[0])
    stamps, logits = zip(*StreamingClassifier(model).steps(video))
    np.testing.assert_allclose(stamps, np.arange(1, VIDEO_FRAMES, 2) / 25, atol=1e-6)
    np.testing.assert_allclose(np.stack(logits), expected, atol=1e-5 * np.abs(expected).max())


def test_smoothing_is_the_moving_average_of_the_probabilities(trained, video, reference):
    from tfvideo.streaming import StreamingClassifier

    model, _ = trained
    probs = softmax(reference[1].astype(np.float64))
    window = 3
    classifier = StreamingClassifier(model, top_k=4, smoothing=window)
    smoothed = np.stack([p for _, p in classifier.probabilities(video)])
    expected = np.stack([probs[max(0, i - window + 1) : i + 1].mean(0) for i in range(len(probs))])
    np.testing.assert_allclose(smoothed, expected, atol=1e-6)
    np.testing.assert_allclose(smoothed.sum(-1), 1.0, atol=1e-6)
    # a window as long as the stream is the running mean; the top-k follow the smoothed scores
    whole = StreamingClassifier(model, top_k=4, smoothing=VIDEO_FRAMES)
    last = list(whole(video))[-1]
    np.testing.assert_allclose(np.sort(last.scores)[::-1], np.sort(probs.mean(0))[::-1], atol=1e-6)
    with pytest.raises(ValueError, match="smoothing window"):
        StreamingClassifier(model, smoothing=-2)


# ----------------------------------------------------------------------------- export, CLI
@pytest.fixture(scope="module")
def run_dir(trained, tmp_path_factory):
    """The trained model as a training output directory (model.keras + classes.json)."""
    from tests.test_export_common import save_with_classes

    model, _ = trained
    root = tmp_path_factory.mktemp("stream_run")
    save_with_classes(model, str(root / "run"), deploy_models.class_names())
    return str(root / "run")


@pytest.fixture(scope="module")
def float_tflite(run_dir, tmp_path_factory):
    from tfvideo.cli.export import run as export_run

    out = tmp_path_factory.mktemp("stream_tflite")
    return export_run(run_dir, format="tflite", streaming=True, output_dir=str(out))


def test_streaming_tflite_signature_is_the_frame_and_named_states(trained, float_tflite):
    from ai_edge_litert.interpreter import Interpreter

    from tfvideo.export.tflite import read_tflite_metadata

    model, _ = trained
    assert os.path.basename(float_tflite) == f"{MODEL}_stream_none.tflite"
    states = model.init_states(1)
    interpreter = Interpreter(model_path=float_tflite)
    signatures = interpreter.get_signature_list()
    assert list(signatures) == ["stream_step"]
    assert sorted(signatures["stream_step"]["inputs"]) == sorted(["frames", *states])
    assert sorted(signatures["stream_step"]["outputs"]) == sorted(["logits", *states])
    runner = interpreter.get_signature_runner("stream_step")
    inputs = runner.get_input_details()
    assert tuple(inputs["frames"]["shape"]) == (1, *model.spec.input_size, 3)
    for name, value in states.items():
        shape = tuple(inputs[name]["shape"])
        assert shape == tuple(value.shape) and len(shape) <= 4, (name, shape)
        assert tuple(runner.get_output_details()[name]["shape"]) == shape
    ops = {o["op_name"] for o in interpreter._get_ops_details()}
    assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops
    meta = read_tflite_metadata(float_tflite)
    layout = meta.extra["streaming"]
    assert layout["frames_per_step"] == 1 and sorted(layout["states"]) == sorted(states)
    assert meta.class_names == deploy_models.class_names()


def test_litert_stepping_matches_keras_stepping(float_tflite, video, reference):
    from tfvideo.export.streaming import TFLiteStepper
    from tfvideo.streaming import StreamingClassifier

    frames, expected = reference
    stepper = TFLiteStepper(float_tflite)
    got = np.stack([stepper.step(f) for f in frames])
    assert_close_to_logits(got, expected, "LiteRT float32 stepping")
    # through the classifier: decoding and preprocessing on the client side
    classifier = StreamingClassifier(float_tflite)
    assert classifier.kind == "tflite"
    assert_close_to_logits(np.stack([x for _, x in classifier.steps(video)]), expected, "stream")


def test_predict_stream_prints_the_timeline_and_json(run_dir, float_tflite, video, tmp_path):
    from tfvideo.cli.predict import run_stream

    out, err = io.StringIO(), io.StringIO()
    code = run_stream([video], float_tflite, top_k=2, smoothing=2, as_json=True, out=out, err=err)
    assert code == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    assert doc["format"] == "tflite" and doc["smoothing"] == 2
    (result,) = doc["results"]
    timeline = result["timeline"]
    assert result["path"] == video and len(timeline) == VIDEO_FRAMES
    stamps = [row["timestamp"] for row in timeline]
    np.testing.assert_allclose(stamps, np.arange(VIDEO_FRAMES) / 25, atol=1e-6)
    for row in timeline:
        probs = [p["probability"] for p in row["predictions"]]
        assert len(probs) == 2 and probs == sorted(probs, reverse=True)
        for p in row["predictions"]:
            assert deploy_models.class_names()[p["index"]] == p["label"]
    # text: the path, then one line per frame; a missing video: one error line, exit code 1
    out, err = io.StringIO(), io.StringIO()
    missing = str(tmp_path / "missing.mp4")
    assert run_stream([video, missing], run_dir, top_k=1, out=out, err=err) == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == video and len(lines) == 1 + VIDEO_FRAMES
    assert lines[1].split()[0] == "0.000s" and lines[-1].split()[0] == "0.360s"
    assert err.getvalue().startswith("error: ") and "missing.mp4" in err.getvalue()
    # a model that cannot stream: exit code 2, the cause named
    err = io.StringIO()
    assert run_stream([video], "no/such/model.keras", err=err) == 2
    assert "cannot stream" in err.getvalue()


def test_export_streaming_rejects_a_model_that_is_not_causal(tmp_path):
    import tfvideo
    from tfvideo.export.streaming import StreamingExportError, export_streaming_tflite

    model = tfvideo.models.create("tsm_tiny", num_classes=2, num_frames=4, input_size=32)
    with pytest.raises(StreamingExportError, match="not causal"):
        export_streaming_tflite(model, str(tmp_path / "x.tflite"))
    assert not os.path.exists(tmp_path / "x.tflite")


@pytest.mark.parametrize("quantize", ["float16", "dynamic"])
def test_weight_quantized_streaming_keeps_the_stepping(trained, reference, quantize, tmp_path):
    from tfvideo.export.streaming import TFLiteStepper, export_streaming_tflite

    model, _ = trained
    frames, expected = reference
    path = export_streaming_tflite(model, str(tmp_path / "m.tflite"), quantize=quantize)
    stepper = TFLiteStepper(path)
    got = np.stack([stepper.step(f) for f in frames])
    assert stepper.metadata.extra["tflite_quantization"] == quantize
    np.testing.assert_array_equal(got.argmax(-1), expected.argmax(-1))
    np.testing.assert_allclose(got, expected, atol=0.05 * np.abs(expected).max())


def test_int8_streaming_agrees_with_float_on_synthetic_clips(trained, tmp_path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from tfvideo.export.source import metadata_for_model
    from tfvideo.export.streaming import export_streaming_tflite, representative_steps

    model, train_clips = trained
    t = model.spec.num_frames
    # calibration carries the states of real clips: the step inputs are Keras' stepping states
    meta_steps = list(
        representative_steps(model, train_clips[:1], metadata_for_model(model), limit=1)()
    )
    assert len(meta_steps) == t
    states_after_one = {k: v for k, v in meta_steps[1].items() if k != "frames"}
    _, expected_states = model.stream_step(train_clips[0, :1], model.init_states(1))
    for name, value in expected_states.items():
        np.testing.assert_allclose(states_after_one[name], np.asarray(value), atol=1e-6)
        assert np.abs(states_after_one[name]).max() > 0, name
    path = export_streaming_tflite(
        model,
        str(tmp_path / "m_int8.tflite"),
        quantize="int8",
        representative_clips=list(train_clips[:32]),
    )
    # the reference int8 kernels: what the quantization computes, whatever delegate runs it
    interpreter = Interpreter(
        model_path=path,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    ops = {o["op_name"] for o in interpreter._get_ops_details()}
    assert "QUANTIZE" in ops and not any(op.startswith("Flex") for op in ops)
    runner = interpreter.get_signature_runner("stream_step")
    clips, labels = deploy_models.synthetic_clips(100, seed=7, num_frames=t)
    float_logits = np.asarray(model.per_frame_logits(clips)).mean(1)  # = the clip logits
    int8_logits = []
    for clip in clips:
        states = {k: np.asarray(v) for k, v in model.init_states(1).items()}
        steps = []
        for frame in clip:
            out = runner(frames=frame[None], **states)
            states = {k: out[k] for k in states}
            steps.append(out["logits"][0])
        int8_logits.append(np.mean(steps, 0))
    float_top1, int8_top1 = float_logits.argmax(-1), np.argmax(int8_logits, -1)
    agreement = float(np.mean(float_top1 == int8_top1))
    accuracy = float(np.mean(float_top1 == labels))
    print(f"{MODEL} streaming int8: float accuracy {accuracy:.2f}, agreement {agreement:.2f}")
    assert len(set(float_top1.tolist())) > 1, accuracy  # trained: not one class for everything
    assert agreement >= 0.95, (agreement, accuracy)


# ----------------------------------------------------------------------------- SavedModel
# A fresh process that never imports tfvideo steps the SavedModel's `stream_step` signature as
# a TF Serving client would (uint8 frames of the video's size, the states kept by the client,
# starting from the metadata's zeros) and replays the warmup requests.
CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path, frames_path, out_path = sys.argv[1:]
    loaded = tf.saved_model.load(path)
    meta = json.loads(loaded.signatures["metadata"]()["metadata"].numpy())
    step = loaded.signatures["stream_step"]
    states = {k: np.full([1] + s["shape"], s["fill"], np.float32)
              for k, s in meta["extra"]["streaming"]["states"].items()}
    out = {"signatures": np.array(sorted(loaded.signatures.keys())), "logits": [], "labels": []}
    for frame in np.load(frames_path):
        feed = {k: tf.constant(v) for k, v in states.items()}
        result = step(frames=tf.constant(frame[None]), **feed)
        states = {k: result[k].numpy() for k in states}
        out["logits"].append(result["logits"].numpy()[0])
        out["labels"].append([x.decode() for x in result["top_k_labels"].numpy()[0]])
    warm = path + "/assets.extra/tf_serving_warmup_requests"
    out["warmup"] = []
    for record in tf.data.TFRecordDataset(warm):
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        feed = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        result = loaded.signatures[request.model_spec.signature_name](**feed)
        out["warmup"].append(request.model_spec.signature_name)
    np.savez(out_path, **{k: np.asarray(v) for k, v in out.items()})
    assert "tfvideo" not in sys.modules, "the fresh process imported tfvideo"
""")


def test_saved_model_stream_step_in_a_fresh_process(trained, run_dir, video, reference, tmp_path):
    from tfvideo.cli.export import run as export_run
    from tfvideo.export import warmup
    from tfvideo.streaming import StreamingClassifier

    frames, expected = reference
    path = export_run(run_dir, output_dir=str(tmp_path / "saved_models"), top_k=2)
    requests = warmup.read_warmup_requests(
        os.path.join(path, "assets.extra", "tf_serving_warmup_requests")
    )
    assert [s for s, _ in requests][-1] == "stream_step"
    assert sorted(requests[-1][1]) == sorted(["frames", *trained[0].init_states(1)])
    np.save(tmp_path / "frames.npy", decode_video(video))  # raw uint8 40 x 48: resized inside
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [sys.executable, "-c", CHILD, path, str(tmp_path / "frames.npy"), str(tmp_path / "o.npz")],
        check=True,
        env=env,
        cwd=str(tmp_path),
        timeout=600,
    )
    out = np.load(tmp_path / "o.npz")
    # next to the clip signatures (and their warmup requests)
    assert {"serving_default", "metadata", "stream_step"} <= set(out["signatures"])
    assert list(out["warmup"])[:3] == ["serving_default", "encoded_frames", "tf_example"]
    assert list(out["warmup"])[-1] == "stream_step"
    assert_close_to_logits(out["logits"], expected, "SavedModel stream_step")
    names = np.array(deploy_models.class_names())
    np.testing.assert_array_equal(out["labels"], names[np.argsort(-expected)[:, :2]])
    # the same through StreamingClassifier (the SavedModel stepper)
    classifier = StreamingClassifier(os.path.dirname(path))
    assert classifier.kind == "saved_model"
    assert_close_to_logits(np.stack([x for _, x in classifier.steps(video)]), expected, "client")
