"""The serving signatures of an exported video classifier: one per input type.

`ServingModule` wraps a Keras model (TensorFlow backend) in a `tf.Module` with four
`tf.function`s, saved as SavedModel signatures:

- `serving_default`: uint8 frames `[batch, T, H, W, 3]` (input `frames`). Frames of the model's
  input size pass unchanged; others are resized (short side to `short_side`) and centre-cropped.
- `encoded_frames`: encoded images `[batch, T]` (input `encoded_frames`, strings; b64 over REST),
  decoded, resized and cropped in the graph.
- `tf_example`: serialized SequenceExamples `[batch]` (input `examples`) in tfvideo's TFRecord
  format (`image/encoded` feature list); the evaluation sampling picks the frames.
- `metadata`: no input; returns the `ExportMetadata` JSON (`metadata`).
- `features` (models with a `backbone`, i.e. every `VideoClassifier`): uint8 `frames` as in
  `serving_default`; returns the pooled backbone features `features`, float32 `[batch, C]`.
- `stream_step` (causal models only, `tfvideo.export.streaming`): one step of a stream, uint8
  `frames` `[batch, H, W, 3]` (`[batch, 2, H, W, 3]` for models that step by frame pairs; resized
  and cropped like `serving_default`) and the named float32 states in; the classifying outputs
  of that frame and the new states (same names) out. The client keeps the states between
  requests, starting from the values the metadata's `extra["streaming"]` records.

The classifying signatures return `logits`, `probabilities` (float32 `[batch, classes]`),
`top_k_indices` (int32 `[batch, k]`) and `top_k_labels` (string `[batch, k]`). Class names live in
the asset `labels.txt`, read by a lookup table; the metadata JSON is the asset
`tfvideo_metadata.json`.

Example:
    >>> import keras, tensorflow as tf
    >>> from tfvideo.export import ExportMetadata, ServingModule
    >>> inputs = keras.Input((4, 32, 32, 3))
    >>> logits = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling3D()(inputs))
    >>> meta = ExportMetadata("toy", ["a", "b", "c"], num_frames=4, input_size=32, top_k=2)
    >>> module = ServingModule(keras.Model(inputs, logits), meta, assets_dir="/tmp/toy_assets")
    >>> out = module.serving_default(tf.zeros((1, 4, 48, 64, 3), tf.uint8))
    >>> sorted(out), out["top_k_labels"].shape
    (['logits', 'probabilities', 'top_k_indices', 'top_k_labels'], TensorShape([1, 2]))
"""

import os

import keras
import tensorflow as tf

from tfvideo._atomic import atomic_write_text
from tfvideo.export import preprocessing, streaming
from tfvideo.export.metadata import LABELS_FILENAME, METADATA_FILENAME
from tfvideo.export.source import require_tensorflow_backend

SIGNATURE_INPUTS = {
    "serving_default": "frames",
    "encoded_frames": "encoded_frames",
    "tf_example": "examples",
}
CLASSIFY_OUTPUTS = ("logits", "probabilities", "top_k_indices", "top_k_labels")


class _Holder:
    """Keeps a Python reference out of TensorFlow's object tracking."""

    __slots__ = ("model", "backbone")

    def __init__(self, model):
        self.model = model
        self.backbone = None


class ServingModule(tf.Module):
    """A `tf.Module` serving a Keras video classifier with one signature per input type.

    Args:
        model: a Keras model (TensorFlow backend) mapping float `[B, T, h, w, 3]` clips in
            [0, 255] to logits `[B, num_classes]`.
        metadata: the model's `ExportMetadata` (frames, input size, sampling, class names, k).
        assets_dir: a directory where the label and metadata files are written; the SavedModel
            copies them into its `assets/`.
    """

    def __init__(self, model, metadata, assets_dir):
        super().__init__(name="tfvideo_serving")
        require_tensorflow_backend("SavedModel export")
        output_classes = model.output_shape[-1] if hasattr(model, "output_shape") else None
        if output_classes is not None and output_classes != metadata.num_classes:
            raise ValueError(
                f"the model outputs {output_classes} logits but metadata names "
                f"{metadata.num_classes} classes"
            )
        if streaming.is_streaming(model) and "streaming" not in metadata.extra:
            metadata = streaming.with_stream_layout(metadata, model)
        # A plain holder, so that tf.saved_model.save does not walk the Keras model (and its
        # optimizer state): only the variables listed below are saved.
        self._holder = _Holder(model)
        self._meta = metadata
        # Track the Keras variables explicitly so that tf.saved_model.save stores them.
        self.model_variables = list(model.variables)
        labels_path = os.path.join(assets_dir, LABELS_FILENAME)
        meta_path = os.path.join(assets_dir, METADATA_FILENAME)
        atomic_write_text(labels_path, "\n".join(metadata.class_names) + "\n")
        metadata.write(meta_path)
        self.labels_asset = tf.saved_model.Asset(labels_path)
        self.metadata_asset = tf.saved_model.Asset(meta_path)
        self.labels_table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.labels_asset,
                key_dtype=tf.int64,
                key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
                value_dtype=tf.string,
                value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
            ),
            default_value="",
        )
        t = metadata.num_frames
        self.serving_default = tf.function(
            self._serve_frames,
            input_signature=[tf.TensorSpec([None, t, None, None, 3], tf.uint8, name="frames")],
        )
        self.encoded_frames = tf.function(
            self._serve_encoded,
            input_signature=[tf.TensorSpec([None, t], tf.string, name="encoded_frames")],
        )
        self.tf_example = tf.function(
            self._serve_examples,
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
        )
        self.metadata = tf.function(self._serve_metadata, input_signature=[])
        backbone = getattr(model, "backbone", None)  # a VideoClassifier's pooled features
        if isinstance(backbone, keras.Model):
            self._holder.backbone = backbone
            self.features = tf.function(
                self._serve_features,
                input_signature=[tf.TensorSpec([None, t, None, None, 3], tf.uint8, name="frames")],
            )
        if "streaming" in metadata.extra:
            specs = streaming.step_signature_specs(
                metadata, batch_size=None, frame_dtype=tf.uint8, frame_size=(None, None)
            )
            self.stream_step = tf.function(self._serve_stream_step, input_signature=[specs])

    @property
    def export_metadata(self):
        return self._meta

    def signatures(self) -> dict:
        """Concrete functions keyed by signature name, for `tf.saved_model.save`."""
        functions = {
            "serving_default": self.serving_default.get_concrete_function(),
            "encoded_frames": self.encoded_frames.get_concrete_function(),
            "tf_example": self.tf_example.get_concrete_function(),
            "metadata": self.metadata.get_concrete_function(),
        }
        if hasattr(self, "features"):
            functions["features"] = self.features.get_concrete_function()
        if hasattr(self, "stream_step"):
            functions[streaming.STREAM_SIGNATURE] = self.stream_step.get_concrete_function()
        return functions

    def _classify(self, clips):
        """float32 clips `[B, T, h, w, 3]` -> the output dictionary."""
        return self._outputs(tf.cast(self._holder.model(clips, training=False), tf.float32))

    def _outputs(self, logits):
        """Logits `[B, classes]` -> the classifying outputs."""
        # the metadata's `scores`, in the graph
        if self._meta.multi_label:
            probabilities = tf.math.sigmoid(logits)
        else:
            probabilities = tf.nn.softmax(logits, axis=-1)
        _, top_k_indices = tf.math.top_k(probabilities, k=self._meta.top_k)
        labels = self.labels_table.lookup(tf.cast(top_k_indices, tf.int64))
        return {
            "logits": logits,
            "probabilities": probabilities,
            "top_k_indices": tf.cast(top_k_indices, tf.int32),
            "top_k_labels": labels,
        }

    def _clips_from_frames(self, frames):
        meta = self._meta
        shape = tf.shape(frames)
        flat = tf.reshape(frames, tf.concat([[-1], shape[2:]], axis=0))
        flat = tf.ensure_shape(flat, [None, None, None, 3])
        frames = preprocessing.fit_frames(flat, meta.input_size, meta.short_side)
        return tf.reshape(frames, [-1, meta.num_frames, *meta.input_size, 3])

    def _serve_frames(self, frames):
        return self._classify(self._clips_from_frames(frames))

    def _serve_encoded(self, encoded_frames):
        meta = self._meta
        frames = preprocessing.decode_frames(
            tf.reshape(encoded_frames, [-1]), meta.input_size, meta.short_side
        )
        return self._classify(tf.reshape(frames, [-1, meta.num_frames, *meta.input_size, 3]))

    def _serve_examples(self, examples):
        meta = self._meta
        clips = tf.map_fn(
            lambda s: preprocessing.parse_sequence_example(s, meta),
            examples,
            fn_output_signature=tf.TensorSpec([meta.num_frames, *meta.input_size, 3], tf.float32),
        )
        return self._classify(clips)

    def _serve_stream_step(self, inputs):
        meta = self._meta
        frame = inputs[streaming.FRAME_INPUT]
        shape = tf.shape(frame)
        flat = tf.ensure_shape(
            tf.reshape(frame, tf.concat([[-1], shape[-3:]], 0)), [None] * 3 + [3]
        )
        flat = preprocessing.fit_frames(flat, meta.input_size, meta.short_side)
        step_shape = streaming.frame_shape(meta)
        inputs = {**inputs, streaming.FRAME_INPUT: tf.reshape(flat, [-1, *step_shape])}
        out = streaming.step_outputs(self._holder.model, inputs, batch_size=None)
        logits = out.pop(streaming.LOGITS_OUTPUT)
        return {**self._outputs(logits), **out}

    def _serve_features(self, frames):
        clips = self._clips_from_frames(frames)
        return {"features": tf.cast(self._holder.backbone(clips, training=False), tf.float32)}

    def _serve_metadata(self):
        return {"metadata": tf.io.read_file(self.metadata_asset)}
