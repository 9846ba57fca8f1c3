"""The `tfvideo` console command."""

import subprocess
import sys

from tfvideo import cli


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tfvideo.cli", *args], capture_output=True,
                          text=True, timeout=300)


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
