"""The `tfvideo` command: one sub-command per job, each with the same absl flags as its script.

    tfvideo info [--model NAME]        versions, backend, devices; a model's summary, params, MACs
    tfvideo train [flags]              = python scripts/train.py
    tfvideo evaluate [flags]           = python scripts/evaluate.py
    tfvideo export [flags]             = python scripts/export.py
    tfvideo predict VIDEO... --model PATH
    tfvideo convert [flags]            official PyTorch checkpoints -> Keras weights
    tfvideo build_tfrecords [flags]    annotated videos -> SequenceExample TFRecords

`tfvideo COMMAND --help` lists a command's flags. The benchmarks are not part of the installed
package; they run from a source checkout: python benchmarks/zoo.py, benchmarks/gpu.py,
benchmarks/data.py.
"""

import importlib
import os
import sys

# Sub-command -> module defining absl flags and `main(argv)`.
COMMANDS = {
    "info": "tfvideo.info_main",
    "train": "tfvideo.training.train_main",
    "evaluate": "tfvideo.training.evaluate_main",
    "export": "tfvideo.export.export_main",
    "predict": "tfvideo.export.predict_main",
    "convert": "tfvideo.convert.convert_main",
    "build_tfrecords": "tfvideo.data.build_tfrecords_main",
}


def run_command(module_name: str, argv: list[str]):
    """Runs `module.main` under absl with `argv` (argv[0] is the program name)."""
    from absl import app

    module = importlib.import_module(module_name)
    if any(arg in HELP_ARGS for arg in argv[1:]):
        print(command_help(module, argv[0]))
        sys.exit(0)  # absl's own --help exits with 1 and shows the console script's docstring
    app.run(module.main, argv=argv)


HELP_ARGS = ("-h", "-?", "--help", "--helpshort")


def command_help(module, program):
    """A command's `--help`: its usage line and description, then its flags with their help and
    defaults."""
    from absl import flags

    lines = [f"usage: {program} [flags]", ""]
    if module.__doc__:
        lines += [module.__doc__.strip(), ""]
    lines += ["flags:", flags.FLAGS.module_help(module), "",
              "Try --helpfull to get a list of all flags."]
    return "\n".join(lines)


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    command = argv[1]
    if command not in COMMANDS:
        print(f"tfvideo: unknown command {command!r}; commands: {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    try:
        importlib.import_module(COMMANDS[command])
    except ModuleNotFoundError as error:
        if error.name and COMMANDS[command].startswith(error.name):
            print(f"tfvideo: command {command!r} is not available in this version",
                  file=sys.stderr)
            return 2
        raise
    from tfvideo._optional import MissingDependencyError

    try:
        run_command(COMMANDS[command], [f"tfvideo {command}"] + argv[2:])
    except MissingDependencyError as error:
        print(f"tfvideo {command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
