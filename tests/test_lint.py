"""The repository passes its linter and formatter (ruff, configured in ruff.toml)."""

import shutil
import subprocess

import pytest
from conftest import REPO_ROOT


def _ruff(*args):
    ruff = shutil.which("ruff")
    assert ruff, "ruff is not installed (it is in the test extra: pip install -e '.[test]')"
    return subprocess.run([ruff, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "command", [("check", "."), ("format", "--check", ".")], ids=["check", "format"]
)
def test_ruff(command):
    result = _ruff(*command)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
