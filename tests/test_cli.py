"""The `tfvideo` console command."""

import pathlib
import subprocess
import sys

from tfvideo import cli


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tfvideo.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_info_prints_versions_backend_and_devices():
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    for key in ("tensorflow", "keras", "keras_backend", "devices", "av (PyAV)"):
        assert key in result.stdout


def test_unknown_command_fails_with_the_list_of_commands(capsys):
    assert cli.main(["tfvideo", "frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "frobnicate" in err and "train" in err


def test_help_lists_commands(capsys):
    assert cli.main(["tfvideo", "--help"]) == 0
    assert "predict" in capsys.readouterr().out


# The console script pip installed beside this interpreter (what a user types), not `python -m`.
CONSOLE_SCRIPT = pathlib.Path(sys.executable).with_name("tfvideo")

# Per command: flags its --help must list, with the default printed where one is given here
# (written from the commands' documented flags, not from the flag definitions).
HELP_FLAGS = {
    "train": {
        "--model": "tsm_tiny",
        "--epochs": "20",
        "--backup_every": "50",
        "--batch_size": "16",
        "--[no]export": "true",
    },
    "evaluate": {"--batch_size": "8", "--eval_split": "validation", "--dataset": None},
    "export": {
        "--model": None,
        "--format": "saved_model",
        "--quantize": "none",
        "--[no]warmup": "true",
    },
    "extract_features": {
        "--model": None,
        "--output_dir": "features",
        "--window": "2s",
        "--stride": "1s",
        "--batch_size": "8",
    },
    "predict": {
        "--model": None,
        "--top_k": "5",
        "--[no]json": "false",
        "--[no]timeline": "false",
        "--window": "2s",
        "--stride": "1s",
        "--overlay": None,
        "--explain": None,
    },
    "convert": {"--arch": None, "--checkpoint": None, "--out": None},
    "info": {"--model": None, "--[no]list": "false", "--[no]summary": "true"},
    "build_tfrecords": {"--train_annotations": None, "--jpeg_quality": "90", "--fps": "0.0"},
}


def _flag_blocks(help_text):
    """`--flag` -> the help text of that flag (its line and the indented lines after it)."""
    blocks, name = {}, None
    for line in help_text.splitlines():
        if line.startswith("  --"):
            name = line.split(":", 1)[0].strip()
            blocks[name] = line
        elif name and line.startswith("    "):
            blocks[name] += " " + line.strip()
        else:
            name = None
    return blocks


def test_every_command_help_through_the_console_script_lists_its_flags(tmp_path):
    assert CONSOLE_SCRIPT.is_file(), f"{CONSOLE_SCRIPT}: the console script is not installed"
    assert set(HELP_FLAGS) == set(cli.COMMANDS)
    processes = {
        command: subprocess.Popen(
            [str(CONSOLE_SCRIPT), command, "--help"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in HELP_FLAGS
    }
    for command, process in processes.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        blocks = _flag_blocks(out)
        for flag, default in HELP_FLAGS[command].items():
            assert flag in blocks, f"tfvideo {command} --help does not list {flag}:\n{out}"
            assert len(blocks[flag]) > len(flag) + 10, blocks[flag]  # with its help text
            if default is not None:
                assert f"(default: '{default}')" in blocks[flag], blocks[flag]
