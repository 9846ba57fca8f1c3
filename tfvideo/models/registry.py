"""Registry of named model configurations (timm-style: one builder per name).

Example:
    >>> import tfvideo
    >>> model = tfvideo.models.create("tsm_tiny", num_classes=10)
    >>> "tsm_r50" in tfvideo.models.available()
    True
"""

import dataclasses
from collections.abc import Callable
from typing import Any

_REGISTRY: dict[str, "ModelEntry"] = {}


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A named configuration: its builder, family and default arguments."""

    name: str
    family: str
    builder: Callable[..., Any]
    defaults: dict


def register(
    name: str,
    *,
    family: str,
    num_classes: int = 400,
    num_frames: int = 8,
    input_size: int = 224,
    sampling: str = "segments",
    **defaults,
):
    """Decorator that registers `builder(num_classes, num_frames, input_size, **options)`.

    Extra keyword arguments are builder options with new defaults for this name (e.g.
    `depth=101`). `sampling` ("segments" or "dense") says how clips for it are sampled.
    """

    def wrap(builder):
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = ModelEntry(
            name=name,
            family=family,
            builder=builder,
            defaults=dict(
                num_classes=num_classes,
                num_frames=num_frames,
                input_size=input_size,
                sampling=sampling,
                **defaults,
            ),
        )
        return builder

    return wrap


def _load_families():
    # Importing the family modules registers their builders.
    from tfvideo.models import _families  # noqa: F401


def available(family: str | None = None) -> list[str]:
    """Sorted names of the registered configurations (optionally of one family)."""
    _load_families()
    return sorted(n for n, e in _REGISTRY.items() if family is None or e.family == family)


def get_entry(name: str) -> ModelEntry:
    _load_families()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name]


def defaults(name: str) -> dict:
    """Default arguments of a configuration (num_classes, num_frames, input_size, ...)."""
    return dict(get_entry(name).defaults)


def default_spec(
    name: str,
    num_classes: int | None = None,
    num_frames: int | None = None,
    input_size=None,
    class_names=None,
    **options,
):
    """The `ModelSpec` that `create` builds for these arguments (nothing is built).

    Arguments left as None take the configuration's defaults; `options` are builder options
    (`mean`/`std` set the normalisation, `sampling` the evaluation sampling, `multi_label`
    sigmoid scores).
    """
    from tfvideo.models.spec import ModelSpec

    entry = get_entry(name)
    args = {**entry.defaults, **options}
    for key, value in dict(
        num_classes=num_classes, num_frames=num_frames, input_size=input_size
    ).items():
        if value is not None:
            args[key] = value
    if class_names is not None and num_classes is None:
        args["num_classes"] = len(class_names)
    fields = {
        key: args.pop(key)
        for key in ("num_classes", "num_frames", "input_size", "mean", "std", "sampling")
    }
    for key in ("frame_interval", "short_side", "view_aggregation", "multi_label"):
        if key in args:
            fields[key] = args.pop(key)
    return ModelSpec(
        name=name, family=entry.family, class_names=class_names, options=args, **fields
    )


def create(
    name: str,
    num_classes: int | None = None,
    num_frames: int | None = None,
    input_size: int | None = None,
    *,
    include_top: bool = True,
    class_names=None,
    **options,
):
    """Builds the named model: a `VideoClassifier` taking `[B, T, H, W, 3]` clips.

    Arguments left as None take the configuration's defaults (`defaults(name)`); the model's
    `spec` records them all. `include_top=False` builds the backbone (pooled features out).
    """
    from tfvideo.models.classifier import VideoClassifier

    spec = default_spec(name, num_classes, num_frames, input_size, class_names, **options)
    return VideoClassifier(spec, include_top=include_top)
