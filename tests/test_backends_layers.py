"""The layer tests again, clip and causal (tests/test_layers.py, tests/test_layers_causal.py),
on the JAX and PyTorch backends, each in a child process. The tiny models' reruns are in
test_backends.py (a file of its own, so that pytest-xdist runs the two on different workers)."""

import pytest
from conftest import REPO_ROOT, run_child

SUITES = ("test_layers.py", "test_layers_causal.py")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_layer_suites_pass_on_other_backend(backend):
    pytest.importorskip(backend)
    files = [str(REPO_ROOT / "tests" / name) for name in SUITES]
    result = run_child(backend, ["-m", "pytest", "-q", "-p", "no:cacheprovider", *files], 1800)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary, summary
