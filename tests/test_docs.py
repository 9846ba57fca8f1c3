"""The documentation: the MkDocs site builds with --strict and no warning, README.md stays short,
every relative link points to a file that exists, and the measured tables are what
docs/gen_tables.py renders from docs/data/*.json."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

DOCS = REPO_ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
SNIPPET = re.compile(r'^\s*--8<--\s+"([^"]+)"', re.M)


def _gen_tables():
    spec = importlib.util.spec_from_file_location("gen_tables", DOCS / "gen_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prose(text):
    """The text outside fenced code blocks and inline code spans."""
    text = re.sub(r"^(\s*)(```|~~~).*?^\1\2[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", text, flags=re.S)


def test_mkdocs_build_strict_has_no_warning(tmp_path):
    for package in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(package, reason="the docs packages come with pip install -e '.[test]'")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # mkdocs-material's banner, not a warning
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    warnings = [line for line in output.splitlines() if re.match(r"\s*(WARNING|ERROR)\b", line)]
    assert result.returncode == 0 and not warnings, output[-6000:]
    for page in (
        "index.html",
        "architecture/index.html",
        "api/layers/index.html",
        "api/models/index.html",
        "api/data/index.html",
        "api/training/index.html",
        "api/export/index.html",
        "api/convert/index.html",
        "api/profile/index.html",
    ):
        assert (tmp_path / "site" / page).is_file(), page
    # The API pages are generated from the docstrings, not empty shells.
    layers = (tmp_path / "site" / "api" / "layers" / "index.html").read_text()
    assert 'id="tfvideo.layers.TAdaConv2D"' in layers
    data = (tmp_path / "site" / "api" / "data" / "index.html").read_text()
    assert "decode_video" in data


def test_readme_is_at_most_300_lines():
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move details into docs/"


def _relative_targets(path):
    text = path.read_text()
    prose = _prose(text)
    targets = LINK.findall(prose) + REFERENCE_DEFINITION.findall(prose)
    for target in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith(("#", "//")):
            continue  # a URL, mailto:, or an anchor on the same page (mkdocs checks anchors)
        yield target
    if DOCS in path.parents:
        for target in SNIPPET.findall(text):  # included files are relative to docs/
            yield os.path.relpath(DOCS / target, path.parent)


@pytest.mark.parametrize(
    "path", [REPO_ROOT / "README.md", *PAGES], ids=lambda p: str(p.relative_to(REPO_ROOT))
)
def test_relative_links_point_to_existing_files(path):
    broken = []
    for target in _relative_targets(path):
        file_part = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (path.parent / file_part).resolve()
        if not resolved.exists() or REPO_ROOT.resolve() not in (resolved, *resolved.parents):
            broken.append(target)
    assert not broken, f"{path.name}: links to missing files: {broken}"


def test_link_checker_sees_links():
    text = "[a](x.md) ![b](img/c.png) [d](https://e.org) `[f](g.md)` [h](#i) [j](k.md#l)"
    assert LINK.findall(_prose(text)) == ["x.md", "img/c.png", "https://e.org", "#i", "k.md#l"]
    assert "g.md" not in " ".join(LINK.findall(_prose("```\n[f](g.md)\n```\n")))


def test_generated_tables_match_their_json():
    gen_tables = _gen_tables()
    stale = gen_tables.stale_outputs()
    assert not stale, (
        f"stale generated tables {[p.name for p in stale]}: run python docs/gen_tables.py"
    )
    # Every generated table is included by a page, and every include names a generated table.
    included = {m for page in PAGES for m in SNIPPET.findall(page.read_text())}
    generated = {f"generated/{p.name}" for p in (DOCS / "generated").glob("*.md")}
    assert included == generated


def test_table_json_is_consistent():
    gen_tables = _gen_tables()
    for path in sorted((DOCS / "data").glob("*.json")):
        data = gen_tables.load(path)
        assert data["kind"] in gen_tables.RENDERERS, path.name
        assert "machine" in data and "date" in data, path.name
        assert gen_tables.dumps(data) == path.read_text(), f"{path.name}: not in dumps() layout"
    reference = gen_tables.load(DOCS / "data" / "benchmark_reference_cpu.json")
    for row in reference["references"]:
        assert round(row["tfvideo_s"] / row["reference_s"], 2) == pytest.approx(row["ratio"]), row


def test_import_benchmark_reports(tmp_path):
    gen_tables = _gen_tables()
    report = {
        "machine": "CPU X, 2 cores, TF 2.21",
        "models": [
            {
                "model": "tsm_tiny",
                "input": "8x64x64",
                "params": 706_000,
                "gmacs": 0.2401,
                "peak_rss_mb": 1337.4,
                "latency_s": {"tf_function": {"1": 0.0104, "8": 0.042}},
                "throughput_clips_s": {"tf_function": {"1": 96.2, "8": 190.5}},
            }
        ],
        "references": [
            {
                "model": "s3d",
                "input": "16x224x224",
                "tfvideo_s": 0.2241,
                "tfvideo_mode": "saved_model",
                "reference": "torchvision S3D",
                "reference_s": 0.5678,
                "ratio": 0.3947,
            }
        ],
    }
    models, refs = tmp_path / "models.json", tmp_path / "refs.json"
    gen_tables.import_benchmark(report, date="2026-12-01", models_to=models, references_to=refs)
    text = gen_tables.render(gen_tables.load(models), "models.json")
    assert "| tsm_tiny | 8x64x64 | 0.71 | 0.24 | 1337 | 10 ms | 190.48 clips/s |" in text
    assert "Machine: CPU X, 2 cores, TF 2.21; Date: 2026-12-01." in text
    text = gen_tables.render(gen_tables.load(refs), "refs.json")
    assert "| s3d | 16x224x224 | 0.224 (saved_model) | torchvision S3D | 0.568 | 0.39 |" in text

    data_report = {
        "results": {
            "serial": {
                "clips_per_second": 32.71,
                "cpu_ms_per_clip": 31.6,
                "cpu_bound_clips_per_second": 31.6,
            },
            "tfrecord": {
                "clips_per_second": 388.94,
                "cpu_ms_per_clip": 4.9,
                "cpu_bound_clips_per_second": 408.2,
            },
        },
        "machine": {
            "cpus": 2,
            "platform": "Linux",
            "tensorflow": "2.21.0",
            "load_average_at_end": [3.1, 2.0, 1.0],
        },
    }
    pipeline = tmp_path / "pipeline.json"
    gen_tables.import_benchmark_data(data_report, to=pipeline, date="2026-12-01")
    text = gen_tables.render(gen_tables.load(pipeline), "pipeline.json")
    assert "| tfrecord | 388.9 | 11.89x serial | 5 | 408 |" in text


def test_fence_doctests():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("griffe_doctests", DOCS / "griffe_doctests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    flush = "Summary.\n\nExample:\n>>> d = {'a': {'b': 1}}\n>>> d['a']['b']\n1\n\nAfter."
    assert module.fence_doctests(flush) == (
        "Summary.\n\nExample:\n\n```pycon\n>>> d = {'a': {'b': 1}}\n>>> d['a']['b']\n1\n```\n\n"
        "After."
    )
    indented = "Summary.\n\nExamples:\n    >>> 1 + 1\n    2\n"
    assert module.fence_doctests(indented) == indented  # griffe's own examples section


def test_measure_zoo_recounts_a_row(tmp_path):
    """The zoo JSON's counts come from tfvideo.profile (one tiny row here; full-size rows take
    minutes to build and are checked by the model tests)."""
    gen_tables = _gen_tables()
    path = tmp_path / "zoo.json"
    gen_tables.save(
        path,
        {
            "kind": "zoo",
            "title": "t",
            "machine": None,
            "date": None,
            "rows": [
                {
                    "name": "tsm_tiny",
                    "options": {},
                    "num_frames": 8,
                    "input_size": 64,
                    "num_classes": 10,
                    "params": 0,
                    "gmacs": 0.0,
                }
            ],
        },
    )
    row = gen_tables.measure_zoo(path)["rows"][0]
    assert round(row["params"] / 1e6, 3) == 0.512  # docs/models/resnet.md: 0.512M (10 cls)
    assert row["gmacs"] == pytest.approx(0.24, abs=0.005)
    assert gen_tables.load(path)["rows"][0] == row


def _documented_flags(page):
    return set(re.findall(r"^\| `--(\w+)`", (DOCS / page).read_text(), re.M))


def _command_flags(command):
    flag_values = importlib.import_module(f"tfvideo.cli.{command}").FLAGS.values
    return {name for name in flag_values if flag_values[name].name == name} - {
        "help",
        "helpshort",
        "helpfull",
        "helpxml",
    }


def test_flag_tables_list_the_commands_flags():
    """docs/training-flags.md lists exactly `tfvideo train`'s flags; docs/evaluation.md lists the
    flags of `tfvideo evaluate` that train does not have (the dataset flags are train's)."""
    train, evaluate = _command_flags("train"), _command_flags("evaluate")
    documented_train = _documented_flags("training-flags.md")
    assert documented_train == train, (
        f"undocumented: {sorted(train - documented_train)}, "
        f"gone: {sorted(documented_train - train)}"
    )
    documented_eval = _documented_flags("evaluation.md")
    assert documented_eval <= evaluate, sorted(documented_eval - evaluate)
    assert evaluate <= documented_eval | train, sorted(evaluate - documented_eval - train)
