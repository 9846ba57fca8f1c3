"""The one flag mechanism of the `tfvideo` commands: each command owns a `CommandFlags`, a private
absl `FlagValues`, so no flag is shared between commands (`--model` is a registry name for `train`
and a path for `predict`; each has its own type, default and help). Job dataclasses
(`TrainConfig`, `EvalConfig`) become flags field by field, so the scripts, the `tfvideo` command
and the Python API share names, defaults and types.

Example:
    >>> from tfvideo.cli.flags import CommandFlags
    >>> cmd = CommandFlags()
    >>> _ = cmd.define("integer", "top_k", 5, "How many labels.")
    >>> cmd.parse(["tfvideo predict", "a.mp4", "--top_k=3"]), cmd.top_k
    (['a.mp4'], 3)
"""

import ast
import dataclasses
import functools
import json
import typing

from absl import flags

HELP = {
    # model
    "model": "Registered model name (tfvideo.models.available()).",
    "model_options": "Extra model builder options: JSON or comma-separated key=value "
    "(e.g. 'dropout=0.5,shift_div=4').",
    "num_frames": "Frames per clip (0: the model's default).",
    "input_size": "Square crop size in pixels (0: the model's default; 32 on the synthetic set).",
    "sampling": "Frame sampling: auto (model default), segments (TSN) or dense.",
    "frame_interval": "Stride between frames for dense sampling.",
    # data
    "dataset": "Dataset format: synthetic (generated, cached), ssv2, kinetics, list, ucf101, "
    "hmdb51, folder, charades (multi-label; a list with 'path 3,7' lines is multi-label too).",
    "train_annotations": "Training annotations (file, or folder for ucf101/hmdb51/folder).",
    "val_annotations": "Validation annotations (same kinds as --train_annotations).",
    "video_root": "Folder holding the videos (prefix for relative paths).",
    "labels": "Class names / labels file (SSv2 labels json, a names list, ...).",
    "video_extension": "Video file extension for ssv2/kinetics ('' = format default).",
    "split": "Official split number for ucf101/hmdb51.",
    "kinetics_split": "Kinetics: keep only the CSV rows whose split column is this ('': all).",
    "label_flip_map": "JSON {label: label after a horizontal flip} (or a list); ssv2 uses a "
    "label_flip_map.json beside --labels when present, else the official "
    "174-class pairs.",
    "data_root": "Where the synthetic dataset is generated (cached by parameters).",
    "synthetic_classes": "Synthetic: number of classes (even, 2..12; time-reversed pairs).",
    "synthetic_train_per_class": "Synthetic: training videos per class.",
    "synthetic_val_per_class": "Synthetic: validation videos per class.",
    "synthetic_frames": "Synthetic: frames per video.",
    "synthetic_size": "Synthetic: frame size in pixels.",
    "synthetic_seed": "Synthetic: generator seed.",
    "max_train_videos": "Use at most this many training videos (0: all).",
    "max_val_videos": "Use at most this many validation videos (0: all).",
    "crop": "Training crop: multi_scale (TSN), random_resized, jitter (short side in "
    "[S, 1.25 S]), center.",
    "short_side": "Short side before cropping (0: round(input_size * 8 / 7)).",
    "flip": "Random horizontal flips (labels of left/right classes are swapped).",
    "color_jitter": "Colour jitter strength s: brightness, contrast and saturation factors in "
    "[1-s, 1+s], one draw per clip (0: off; 0.4 is the usual recipe).",
    "randaugment": "RandAugment 'N,M': N ops of magnitude M (0..10) per clip, the same for "
    "every frame ('': off; e.g. 2,9).",
    "repeat_aug": "Repeated augmentation: K augmented views of every decoded clip (decoded "
    "once); an epoch trains on K views of every video.",
    "mixup": "MixUp Beta alpha (0: off; e.g. 0.8): batch-level, soft labels.",
    "cutmix": "CutMix Beta alpha (0: off; e.g. 1.0): one box for all frames, labels weighted by "
    "area; with --mixup, one of the two per batch.",
    "on_error": "Undecodable video: skip (counted, reported) or raise.",
    # optimisation
    "batch_size": "Clips per replica; global batch = batch_size x replicas.",
    "epochs": "Training epochs.",
    "steps_per_epoch": "Optimizer steps per epoch (0: train videos // global batch).",
    "optimizer": "sgd (momentum, Nesterov, PyTorch-style L2) or adamw (decoupled decay).",
    "base_lr": "Learning rate for a global batch of --lr_reference_batch (see --lr_scaling).",
    "lr_scaling": "linear: lr = base_lr x global_batch / lr_reference_batch; sqrt; none.",
    "lr_reference_batch": "Reference global batch of --base_lr.",
    "schedule": "cosine (with warmup), step (x lr_factor at --lr_steps epochs) or constant.",
    "warmup_epochs": "Linear warmup length in epochs (fractions allowed).",
    "warmup_start_factor": "Warmup starts at this fraction of the peak learning rate.",
    "final_lr_factor": "Cosine schedule ends at this fraction of the peak learning rate.",
    "lr_steps": "Step schedule: epochs at which the rate is multiplied by --lr_factor.",
    "lr_factor": "Step schedule multiplier.",
    "weight_decay": "Weight decay (not applied to norm layers and biases).",
    "momentum": "SGD momentum.",
    "nesterov": "Nesterov momentum for SGD.",
    "label_smoothing": "Label smoothing of the cross-entropy.",
    "clipnorm": "Clip gradients to this global norm (0: off).",
    "grad_accum": "Average the gradients of K batches per optimizer step (effective batch "
    "batch_size x replicas x K; --steps_per_epoch and the lr scaling count optimizer steps).",
    "ema": "Keep an EMA of the weights (Keras' use_ema); model.keras, the evaluation after "
    "training and the export use it.",
    "ema_momentum": "EMA momentum per optimizer step (--ema).",
    "init_from": "Fine-tune from a preset directory, a .keras or .weights.h5 file or an "
    "official PyTorch checkpoint ('': from scratch); the head is reset when the class count "
    "differs.",
    "reset_head": "With --init_from: a fresh classifier even when the class counts match.",
    "partial_bn": "TSN's partial BN: freeze every BatchNormalization layer but the first.",
    "backbone_lr_mult": "Backbone learning rate = this x the head's (decay included).",
    "mixed_precision": "float32, mixed_float16 (GPU, loss scaling) or mixed_bfloat16.",
    "jit_compile": "XLA: auto (TensorFlow: on for GPUs, off on CPU; JAX: on; PyTorch: off), "
    "true, false. Forced off under MirroredStrategy on CPU devices.",
    "num_cpu_devices": "Split the CPU into N logical devices and mirror over them (no GPU; on "
    "JAX: N CPU devices under keras.distribution.DataParallel).",
    # bookkeeping
    "output_dir": "Run directory (default runs/<model>_<dataset>). Re-running the same command "
    "resumes an interrupted run from its backup.",
    "backup_every": "Optimizer steps between step-level backups (and at every epoch end).",
    "val_every": "Epochs between validations during training (0: none).",
    "seed": "Random seed (weights, sampling, augmentation).",
    "deterministic": "Deterministic ops and tf.data (with --seed: the same weights run to run, "
    "resumed or not; slower).",
    "verbose": "Keras verbosity: -1 auto (bar on a terminal), 0, 1 (bar), 2 (line per epoch).",
    # after training / evaluation
    "evaluate": "Evaluate the final model on the validation set after training.",
    "eval_num_clips": "Evaluation after training: temporal clips per video.",
    "eval_num_crops": "Evaluation after training: spatial crops per clip (1 or 3).",
    "view_aggregation": "How views are averaged: auto (the paper's way), logits or softmax.",
    "eval_reverse_frames": "Also evaluate with frames reversed after training.",
    "export": "Export a SavedModel (TF Serving layout) after training.",
    "export_dir": "Base directory of exported SavedModels (<export_dir>/<name>/<version>).",
    "export_name": "Served model name (default: the model name).",
    "tflite": "Also write <export_dir>/<name>.tflite.",
    # evaluate job
    "model_path": "A .keras file or a training output directory.",
    "eval_split": "Which split to evaluate: validation or train.",
    "num_clips": "Temporal clips per video.",
    "num_crops": "Spatial crops per clip: 1 (centre) or 3.",
    "reverse_frames": "Evaluate with the frame order reversed (temporal-sensitivity test).",
}


def _flag_kind(field):
    kind = field.type
    if isinstance(kind, str):
        kind = {
            "int": int,
            "float": float,
            "str": str,
            "bool": bool,
            "dict": dict,
            "tuple": tuple,
        }.get(kind, kind)
    origin = typing.get_origin(kind) or kind
    return origin


def define_dataclass_flags(cls, flag_values, skip=(), help_overrides=None):
    """Defines one absl flag in `flag_values` per field of dataclass `cls` (nested dataclasses
    are flattened); help texts come from `HELP`, then `help_overrides`."""
    defaults = cls()
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        value = getattr(defaults, field.name)
        if dataclasses.is_dataclass(value):
            define_dataclass_flags(type(value), flag_values, skip, help_overrides)
            continue
        text = (help_overrides or {}).get(field.name) or HELP.get(field.name, field.name)
        kind = _flag_kind(field)
        define = functools.partial(
            _DEFINE[kind] if kind in _DEFINE else flags.DEFINE_string, flag_values=flag_values
        )
        if kind in (tuple, list):
            define(field.name, [str(v) for v in value], text)
        elif kind is dict:
            define(field.name, json.dumps(value) if value else "", text)
        else:
            define(field.name, value, text)


_DEFINE = {
    bool: flags.DEFINE_bool,
    int: flags.DEFINE_integer,
    float: flags.DEFINE_float,
    tuple: flags.DEFINE_list,
    list: flags.DEFINE_list,
}


def parse_options(text):
    """`'{"a": 1}'` or `'a=1,b=x'` -> dict (values parsed as Python literals when possible)."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        return json.loads(text)
    options = {}
    for item in text.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise ValueError(f"model option {item!r} must be key=value.")
        key, raw = item.split("=", 1)
        try:
            options[key.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            options[key.strip()] = raw.strip()
    return options


def config_from_flags(cls, flag_values):
    """Builds a `cls` instance from parsed flags (inverse of `define_dataclass_flags`)."""
    kwargs = {}
    defaults = cls()
    for field in dataclasses.fields(cls):
        value = getattr(defaults, field.name)
        if dataclasses.is_dataclass(value):
            kwargs[field.name] = config_from_flags(type(value), flag_values)
            continue
        if field.name not in flag_values:
            continue
        flag = flag_values[field.name].value
        kind = _flag_kind(field)
        if kind in (tuple, list):
            flag = tuple(float(v) for v in flag)
        elif kind is dict:
            flag = parse_options(flag)
        kwargs[field.name] = flag
    return cls(**kwargs)


class UsageError(ValueError):
    """A command line that the command cannot run (the `tfvideo` command prints it, exit 2)."""


def no_arguments(args):
    """Raises `UsageError` when a command that takes only flags got positional arguments."""
    if args:
        raise UsageError(f"unexpected arguments: {' '.join(args)}")


class CommandFlags:
    """The flags of one command, in a private absl `FlagValues`.

    `define(kind, name, default, help)` is `flags.DEFINE_<kind>` into it; `define_dataclass(cls)`
    defines a job dataclass's fields; `parse(argv)` returns the positional arguments; flag
    values read as attributes (`cmd.top_k`); `given(name)` is a flag's value only when it was
    on the command line.
    """

    def __init__(self):
        object.__setattr__(self, "values", flags.FlagValues())

    def define(self, kind, name, default, help_text, **kwargs):
        if kind == "enum":
            return flags.DEFINE_enum(
                name,
                default,
                kwargs.pop("enum_values"),
                help_text,
                flag_values=self.values,
                **kwargs,
            )
        return getattr(flags, f"DEFINE_{kind}")(
            name, default, help_text, flag_values=self.values, **kwargs
        )

    def define_dataclass(self, cls, help_overrides=None):
        define_dataclass_flags(cls, self.values, help_overrides=help_overrides)

    def config(self, cls):
        """The `cls` instance the parsed flags describe."""
        return config_from_flags(cls, self.values)

    def parse(self, argv):
        """Parses `argv` (argv[0] is the program); returns the positional arguments.

        Raises:
            absl.flags.Error: an unknown flag or a bad value (the message names it).
        """
        self.values.unparse_flags()
        return self.values(list(argv))[1:]

    def given(self, name):
        return self.values[name].value if self.values[name].present else None

    def help(self):
        """Every flag with its help text and default, sorted by name."""
        text = self.values.get_help(prefix="  ", include_special_flags=False)
        # Drop absl's per-module heading: every flag of a command is the command's.
        return "\n".join(line[2:] for line in text.splitlines() if line.startswith("    "))

    def __getattr__(self, name):
        values = object.__getattribute__(self, "values")
        if name in values:
            return values[name].value
        raise AttributeError(name)
