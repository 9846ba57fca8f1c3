"""What a served or deployed model needs to be fed and read: `ExportMetadata`.

Every export records one: the SavedModel as the asset `tfvideo_metadata.json` (and through its
`metadata` signature), the `.tflite` file inside the flatbuffer's metadata list, a training output
directory beside its `.keras` file. `tfvideo predict` reads it to sample, resize and crop frames the
way the model was evaluated and to name the classes.

Example:
    >>> from tfvideo.export.metadata import ExportMetadata
    >>> meta = ExportMetadata(model_name="tsm_tiny", class_names=["a", "b"], num_frames=8,
    ...                       input_size=(112, 112), sampling="segments")
    >>> ExportMetadata.from_json(meta.to_json()) == meta
    True
    >>> meta.short_side, meta.sampling
    (128, {'kind': 'segment', 'num_segments': 8})
"""

import dataclasses
import json

import numpy as np

from tfvideo._atomic import atomic_write_text
from tfvideo.data.sampling import SAMPLERS
from tfvideo.data.sampling import sampler_config as data_sampler_config
from tfvideo.models.spec import default_short_side

METADATA_FILENAME = "tfvideo_metadata.json"
LABELS_FILENAME = "labels.txt"
FORMAT_VERSION = 1
SAMPLING_KINDS = ("segment", "dense")


def sampler_config(sampling, num_frames, interval=1) -> dict:
    """`tfvideo.data.sampling.sampler_config` for a model's evaluation sampling: a fixed-length
    kind (segment or dense) whose clip length is the model's `num_frames`.

    `sampling` is a config dict (`{"kind": "segment", "num_segments": 8}` or
    `{"kind": "dense", "clip_length": 8, "interval": 2}`) or a registry name: `"segments"` /
    `"segment"` (TSN) or `"dense"` (with `interval`).
    """
    config = data_sampler_config(sampling, num_frames, interval)
    kind = config["kind"]
    if kind not in SAMPLING_KINDS:
        raise ValueError(f"sampling kind must be one of {SAMPLING_KINDS}, got {kind!r}")
    length = config[SAMPLERS[kind].length_arg]
    if length != num_frames:
        raise ValueError(f"the sampler takes {length} frames but the model takes {num_frames}")
    return config


def _size_pair(size, argument):
    if isinstance(size, int):
        size = (size, size)
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"{argument} must be a positive int or (height, width), got {size}")
    return size


@dataclasses.dataclass
class ExportMetadata:
    """How to feed a model and read its output.

    Args:
        model_name: the registry name (e.g. `"tsm_tiny"`) or any name of the model.
        class_names: one name per logit, in logit order. Non-empty, no line breaks.
        num_frames: frames per clip (T).
        input_size: `(height, width)` of the frames the network sees (an int means square).
        sampling: the evaluation sampling, a `tfvideo.data.sampling` config dict
            (`{"kind": "segment", "num_segments": T}`: the centre frame of T equal segments;
            `{"kind": "dense", "clip_length": T, "interval": s}`: the centre clip of T frames s
            apart) or the registry's shorthand `"segments"` / `"dense"` (interval 1).
        short_side: frames are resized so that their short side is this, then centre-cropped to
            `input_size` (`tfvideo.data.eval_transform`); None means
            `round(max(input_size) * 8 / 7)` (256 for 224).
        top_k: how many labels the serving signatures return.
        multi_label: independent classes: the scores (`probabilities` of the signatures,
            `scores(logits)`) are per-class sigmoids instead of a softmax over the classes.
        extra: free-form JSON-serialisable information (training run, dataset, metrics).
    """

    model_name: str
    class_names: list
    num_frames: int
    input_size: tuple
    sampling: dict | str = "segments"
    short_side: int | None = None
    top_k: int = 5
    multi_label: bool = False
    extra: dict = dataclasses.field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        self.class_names = [str(c) for c in self.class_names]
        if not self.class_names:
            raise ValueError("class_names must not be empty")
        bad = [c for c in self.class_names if not c or "\n" in c or "\r" in c]
        if bad:
            raise ValueError(f"class_names must be non-empty single lines, got {bad[:3]!r}")
        self.input_size = _size_pair(self.input_size, "input_size")
        self.num_frames = int(self.num_frames)
        if self.num_frames <= 0:
            raise ValueError(f"num_frames must be positive, got {self.num_frames}")
        self.sampling = sampler_config(self.sampling, self.num_frames)
        if self.short_side is None:
            self.short_side = default_short_side(self.input_size)
        self.short_side = int(self.short_side)
        if self.short_side < min(self.input_size):
            raise ValueError(
                f"short_side ({self.short_side}) must be at least the crop's short "
                f"side ({min(self.input_size)})"
            )
        self.top_k = max(1, min(int(self.top_k), len(self.class_names)))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def scores(self, logits) -> np.ndarray:
        """The class probabilities of `logits` `[..., classes]` (float64): a softmax, or
        per-class sigmoids for a multi-label model.

        >>> meta = ExportMetadata("m", ["a", "b"], 1, 8)
        >>> meta.scores([0.0, 0.0]).tolist()
        [0.5, 0.5]
        >>> dataclasses.replace(meta, multi_label=True).scores([0.0, 2.0]).round(3).tolist()
        [0.5, 0.881]
        """
        logits = np.asarray(logits, np.float64)
        if self.multi_label:
            return 1.0 / (1.0 + np.exp(-logits))
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["input_size"] = list(self.input_size)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "ExportMetadata":
        names = {f.name for f in dataclasses.fields(cls)}
        version = data.get("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise ValueError(
                f"metadata format_version {version} is newer than this tfvideo "
                f"understands ({FORMAT_VERSION})"
            )
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_json(cls, text) -> "ExportMetadata":
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return cls.from_dict(json.loads(text))

    def write(self, path: str) -> str:
        """Writes the JSON atomically to `path` and returns it."""
        atomic_write_text(path, self.to_json() + "\n")
        return path
