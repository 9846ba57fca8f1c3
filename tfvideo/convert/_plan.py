"""The conversion engine: a checked, all-or-nothing plan of checkpoint -> Keras variable copies.

A family mapping (`resnet.py`, `blvnet.py`, ...) walks the *model* and asks the plan for the
checkpoint entries each weight needs (`take`), converted to the Keras layout. The plan records
every problem instead of stopping at the first one: checkpoint keys that are missing, keys that
nothing used, shapes that do not fit, model weights that nothing assigned, settings (BN epsilon)
that differ from the release. `finish()` raises one `ConversionError` listing all of them, or
returns a `ConversionReport`; only then does `apply()` write the weights, so a failed conversion
leaves the model untouched. Every layout goes through it: PyTorch releases, torchvision and
keras.applications ImageNet weights.
"""

import dataclasses
import re

import keras
import numpy as np

MAX_LISTED = 20
UNEXPECTED = "unexpected checkpoint keys"
SETTINGS = "settings that differ from the release"
# What `strict=False` accepts (listed in the report instead of raising).
WAIVABLE = (UNEXPECTED, SETTINGS)
_HINTS = {
    UNEXPECTED: "not used by the model; strict=False loads the rest and reports them",
    SETTINGS: "strict=False loads anyway (a different function) and reports them",
}


class ConversionError(ValueError):
    """A checkpoint that does not fit a model. `problems` maps a kind to the offending names."""

    def __init__(self, source, model_name, problems):
        self.source = source
        self.problems = {k: list(v) for k, v in problems.items() if v}
        lines = [f"cannot load the {source!r} checkpoint into model {model_name!r}:"]
        for kind, items in self.problems.items():
            shown = items[:MAX_LISTED]
            more = f" ... and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
            lines.append(f"  {kind} ({len(items)}): " + "; ".join(shown) + more)
            if kind in _HINTS:
                lines.append(f"    ({_HINTS[kind]})")
        super().__init__("\n".join(lines))


def _modules(keys):
    """Checkpoint module paths (keys without their last field), sorted."""
    return sorted({key.rpartition(".")[0] or key for key in keys})


@dataclasses.dataclass
class ConversionReport:
    """What a conversion did.

    Attributes:
        source: checkpoint layout (`SOURCES` key).
        loaded_keys: checkpoint entries copied into the model.
        ignored_keys: checkpoint entries deliberately not loaded (the head with
            `include_head=False`).
        left_at_init: model weights the source does not define, kept at their initial values
            (e.g. the temporal modules when starting from ImageNet ResNet weights).
        unused_keys: checkpoint entries no model weight takes, accepted with `strict=False`.
        waived: settings that differ from the release, accepted with `strict=False`.

    `report["loaded"]` / `report["unused"]` are the loaded / unused checkpoint modules (keys
    without their field), as the ImageNet ResNet loader's dict had them.
    """

    source: str
    loaded_keys: list
    ignored_keys: list
    left_at_init: list
    unused_keys: list = dataclasses.field(default_factory=list)
    waived: list = dataclasses.field(default_factory=list)

    def __getitem__(self, name):
        modules = {"loaded": self.loaded_keys, "unused": self.unused_keys}
        if name not in modules:
            raise KeyError(f"{name!r}: a ConversionReport has 'loaded' and 'unused' modules")
        return _modules(modules[name])

    def summary(self):
        lines = [f"source layout: {self.source}; {len(self.loaded_keys)} checkpoint tensors loaded"]
        if self.ignored_keys:
            lines.append(
                f"ignored checkpoint tensors ({len(self.ignored_keys)}): "
                + ", ".join(self.ignored_keys)
            )
        if self.left_at_init:
            owners = list(
                dict.fromkeys(name.rpartition("/")[0] or name for name in self.left_at_init)
            )
            lines.append(
                f"model weights left at their initial values "
                f"({len(self.left_at_init)} in {len(owners)} layers): " + ", ".join(owners)
            )
        if self.unused_keys:
            lines.append(
                f"unused checkpoint tensors, strict=False ({len(self.unused_keys)}): "
                + ", ".join(self.unused_keys)
            )
        if self.waived:
            lines.append(
                f"settings that differ from the release, strict=False "
                f"({len(self.waived)}): " + "; ".join(self.waived)
            )
        return "\n".join(lines)


class ShapeMismatch(Exception):
    """Raised by a layout transform when the source tensor cannot take the target layout."""


def module_path(layer_name):
    """`stages_2_5_dwconv` -> `stages.2.5.dwconv`: Keras names are PyTorch module paths with "."
    replaced by "_"; a "_" next to a digit was a "."."""
    return re.sub(r"_(?=\d)|(?<=\d)_", ".", layer_name)


def all_layers(model):
    """Every layer of `model`, nested sublayers included."""
    return list(model._flatten_layers(include_self=False, recursive=True))


def variable_name(variable):
    return getattr(variable, "path", None) or variable.name


# ---------------------------------------------------------------------------------------------
# PyTorch -> Keras layout transforms. Each raises ShapeMismatch on a tensor of the wrong rank.


def squeeze_leading(array, ndim):
    """Drops leading singleton axes down to `ndim` axes (TAdaConv's `[1, 1, O, I, kh, kw]`)."""
    while array.ndim > ndim and array.shape[0] == 1:
        array = array[0]
    if array.ndim != ndim:
        raise ShapeMismatch(f"rank {array.ndim}, expected {ndim}")
    return array


def conv_weight_4d(weight):
    """A 2D conv weight `[O, I, kh, kw]` from `[O, I, kh, kw]`, a Conv3d `[O, I, 1, kh, kw]`
    (temporal kernel 1) or a TAdaConv2d `[1, 1, O, I, kh, kw]`."""
    if weight.ndim == 6:
        weight = squeeze_leading(weight, 4)
    elif weight.ndim == 5:
        if weight.shape[2] != 1:
            raise ShapeMismatch(f"temporal kernel {weight.shape[2]}, expected 1")
        weight = weight[:, :, 0]
    if weight.ndim != 4:
        raise ShapeMismatch(f"rank {weight.ndim}, expected a conv weight")
    return weight


def conv2d_kernel(weight):
    """`[O, I, kh, kw]` (or 5D/6D, see `conv_weight_4d`) -> Keras `Conv2D` `(kh, kw, I, O)`."""
    return np.transpose(conv_weight_4d(weight), (2, 3, 1, 0))


def depthwise_kernel(weight):
    """`[C, 1, kh, kw]` (or 5D/6D) -> Keras depthwise `(kh, kw, C, 1)`."""
    return np.transpose(conv_weight_4d(weight), (2, 3, 0, 1))


def temporal_conv1d_kernel(weight):
    """A Conv3d `[O, I, k, 1, 1]` over time -> Keras `Conv1D` `(k, I, O)`."""
    if weight.ndim != 5 or weight.shape[3:] != (1, 1):
        raise ShapeMismatch(f"shape {weight.shape}, expected [O, I, k, 1, 1]")
    return np.transpose(weight[:, :, :, 0, 0], (2, 1, 0))


def temporal_conv2d_kernel(weight):
    """A Conv3d `[O, I, k, 1, 1]` over time -> a Keras `Conv2D` `(k, 1, I, O)` on a
    `[B, T, H*W, C]` view."""
    return temporal_conv1d_kernel(weight)[:, None]


def pointwise_dense_kernel(weight):
    """A 1x1(x1) conv `[O, I, 1, 1(, 1)]` or a Linear `[O, I]` -> Keras `Dense` `(I, O)`."""
    if weight.ndim > 2:
        if any(d != 1 for d in weight.shape[2:]):
            raise ShapeMismatch(f"shape {weight.shape}, expected a 1x1 kernel")
        weight = weight.reshape(weight.shape[:2])
    if weight.ndim != 2:
        raise ShapeMismatch(f"rank {weight.ndim}, expected 2")
    return np.transpose(weight)


def vector(value):
    """A per-channel vector from `[C]` or TAdaConv's `[1, 1, C]` bias."""
    return squeeze_leading(value, 1)


def identity(value):
    return value


# ---------------------------------------------------------------------------------------------


class WeightPlan:
    """Collects checked variable assignments for one model and one checkpoint."""

    def __init__(self, model, state, source):
        self.model = model
        self.state = state
        self.source = source
        self.used = set()
        self.ignored = set()
        self.missing = []
        self.mismatched = []
        self.settings = []
        self.assignments = []  # (variable, value)
        self.covered = set()  # id() of variables planned
        self.allowed_uncovered = set()  # id() of variables the source does not define
        self.notes = {}  # checkpoint key -> why nothing in the model takes it

    # -- reading the checkpoint -------------------------------------------------------------
    def has(self, key):
        return key in self.state

    def take(self, key):
        """The checkpoint tensor `key` (marked used), or None (recorded as missing)."""
        if key not in self.state:
            self.missing.append(key)
            return None
        self.used.add(key)
        return self.state[key]

    def ignore(self, keys):
        """Marks checkpoint entries as deliberately not loaded."""
        for key in keys:
            if key in self.state:
                self.ignored.add(key)

    def note(self, key, why):
        """Explains, in the error, why nothing takes checkpoint entry `key` if it stays unused."""
        self.notes[key] = why

    # -- writing the model ------------------------------------------------------------------
    def assign(self, variable, key, transform=identity):
        """Plans `variable <- transform(checkpoint[key])`, checking the shape."""
        value = self.take(key)
        self.assign_value(variable, value, key, transform)

    def assign_value(self, variable, value, key, transform=identity):
        self.covered.add(id(variable))
        if value is None:
            return
        try:
            converted = np.asarray(transform(value), dtype=np.float32)
        except ShapeMismatch as error:
            self.mismatched.append(
                f"{key} {tuple(value.shape)} -> {variable_name(variable)} "
                f"{tuple(variable.shape)} ({error})"
            )
            return
        if tuple(converted.shape) != tuple(variable.shape):
            self.mismatched.append(
                f"{key} {tuple(value.shape)} -> {variable_name(variable)} {tuple(variable.shape)}"
            )
            return
        self.assignments.append((variable, converted))

    def allow_uncovered(self, variables):
        """Model variables the source does not define: left at init and reported."""
        self.allowed_uncovered.update(id(v) for v in variables)

    def check_setting(self, what, actual, expected):
        if not np.isclose(float(actual), float(expected), rtol=1e-6, atol=0.0):
            self.settings.append(f"{what} is {actual}, the release uses {expected}")

    # -- generic layer loaders --------------------------------------------------------------
    def conv2d(self, layer, prefix, bias=None):
        """Conv2D (or DepthwiseConv2D) from `{prefix}.weight` (+ `{prefix}.bias` when the layer
        has one)."""
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            self.assign(layer.kernel, f"{prefix}.weight", depthwise_kernel)
        else:
            self.assign(layer.kernel, f"{prefix}.weight", conv2d_kernel)
        if getattr(layer, "use_bias", False) if bias is None else bias:
            self.assign(layer.bias, f"{prefix}.bias", vector)

    def batch_norm(self, bn, prefix, epsilon, name=None):
        """BatchNormalization from PyTorch's weight / bias / running_mean / running_var
        (`name`: the layer named in a settings problem, `bn.name` by default)."""
        self.check_setting(f"{name or bn.name}: BN epsilon", bn.epsilon, epsilon)
        fields = [
            ("weight", bn.gamma),
            ("bias", bn.beta),
            ("running_mean", bn.moving_mean),
            ("running_var", bn.moving_variance),
        ]
        for field, variable in fields:
            if variable is not None:
                self.assign(variable, f"{prefix}.{field}", vector)

    def layer_norm(self, ln, prefix, epsilon):
        self.check_setting(f"{ln.name}: LayerNorm epsilon", ln.epsilon, epsilon)
        self.assign(ln.gamma, f"{prefix}.weight", vector)
        self.assign(ln.beta, f"{prefix}.bias", vector)

    def dense(self, layer, prefix):
        self.assign(layer.kernel, f"{prefix}.weight", pointwise_dense_kernel)
        if layer.use_bias:
            self.assign(layer.bias, f"{prefix}.bias", vector)

    # -- finishing ----------------------------------------------------------------------------
    def finish(self, strict=True):
        """Raises `ConversionError` listing every problem, or returns the report.

        With `strict=False`, unexpected checkpoint keys and settings that differ from the release
        are listed in the report instead (`unused_keys`, `waived`); missing keys, shape
        mismatches and unwritten model weights always raise.
        """
        unexpected = sorted(set(self.state) - self.used - self.ignored)
        uncovered, left_at_init = [], []
        for variable in self.model.weights:
            if id(variable) in self.covered:
                continue
            target = left_at_init if id(variable) in self.allowed_uncovered else uncovered
            target.append(variable_name(variable))
        problems = {
            "missing checkpoint keys": sorted(set(self.missing)),
            UNEXPECTED: [f"{k} ({self.notes[k]})" if k in self.notes else k for k in unexpected],
            "shape mismatches": self.mismatched,
            "model weights with no checkpoint entry": uncovered,
            SETTINGS: self.settings,
        }
        if not strict:
            problems.update(dict.fromkeys(WAIVABLE, []))
        if any(problems.values()):
            raise ConversionError(self.source, self.model.name, problems)
        return ConversionReport(
            source=self.source,
            loaded_keys=sorted(self.used),
            ignored_keys=sorted(self.ignored),
            left_at_init=left_at_init,
            unused_keys=[] if strict else unexpected,
            waived=[] if strict else list(self.settings),
        )

    def apply(self):
        for variable, value in self.assignments:
            variable.assign(value)
