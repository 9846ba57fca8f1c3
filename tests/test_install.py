"""What a new user runs first: the README's two commands (the ones `.ci/run` runs), and the package
installed from a wheel into a clean virtual environment, away from the source tree."""

import json
import pathlib
import re
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

COMMAND_LINE = re.compile(r"^in_fresh_env \w+ '(.+)'$")


def readme_commands():
    """The commands of the README's first bash block, comments stripped."""
    text = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def ci_commands():
    lines = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    return [m.group(1) for m in map(COMMAND_LINE.match, lines) if m]


def test_ci_runs_the_readme_commands_exactly():
    readme = readme_commands()
    assert readme == [
        "pip install -e . && python scripts/train.py",
        'pip install -e ".[test]" && python -m pytest -n 2 --dist loadfile tests',
    ]
    assert ci_commands() == readme


def test_setup_base_install_has_what_the_default_job_imports():
    """The default job exports warmup requests: their protos are in install_requires."""
    setup = (REPO_ROOT / "setup.py").read_text()
    base = setup[setup.index("install_requires=[") :]
    base = base[: base.index("]")]
    for package in ("tensorflow==", "keras", "av", "tensorflow-serving-api"):
        assert f'"{package}' in base, package


def _run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=900, **kwargs)


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    """A clean virtual environment (no system packages) with the wheel and its base dependencies."""
    root = tmp_path_factory.mktemp("wheel_env")
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO_ROOT),
            "--no-deps",
            "-w",
            str(root / "dist"),
        ]
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((root / "dist").glob("tfvideo-*.whl"))
    created = _run([sys.executable, "-m", "venv", str(root / "venv")])
    assert created.returncode == 0, created.stderr
    python = root / "venv" / "bin" / "python"
    installed = _run([str(python), "-m", "pip", "install", str(wheel)])
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    work = root / "elsewhere"  # not the checkout: nothing can be found by walking up from it
    work.mkdir()
    return {"python": python, "tfvideo": root / "venv" / "bin" / "tfvideo", "cwd": work}


@pytest.fixture(scope="module")
def fixture_video(tmp_path_factory):
    from data_fixtures import write_video

    path = tmp_path_factory.mktemp("videos") / "clip.mp4"
    write_video(str(path), num_frames=16)
    return path


def _predict(env, *args):
    result = _run([str(env["tfvideo"]), "predict", *args, "--json"], cwd=env["cwd"])
    return result, (json.loads(result.stdout) if result.stdout.strip().startswith("{") else None)


def test_wheel_in_a_clean_env_predicts_like_the_source_tree(wheel_env, fixture_video):
    from tfvideo.export.predict import classify_files, load_predictor

    located = _run(
        [str(wheel_env["python"]), "-c", "import tfvideo; print(tfvideo.__file__)"],
        cwd=wheel_env["cwd"],
    )
    assert located.stdout.startswith(str(wheel_env["python"].parents[1])), located.stdout

    committed = REPO_ROOT / "saved_models" / "tsm_tiny"
    expected = classify_files([str(fixture_video)], load_predictor(str(committed)))[0]
    for args in ([str(fixture_video), "--model", str(committed)], [str(fixture_video)]):
        result, out = _predict(wheel_env, *args)
        assert result.returncode == 0, result.stderr[-3000:]
        got = out["results"][0]["predictions"]
        assert [p["label"] for p in got] == [p["label"] for p in expected["predictions"]]
        assert [p["probability"] for p in got] == pytest.approx(
            [p["probability"] for p in expected["predictions"]], abs=1e-5
        )
    # Without --model: the demo model shipped inside the installed package.
    assert "/site-packages/tfvideo/_bundled/saved_models/tsm_tiny" in out["model"]


def test_missing_optional_package_gets_one_line_naming_the_extra(wheel_env, fixture_video):
    tflite = REPO_ROOT / "saved_models" / "tsm_tiny.tflite"
    result, _ = _predict(wheel_env, str(fixture_video), "--model", str(tflite))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        "needs ai-edge-litert, which is not installed (pip install 'tfvideo[litert]')"
        in result.stderr
    ), result.stderr[-2000:]
    checkpoint = wheel_env["cwd"] / "model.pth"
    checkpoint.write_bytes(b"not read: torch is missing")
    result = _run(
        [
            str(wheel_env["tfvideo"]),
            "convert",
            "--arch=tsm_tiny",
            f"--checkpoint={checkpoint}",
            "--out=x.weights.h5",
        ],
        cwd=wheel_env["cwd"],
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "needs torch, which is not installed (pip install 'tfvideo[torch]')" in result.stderr
