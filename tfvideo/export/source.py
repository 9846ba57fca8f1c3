"""Finding the model to export and its `ExportMetadata`: a Keras model, a `.keras` file or a
training output directory.

Example:
    >>> import keras
    >>> from tfvideo.export.source import metadata_for_model
    >>> inputs = keras.Input((4, 32, 32, 3))
    >>> model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    >>> meta = metadata_for_model(model, model_name="toy")
    >>> meta.num_frames, meta.input_size, meta.class_names
    (4, (32, 32), ['0', '1', '2'])
"""

import dataclasses
import glob
import json
import os

from tfvideo.export.metadata import METADATA_FILENAME, ExportMetadata, sampler_config

CLASSES_FILENAMES = ("classes.json", "class_names.json", "labels.txt")
MODEL_FILENAMES = ("model.keras", "final.keras", "best.keras")


def read_class_names(path: str) -> list:
    """Class names from a `.txt` (one per line) or `.json` file.

    JSON may be a list, `{"class_names"|"classes"|"labels": [...]}` or `{"0": name, ...}`.
    """
    if path.endswith(".txt"):
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\r\n") for line in f if line.strip()]
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict):
        for key in ("class_names", "classes", "labels"):
            if key in data:
                return read_class_names_from(data[key], path)
        if data and all(str(k).isdigit() for k in data):
            return [data[k] for k in sorted(data, key=int)]
        raise ValueError(f"{path}: no class_names/classes/labels list in the JSON")
    return read_class_names_from(data, path)


def read_class_names_from(value, path):
    if not isinstance(value, list):
        raise ValueError(f"{path}: class names must be a list, got {type(value).__name__}")
    return [str(v) for v in value]


def require_tensorflow_backend(what):
    """Raises a ValueError unless Keras runs on TensorFlow (SavedModel and TFLite need it)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"{what} needs the TensorFlow backend (KERAS_BACKEND=tensorflow), not "
            f"{keras.backend.backend()!r}"
        )


def metadata_for_model(model, class_names=None, model_name=None, **overrides) -> ExportMetadata:
    """Builds the `ExportMetadata` of a Keras clip classifier.

    Frames and input size come from the model's input shape `[B, T, H, W, 3]`; the name, class
    names, sampling and short side from its `spec` (a tfvideo `VideoClassifier`), or "segments"
    sampling and class names `"0" .. "C-1"` for another Keras model. `overrides` set any other
    field.
    """
    shape = tuple(model.input_shape)
    if len(shape) != 5 or None in shape[1:4]:
        raise ValueError(
            f"the model must take clips [batch, T, H, W, 3] with static T, H, W; "
            f"its input shape is {shape}"
        )
    num_classes = model.output_shape[-1]
    spec = getattr(model, "spec", None)
    fields = dict(
        model_name=model.name,
        num_frames=shape[1],
        input_size=(shape[2], shape[3]),
        class_names=[str(i) for i in range(num_classes)],
        sampling="segments",
    )
    if spec is not None:
        fields.update(
            model_name=spec.name,
            class_names=spec.labels,
            multi_label=spec.multi_label,
            short_side=spec.short_side,
            sampling=sampler_config(spec.sampling, spec.num_frames, spec.frame_interval),
        )
    if model_name:
        fields["model_name"] = model_name
    if class_names is not None:
        fields["class_names"] = list(class_names)
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return ExportMetadata(**fields)


def _find_beside(directory, names):
    for name in names:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def find_keras_file(directory: str) -> str:
    """The `.keras` file of a training output directory."""
    path = _find_beside(directory, MODEL_FILENAMES)
    if path:
        return path
    found = sorted(glob.glob(os.path.join(directory, "*.keras")))
    if not found:
        raise FileNotFoundError(f"{directory}: no .keras model in this directory")
    if len(found) > 1:
        raise ValueError(f"{directory}: several .keras files ({', '.join(found)}); pass one")
    return found[0]


def load_keras_model(path: str):
    """Loads a `.keras` file with tfvideo's layers and models registered."""
    import keras

    import tfvideo.layers  # noqa: F401  (registers the serializable classes)
    import tfvideo.models  # noqa: F401
    from tfvideo.models.registry import _load_families

    _load_families()
    return keras.saving.load_model(path, compile=False)


def stored_metadata(keras_path: str):
    """The metadata dict and class names saved beside a `.keras` file, or one directory up (for
    a run's `checkpoints/`); either may be None."""
    directory = os.path.dirname(os.path.abspath(keras_path))
    meta, class_names = None, None
    for candidate in (directory, os.path.dirname(directory)):
        meta_path = _find_beside(candidate, (METADATA_FILENAME,))
        classes_path = _find_beside(candidate, CLASSES_FILENAMES)
        if meta_path or classes_path:
            if meta_path:
                with open(meta_path, encoding="utf-8") as f:
                    meta = json.load(f)
            if classes_path:
                class_names = read_class_names(classes_path)
            break
    return meta, class_names


def load_source(source, class_names=None, model_name=None, **overrides):
    """`(keras_model, ExportMetadata)` from a Keras model, a `.keras` file or a training directory.

    Metadata beside the `.keras` file (`tfvideo_metadata.json`, `classes.json`) is used; explicit
    arguments win over it.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            path = find_keras_file(path)
        elif not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such model file or directory")
        elif not path.endswith(".keras"):
            raise ValueError(f"{path}: expected a .keras file or a training output directory")
        model = load_keras_model(path)
        stored, stored_classes = stored_metadata(path)
        known = {f.name for f in dataclasses.fields(ExportMetadata)}
        fields = {k: v for k, v in (stored or {}).items() if k in known}
        if stored_classes and "class_names" not in fields:
            fields["class_names"] = stored_classes
        if class_names is not None:
            fields["class_names"] = class_names
        if model_name:
            fields["model_name"] = model_name
        fields.update({k: v for k, v in overrides.items() if v is not None})
        name = fields.pop("model_name", None)
        names = fields.pop("class_names", None)
        fields.pop("num_frames", None)
        fields.pop("input_size", None)
        fields.pop("format_version", None)
        return model, metadata_for_model(model, names, name, **fields)
    return source, metadata_for_model(source, class_names, model_name, **overrides)
