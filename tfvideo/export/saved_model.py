"""Export to TF Serving's layout: `<export_dir>/<name>/<version>/` with `saved_model.pb`,
`variables/`, `assets/` (labels, metadata) and `assets.extra/tf_serving_warmup_requests`.

The version is the next integer after the existing ones (or the one asked for, which must not
exist). The SavedModel is written into a hidden temporary directory beside the versions and renamed
into place, so TF Serving never sees a half-written version and nothing is overwritten.

Example:
    >>> import keras
    >>> from tfvideo.export import export_saved_model
    >>> inputs = keras.Input((4, 32, 32, 3))
    >>> model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    >>> path = export_saved_model(model, "/tmp/demo_models", name="toy",
    ...                           class_names=["a", "b", "c"])
    >>> path.startswith("/tmp/demo_models/toy/")
    True
"""

import os
import re
import shutil
import tempfile
import uuid

import tensorflow as tf

from tfvideo.export import warmup
from tfvideo.export.metadata import METADATA_FILENAME, ExportMetadata
from tfvideo.export.signatures import ServingModule
from tfvideo.export.source import load_source

_VERSION = re.compile(r"^\d+$")


def existing_versions(model_dir: str) -> list:
    """Sorted integer versions under a TF Serving model directory (empty if none)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(n)
        for n in os.listdir(model_dir)
        if _VERSION.match(n) and os.path.isdir(os.path.join(model_dir, n))
    )


def next_version(model_dir: str) -> int:
    """One more than the largest existing version, or 1."""
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def _safe_name(name: str) -> str:
    if not name or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
        raise ValueError(
            f"model name {name!r} must be letters, digits, '.', '_' or '-' "
            "(it becomes a directory name)"
        )
    return name


def write_saved_model(model, metadata: ExportMetadata, path: str, warmup_requests=True) -> str:
    """Writes the SavedModel of `model` with its signatures, assets and warmup file to `path`.

    `path` must not exist. `warmup_requests`: True (one random request per signature), False, or
    a list of `(signature_name, {input: array})`.
    """
    if os.path.exists(path):
        raise FileExistsError(f"{path} already exists; refusing to overwrite it")
    staging = tempfile.mkdtemp(prefix="tfvideo-assets-")
    try:
        module = ServingModule(model, metadata, staging)
        tf.saved_model.save(
            module,
            path,
            signatures=module.signatures(),
            options=tf.saved_model.SaveOptions(save_debug_info=False),
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    metadata = module.export_metadata  # with the stream layout of a causal model
    if warmup_requests:
        requests = warmup.default_requests(metadata) if warmup_requests is True else warmup_requests
        warmup.write_warmup_requests(path, requests, model_name=metadata.model_name)
    return path


def export_saved_model(
    source,
    export_dir="saved_models",
    name=None,
    version=None,
    class_names=None,
    metadata=None,
    warmup_requests=True,
    **metadata_fields,
) -> str:
    """Exports a model to `<export_dir>/<name>/<version>/` and returns that path.

    Args:
        source: a Keras model, a `.keras` file or a training output directory.
        export_dir: the TF Serving model base directory's parent.
        name: the served model's name (default: the metadata's `model_name`).
        version: an explicit integer version (must not exist); default: the next one.
        class_names: class names in logit order (default: those stored with the model).
        metadata: a complete `ExportMetadata` (then `class_names`/`metadata_fields` are unused).
        warmup_requests: True, False or explicit requests (see `write_saved_model`).
        **metadata_fields: other `ExportMetadata` fields (e.g. `top_k=3`, `sampling="dense"`).
    """
    if metadata is None:
        model, metadata = load_source(source, class_names=class_names, **metadata_fields)
    else:
        model = load_source(source)[0] if isinstance(source, (str, os.PathLike)) else source
    name = _safe_name(name or metadata.model_name)
    model_dir = os.path.join(export_dir, name)
    os.makedirs(model_dir, exist_ok=True)
    if version is not None:
        version = int(version)
        if version <= 0:
            raise ValueError(f"version must be a positive integer, got {version}")
        if os.path.exists(os.path.join(model_dir, str(version))):
            raise FileExistsError(
                f"{os.path.join(model_dir, str(version))} already exists; "
                "versions are never overwritten"
            )
    tmp = os.path.join(model_dir, f".tmp-{uuid.uuid4().hex}")
    try:
        write_saved_model(model, metadata, tmp, warmup_requests)
        target_version = 0
        while True:
            target_version = (
                version if version is not None else max(next_version(model_dir), target_version + 1)
            )
            target = os.path.join(model_dir, str(target_version))
            if not os.path.exists(target):
                try:
                    # Atomic; fails (ENOTEMPTY/EEXIST) if another export took this version.
                    os.rename(tmp, target)
                    return target
                except OSError:
                    if not os.path.exists(target):
                        raise
            if version is not None:
                raise FileExistsError(f"{target} already exists; versions are never overwritten")
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def read_saved_model_metadata(path: str) -> ExportMetadata:
    """The `ExportMetadata` of an exported SavedModel directory (read from its assets)."""
    with open(os.path.join(path, "assets", METADATA_FILENAME), encoding="utf-8") as f:
        return ExportMetadata.from_json(f.read())
