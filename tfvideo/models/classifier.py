"""`VideoClassifier`: every tfvideo model, a functional `keras.Model` that carries its `ModelSpec`.

`tfvideo.models.create(name, ...)` returns one. Its config is its spec (keras-hub style: the
constructor arguments, not the graph), so `.keras` files and presets rebuild it from the registry
and then load the weights.

Example:
    >>> import numpy as np, tfvideo
    >>> model = tfvideo.models.create("tsm_tiny", num_classes=4, num_frames=4, input_size=32)
    >>> model.spec.family, model.spec.view_aggregation
    ('resnet', 'logits')
    >>> clips = np.zeros((2, 4, 32, 32, 3), "float32")
    >>> model.extract_features(clips).shape          # pooled backbone features
    (2, 512)
    >>> model.reset_head(7).spec.num_classes          # a new head, the backbone's weights kept
    7
"""

import datetime
import json
import os

import keras
import numpy as np
from keras import layers

from tfvideo.layers._common import serializable
from tfvideo.models import common, streaming
from tfvideo.models.spec import ModelSpec

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
PRESET_SCHEMES = ("hf://", "kaggle://")


def _build_network(spec):
    from tfvideo.models import registry

    entry = registry.get_entry(spec.name)
    height, width = spec.input_size
    return entry.builder(
        num_classes=spec.num_classes,
        num_frames=spec.num_frames,
        input_size=height if height == width else (height, width),
        mean=spec.mean,
        std=spec.std,
        **spec.options,
    )


def _pooled_features(network, spec):
    """The `[B, C]` feature tensor the classifier reads (pooled over frames and space)."""
    head = spec.head
    layer = network.get_layer(head.features)
    x = layer.input if head.features_at == "input" else layer.output
    if head.folded_frames:
        x = common.UnfoldFrames(int(spec.num_frames * head.folded_frames), name="features_unfold")(
            x
        )
        x = common.TemporalMean(name="features_temporal_pool")(x)
    elif len(x.shape) == 5:
        x = layers.GlobalAveragePooling3D(name="features_pool")(x)
    return x


@serializable
class VideoClassifier(keras.Model):
    """A video model `[B, T, H, W, 3]` (uint8 or float in [0, 255]) -> logits, with its spec.

    Causal models (`causal=True`, `*_causal_tiny`) also stream: `init_states(batch_size)`,
    `stream_step(frames, states) -> (logits, states)`, `streaming_model(batch_size)` (the step
    as a `keras.Model`), `per_frame_logits(clips)` and `stream_frames`; the exact contract is
    in `tfvideo.models.streaming`.

    Args:
        spec: the `ModelSpec` (or its config dict) to build.
        include_top: False builds the backbone only: the output is the pooled feature `[B, C]`.
        name: the model's name (default: the spec's).
    """

    def __init__(self, spec, include_top=True, name=None, **kwargs):
        spec = ModelSpec.from_config(spec) if isinstance(spec, dict) else spec
        network = _build_network(spec)
        outputs = network.outputs[0] if include_top else _pooled_features(network, spec)
        super().__init__(
            inputs=network.inputs[0], outputs=outputs, name=name or network.name, **kwargs
        )
        self._spec = spec
        self.include_top = bool(include_top)

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    def get_config(self):
        return {
            "spec": self._spec.get_config(),
            "include_top": self.include_top,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def backbone(self) -> keras.Model:
        """The model up to the pooled features `[B, C]` (the same layers, shared weights)."""
        if not self.include_top:
            return self
        if "_backbone" not in self.__dict__:  # built once, untracked (not saved twice)
            object.__setattr__(
                self,
                "_backbone",
                keras.Model(
                    self.inputs[0], _pooled_features(self, self._spec), name=f"{self.name}_backbone"
                ),
            )
        return self.__dict__["_backbone"]

    def extract_features(self, clips, batch_size=8):
        """Pooled backbone features of `clips` `[N, T, H, W, 3]` as a NumPy array `[N, C]`."""
        backbone = self.backbone
        return np.concatenate(
            [
                keras.ops.convert_to_numpy(backbone(clips[i : i + batch_size], training=False))
                for i in range(0, len(clips), batch_size)
            ]
        )

    # Streaming (causal models; the API is documented in tfvideo/models/streaming.py).
    @property
    def stream_frames(self) -> int:
        """Frames per streaming step: 1, or 2 for bLVNet-TAM (a frame pair)."""
        return streaming.stream_frames(self)

    def state_shapes(self, batch_size=1) -> dict:
        """`{state name: shape}` of the streaming step, batch first, each at most 4-D."""
        return streaming.state_shapes(self, batch_size)

    def init_states(self, batch_size=1) -> dict:
        """Zero states that start a stream of `batch_size` videos."""
        return streaming.init_states(self, batch_size)

    def _cached(self, key, build, *args):
        # No lambdas here: under tf.function, AutoGraph converts a lambda from its source and
        # can pick the wrong one of two on neighbouring lines.
        cache = self.__dict__.setdefault("_streaming_cache", {})  # untracked, not saved
        if key not in cache:
            cache[key] = build(self, *args)
        return cache[key]

    def streaming_model(self, batch_size=1) -> keras.Model:
        """The one-step `keras.Model` `{"frames", **states} -> {"logits", **states}` over this
        model's layers (shared weights), static shapes for `batch_size`."""
        return self._cached(("stream", batch_size), streaming.streaming_model, batch_size)

    def stream_step(self, frames, states):
        """One step: `frames` `[B, H, W, 3]` (bLVNet-TAM `[B, 2, H, W, 3]`) and the states ->
        `(logits [B, num_classes], new_states)`."""
        step = self.streaming_model(int(keras.ops.shape(frames)[0]))
        inputs = {"frames": frames, **states}
        inputs = {k: keras.ops.convert_to_tensor(v, "float32") for k, v in inputs.items()}
        outputs = dict(step(inputs, training=False))
        return outputs.pop("logits"), outputs

    def per_frame_logits(self, clips):
        """The causal clip model's per-frame logits `[B, T / stream_frames, num_classes]`
        (their mean over frames is the clip logits)."""
        model = self._cached("per_frame", streaming.per_frame_model)
        return model(clips, training=False)

    def reset_head(self, num_classes, class_names=None) -> "VideoClassifier":
        """A new model with a fresh `num_classes` classifier and every other weight copied.

        Keras graphs cannot be rewired in place, so this returns the new model (timm's
        `reset_classifier`, keras-hub's new task on an old backbone).
        """
        spec = self._spec.replace(num_classes=int(num_classes), class_names=class_names)
        model = VideoClassifier(spec, include_top=self.include_top, name=self.name)
        copy_weights(self, model, skip=(spec.head.classifier,))
        return model

    def save_to_preset(self, preset_dir):
        """Writes a preset: `config.json`, `model.weights.h5` and `metadata.json` (keras-hub's
        file layout). `tfvideo.models.from_preset(preset_dir)` loads it."""
        from tfvideo import __version__
        from tfvideo._atomic import atomic_save, atomic_write_text

        os.makedirs(preset_dir, exist_ok=True)
        config = keras.saving.serialize_keras_object(self)
        atomic_write_text(os.path.join(preset_dir, CONFIG_FILE), json.dumps(config, indent=2))
        atomic_save(os.path.join(preset_dir, WEIGHTS_FILE), self.save_weights)
        metadata = {
            "keras_version": keras.__version__,
            "tfvideo_version": __version__,
            "parameter_count": int(self.count_params()),
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
            "spec": self._spec.get_config(),
        }
        atomic_write_text(os.path.join(preset_dir, METADATA_FILE), json.dumps(metadata, indent=2))
        return preset_dir


def copy_weights(source, target, skip=()):
    """Copies the weights of every layer of `target` that `source` has under the same name and
    with the same shapes, except the layers named in `skip`; returns the copied layer names."""
    copied = []
    for layer in target.layers:
        if layer.name in skip or not layer.weights:
            continue
        try:
            other = source.get_layer(layer.name)
        except ValueError:
            continue
        values = other.get_weights()
        if [tuple(w.shape) for w in layer.weights] == [v.shape for v in values]:
            layer.set_weights(values)
            copied.append(layer.name)
    return copied


def _preset_file(preset, filename):
    if preset.startswith(PRESET_SCHEMES):
        try:
            from keras_hub.src.utils.preset_utils import get_file
        except ImportError as error:
            from tfvideo._optional import MissingDependencyError

            raise MissingDependencyError(
                f"loading the preset {preset} needs keras-hub, which is not installed "
                "(pip install keras-hub)"
            ) from error
        return get_file(preset, filename)
    path = os.path.join(preset, filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{preset}: not a tfvideo preset (no {filename})")
    return path


def from_preset(preset, load_weights=True) -> VideoClassifier:
    """Loads a preset written by `save_to_preset` or `tfvideo convert --preset`.

    `preset` is a local directory, or an `hf://` / `kaggle://` handle (fetched through
    keras-hub's loaders when keras-hub is installed).
    """
    with open(_preset_file(preset, CONFIG_FILE), encoding="utf-8") as f:
        config = json.load(f)
    model = keras.saving.deserialize_keras_object(config)
    if not isinstance(model, VideoClassifier):
        raise ValueError(
            f"{preset}: the preset holds a {type(model).__name__}, not a tfvideo VideoClassifier"
        )
    if load_weights:
        model.load_weights(_preset_file(preset, WEIGHTS_FILE))
    return model


def spec_of(model) -> ModelSpec:
    """The `ModelSpec` of a tfvideo model; a clear error for any other Keras model."""
    spec = getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise ValueError(
            f"model {getattr(model, 'name', model)!r} is not a tfvideo "
            "VideoClassifier (build it with tfvideo.models.create or load a preset)"
        )
    return spec
