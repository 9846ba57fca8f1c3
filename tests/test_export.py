"""SavedModel export: metadata, TF Serving layout and versions, signatures in a fresh process,
saved_model_cli, warmup requests."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tests import deploy_models
from tests.test_export_common import CLASS_NAMES, NUM_FRAMES, SIZE, random_frames, toy_model
from tfvideo.cli.export import run as export_run
from tfvideo.data import get_sampler
from tfvideo.data.augment import eval_transform
from tfvideo.export import (
    ExportMetadata,
    export_saved_model,
    preprocessing,
    read_saved_model_metadata,
    warmup,
)
from tfvideo.export.metadata import sampler_config


# ----------------------------------------------------------------------------- metadata
def test_metadata_round_trip_and_defaults():
    meta = ExportMetadata(
        "tsm_tiny",
        ["a", "b", "c"],
        num_frames=8,
        input_size=224,
        sampling="dense",
        top_k=10,
        extra={"run": "x"},
    )
    again = ExportMetadata.from_json(meta.to_json())
    assert again == meta
    assert meta.input_size == (224, 224)
    assert meta.short_side == 256  # 224 * 8 / 7
    assert meta.top_k == 3  # clipped to the number of classes
    assert meta.sampling == {"kind": "dense", "clip_length": 8, "interval": 1}
    assert sampler_config("segments", 4) == {"kind": "segment", "num_segments": 4}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(class_names=[]), "class_names"),
        (dict(class_names=["a", "b\nc"]), "single lines"),
        (dict(num_frames=0), "num_frames"),
        (dict(sampling="random"), "sampling"),
        (dict(sampling={"kind": "segment", "num_segments": 3}), "takes 3 frames"),
        (dict(short_side=16), "short_side"),
    ],
)
def test_metadata_rejects_bad_values(kwargs, message):
    args = dict(model_name="m", class_names=["a", "b"], num_frames=4, input_size=32)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        ExportMetadata(**args)


# ----------------------------------------------------------------------------- preprocessing
@pytest.mark.parametrize(
    "sampling",
    [
        {"kind": "segment", "num_segments": 8},
        {"kind": "dense", "clip_length": 8, "interval": 2},
    ],
)
def test_graph_indices_match_the_numpy_samplers(sampling):
    sampler = get_sampler(sampling)
    for n in (1, 3, 8, 9, 17, 100, 301):
        graph = preprocessing.eval_frame_indices(tf.constant(n), sampling).numpy()
        np.testing.assert_array_equal(graph, sampler(n), err_msg=f"{n} frames")


def numpy_eval_crop(frames, size, short_side):
    """The evaluation crop computed here, without TensorFlow: the short side resized to
    `short_side` (the other side rounded), bilinear with half-pixel centres and no antialiasing
    (what TF2's `tf.image.resize` does), then the central `size` x `size` window."""
    frames = np.asarray(frames, np.float64)
    height, width = frames.shape[1:3]
    scale = short_side / min(height, width)
    out_h, out_w = round(height * scale), round(width * scale)

    def taps(in_size, out_size):
        position = (np.arange(out_size) + 0.5) * in_size / out_size - 0.5
        low = np.floor(position)
        weight = position - low
        low = np.clip(low, 0, in_size - 1).astype(int)
        return low, np.minimum(low + 1, in_size - 1), weight

    top, bottom, wy = taps(height, out_h)
    left, right, wx = taps(width, out_w)
    wy, wx = wy[None, :, None, None], wx[None, None, :, None]
    rows = frames[:, top] * (1 - wy) + frames[:, bottom] * wy
    resized = rows[:, :, left] * (1 - wx) + rows[:, :, right] * wx
    y0, x0 = (out_h - size) // 2, (out_w - size) // 2
    return resized[:, y0 : y0 + size, x0 : x0 + size].astype(np.float32)


def test_numpy_eval_crop_reference():
    # A 2x downscale with half-pixel centres averages each 2 x 2 block; the crop is central.
    frames = np.arange(2 * 8 * 12 * 3, dtype=np.float64).reshape(2, 8, 12, 3)
    blocks = frames.reshape(2, 4, 2, 6, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(numpy_eval_crop(frames, 4, 4), blocks[:, :, 1:5], rtol=1e-6)


def test_eval_crop_is_the_data_evaluation_transform():
    frames = random_frames((3, 40, 56, 3))
    ours = preprocessing.eval_crop(frames, (32, 32), 36).numpy()
    data = eval_transform(frames, size=32, short_side=36)[0].numpy()
    np.testing.assert_array_equal(ours, data)
    # and both are the evaluation crop computed independently (40 x 56 -> 36 x 50, window at
    # row 2, column 9)
    np.testing.assert_allclose(ours, numpy_eval_crop(frames, 32, 36), atol=1e-3)
    # frames of the input size pass unchanged through the `frames` signature's path
    exact = random_frames((2, 32, 32, 3))
    np.testing.assert_array_equal(preprocessing.fit_frames(exact, (32, 32), 36).numpy(), exact)


# ----------------------------------------------------------------------------- export
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("saved_models")
    model = toy_model()
    path = export_saved_model(model, str(root), class_names=CLASS_NAMES, top_k=2)
    return model, str(root), path


def test_tf_serving_layout_and_assets(exported):
    model, root, path = exported
    assert path == os.path.join(root, "toy_net", "1")
    for name in (
        "saved_model.pb",
        "variables",
        "assets/labels.txt",
        "assets/tfvideo_metadata.json",
        "assets.extra/tf_serving_warmup_requests",
    ):
        assert os.path.exists(os.path.join(path, name)), name
    with open(os.path.join(path, "assets", "labels.txt")) as f:
        assert f.read().splitlines() == CLASS_NAMES
    meta = read_saved_model_metadata(path)
    assert (meta.num_frames, meta.input_size, meta.class_names) == (
        NUM_FRAMES,
        (SIZE, SIZE),
        CLASS_NAMES,
    )


def test_versions_increment_and_are_never_overwritten(exported):
    model, root, first = exported
    model_dir = os.path.join(root, "toy_net")
    os.makedirs(os.path.join(model_dir, "7-not-a-version"), exist_ok=True)
    stamp = os.path.getmtime(os.path.join(first, "saved_model.pb"))
    with pytest.raises(FileExistsError, match="never overwritten"):
        export_saved_model(model, root, version=1, class_names=CLASS_NAMES)
    # a failing export leaves neither a version nor its temporary directory behind
    with pytest.raises(TypeError):
        export_saved_model(
            model,
            root,
            class_names=CLASS_NAMES,
            warmup_requests=[("serving_default", {"frames": object()})],
        )
    assert sorted(os.listdir(model_dir)) == ["1", "7-not-a-version"]
    second = export_saved_model(model, root, class_names=CLASS_NAMES, warmup_requests=False)
    assert second == os.path.join(model_dir, "2")
    assert os.path.getmtime(os.path.join(first, "saved_model.pb")) == stamp
    assert sorted(os.listdir(model_dir)) == ["1", "2", "7-not-a-version"]


def test_export_main_reads_a_training_directory(tmp_path):
    from tests.test_export_common import save_with_classes

    model = toy_model(num_classes=2, name="tsm_tiny")
    run_dir = str(tmp_path / "run")
    save_with_classes(model, run_dir, ["left", "right"])
    path = export_run(run_dir, output_dir=str(tmp_path / "out"), warmup=False, top_k=1)
    assert path == str(tmp_path / "out" / "tsm_tiny" / "1")
    meta = read_saved_model_metadata(path)
    assert meta.class_names == ["left", "right"] and meta.top_k == 1
    assert meta.sampling == {"kind": "segment", "num_segments": NUM_FRAMES}  # registry's


# A fresh process that never imports tfvideo: loads each SavedModel of a job list, calls every
# classifying signature on the inputs saved for it and the `metadata` signature, and replays the
# warmup requests from assets.extra with tensorflow-serving-api protos.
CHILD = textwrap.dedent("""
    import json
    import sys
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    CALLS = {"frames": ("serving_default", "frames"),
             "frames_big": ("serving_default", "frames"),
             "frames_sampled": ("serving_default", "frames"),
             "encoded": ("encoded_frames", "encoded_frames"),
             "examples": ("tf_example", "examples")}
    for path, inputs_path, out_path in json.loads(sys.argv[1]):
        loaded = tf.saved_model.load(path)
        inputs = np.load(inputs_path, allow_pickle=True)
        out = {"signatures": np.array(sorted(loaded.signatures.keys()))}
        for name in inputs.files:
            sig, key = CALLS[name]
            result = loaded.signatures[sig](**{key: tf.constant(inputs[name])})
            for k, v in result.items():
                out[name + "/" + k] = v.numpy()
        out["metadata"] = np.array(loaded.signatures["metadata"]()["metadata"].numpy())
        if "features" in loaded.signatures:
            feed = tf.constant(inputs["frames"])
            out["features"] = loaded.signatures["features"](frames=feed)["features"].numpy()
        warm = path + "/assets.extra/tf_serving_warmup_requests"
        for i, record in enumerate(tf.data.TFRecordDataset(warm)):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            request = log.predict_log.request
            feed = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            result = loaded.signatures[request.model_spec.signature_name](**feed)
            for k, v in result.items():
                out["warmup/%d/%s/%s" % (i, request.model_spec.signature_name, k)] = v.numpy()
        np.savez(out_path, **out)
    assert "tfvideo" not in sys.modules, "the fresh process imported tfvideo"
""")


def run_fresh_process(jobs, tmp_path):
    """Runs CHILD on `[(saved_model_path, inputs_dict)]`; returns one output npz per job."""
    spec = []
    for i, (path, inputs) in enumerate(jobs):
        np.savez(tmp_path / f"inputs{i}.npz", **inputs)
        spec.append([str(path), str(tmp_path / f"inputs{i}.npz"), str(tmp_path / f"out{i}.npz")])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no tfvideo needed
    subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec)],
        check=True,
        env=env,
        cwd=str(tmp_path),
        timeout=600,
    )
    return [np.load(out, allow_pickle=True) for _, _, out in spec]


def _png(frame):
    return tf.io.encode_png(frame).numpy()


def test_signatures_in_a_fresh_process(exported, tmp_path):
    model, _, path = exported
    frames = random_frames((2, NUM_FRAMES, SIZE, SIZE, 3), seed=1)
    big = random_frames((1, NUM_FRAMES, 45, 60, 3), seed=2)
    video = random_frames((10, 40, 48, 3), seed=3)  # 10 frames, sampled down to 4
    # the centre frame of each of 4 segments of 2.5 frames: floor((k + 0.5) * 2.5)
    idx = np.array([1, 3, 6, 8])
    inputs = {
        "frames": frames,
        "frames_big": big,
        "encoded": np.array([[_png(f) for f in big[0]]], dtype=object),
        "examples": np.array([warmup.sequence_example([_png(f) for f in video], 1)], dtype=object),
    }
    (out,) = run_fresh_process([(path, inputs)], tmp_path)

    def crop(clip):  # the metadata's short side: 32 * 8 / 7 -> 37
        return numpy_eval_crop(clip, SIZE, 37)

    expected = {
        "frames": model(frames.astype(np.float32)).numpy(),
        "frames_big": model(crop(big[0])[None]).numpy(),
        "encoded": model(crop(big[0])[None]).numpy(),
        "examples": model(crop(video[idx])[None]).numpy(),
    }
    for name, logits in expected.items():
        scale = np.abs(logits).max()
        np.testing.assert_allclose(
            out[name + "/logits"], logits, atol=1e-4 * scale + 1e-6, err_msg=name
        )
        probs = out[name + "/probabilities"]
        np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
        top = np.argsort(-logits, axis=-1)[:, :2]
        np.testing.assert_array_equal(out[name + "/top_k_indices"], top)
        labels = out[name + "/top_k_labels"].astype(str)
        np.testing.assert_array_equal(labels, np.array(CLASS_NAMES)[top])
    meta = json.loads(out["metadata"].item())
    assert meta["class_names"] == CLASS_NAMES and meta["num_frames"] == NUM_FRAMES
    warm = sorted({k.split("/")[2] for k in out.files if k.startswith("warmup/")})
    assert warm == ["encoded_frames", "serving_default", "tf_example"]


def test_saved_model_cli_lists_every_signature(exported):
    _, _, path = exported
    cli = [
        sys.executable,
        "-c",
        "import sys; from tensorflow.python.tools.saved_model_cli import main; "
        "sys.argv[0] = 'saved_model_cli'; sys.exit(main())",
    ]
    result = subprocess.run(
        cli + ["show", "--dir", path, "--all"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for signature in ("serving_default", "encoded_frames", "tf_example", "metadata"):
        assert f"signature_def['{signature}']" in result.stdout
    for name in (
        "frames",
        "encoded_frames",
        "examples",
        "logits",
        "probabilities",
        "top_k_indices",
        "top_k_labels",
    ):
        assert f"['{name}']" in result.stdout, name


def test_warmup_file_parses_into_one_request_per_signature(exported):
    _, _, path = exported
    requests = warmup.read_warmup_requests(
        os.path.join(path, "assets.extra", "tf_serving_warmup_requests")
    )
    assert [s for s, _ in requests] == ["serving_default", "encoded_frames", "tf_example"]
    frames = requests[0][1]["frames"]
    assert frames.dtype == np.uint8 and frames.shape == (1, NUM_FRAMES, SIZE, SIZE, 3)
    assert requests[1][1]["encoded_frames"].shape == (1, NUM_FRAMES)


# ----------------------------------------------------------------------------- every family
# The checks above, on the tiny model of every family trained for a few steps on synthetic clips
# (tests/deploy_models.py; the TFLite tests share the trained models), and on the committed
# `saved_models/tsm_tiny` (newest version) in the same tfvideo-free process.

FAMILIES = sorted(deploy_models.FAMILIES)
COMMITTED = "committed tsm_tiny"


def deployment_inputs(meta, seed=0):
    """Inputs for every classifying signature, and the frame indices `tf_example` samples."""
    t, (h, w) = meta.num_frames, meta.input_size
    big = random_frames((1, t, h * 3 // 2, w * 2, 3), seed=seed + 2)
    video = random_frames((2 * t + 3, h * 5 // 4, w * 3 // 2, 3), seed=seed + 3)
    idx = get_sampler(meta.sampling)(len(video))
    inputs = {
        "frames": random_frames((2, t, h, w, 3), seed=seed + 1),
        "frames_big": big,
        "frames_sampled": video[idx][None],
        "encoded": np.array([[_png(f) for f in big[0]]], dtype=object),
        "examples": np.array([warmup.sequence_example([_png(f) for f in video], 1)], dtype=object),
    }
    return inputs, idx


def check_classify_outputs(out, meta, expected=None):
    """Every classifying output is consistent (softmax, top-k, labels); the logits match
    `expected` (name -> logits) where given, and the resize/decode/sampling paths agree with
    each other."""
    # the `features` signature of VideoClassifiers: test_features_signature_in_a_fresh_process
    signatures = set(out["signatures"]) - {"features"}
    assert signatures == {"serving_default", "encoded_frames", "tf_example", "metadata"}
    names = np.array(meta.class_names)
    for name in ("frames", "frames_big", "frames_sampled", "encoded", "examples"):
        logits = out[name + "/logits"]
        assert logits.shape[-1] == meta.num_classes and np.all(np.isfinite(logits)), name
        if expected is not None:
            scale = np.abs(expected[name]).max()
            np.testing.assert_allclose(
                logits, expected[name], atol=1e-4 * scale + 1e-6, err_msg=name
            )
        probs = out[name + "/probabilities"]
        shifted = np.exp(logits - logits.max(-1, keepdims=True))
        np.testing.assert_allclose(probs, shifted / shifted.sum(-1, keepdims=True), atol=1e-5)
        top = out[name + "/top_k_indices"]
        assert top.shape == (len(logits), meta.top_k), name
        np.testing.assert_array_equal(
            np.take_along_axis(logits, top, -1),
            -np.sort(-logits, axis=-1)[:, : meta.top_k],
            err_msg=name,
        )
        np.testing.assert_array_equal(out[name + "/top_k_labels"].astype(str), names[top])
    # PNG is lossless: the same frames through `frames` and `encoded_frames`, the sampled
    # frames of the SequenceExample through `frames`, give the same logits
    for a, b in (("frames_big", "encoded"), ("frames_sampled", "examples")):
        scale = np.abs(out[a + "/logits"]).max()
        np.testing.assert_allclose(
            out[b + "/logits"], out[a + "/logits"], atol=1e-5 * scale + 1e-6, err_msg=f"{a} vs {b}"
        )
    assert json.loads(out["metadata"].item()) == meta.to_dict()
    warm = sorted({k.split("/")[2] for k in out.files if k.startswith("warmup/")})
    assert warm == ["encoded_frames", "serving_default", "tf_example"]
    for key in out.files:
        if key.startswith("warmup/") and key.endswith("/probabilities"):
            np.testing.assert_allclose(out[key].sum(-1), 1.0, rtol=1e-5, err_msg=key)


def committed_saved_model():
    path = deploy_models.newest_version(deploy_models.SAVED_MODELS / "tsm_tiny")
    return str(path), read_saved_model_metadata(str(path))


@pytest.fixture(scope="module")
def family_exports(tmp_path_factory):
    """`{family: (model, SavedModel path, metadata)}` for the trained tiny models."""
    from tfvideo.export import metadata_for_model

    root = str(tmp_path_factory.mktemp("family_saved_models"))
    exports = {}
    # in reverse order: test_export_tflite.py, on the other worker, trains them in order
    # (tests/conftest.py's LONG_FILES)
    for family in reversed(FAMILIES):
        model, _ = deploy_models.trained_family_model(family)
        meta = metadata_for_model(model, top_k=2)
        path = export_saved_model(model, export_dir=root, name=model.spec.name, metadata=meta)
        exports[family] = model, path, meta
    return exports


@pytest.fixture(scope="module")
def fresh_process_outputs(family_exports, tmp_path_factory):
    """The CHILD outputs of every family's SavedModel and of the committed one (one process),
    with the Keras logits the families' outputs must match."""
    jobs, expected = [], {}
    for family, (model, path, meta) in family_exports.items():
        inputs, idx = deployment_inputs(meta)

        def keras_logits(clip, model=model, meta=meta):
            crop = preprocessing.eval_crop(clip, meta.input_size, meta.short_side)
            return model(crop[None], training=False).numpy()

        expected[family] = {
            "frames": model(inputs["frames"].astype(np.float32), training=False).numpy(),
            "frames_big": keras_logits(inputs["frames_big"][0]),
            "frames_sampled": keras_logits(inputs["frames_sampled"][0]),
            "encoded": keras_logits(inputs["frames_big"][0]),
            "examples": keras_logits(inputs["frames_sampled"][0]),
            "features": model.extract_features(inputs["frames"].astype(np.float32)),
        }
        jobs.append((path, inputs))
    path, meta = committed_saved_model()
    jobs.append((path, deployment_inputs(meta)[0]))
    outputs = run_fresh_process(jobs, tmp_path_factory.mktemp("fresh_process"))
    results = {
        family: (out, expected[family], family_exports[family][2])
        for family, out in zip(family_exports, outputs)
    }
    results[COMMITTED] = (outputs[-1], None, meta)
    return results


def test_every_family_has_a_tiny_model():
    assert set(FAMILIES) >= {"resnet", "tada2d", "s3d", "blvnet", "tadaconvnext"}
    from tfvideo.models import available, default_spec

    assert set(FAMILIES) == {default_spec(n).family for n in available()}


@pytest.mark.parametrize("family", FAMILIES + [COMMITTED])
def test_every_signature_in_a_fresh_process(fresh_process_outputs, family):
    out, expected, meta = fresh_process_outputs[family]
    check_classify_outputs(out, meta, expected)


@pytest.mark.parametrize("family", FAMILIES)
def test_features_signature_in_a_fresh_process(fresh_process_outputs, family):
    """The `features` signature gives the Keras backbone's pooled features `[batch, C]`."""
    out, expected, _ = fresh_process_outputs[family]
    assert "features" in out["signatures"]
    scale = np.abs(expected["features"]).max()
    assert out["features"].shape == expected["features"].shape
    assert out["features"].shape[0] == 2 and scale > 0
    np.testing.assert_allclose(out["features"], expected["features"], atol=1e-4 * scale)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_layout_and_warmup_requests(family_exports, family, tmp_path):
    model, path, meta = family_exports[family]
    assert path.endswith(os.path.join(model.spec.name, "1"))
    with open(os.path.join(path, "assets", "labels.txt")) as f:
        assert f.read().splitlines() == meta.class_names
    assert read_saved_model_metadata(path) == meta
    requests = warmup.read_warmup_requests(
        os.path.join(path, "assets.extra", "tf_serving_warmup_requests")
    )
    assert [s for s, _ in requests] == ["serving_default", "encoded_frames", "tf_example"]
    frames = requests[0][1]["frames"]
    assert frames.dtype == np.uint8 and frames.shape == (1, meta.num_frames, *meta.input_size, 3)
    assert requests[1][1]["encoded_frames"].shape == (1, meta.num_frames)


def test_committed_warmup_requests_parse():
    path, meta = committed_saved_model()
    requests = warmup.read_warmup_requests(
        os.path.join(path, "assets.extra", "tf_serving_warmup_requests")
    )
    assert [s for s, _ in requests] == ["serving_default", "encoded_frames", "tf_example"]
    assert requests[0][1]["frames"].shape == (1, meta.num_frames, *meta.input_size, 3)


SAVED_MODEL_CLI = textwrap.dedent("""
    import sys
    from tensorflow.python.tools.saved_model_cli import main
    for path in sys.argv[1:]:
        print("=== " + path, flush=True)
        sys.argv = ["saved_model_cli", "show", "--dir", path, "--all"]
        try:
            code = main()
        except SystemExit as done:  # absl's app.run exits after each command
            code = done.code
        if code:
            sys.exit(code)
        sys.stdout.flush()
""")


@pytest.fixture(scope="module")
def saved_model_cli_listings(family_exports):
    """`saved_model_cli show --all` of every family's SavedModel and the committed one (one
    process): {family: its stdout}."""
    paths = {family: path for family, (_, path, _) in family_exports.items()}
    paths[COMMITTED] = committed_saved_model()[0]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", SAVED_MODEL_CLI, *paths.values()],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    sections = result.stdout.split("=== ")[1:]
    listings = {section.split("\n", 1)[0]: section for section in sections}
    return {family: listings[path] for family, path in paths.items()}


@pytest.mark.parametrize("family", FAMILIES + [COMMITTED])
def test_saved_model_cli_lists_every_signature_of_every_family(saved_model_cli_listings, family):
    listing = saved_model_cli_listings[family]
    for signature in ("serving_default", "encoded_frames", "tf_example", "metadata"):
        assert f"signature_def['{signature}']" in listing, signature
    for name in (
        "frames",
        "encoded_frames",
        "examples",
        "logits",
        "probabilities",
        "top_k_indices",
        "top_k_labels",
        "metadata",
    ):
        assert f"['{name}']" in listing, name
