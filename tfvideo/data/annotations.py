"""Annotation readers and the :class:`VideoDataset` they return.

Every reader returns a :class:`VideoDataset`: ``samples`` (list of
``(path, label_index)``), ``class_names`` (index -> name) and an optional
``label_flip_map`` (label index -> label after a horizontal flip). The class
list travels with the dataset and can be saved to / loaded from JSON so it can
be stored beside a trained model.

A missing annotation file or an unknown label raises :class:`AnnotationError`
at start-up, naming the file, the line and the label.

Formats:
- Kinetics CSV (``label,youtube_id,time_start,time_end,split``), videos named
  ``{youtube_id}_{time_start:06d}_{time_end:06d}.mp4``, directly under the
  root or under one folder per label (both are tried).
- A plain ``path label`` list (label index or class name).
- Something-Something v2 JSON (``labels.json`` + split file).
- UCF101 (``classInd.txt``, ``trainlistNN.txt``, ``testlistNN.txt``).
- HMDB51 (``<class>_test_split<k>.txt``, codes 1 = train, 2 = test, 0 = unused).
- One folder per class.
- Charades CSV (multi-label: every action class of a video).
"""

import csv
import dataclasses
import glob
import json
import logging
import os
import re

from tfvideo.data.decode import VIDEO_EXTENSIONS
from tfvideo.data.errors import AnnotationError

# Something-Something v2 classes that swap under a horizontal flip (indices
# into the official labels.json, as in TAdaConv's SSv2 loader): "Pulling
# something from left to right" <-> "... right to left", "Pushing something
# from left to right" <-> "... right to left", "Turning the camera left while
# filming something" <-> "... right ...". ``read_ssv2`` checks the names.
SSV2_FLIP_PAIRS = ((86, 87), (93, 94), (166, 167))

SSV2_NUM_CLASSES = 174

_FORMAT_VERSION = 1

logger = logging.getLogger("tfvideo.data")


def flip_map_from_pairs(pairs, num_classes=None):
    """Dict ``{a: b, b: a}`` for each pair; checks indices against
    ``num_classes`` when given."""
    flip = {}
    for a, b in pairs:
        a, b = int(a), int(b)
        for v in (a, b):
            if v < 0 or (num_classes is not None and v >= num_classes):
                raise ValueError(f"flip pair ({a}, {b}) is out of range for {num_classes} classes")
        flip[a] = b
        flip[b] = a
    return flip


def flip_map_from_class_names(class_names):
    """Pairs classes whose names differ only by swapping "left" and "right".

    >>> flip_map_from_class_names(["move left", "move right", "jump"])
    {0: 1, 1: 0}
    """
    swap = {"left": "right", "right": "left"}
    pattern = re.compile(r"\b(left|right)\b", re.IGNORECASE)

    def swapped(name):
        return pattern.sub(lambda m: swap[m.group(1).lower()], name.lower())

    lookup = {name.lower(): i for i, name in enumerate(class_names)}
    flip = {}
    for i, name in enumerate(class_names):
        other = swapped(name)
        j = lookup.get(other)
        if j is not None and j != i:
            flip[i] = j
    return flip


@dataclasses.dataclass
class VideoDataset:
    """A list of labelled videos with its class names.

    Attributes:
        samples: list of ``(path, label_index)``; ``label_index`` is -1 for
            unlabelled test items. In a multi-label dataset (Charades, a list with
            ``path 3,7``) every label is a tuple of class indices (possibly empty).
        class_names: list of class names, index = label.
        label_flip_map: dict label -> label after a horizontal flip (only
            classes that change), or None.
        name: free-form dataset name (e.g. ``"kinetics400/train"``).

    Example:
    >>> ds = VideoDataset([("a.mp4", 1), ("b.mp4", 0)], ["cat", "dog"])
    >>> ds.num_classes, len(ds), ds.labels
    (2, 2, [1, 0])
    >>> VideoDataset.from_dict(ds.to_dict()) == ds
    True
    >>> multi = VideoDataset([("a.mp4", [2, 0]), ("b.mp4", [])], ["x", "y", "z"])
    >>> multi.multi_label, multi.labels, multi.label_matrix().tolist()
    (True, [(0, 2), ()], [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    """

    samples: list
    class_names: list
    label_flip_map: dict = None
    name: str = ""

    def __post_init__(self):
        self.samples = [(str(p), _label(l)) for p, l in self.samples]
        self.class_names = [str(c) for c in self.class_names]
        if self.label_flip_map:
            self.label_flip_map = {int(k): int(v) for k, v in self.label_flip_map.items()}
        else:
            self.label_flip_map = None
        n = len(self.class_names)
        kinds = {isinstance(label, tuple) for _, label in self.samples}
        if len(kinds) > 1:
            raise ValueError("samples mix single labels and label tuples (multi-label)")
        for i, (path, label) in enumerate(self.samples):
            bad = [l for l in label if not 0 <= l < n] if isinstance(label, tuple) else []
            if bad or (not isinstance(label, tuple) and (label < -1 or label >= n)):
                raise ValueError(
                    f"sample {i} ({path}) has label {label}, outside [0, {n}) for {n} class names"
                )
        for k, v in (self.label_flip_map or {}).items():
            if not (0 <= k < n and 0 <= v < n):
                raise ValueError(f"label_flip_map entry {k} -> {v} is outside [0, {n})")

    def __len__(self):
        return len(self.samples)

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def multi_label(self):
        """True when every label is a tuple of class indices (several labels per video)."""
        return bool(self.samples) and isinstance(self.samples[0][1], tuple)

    def label_matrix(self):
        """Multi-hot float32 ``[len, num_classes]`` of the labels (one-hot for single labels;
        a row of zeros for label -1)."""
        import numpy as np

        matrix = np.zeros((len(self.samples), self.num_classes), np.float32)
        for i, (_, label) in enumerate(self.samples):
            matrix[i, [l for l in (label if isinstance(label, tuple) else (label,)) if l >= 0]] = 1
        return matrix

    @property
    def paths(self):
        return [p for p, _ in self.samples]

    @property
    def labels(self):
        return [l for _, l in self.samples]

    def class_index(self, name):
        try:
            return self.class_names.index(name)
        except ValueError:
            raise KeyError(f"unknown class name {name!r}") from None

    def flip_table(self):
        """List ``t`` with ``t[label]`` = label after a flip (identity where
        no entry)."""
        table = list(range(self.num_classes))
        for k, v in (self.label_flip_map or {}).items():
            table[k] = v
        return table

    def subset(self, indices, name=None):
        """A dataset holding ``samples[i]`` for ``i`` in ``indices``."""
        return VideoDataset(
            [self.samples[i] for i in indices],
            list(self.class_names),
            self.label_flip_map,
            name if name is not None else self.name,
        )

    def missing_files(self):
        """Paths in ``samples`` that do not exist."""
        return [p for p in self.paths if not os.path.exists(p)]

    def drop_missing(self):
        """A copy without samples whose files do not exist."""
        keep = [i for i, p in enumerate(self.paths) if os.path.exists(p)]
        return self.subset(keep)

    # JSON round trip ------------------------------------------------------
    def to_dict(self, include_samples=True):
        d = {
            "format_version": _FORMAT_VERSION,
            "name": self.name,
            "class_names": list(self.class_names),
            "label_flip_map": (
                {str(k): v for k, v in self.label_flip_map.items()} if self.label_flip_map else None
            ),
        }
        if include_samples:
            d["samples"] = [[p, list(l) if isinstance(l, tuple) else l] for p, l in self.samples]
        return d

    @classmethod
    def from_dict(cls, d):
        if "class_names" not in d:
            raise ValueError("dataset dict has no 'class_names'")
        return cls(
            samples=[tuple(s) for s in d.get("samples", [])],
            class_names=d["class_names"],
            label_flip_map=d.get("label_flip_map"),
            name=d.get("name", ""),
        )

    def save(self, path, include_samples=True):
        """Writes JSON (use ``include_samples=False`` to store only the class
        list and flip map beside a model)."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(include_samples), f, indent=1)

    @classmethod
    def load(cls, path):
        if not os.path.isfile(path):
            raise AnnotationError(path, "dataset JSON file not found")
        with open(path, encoding="utf-8") as f:
            try:
                d = json.load(f)
            except json.JSONDecodeError as err:
                raise AnnotationError(path, f"invalid JSON: {err}", line=err.lineno) from None
        return cls.from_dict(d)

    to_json = save
    from_json = load


def _label(label):
    """A sample's label: an int, or a sorted tuple of distinct ints (multi-label)."""
    if isinstance(label, (list, tuple)):
        return tuple(sorted({int(l) for l in label}))
    return int(label)


# ---------------------------------------------------------------------------
def _require_file(path, what="annotation file"):
    if path is None or not os.path.isfile(path):
        raise AnnotationError(path, f"{what} not found")
    return path


def _read_lines(path):
    """Yields ``(line_number, stripped_line)`` for non-empty lines."""
    with open(path, encoding="utf-8-sig") as f:
        for n, line in enumerate(f, start=1):
            line = line.strip()
            if line and not line.startswith("#"):
                yield n, line


def read_class_names(path_or_names):
    """Class names from a list, or a file with one name per line (an optional
    leading integer index, as in UCF101's classInd.txt, is dropped and used to
    order the names), or a JSON list / ``{name: index}`` dict."""
    if path_or_names is None:
        return None
    if not isinstance(path_or_names, (str, os.PathLike)):
        return [str(c) for c in path_or_names]
    path = _require_file(os.fspath(path_or_names), "class names file")
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, dict):
            return _names_from_index_dict(data, path)
        return [str(c) for c in data]
    entries = []
    for _, line in _read_lines(path):
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and parts[0].isdigit():
            entries.append((int(parts[0]), parts[1].strip()))
        else:
            entries.append((len(entries), line))
    entries.sort()
    base = entries[0][0] if entries else 0
    for k, (i, name) in enumerate(entries):
        if i - base != k:
            raise AnnotationError(
                path, f"class indices are not contiguous at {i} ({name!r})", label=name
            )
    return [name for _, name in entries]


def _names_from_index_dict(data, path):
    items = sorted((int(v), str(k)) for k, v in data.items())
    if [i for i, _ in items] != list(range(len(items))):
        raise AnnotationError(path, "label indices are not 0..N-1")
    return [name for _, name in items]


def _lookup(label, class_to_index, path, line):
    try:
        return class_to_index[label]
    except KeyError:
        raise AnnotationError(path, f"unknown label {label!r}", line=line, label=label) from None


# Kinetics ------------------------------------------------------------------
def kinetics_filename(youtube_id, time_start, time_end, extension=".mp4"):
    """``{youtube_id}_{time_start:06d}_{time_end:06d}.mp4`` as the releases
    name their files.

    >>> kinetics_filename("abc", 12, 22)
    'abc_000012_000022.mp4'
    """
    return f"{youtube_id}_{int(float(time_start)):06d}_{int(float(time_end)):06d}{extension}"


def read_kinetics_csv(
    csv_path,
    video_root,
    split=None,
    class_names=None,
    extension=".mp4",
    layout="auto",
    missing="keep",
    name=None,
):
    """Reads a Kinetics CSV (``label,youtube_id,time_start,time_end,split``).

    Args:
        csv_path: the CSV (header row required; extra columns are ignored, a
            missing ``split`` column is fine).
        video_root: folder holding the videos.
        split: keep only rows whose ``split`` column equals this (optional).
        class_names: list/file of class names fixing the label order (e.g.
            the training classes when reading the validation CSV). Default:
            sorted unique labels of the CSV (Kinetics convention). A label not
            in the list raises ``AnnotationError`` with the line.
        extension: file extension of the videos.
        layout: ``"flat"`` (``root/file``), ``"label_folders"``
            (``root/<label>/file``, also with ``_`` for spaces) or ``"auto"``
            (per row, the first that exists; ``"flat"`` if none does).
        missing: what to do with rows whose file does not exist: ``"keep"``
            (the pipeline will skip them and count them), ``"drop"`` or
            ``"raise"``.
    """
    _require_file(csv_path, "Kinetics CSV")
    if layout not in ("auto", "flat", "label_folders"):
        raise ValueError(f"layout must be 'auto', 'flat' or 'label_folders', got {layout!r}")
    if missing not in ("keep", "drop", "raise"):
        raise ValueError(f"missing must be 'keep', 'drop' or 'raise', got {missing!r}")
    rows = []
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        needed = {"youtube_id", "time_start", "time_end"}
        if reader.fieldnames is None or not needed <= set(reader.fieldnames):
            raise AnnotationError(
                csv_path,
                f"header must contain label,youtube_id,time_start,"
                f"time_end[,split]; got {reader.fieldnames}",
                line=1,
            )
        for line, row in enumerate(reader, start=2):
            if split is not None and row.get("split") != split:
                continue
            try:
                fname = kinetics_filename(
                    row["youtube_id"], row["time_start"], row["time_end"], extension
                )
            except (TypeError, ValueError):
                raise AnnotationError(
                    csv_path, f"bad time_start/time_end in row {row}", line=line
                ) from None
            rows.append((line, (row.get("label") or "").strip(), fname))
    names = read_class_names(class_names)
    if names is None:
        names = sorted({label for _, label, _ in rows if label})
    class_to_index = {c: i for i, c in enumerate(names)}
    samples = []
    for line, label, fname in rows:
        index = -1 if not label else _lookup(label, class_to_index, csv_path, line)
        candidates = []
        if layout in ("auto", "flat"):
            candidates.append(os.path.join(video_root, fname))
        if layout in ("auto", "label_folders") and label:
            candidates.append(os.path.join(video_root, label, fname))
            candidates.append(os.path.join(video_root, label.replace(" ", "_"), fname))
        path = next((c for c in candidates if os.path.exists(c)), candidates[0])
        if not os.path.exists(path):
            if missing == "drop":
                continue
            if missing == "raise":
                raise AnnotationError(
                    csv_path, f"video file not found: {path}", line=line, label=label
                )
        samples.append((path, index))
    return VideoDataset(
        samples, names, None, name or f"kinetics/{split or os.path.basename(csv_path)}"
    )


# Plain list ----------------------------------------------------------------
def read_path_label_list(list_path, root=None, class_names=None, name=None):
    """Reads lines ``<path> <label>`` (label = integer index or class name;
    the path may contain spaces: the label is the last field).

    A multi-label list gives several comma-separated labels, ``<path> 3,7,12`` (no spaces;
    ``<path> ,`` for a video without any): when any line does, every label is a tuple and the
    dataset is multi-label (``VideoDataset.multi_label``).

    Args:
        list_path: the list file.
        root: prefix for relative paths.
        class_names: list/file of class names. Required for name labels;
            with integer labels, default names are ``"0"``, ``"1"``, ...
    """
    _require_file(list_path, "video list")
    names = read_class_names(class_names)
    class_to_index = {c: i for i, c in enumerate(names or [])}
    raw = []
    for line, text in _read_lines(list_path):
        parts = text.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise AnnotationError(list_path, f"expected '<path> <label>', got {text!r}", line=line)
        raw.append((line, parts[0], parts[1]))
    multi = any("," in lab and lab not in class_to_index for _, _, lab in raw)
    # (line, path, [label texts]): one text per line, or the comma-separated parts.
    raw = [
        (
            line,
            path,
            [p for p in lab.split(",") if p] if multi and lab not in class_to_index else [lab],
        )
        for line, path, lab in raw
    ]
    texts = [(line, lab) for line, _, labs in raw for lab in labs]
    if names is None:
        bad = next(((l, lab) for l, lab in texts if not re.fullmatch(r"-?\d+", lab)), None)
        if bad is not None:
            raise AnnotationError(
                list_path,
                f"label {bad[1]!r} is not an integer and no class_names were given",
                line=bad[0],
                label=bad[1],
            )
        top = max((int(lab) for _, lab in texts), default=-1)
        names = [str(i) for i in range(top + 1)]

    def index_of(lab, line):
        if re.fullmatch(r"-?\d+", lab) and lab not in class_to_index:
            index = int(lab)
            if index < (0 if multi else -1) or index >= len(names):
                raise AnnotationError(
                    list_path,
                    f"label index {index} outside [0, {len(names)})",
                    line=line,
                    label=lab,
                )
            return index
        return _lookup(lab, class_to_index, list_path, line)

    samples = []
    for line, path, labs in raw:
        if root is not None and not os.path.isabs(path):
            path = os.path.join(root, path)
        indices = [index_of(lab, line) for lab in labs]
        samples.append((path, tuple(indices) if multi else indices[0]))
    return VideoDataset(samples, names, None, name or os.path.basename(list_path))


# Charades (multi-label) ----------------------------------------------------
def read_charades_classes(path):
    """``Charades_v1_classes.txt`` (lines ``c000 Holding some clothes``) -> ``(codes, names)``."""
    _require_file(path, "Charades classes file")
    codes, names = [], []
    for line, text in _read_lines(path):
        parts = text.split(maxsplit=1)
        if len(parts) != 2:
            raise AnnotationError(path, f"expected '<code> <name>', got {text!r}", line=line)
        codes.append(parts[0])
        names.append(parts[1].strip())
    return codes, names


def read_charades(csv_path, video_root, classes, extension=".mp4", name=None):
    """Reads a Charades CSV (``Charades_v1_train.csv`` / ``_test.csv``) as a multi-label
    dataset: a video's labels are every class of its ``actions`` column
    (``c092 11.90 21.20;c147 0.00 12.60``; empty: no label), videos at
    ``<video_root>/<id><extension>``.

    Args:
        csv_path: the CSV with ``id`` and ``actions`` columns.
        video_root: folder of the videos.
        classes: ``Charades_v1_classes.txt`` (codes and names, in class order).
    """
    _require_file(csv_path, "Charades CSV")
    codes, names = read_charades_classes(classes)
    code_to_index = {c: i for i, c in enumerate(codes)}
    samples = []
    with open(csv_path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"id", "actions"} - set(reader.fieldnames or ())
        if missing:
            raise AnnotationError(csv_path, f"missing column(s) {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            labels = []
            for action in (row["actions"] or "").split(";"):
                if action.strip():
                    code = action.split()[0]
                    labels.append(_lookup(code, code_to_index, csv_path, line))
            samples.append((os.path.join(video_root, f"{row['id']}{extension}"), tuple(labels)))
    return VideoDataset(samples, names, None, name or f"charades/{os.path.basename(csv_path)}")


# Something-Something v2 ----------------------------------------------------
def normalize_ssv2_template(template):
    """Removes the brackets of SSv2 templates.

    >>> normalize_ssv2_template("Pushing [something] from left to right")
    'Pushing something from left to right'
    """
    return template.replace("[", "").replace("]", "").strip()


def read_ssv2(
    labels_json,
    split_json,
    video_root,
    extension=".webm",
    flip_pairs=SSV2_FLIP_PAIRS,
    allow_unlabelled=False,
    name=None,
):
    """Reads Something-Something v2 annotations.

    Args:
        labels_json: ``{"<class name>": "<index>"}`` (``something-something-
            v2-labels.json``).
        split_json: list of ``{"id", "label", "template", "placeholders"}``
            (train/validation); the class is the template with brackets
            removed.
        video_root: folder holding ``<id><extension>``.
        flip_pairs: label pairs swapped by a horizontal flip
            (default ``SSV2_FLIP_PAIRS``: 86<->87, 93<->94, 166<->167); they
            are applied only when the label file has 174 classes, unless
            given explicitly as something else.
        allow_unlabelled: accept items without a template (the test split);
            their label is -1. Otherwise such an item raises.
    """
    _require_file(labels_json, "SSv2 labels file")
    _require_file(split_json, "SSv2 split file")
    with open(labels_json, encoding="utf-8") as f:
        names = _names_from_index_dict(json.load(f), labels_json)
    class_to_index = {normalize_ssv2_template(c): i for i, c in enumerate(names)}
    with open(split_json, encoding="utf-8") as f:
        items = json.load(f)
    if not isinstance(items, list):
        raise AnnotationError(split_json, "expected a JSON list of items")
    samples = []
    for n, item in enumerate(items, start=1):
        if "id" not in item:
            raise AnnotationError(split_json, "item without 'id'", line=n)
        path = os.path.join(video_root, f"{item['id']}{extension}")
        template = item.get("template")
        if template is None:
            if not allow_unlabelled:
                raise AnnotationError(
                    split_json,
                    f"item {item['id']} has no "
                    "'template' (pass allow_unlabelled=True "
                    "for the test split)",
                    line=n,
                )
            samples.append((path, -1))
            continue
        label = normalize_ssv2_template(template)
        samples.append((path, _lookup(label, class_to_index, split_json, n)))
    flip = None
    if flip_pairs:
        if flip_pairs is SSV2_FLIP_PAIRS and len(names) != SSV2_NUM_CLASSES:
            flip = None
        else:
            flip = flip_map_from_pairs(flip_pairs, len(names))
            by_name = flip_map_from_class_names(names)
            # The built-in SSv2 pairs are checked against the names (a labels file with another
            # order would silently mislabel flips); pairs the caller gives are taken as they are.
            for a, b in flip_pairs if flip_pairs is SSV2_FLIP_PAIRS else ():
                if by_name.get(a) != b:
                    logger.warning(
                        "%s: flip pair %d <-> %d (%r, %r) is not a left/right pair of class names",
                        labels_json,
                        a,
                        b,
                        names[a],
                        names[b],
                    )
    return VideoDataset(samples, names, flip, name or f"ssv2/{os.path.basename(split_json)}")


# UCF101 --------------------------------------------------------------------
def read_ucf101(split_dir, video_root, split=1, subset="train", name=None):
    """Reads the official UCF101 split files.

    ``split_dir`` holds ``classInd.txt`` (``1 ApplyEyeMakeup``),
    ``trainlist0{split}.txt`` (``ApplyEyeMakeup/v_..._g08_c01.avi 1``) and
    ``testlist0{split}.txt`` (``ApplyEyeMakeup/v_..._g01_c01.avi``, the class
    is the folder). Paths are joined to ``video_root``.
    """
    if split not in (1, 2, 3):
        raise ValueError(f"UCF101 split must be 1, 2 or 3, got {split!r}")
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    class_file = _require_file(os.path.join(split_dir, "classInd.txt"), "UCF101 classInd.txt")
    names = read_class_names(class_file)
    class_to_index = {c: i for i, c in enumerate(names)}
    list_file = _require_file(
        os.path.join(split_dir, f"{subset}list0{split}.txt"), f"UCF101 {subset} list"
    )
    samples = []
    for line, text in _read_lines(list_file):
        parts = text.split()
        rel = parts[0]
        folder = rel.replace("\\", "/").split("/")[0]
        if len(parts) > 1:
            index = int(parts[1]) - 1
            if not 0 <= index < len(names):
                raise AnnotationError(
                    list_file,
                    f"label {parts[1]} outside 1..{len(names)}",
                    line=line,
                    label=parts[1],
                )
            if folder in class_to_index and class_to_index[folder] != index:
                raise AnnotationError(
                    list_file,
                    f"label {parts[1]} does not match folder {folder!r}",
                    line=line,
                    label=parts[1],
                )
        else:
            index = _lookup(folder, class_to_index, list_file, line)
        samples.append((os.path.join(video_root, rel), index))
    return VideoDataset(samples, names, None, name or f"ucf101/{subset}{split}")


# HMDB51 --------------------------------------------------------------------
_HMDB_RE = re.compile(r"^(?P<cls>.+)_test_split(?P<k>\d)\.txt$")


def read_hmdb51(split_dir, video_root, split=1, subset="train", name=None):
    """Reads the official HMDB51 split files ``<class>_test_split<k>.txt``.

    Each line is ``<video file> <code>`` with 1 = train, 2 = test, 0 = not
    used. Classes are the sorted class names from the file names; videos are
    at ``video_root/<class>/<video file>``.
    """
    if split not in (1, 2, 3):
        raise ValueError(f"HMDB51 split must be 1, 2 or 3, got {split!r}")
    codes = {"train": "1", "test": "2"}
    if subset not in codes:
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    if not os.path.isdir(split_dir):
        raise AnnotationError(split_dir, "HMDB51 split folder not found")
    files = {}
    for path in glob.glob(os.path.join(split_dir, "*_test_split*.txt")):
        m = _HMDB_RE.match(os.path.basename(path))
        if m and int(m.group("k")) == split:
            files[m.group("cls")] = path
    if not files:
        raise AnnotationError(
            os.path.join(split_dir, f"*_test_split{split}.txt"), "no HMDB51 split files found"
        )
    names = sorted(files)
    samples = []
    for index, cls in enumerate(names):
        for line, text in _read_lines(files[cls]):
            parts = text.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise AnnotationError(
                    files[cls], f"expected '<video> 0|1|2', got {text!r}", line=line
                )
            if parts[1] == codes[subset]:
                samples.append((os.path.join(video_root, cls, parts[0]), index))
    return VideoDataset(samples, names, None, name or f"hmdb51/{subset}{split}")


# Folder per class ----------------------------------------------------------
def read_folder_per_class(root, extensions=VIDEO_EXTENSIONS, class_names=None, name=None):
    """``root/<class>/<video>``; classes sorted by name unless given."""
    if not os.path.isdir(root):
        raise AnnotationError(root, "dataset folder not found")
    folders = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    names = read_class_names(class_names) or folders
    class_to_index = {c: i for i, c in enumerate(names)}
    exts = tuple(e.lower() for e in extensions)
    samples = []
    for folder in folders:
        files = sorted(
            f for f in os.listdir(os.path.join(root, folder)) if f.lower().endswith(exts)
        )
        if files and folder not in class_to_index:
            raise AnnotationError(root, f"folder {folder!r} is not a known class", label=folder)
        for f in files:
            samples.append((os.path.join(root, folder, f), class_to_index[folder]))
    return VideoDataset(samples, names, None, name or os.path.basename(root))


READERS = {
    "charades": read_charades,
    "kinetics": read_kinetics_csv,
    "list": read_path_label_list,
    "ssv2": read_ssv2,
    "ucf101": read_ucf101,
    "hmdb51": read_hmdb51,
    "folder": read_folder_per_class,
}


def read_annotations(kind, *args, **kwargs):
    """Dispatches to a reader by name: one of ``READERS``, with that reader's own arguments
    (:func:`tfvideo.data.datasets.load_dataset` maps the commands' dataset options onto them)."""
    if kind not in READERS:
        raise ValueError(f"unknown annotation format {kind!r}; expected one of {sorted(READERS)}")
    return READERS[kind](*args, **kwargs)
