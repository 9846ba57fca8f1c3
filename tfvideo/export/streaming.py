"""Streaming export: the single step of a causal classifier as a `.tflite` model and as the
SavedModel signature `stream_step`, and runners that step them.

A causal `VideoClassifier` streams with `model.init_states(batch)` and
`model.stream_step(frames, states) -> (logits, states)`. Exported, one step is a function of
named tensors: the input `frames` (float32 `[1, h, w, 3]` in [0, 255], already resized and
cropped; `[1, 2, h, w, 3]` for models that step by frame pairs) and one input per state, and the
outputs `logits` `[1, classes]` and the new states under the same names. Every state is at most
4-D (GPU delegates and LiteRT's builtin kernels take no more). The client keeps the states: it
feeds each step's output states to the next step, starting from `initial_states`.

The layout of the states (names, shapes without the batch axis, start values) is recorded in the
artifact's `ExportMetadata` under `extra["streaming"]` (`stream_layout`), so a runner needs
nothing but the artifact.

int8 calibration runs the Keras model through representative clips step by step and records the
inputs of every step, so the state inputs are calibrated on the states real clips produce
(`representative_steps`), not on zeros or noise.

Example:
    >>> import tfvideo
    >>> from tfvideo.export.streaming import export_streaming_tflite, TFLiteStepper, stream_layout
    >>> model = tfvideo.models.create("tsm_causal_tiny", num_classes=3, num_frames=4,
    ...                               input_size=32)
    >>> layout = stream_layout(model)
    >>> states = layout["states"]
    >>> layout["frames_per_step"], states.get("layer1_0_shift_prev")
    (1, {'shape': [1, 256, 4], 'fill': 0.0})
    >>> path = export_streaming_tflite(model, "/tmp/tsm_stream.tflite")  # doctest: +SKIP
    >>> stepper = TFLiteStepper(path)  # doctest: +SKIP
    >>> stepper.step(stepper.prepare(frame)).shape  # a decoded frame  # doctest: +SKIP
    (3,)
"""

import dataclasses
import os
import tempfile

import numpy as np
import tensorflow as tf

from tfvideo._atomic import atomic_write_text
from tfvideo._optional import require
from tfvideo.export.metadata import ExportMetadata
from tfvideo.export.source import load_source, require_tensorflow_backend

STREAM_SIGNATURE = "stream_step"
FRAME_INPUT = "frames"
LOGITS_OUTPUT = "logits"
MAX_STATE_RANK = 4


class StreamingExportError(ValueError):
    """The model cannot be exported for streaming (not causal, a state above 4-D, ...)."""


def is_streaming(model) -> bool:
    """True for a model that steps frame by frame: a causal `VideoClassifier` of a family that
    streams (`model.stream_frames` answers)."""
    try:
        frames_per_step(model)
    except (AttributeError, ValueError):
        return False
    return True


def frames_per_step(model) -> int:
    """How many frames one step takes (`model.stream_frames`): 1, or 2 for frame pairs."""
    return int(model.stream_frames)


def _numpy(value):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value))


def stream_layout(model) -> dict:
    """`{"frames_per_step", "states": {name: {"shape": [...], "fill": value}}}` of a streaming
    model: each state's shape without the batch axis and its (constant) start value.

    Raises StreamingExportError for a model that does not stream, a state above 4-D or a start
    value that is not one constant (it could not be recorded in the metadata).
    """
    name = getattr(model, "name", model)
    try:
        step_frames = frames_per_step(model)
    except AttributeError:
        raise StreamingExportError(
            f"model {name!r} does not stream: streaming export needs a causal tfvideo "
            "VideoClassifier (e.g. tsm_causal_tiny, or causal=True)"
        ) from None
    except ValueError as error:  # the model names why it cannot stream
        raise StreamingExportError(str(error)) from None
    states = {}
    for key, value in model.init_states(1).items():
        value = _numpy(value)
        if value.ndim > MAX_STATE_RANK:
            raise StreamingExportError(
                f"model {name!r}: state {key!r} is {value.ndim}-D {list(value.shape)}; streaming "
                f"export allows at most {MAX_STATE_RANK}-D states (GPU delegates and LiteRT)"
            )
        flat = value.reshape(-1)
        if flat.size and not np.all(flat == flat[0]):
            raise StreamingExportError(
                f"model {name!r}: the start value of state {key!r} is not one constant"
            )
        if key in (FRAME_INPUT, LOGITS_OUTPUT):
            raise StreamingExportError(f"model {name!r}: a state may not be named {key!r}")
        states[key] = {
            "shape": [int(s) for s in value.shape[1:]],
            "fill": float(flat[0]) if flat.size else 0.0,
        }
    return {"frames_per_step": step_frames, "states": dict(sorted(states.items()))}


def with_stream_layout(metadata: ExportMetadata, model) -> ExportMetadata:
    """`metadata` with `extra["streaming"]` set to the model's `stream_layout`."""
    return dataclasses.replace(
        metadata, extra={**metadata.extra, "streaming": stream_layout(model)}
    )


def initial_states(layout, batch_size=1) -> dict:
    """The start states of a recorded `stream_layout` (float32 arrays with a batch axis)."""
    return {
        key: np.full((batch_size, *state["shape"]), state["fill"], np.float32)
        for key, state in layout["states"].items()
    }


def frame_shape(metadata) -> tuple:
    """The shape of one step's frames without the batch axis: `(h, w, 3)` or `(2, h, w, 3)`."""
    k = metadata.extra["streaming"]["frames_per_step"]
    size = (*metadata.input_size, 3)
    return size if k == 1 else (k, *size)


def step_signature_specs(metadata, batch_size=1, frame_dtype=tf.float32, frame_size=None) -> dict:
    """TensorSpecs of one step's inputs: `frames` and every state (batch `batch_size`, None
    for any). `frame_size=(None, None)` leaves the frame's height and width open."""
    shape = frame_shape(metadata)
    if frame_size is not None:
        shape = (*shape[:-3], *frame_size, 3)
    specs = {FRAME_INPUT: tf.TensorSpec([batch_size, *shape], frame_dtype, name=FRAME_INPUT)}
    for key, state in metadata.extra["streaming"]["states"].items():
        specs[key] = tf.TensorSpec([batch_size, *state["shape"]], tf.float32, name=key)
    return specs


def step_outputs(model, inputs, batch_size=1):
    """`{"logits", **new_states}` (float32) of one step of `model.streaming_model(batch_size)`
    on a dict of named inputs (in a `tf.function`)."""
    outputs = model.streaming_model(batch_size)(inputs, training=False)
    return {k: tf.cast(v, tf.float32) for k, v in outputs.items()}


def keras_steps(model, clip):
    """Steps a Keras model through `clip` `[T, h, w, 3]` from its start states: yields
    `(inputs, logits)` for each step, `inputs` the named step inputs (NumPy, batch 1)."""
    k = frames_per_step(model)
    states = {key: _numpy(v) for key, v in model.init_states(1).items()}
    clip = np.asarray(clip, np.float32)
    for start in range(0, len(clip) - k + 1, k):
        frame = clip[start] if k == 1 else clip[start : start + k]
        inputs = {FRAME_INPUT: frame[np.newaxis], **states}
        logits, new_states = model.stream_step(inputs[FRAME_INPUT], states)
        states = {key: _numpy(v) for key, v in new_states.items()}
        yield inputs, _numpy(logits)[0]


def representative_steps(model, clips, metadata, limit=None):
    """A converter `representative_dataset` for the streaming model: the inputs of every step
    of `model` run through each clip (the states that real clips carry), `limit` clips at most.
    Frames of another size are resized and cropped like at evaluation."""
    from tfvideo.export.tflite import calibration_clips

    def generate():
        for clip in calibration_clips(clips, metadata, limit):
            for inputs, _ in keras_steps(model, clip):
                yield {key: np.asarray(v, np.float32) for key, v in inputs.items()}

    return generate


def _step_saved_model(model, metadata, directory):
    """A plain SavedModel with the one signature `stream_step` (Keras ExportArchive, whose
    variables the converter freezes into constants)."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        STREAM_SIGNATURE,
        lambda inputs: step_outputs(model, inputs, batch_size=1),
        input_signature=[step_signature_specs(metadata)],
    )
    archive.write_out(directory, verbose=False)
    return directory


def convert_streaming(
    model, metadata, quantize="none", representative_clips=None, num_calibration_clips=100
) -> bytes:
    """The streaming `.tflite` flatbuffer (bytes, metadata not embedded); `metadata` must carry
    the stream layout (`with_stream_layout`)."""
    from tfvideo.export import tflite

    if quantize not in tflite.QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {tflite.QUANTIZATIONS}, got {quantize!r}")
    require_tensorflow_backend("TFLite export")
    dataset = None
    if quantize == "int8" and representative_clips is not None:
        dataset = representative_steps(model, representative_clips, metadata, num_calibration_clips)
    with tempfile.TemporaryDirectory(prefix="tfvideo-tflite-stream-") as directory:
        converter = tf.lite.TFLiteConverter.from_saved_model(
            _step_saved_model(model, metadata, directory), signature_keys=[STREAM_SIGNATURE]
        )
        return tflite.convert_with(converter, metadata, quantize, dataset)


def export_streaming_tflite(
    source,
    output_path,
    quantize="none",
    representative_clips=None,
    num_calibration_clips=100,
    class_names=None,
    metadata=None,
    **metadata_fields,
) -> str:
    """Writes the single-step `.tflite` model of a causal classifier (atomically); returns the
    path. Arguments as in `tfvideo.export.export_tflite`; int8 calibrates on the states that
    `representative_clips` carry, step by step."""
    from tfvideo.export.tflite import embed_metadata

    if metadata is None:
        model, metadata = load_source(source, class_names=class_names, **metadata_fields)
    else:
        model = load_source(source)[0] if isinstance(source, (str, os.PathLike)) else source
    metadata = with_stream_layout(metadata, model)
    flatbuffer = convert_streaming(
        model, metadata, quantize, representative_clips, num_calibration_clips
    )
    metadata = dataclasses.replace(
        metadata, extra={**metadata.extra, "tflite_quantization": quantize}
    )
    atomic_write_text(output_path, embed_metadata(flatbuffer, metadata))
    return output_path


# ----------------------------------------------------------------------------- runners
class Stepper:
    """Steps an exported or Keras streaming model, keeping its states.

    `prepare(frame)` turns one decoded frame (uint8 `[H, W, 3]`) into the model's input: its
    short side resized to `metadata.short_side`, then centre-cropped to `metadata.input_size`,
    as in evaluation. `step(frames)` takes one step's prepared frames stacked without the batch
    axis (`frame_shape`) and returns the logits `[classes]`; `reset()` starts a new stream.
    `metadata` is the artifact's `ExportMetadata` (with its layout).
    """

    kind = None

    def __init__(self, metadata):
        self.metadata = metadata
        self.layout = metadata.extra["streaming"]
        self.reset()

    @property
    def frames_per_step(self) -> int:
        return self.layout["frames_per_step"]

    def reset(self):
        self.states = initial_states(self.layout)

    def prepare(self, frame) -> np.ndarray:
        from tfvideo.export.preprocessing import eval_crop

        meta = self.metadata
        return eval_crop(np.asarray(frame)[np.newaxis], meta.input_size, meta.short_side)[0].numpy()

    def _run(self, frame, states):
        raise NotImplementedError

    def step(self, frames) -> np.ndarray:
        frame = np.asarray(frames, np.float32)[np.newaxis]
        logits, self.states = self._run(frame, self.states)
        return np.asarray(logits, np.float32)[0]


class KerasStepper(Stepper):
    """Steps a Keras causal `VideoClassifier` (its own `stream_step`)."""

    kind = "keras"

    def __init__(self, model, metadata=None):
        from tfvideo.export.source import metadata_for_model

        self.model = model
        super().__init__(with_stream_layout(metadata or metadata_for_model(model), model))

    def reset(self):
        self.states = {k: _numpy(v) for k, v in self.model.init_states(1).items()}

    def _run(self, frame, states):
        logits, states = self.model.stream_step(frame, states)
        return _numpy(logits), {k: _numpy(v) for k, v in states.items()}


class TFLiteStepper(Stepper):
    """Steps a streaming `.tflite` model (signature `stream_step`) with LiteRT; falls back to
    the builtin kernels where XNNPACK rejects the graph (`delegate` says which runs)."""

    kind = "tflite"

    def __init__(self, path, num_threads=None):
        from tfvideo.export.tflite import read_tflite_metadata

        metadata = read_tflite_metadata(path)
        if "streaming" not in metadata.extra:
            raise ValueError(
                f"{path}: not a streaming .tflite model (export it with "
                "`tfvideo export --format tflite --streaming`)"
            )
        self.path = path
        super().__init__(metadata)
        litert = require("ai_edge_litert.interpreter", f"running the TFLite model {path}")
        zeros = {FRAME_INPUT: np.zeros((1, *frame_shape(metadata)), np.float32), **self.states}
        for resolver, delegate in (
            (litert.OpResolverType.AUTO, "xnnpack"),
            (litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, "builtin"),
        ):
            try:
                self.interpreter = litert.Interpreter(
                    model_path=path, num_threads=num_threads, experimental_op_resolver_type=resolver
                )
                self._runner = self.interpreter.get_signature_runner(STREAM_SIGNATURE)
                self._runner(**zeros)
                self.delegate = delegate
                break
            except RuntimeError:
                if delegate == "builtin":
                    raise

    def _run(self, frame, states):
        out = self._runner(**{FRAME_INPUT: frame}, **states)
        return out[LOGITS_OUTPUT], {k: out[k] for k in states}


class SavedModelStepper(Stepper):
    """Steps a SavedModel's `stream_step` signature as a TF Serving client does: raw uint8
    frames in (the signature resizes and crops them), the states kept by the client."""

    kind = "saved_model"

    def __init__(self, path):
        from tfvideo.export.saved_model import read_saved_model_metadata

        metadata = read_saved_model_metadata(path)
        loaded = tf.saved_model.load(path)
        if STREAM_SIGNATURE not in loaded.signatures or "streaming" not in metadata.extra:
            raise ValueError(f"{path}: the SavedModel has no {STREAM_SIGNATURE} signature")
        self.path = path
        self._loaded = loaded
        self._step = loaded.signatures[STREAM_SIGNATURE]
        super().__init__(metadata)

    def prepare(self, frame) -> np.ndarray:
        return np.asarray(frame, np.uint8)

    def step(self, frames) -> np.ndarray:
        logits, self.states = self._run(np.asarray(frames, np.uint8)[np.newaxis], self.states)
        return np.asarray(logits, np.float32)[0]

    def _run(self, frame, states):
        feed = {k: tf.constant(v) for k, v in states.items()}
        out = self._step(**{FRAME_INPUT: tf.constant(frame)}, **feed)
        return out[LOGITS_OUTPUT].numpy(), {k: out[k].numpy() for k in states}


def load_stepper(model_or_path, num_threads=None) -> Stepper:
    """A `Stepper` for a Keras streaming model, a `.keras` file or training directory, a
    streaming `.tflite` file or a SavedModel (or TF Serving base directory) with `stream_step`."""
    if not isinstance(model_or_path, (str, os.PathLike)):
        return KerasStepper(model_or_path)
    path = os.fspath(model_or_path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such model file or directory")
    if path.endswith(".tflite"):
        return TFLiteStepper(path, num_threads)
    if os.path.isdir(path):
        from tfvideo.export.predict import resolve_saved_model_dir

        saved = resolve_saved_model_dir(path)
        if saved:
            return SavedModelStepper(saved)
    model, metadata = load_source(path)
    return KerasStepper(model, metadata)
