"""Classifying video files with an exported model: SavedModel, `.keras`, `.tflite` or `.onnx`.

`load_predictor(path)` opens any of the three with the `ExportMetadata` recorded beside or inside
it; `classify_files` decodes each file with the model's evaluation sampling and crop and returns
the top-k labels, or a one-line error for a file that cannot be read (the others are still
classified).

Example:
    >>> from tfvideo.export.predict import classify_files, load_predictor
    >>> predictor = load_predictor("saved_models/tsm_tiny_synthetic")  # doctest: +SKIP
    >>> classify_files(["clip.mp4"], predictor, top_k=2)  # doctest: +SKIP
    [{'path': 'clip.mp4', 'predictions': [{'label': 'moving right', 'index': 3,
      'probability': 0.91}, ...]}]
"""

import os

import numpy as np

from tfvideo._optional import require
from tfvideo.export.metadata import METADATA_FILENAME, ExportMetadata
from tfvideo.export.saved_model import existing_versions


class Predictor:
    """Base class: `metadata` and `logits(clips)` for float32 clips `[B, T, h, w, 3]`."""

    kind = None

    def __init__(self, path, metadata):
        self.path = path
        self.metadata = metadata

    def logits(self, clips) -> np.ndarray:
        raise NotImplementedError

    def probabilities(self, clips) -> np.ndarray:
        return self.metadata.scores(self.logits(clips))

    def keras_model(self):
        """The Keras model behind the predictor (for gradients and backbone features)."""
        raise ValueError(
            f"{self.path}: a {self.kind} file holds no Keras graph; use the SavedModel, .keras "
            "file or training directory it was exported from"
        )


class SavedModelPredictor(Predictor):
    """Runs the `serving_default` signature (uint8 frames of the model's input size)."""

    kind = "saved_model"

    def __init__(self, path):
        import tensorflow as tf

        with open(os.path.join(path, "assets", METADATA_FILENAME), encoding="utf-8") as f:
            super().__init__(path, ExportMetadata.from_json(f.read()))
        self._tf = tf
        self._loaded = tf.saved_model.load(path)
        self._serve = self._loaded.signatures["serving_default"]
        self._keras = None

    def keras_model(self):
        """The registry model of the metadata's `model_name`, with the SavedModel's weights
        (`ServingModule` saves them in the model's variable order; shapes are checked)."""
        if self._keras is None:
            self._keras = rebuild_keras_model(self._loaded, self.metadata, self.path)
        return self._keras

    def logits(self, clips):
        frames = np.clip(np.round(np.asarray(clips)), 0, 255).astype(np.uint8)
        return self._serve(frames=self._tf.constant(frames))["logits"].numpy()


class KerasPredictor(Predictor):
    """Runs a `.keras` model (metadata from the files beside it or from the model)."""

    kind = "keras"

    def __init__(self, path, model=None, metadata=None):
        from tfvideo.export.source import load_source

        if model is None:
            model, metadata = load_source(path)
        super().__init__(path, metadata)
        self.model = model

    def logits(self, clips):
        return np.asarray(self.model.predict_on_batch(np.asarray(clips, np.float32)))

    def keras_model(self):
        return self.model


class TFLitePredictor(Predictor):
    """Runs a `.tflite` model with LiteRT, one clip at a time.

    LiteRT's default XNNPACK delegate rejects some int8 graphs (e.g. `s3d_tiny`'s); the
    predictor then falls back to LiteRT's builtin kernels (`delegate` says which one runs).
    """

    kind = "tflite"

    def __init__(self, path, num_threads=None):
        from tfvideo.export.tflite import read_tflite_metadata

        super().__init__(path, read_tflite_metadata(path))
        try:
            self._runner = self._make_runner(path, num_threads, default_delegates=True)
            self.delegate = "xnnpack"
        except RuntimeError:
            self._runner = self._make_runner(path, num_threads, default_delegates=False)
            self.delegate = "builtin"

    def _make_runner(self, path, num_threads, default_delegates):
        litert = require("ai_edge_litert.interpreter", f"running the TFLite model {path}")
        Interpreter, OpResolverType = litert.Interpreter, litert.OpResolverType

        resolver = (
            OpResolverType.AUTO
            if default_delegates
            else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        self.interpreter = Interpreter(
            model_path=path, num_threads=num_threads, experimental_op_resolver_type=resolver
        )
        runner = self.interpreter.get_signature_runner()
        meta = self.metadata
        runner(frames=np.zeros((1, meta.num_frames, *meta.input_size, 3), np.float32))
        return runner

    def logits(self, clips):
        out = [
            self._runner(frames=np.asarray(c, np.float32)[np.newaxis])["logits"][0] for c in clips
        ]
        return np.stack(out)


class ONNXPredictor(Predictor):
    """Runs a `.onnx` file of `tfvideo export --format onnx` with onnxruntime (CPU)."""

    kind = "onnx"

    def __init__(self, path):
        from tfvideo.export.onnx import INPUT_NAME, read_onnx_metadata

        super().__init__(path, read_onnx_metadata(path))
        ort = require("onnxruntime", f"running the ONNX model {path}")
        self._session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self._input = INPUT_NAME

    def logits(self, clips):
        feed = {self._input: np.asarray(clips, np.float32)}
        return self._session.run(None, feed)[0]


def rebuild_keras_model(loaded, metadata, path):
    """The Keras model of a loaded tfvideo SavedModel: `tfvideo.models.create(model_name)` with
    the metadata's classes, frames and input size, then the saved variables assigned in order.

    Raises a ValueError naming the SavedModel when the name is not a registry model or the
    variables do not match (then export from the `.keras` file instead)."""
    from tfvideo.models import available, create

    name = metadata.model_name
    saved = list(getattr(loaded, "model_variables", []))
    if name not in available():
        raise ValueError(
            f"{path}: model {name!r} is not a tfvideo registry model, so its Keras graph cannot "
            "be rebuilt from the SavedModel; use the .keras file it was exported from"
        )
    model = create(
        name,
        num_classes=metadata.num_classes,
        num_frames=metadata.num_frames,
        input_size=metadata.input_size,
        class_names=metadata.class_names,
    )
    # Shapes, not names: Keras numbers auto-named layers per process.
    if len(saved) != len(model.variables) or any(
        tuple(s.shape) != tuple(v.shape) for s, v in zip(saved, model.variables)
    ):
        raise ValueError(
            f"{path}: its {len(saved)} variables do not match the {len(model.variables)} of the "
            f"registry model {name!r} (built with other options?); use the .keras file it was "
            "exported from"
        )
    for variable, value in zip(model.variables, saved):
        variable.assign(value)
    return model


def resolve_saved_model_dir(path):
    """A SavedModel directory: `path` itself, or its newest numbered version (TF Serving's base
    directory `saved_models/<name>`)."""
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    versions = existing_versions(path)
    for version in reversed(versions):
        candidate = os.path.join(path, str(version))
        if os.path.exists(os.path.join(candidate, "saved_model.pb")):
            return candidate
    return None


def default_model_path():
    """The model `tfvideo predict` uses without `--model`, or None. In order: `saved_models/` in
    the current directory, the demo model shipped inside the installed package
    (`tfvideo/_bundled/saved_models`, copied there when a wheel is built), the `saved_models/`
    of the source checkout holding this package (an editable install)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for base in (
        os.path.join(os.getcwd(), "saved_models"),
        os.path.join(package, "_bundled", "saved_models"),
        os.path.join(os.path.dirname(package), "saved_models"),
    ):
        if not os.path.isdir(base):
            continue
        for name in sorted(os.listdir(base)):
            if resolve_saved_model_dir(os.path.join(base, name)):
                return os.path.join(base, name)
    return None


def load_predictor(path) -> Predictor:
    """A predictor for a SavedModel directory (or TF Serving base directory), `.keras` file,
    training output directory or `.tflite` file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such model file or directory")
    if path.endswith(".tflite"):
        return TFLitePredictor(path)
    if path.endswith(".keras"):
        return KerasPredictor(path)
    if path.endswith(".onnx"):
        return ONNXPredictor(path)
    if os.path.isdir(path):
        saved = resolve_saved_model_dir(path)
        if saved:
            return SavedModelPredictor(saved)
        return KerasPredictor(path)  # a training output directory with a .keras file
    raise ValueError(
        f"{path}: expected a SavedModel directory, a .keras, a .tflite or an .onnx file"
    )


def load_clip(path, metadata) -> np.ndarray:
    """Decodes the evaluation clip of a video file: float32 `[T, h, w, 3]` in [0, 255].

    Frames are sampled by `metadata.sampling` (short videos repeat or loop frames), decoded
    upright (rotation metadata applied), resized and centre-cropped as in evaluation.
    """
    from tfvideo.data import decode_video, get_sampler
    from tfvideo.export.preprocessing import eval_crop

    sampler = get_sampler(metadata.sampling)
    frames = decode_video(path, indices=lambda n: sampler(n))
    return eval_crop(frames, metadata.input_size, metadata.short_side).numpy()


def _one_line(error):
    text = " ".join(str(error).split())
    return text or type(error).__name__


def one_line_error(path, error) -> str:
    """The one-line message of a file that failed: the error's text, naming the file."""
    message = _one_line(error)
    return message if os.fspath(path) in message else f"{path}: {message}"


def classify_files(paths, predictor, top_k=None):
    """Classifies each file; returns one dict per path, in order.

    A result is `{"path", "predictions": [{"label", "index", "probability"}, ...]}` (best first),
    or `{"path", "error"}` where the file could not be decoded or classified.
    """
    meta = predictor.metadata
    k = max(1, min(int(top_k or meta.top_k), meta.num_classes))
    results = []
    for path in paths:
        try:
            clip = load_clip(path, meta)
            probs = predictor.probabilities(clip[np.newaxis])[0]
        except Exception as error:  # noqa: BLE001 - reported per file, the others go on
            results.append({"path": os.fspath(path), "error": one_line_error(path, error)})
            continue
        order = np.argsort(-probs, kind="stable")[:k]
        results.append(
            {
                "path": os.fspath(path),
                "predictions": [
                    {"label": meta.class_names[i], "index": int(i), "probability": float(probs[i])}
                    for i in order
                ],
            }
        )
    return results


def format_result(result) -> str:
    """Human-readable lines of one `classify_files` result."""
    if "error" in result:
        return f"error: {result['error']}"
    lines = [result["path"]]
    lines += [f"  {p['probability']:.4f}  {p['label']}" for p in result["predictions"]]
    return "\n".join(lines)
