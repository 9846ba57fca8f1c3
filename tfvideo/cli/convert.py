"""`tfvideo convert`: an official PyTorch checkpoint -> Keras weights for a tfvideo model.

    tfvideo convert --arch tada2d_r50 --checkpoint tada2d_8x8.pyth --out tada2d_r50.weights.h5
    tfvideo convert --arch s3d --checkpoint s3d-d76dad2f.pth --out s3d_k400.weights.h5
    tfvideo convert --arch tsm_r50 --checkpoint resnet50-11ad3fa6.pth --out tsm_imagenet.weights.h5

The model is built with `tfvideo.models.create(arch, num_classes=<classes in the checkpoint>)`
(`--num_frames`, `--input_size`, `--model_options` change the build; weights do not depend on
the frame count or input size), the checkpoint is loaded strictly (every tensor used, every
weight written, shapes and BN epsilons checked), and the weights are saved: `.weights.h5`
(load with `model.load_weights`) or `.keras` (the whole model). Load them later into
`create(arch, num_classes=N, num_frames=T)` with the same N.
"""

import json
import sys

from tfvideo.cli.flags import CommandFlags, no_arguments
from tfvideo.convert import core

FLAGS = CommandFlags()

FLAGS.define("string", "arch", None, "Registered model name, e.g. tada2d_r50, s3d, blvnet_tam_r50.")
FLAGS.define("string", "checkpoint", None, "PyTorch checkpoint (.pth/.pyth/.pth.tar) or .npz.")
FLAGS.define("string", "out", None, "Output file: NAME.weights.h5 (weights) or NAME.keras (model).")
FLAGS.define(
    "string",
    "preset",
    None,
    "Also (or instead of --out) write a preset directory: config, weights and spec, loadable "
    "with tfvideo.models.from_preset without torch.",
)
FLAGS.define(
    "enum",
    "source",
    None,
    "Checkpoint layout; detected from the key names when omitted.",
    enum_values=sorted(core.SOURCES),
)
FLAGS.define("integer", "num_classes", None, "Classes of the model; default: the checkpoint's.")
FLAGS.define("integer", "num_frames", None, "Frames per clip of the built model (default: arch's).")
FLAGS.define("integer", "input_size", None, "Frame size of the built model (default: arch's).")
FLAGS.define("string", "model_options", None, "JSON dict of extra builder options.")
FLAGS.define(
    "bool",
    "include_head",
    None,
    "Load the classifier. Default: yes, unless --num_classes "
    "differs from the checkpoint's classes.",
)
FLAGS.define(
    "bool", "ema", False, "Use the EMA weights (model_ema_state) of a TAdaConv checkpoint."
)
FLAGS.define("bool", "allow_pickle", False, "torch.load(weights_only=False): trusted files only.")


def convert(
    arch,
    checkpoint,
    out,
    *,
    source=None,
    num_classes=None,
    num_frames=None,
    input_size=None,
    model_options=None,
    include_head=None,
    ema=False,
    allow_pickle=False,
    preset=None,
):
    """Builds `arch`, loads `checkpoint` into it and saves it to `out` (a `.keras` or
    `.weights.h5` file) and/or to the preset directory `preset`; returns (model, report)."""
    from tfvideo import models

    if out is None and preset is None:
        raise ValueError("give --out (a .keras or .weights.h5 file) or --preset (a directory)")
    if out is not None and not str(out).endswith((".weights.h5", ".keras")):
        raise ValueError(f"--out must end with .weights.h5 or .keras, got {out!r}")
    state = core.read_state_dict(checkpoint, ema=ema, allow_pickle=allow_pickle)
    source = source or core.detect_source(state)
    classes = core.checkpoint_num_classes(state, source)
    if include_head is None:
        include_head = classes is not None and num_classes in (None, classes)
    if num_classes is None:
        num_classes = classes if include_head and classes else models.defaults(arch)["num_classes"]
    model = models.create(
        arch,
        num_classes=num_classes,
        num_frames=num_frames,
        input_size=input_size,
        **(model_options or {}),
    )
    report = core.load_torch_state_dict(model, state, source=source, include_head=include_head)
    if out is None:
        pass
    elif str(out).endswith(".keras"):
        model.save(out)
    else:
        model.save_weights(out)
    if preset is not None:
        model.save_to_preset(preset)
    return model, report


def main(args):
    no_arguments(args)
    for name in ("arch", "checkpoint"):
        if not FLAGS.given(name):
            print(f"tfvideo convert: --{name} is required", file=sys.stderr)
            return 2
    if not (FLAGS.given("out") or FLAGS.given("preset")):
        print("tfvideo convert: --out or --preset is required", file=sys.stderr)
        return 2
    options = FLAGS.given("model_options")
    try:
        model, report = convert(
            FLAGS.given("arch"),
            FLAGS.given("checkpoint"),
            FLAGS.given("out"),
            source=FLAGS.given("source"),
            num_classes=FLAGS.given("num_classes"),
            num_frames=FLAGS.given("num_frames"),
            input_size=FLAGS.given("input_size"),
            model_options=json.loads(options) if options else {},
            include_head=FLAGS.given("include_head"),
            ema=bool(FLAGS.given("ema")),
            allow_pickle=bool(FLAGS.given("allow_pickle")),
            preset=FLAGS.given("preset"),
        )
    except (ValueError, FileNotFoundError, ImportError) as error:
        print(f"tfvideo convert: {error}", file=sys.stderr)
        return 1
    print(report.summary())
    written = " and ".join(p for p in (FLAGS.given("out"), FLAGS.given("preset")) if p)
    print(
        f"wrote {written}: {model.name}, {model.count_params():,} parameters, "
        f"{model.output_shape[-1]} classes"
    )
