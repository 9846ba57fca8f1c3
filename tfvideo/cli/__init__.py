"""The `tfvideo` command: one sub-command per job, one module each in `tfvideo.cli`.

    tfvideo info [--model NAME]        versions, backend, devices; a model's summary, params, MACs
    tfvideo train [flags]              = python scripts/train.py
    tfvideo evaluate [flags]           = python scripts/evaluate.py
    tfvideo export [flags]             = python scripts/export.py
    tfvideo predict VIDEO... --model PATH
    tfvideo convert [flags]            official PyTorch checkpoints -> Keras weights or a preset
    tfvideo build_tfrecords [flags]    annotated videos -> SequenceExample TFRecords
    tfvideo extract_features SOURCE    pooled backbone features per window, one .npy per video

`tfvideo COMMAND --help` lists a command's flags. The benchmarks are not part of the installed
package; they run from a source checkout: python benchmarks/zoo.py, benchmarks/gpu.py,
benchmarks/data.py.

Each command module has `FLAGS` (a `tfvideo.cli.flags.CommandFlags`: its own flags, shared with
no other command) and `main(args) -> exit code`, `args` being the positional arguments. The jobs
that chain packages (train -> evaluate -> export) live here, above `training` and `export`.
"""

import importlib
import os
import sys

COMMANDS = {
    name: f"tfvideo.cli.{name}"
    for name in (
        "info",
        "train",
        "evaluate",
        "export",
        "predict",
        "convert",
        "build_tfrecords",
        "extract_features",
    )
}
HELP_ARGS = ("-h", "-?", "--help", "--helpshort", "--helpfull")


def command_help(module, program):
    """A command's `--help`: its usage line and description, then its flags with their help and
    defaults."""
    lines = [f"usage: {program} [flags]", ""]
    if module.__doc__:
        lines += [module.__doc__.strip(), ""]
    return "\n".join(lines + ["flags:", module.FLAGS.help()])


def run_command(module_name, argv):
    """Parses `argv` (argv[0] is the program name) with the command's flags and runs its
    `main`; returns the exit code."""
    from absl import flags, logging

    from tfvideo._optional import MissingDependencyError
    from tfvideo.cli.flags import UsageError

    module = importlib.import_module(module_name)
    if any(arg in HELP_ARGS for arg in argv[1:]):
        print(command_help(module, argv[0]))
        return 0
    try:
        args = module.FLAGS.parse(argv)
    except flags.Error as error:
        print(f"{argv[0]}: error: {error} (--help lists the flags)", file=sys.stderr)
        return 2
    logging.set_verbosity(logging.WARNING)
    try:
        return int(module.main(args) or 0)
    except (MissingDependencyError, UsageError) as error:
        print(f"{argv[0]}: error: {error}", file=sys.stderr)
        return 2


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    command = argv[1]
    if command not in COMMANDS:
        print(
            f"tfvideo: unknown command {command!r}; commands: {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    return run_command(COMMANDS[command], [f"tfvideo {command}"] + argv[2:])
