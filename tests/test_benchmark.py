"""The benchmark harness runs end to end on a tiny model (timings are not asserted)."""

import json
import os
import sys

from absl.testing import flagsaver  # noqa: F401  (absl is a dependency)

from tfvideo import models, profile

# benchmarks/ sits beside tfvideo/ in the checkout and is not installed.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import runtimes  # noqa: E402


def test_measure_model_reports_cost_and_every_requested_runtime():
    row = runtimes.measure_model("tsm_tiny", num_classes=5, modes=("tf_function", "litert_float"),
                                 batch_sizes=(1, 2), repeats=1, warmup=1)
    model = models.create("tsm_tiny", num_classes=5)
    assert row["params"] == profile.count_params(model)
    assert row["gmacs"] * 1e9 == profile.count_macs(model)
    assert not row["errors"]
    for mode in ("tf_function", "litert_float"):
        assert set(row["latency_s"][mode]) == {"1", "2"}
        assert all(seconds > 0 for seconds in row["latency_s"][mode].values())
    assert row["sizes_bytes"]["litert_float"] > 0
    table = runtimes.markdown_table([row], batch_sizes=(1, 2))
    assert "tsm_tiny" in table and "clips/s" in table
    json.dumps(row)  # the report is JSON-serialisable


def test_a_failing_runtime_is_reported_not_fatal():
    row = runtimes.measure_model("tsm_tiny", num_classes=5, modes=("no_such_mode",),
                                 batch_sizes=(1,), repeats=1)
    assert "no_such_mode@1" in row["errors"]
