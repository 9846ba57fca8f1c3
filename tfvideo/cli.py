"""The `tfvideo` command: one sub-command per job, each with the same absl flags as its script.

    tfvideo info [--model NAME]        versions, backend, devices; a model's summary, params, MACs
    tfvideo train [flags]              = python scripts/train.py
    tfvideo evaluate [flags]           = python scripts/evaluate.py
    tfvideo export [flags]             = python scripts/export.py
    tfvideo predict VIDEO... --model PATH
    tfvideo convert [flags]            official PyTorch checkpoints -> Keras weights
    tfvideo build_tfrecords [flags]    annotated videos -> SequenceExample TFRecords
    tfvideo benchmark [flags]          = python scripts/benchmark.py

`tfvideo COMMAND --help` lists a command's flags.
"""

import importlib
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
    "benchmark": "tfvideo.benchmark_main",
}


def run_command(module_name: str, argv: list[str]):
    """Runs `module.main` under absl with `argv` (argv[0] is the program name)."""
    from absl import app, flags

    module = importlib.import_module(module_name)
    # `--help` lists the flags of the command's module (absl shows only __main__'s otherwise).
    flags.adopt_module_key_flags(module)
    app.run(module.main, argv=argv)


def main(argv=None):
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
    run_command(COMMANDS[command], [f"tfvideo {command}"] + argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
