"""`ModelSpec`: everything needed to feed, evaluate, export and convert a video model, in one place.

Data pipelines, evaluation, export and conversion read a model's spec (`model.spec`) instead of
guessing from its name or its layers. A spec is plain data: it round-trips through JSON and is
saved with the model (`.keras`, presets).

Example:
    >>> from tfvideo.models import default_spec
    >>> spec = default_spec("tsm_tiny")
    >>> spec.family, spec.num_frames, spec.input_size, spec.short_side, spec.view_aggregation
    ('resnet', 8, (64, 64), 73, 'logits')
    >>> ModelSpec.from_config(spec.get_config()) == spec
    True
"""

import dataclasses

# How each family's paper combines test views (papers.md): TSN/TSM/TEINet and S3D average logits;
# TAda (ENSEMBLE_METHOD: sum of softmax) and bLVNet-TAM average softmax scores.
VIEW_AGGREGATION = {
    "resnet": "logits",
    "s3d": "logits",
    "tada2d": "softmax",
    "tadaconvnext": "softmax",
    "tadaconvnextv2": "softmax",
    "blvnet": "softmax",
    "temporalized": "logits",  # TSN consensus over a 2D model (tfvideo.temporalize)
}

# The official checkpoint layouts (`tfvideo.convert.SOURCES` keys) each family loads.
CHECKPOINT_LAYOUTS = {
    "resnet": ("torchvision_resnet", "tsm", "keras_applications_resnet"),
    "tada2d": ("tada2d", "torchvision_resnet", "keras_applications_resnet"),
    "tadaconvnext": ("tadaconvnext",),
    "tadaconvnextv2": ("tadaconvnextv2",),
    "blvnet": ("blvnet_tam",),
    "s3d": ("torchvision_s3d",),
    "temporalized": (),  # the 2D model's own weights (keras.applications, keras-hub)
}


@dataclasses.dataclass(frozen=True)
class Head:
    """Where a family's classifier sits in its graph.

    Args:
        classifier: the layer holding the class weights (what `reset_head` re-initialises).
        features: the layer whose output (or input, `features_at="input"`) is the pooled feature
            the classifier reads: `[B, C]`, `[B*T', C]` for frame-folded features
            (`folded_frames` gives T' as a fraction of the clip's frames), or a 5-D
            `[B, T', H', W', C]` map (S3D), pooled by `VideoClassifier.backbone`.
    """

    classifier: str
    features: str
    features_at: str = "output"
    folded_frames: float = 0.0  # T' / T for [B*T', C] features; 0: not folded


HEADS = {
    "resnet": Head("fc", "avgpool", folded_frames=1.0),
    "tada2d": Head("fc", "temporal_pool"),
    "blvnet": Head("new_fc", "gappool", folded_frames=0.5),  # layer4 sees every 2nd frame
    "tadaconvnext": Head("head_out", "norm"),
    "tadaconvnextv2": Head("head_out", "norm"),
    "s3d": Head("logits_conv", "logits_avgpool", features_at="input"),
    "temporalized": Head("video_fc", "video_avgpool", folded_frames=1.0),
}


def default_short_side(input_size) -> int:
    """The resize before the evaluation centre crop: `round(max(size) * 8 / 7)` (256 for 224)."""
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    return int(round(max(size) * 8 / 7))


def _tuples(value):
    """JSON lists back to the tuples that builders take (e.g. `depth=(1, 1, 1, 1)`)."""
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    return value


def _pair(size):
    size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"input_size must be a positive int or (height, width), got {size}")
    return size


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to build, feed, evaluate, export and convert one video model.

    Args:
        name: the registered configuration (`tfvideo.models.available()`).
        family: "resnet" (TSN/TSM/TEINet), "tada2d", "tadaconvnext", "tadaconvnextv2", "blvnet"
            or "s3d"; "temporalized" for a 2D model turned into a video model
            (`tfvideo.temporalize`).
        num_classes: logits.
        num_frames: frames per clip (T).
        input_size: `(height, width)` of the frames the network sees.
        mean, std: per-channel normalisation (for pixels in [0, 1]) applied inside the model.
        sampling: evaluation frame sampling: "segments" (TSN: one frame per equal segment) or
            "dense" (consecutive frames, `frame_interval` apart).
        frame_interval: stride of dense sampling.
        short_side: resize before the centre crop (`default_short_side` when None).
        view_aggregation: "logits" or "softmax": how multi-view test scores are averaged.
        class_names: one name per logit, or None (names "0".."C-1").
        multi_label: independent classes (multi-hot labels, e.g. Charades): the scores are
            per-class sigmoids, not a softmax over the classes.
        options: the builder options (besides classes, frames and size) of this model.
    """

    name: str
    family: str
    num_classes: int
    num_frames: int
    input_size: tuple
    mean: tuple
    std: tuple
    sampling: str = "segments"
    frame_interval: int = 1
    short_side: int | None = None
    view_aggregation: str | None = None
    class_names: tuple | None = None
    multi_label: bool = False
    options: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        set_ = object.__setattr__  # frozen: normalise once here
        set_(self, "input_size", _pair(self.input_size))
        set_(self, "mean", tuple(float(m) for m in self.mean))
        set_(self, "std", tuple(float(s) for s in self.std))
        if self.family not in HEADS:
            raise ValueError(f"unknown family {self.family!r}; families: {sorted(HEADS)}")
        if self.sampling not in ("segments", "dense"):
            raise ValueError(f"sampling must be 'segments' or 'dense', got {self.sampling!r}")
        if self.short_side is None:
            set_(self, "short_side", default_short_side(self.input_size))
        if self.view_aggregation is None:
            set_(self, "view_aggregation", VIEW_AGGREGATION[self.family])
        if self.class_names is not None:
            names = tuple(str(c) for c in self.class_names)
            if len(names) != self.num_classes:
                raise ValueError(f"{len(names)} class names for {self.num_classes} classes")
            set_(self, "class_names", names)
        set_(self, "options", {k: _tuples(v) for k, v in self.options.items()})

    @property
    def head(self) -> Head:
        return HEADS[self.family]

    @property
    def checkpoint_layouts(self) -> tuple:
        """The `tfvideo.convert` checkpoint layouts this model loads."""
        return CHECKPOINT_LAYOUTS[self.family]

    @property
    def labels(self) -> list:
        """The class names, or "0".."C-1"."""
        return list(self.class_names or (str(i) for i in range(self.num_classes)))

    def replace(self, **changes) -> "ModelSpec":
        """A copy with `changes`; the derived defaults (short side) follow a new input size."""
        if "input_size" in changes and "short_side" not in changes:
            changes["short_side"] = None
        if "num_classes" in changes and "class_names" not in changes:
            changes["class_names"] = None
        return dataclasses.replace(self, **changes)

    def get_config(self) -> dict:
        config = dataclasses.asdict(self)
        for key in ("input_size", "mean", "std", "class_names"):
            if config[key] is not None:
                config[key] = list(config[key])
        return config

    @classmethod
    def from_config(cls, config: dict) -> "ModelSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in known})
