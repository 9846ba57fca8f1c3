"""Data flows one way: data -> models -> training / export; `cli` sits above them all (see
docs/architecture.md). Every import of a tfvideo module, including those inside functions,
is checked against that map."""

import ast
import pathlib

TFVIDEO = pathlib.Path(__file__).resolve().parents[1] / "tfvideo"
SHARED = {"_atomic", "_optional", "__init__"}
# package -> the tfvideo packages its modules may import (besides itself and SHARED).
MAY_IMPORT = {
    "layers": set(),
    "data": set(),
    "models": {"layers"},
    "convert": {"layers", "models"},
    "optim": {"layers"},  # the registration decorator
    "training": {"data", "layers", "models", "convert", "optim"},  # finetune: --init_from a .pth
    "export": {"data", "layers", "models"},
    "streaming": {"data", "layers", "models", "export"},
    # long videos, features and Grad-CAM: use exported models (export's predictors)
    "timeline": {"data", "layers", "models", "export"},
    "features": {"data", "layers", "models", "export", "timeline"},
    "explain": {"data", "layers", "models", "export", "timeline"},
    "profile": {"layers", "models"},
    "cli": {
        "data",
        "layers",
        "models",
        "training",
        "optim",
        "export",
        "convert",
        "profile",
        "streaming",
        "timeline",
        "features",
        "explain",
    },
}


def _tfvideo_imports(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "tfvideo" and len(parts) > 1:
                yield node.lineno, parts[1]


def test_packages_import_only_what_comes_before_them():
    problems = []
    for path in sorted(TFVIDEO.rglob("*.py")):
        relative = path.relative_to(TFVIDEO)
        package = relative.parts[0].removesuffix(".py")
        if package in SHARED:
            continue
        allowed = MAY_IMPORT[package] | SHARED | {package}
        for line, target in _tfvideo_imports(path):
            if target not in allowed and target not in {"__version__"}:
                problems.append(f"tfvideo/{relative}:{line} imports tfvideo.{target}")
    assert not problems, "\n".join(problems)


def test_every_package_is_on_the_map():
    packages = {
        p.name.removesuffix(".py")
        for p in TFVIDEO.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"
    }
    assert packages - SHARED == set(MAY_IMPORT)
