"""The benchmark harness runs end to end on a tiny model (timings are not asserted)."""

import json
import os
import sys

import pytest
from absl.testing import flagsaver  # noqa: F401  (absl is a dependency)

# benchmarks/ sits beside tfvideo/ in the checkout and is not installed.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import runtimes  # noqa: E402

# tsm_tiny (8 frames of 64 x 64, 5 classes) by hand: a bottleneck ResNet of one block per
# stage, base width 16, no stem max-pool, stride on the 3x3, a per-frame FC (the shift has no
# weights and no multiply-adds). (in, mid, out) channels and output side of each stage:
_STAGES = ((16, 16, 64, 32), (64, 32, 128, 16), (128, 64, 256, 8), (256, 128, 512, 4))
# Parameters (BN running statistics excluded): conv1 7x7x3x16; per block the 1x1, 3x3 and
# 1x1 convs, the 1x1 projection and four BNs of 2 affine terms each; bn1; the FC with bias.
TSM_TINY_PARAMS = (
    7 * 7 * 3 * 16
    + 2 * 16
    + sum(i * m + 9 * m * m + m * o + i * o + 2 * (m + m + o + o) for i, m, o, _ in _STAGES)
    + 512 * 5
    + 5
)
# MACs: output positions x output channels x taps x input channels, per frame, x 8 frames.
# Each block's first 1x1 runs at the stage's input side (twice the output side, except
# layer1, whose input is the 32 x 32 stem output).
TSM_TINY_MACS = 8 * (
    32 * 32 * 16 * 7 * 7 * 3
    + sum(
        (s if k == 0 else 2 * s) ** 2 * m * i + s * s * (9 * m * m + m * o + i * o)
        for k, (i, m, o, s) in enumerate(_STAGES)
    )
    + 512 * 5
)


def test_tiny_cost_by_hand():
    assert TSM_TINY_PARAMS == 508_949
    assert TSM_TINY_MACS == 239_489_024


def test_measure_model_reports_cost_and_every_requested_runtime():
    row = runtimes.measure_model(
        "tsm_tiny",
        num_classes=5,
        modes=("tf_function", "litert_float"),
        batch_sizes=(1, 2),
        repeats=1,
        warmup=1,
    )
    assert row["params"] == TSM_TINY_PARAMS
    assert row["gmacs"] == pytest.approx(TSM_TINY_MACS / 1e9, rel=1e-12)
    assert not row["errors"]
    for mode in ("tf_function", "litert_float"):
        assert set(row["latency_s"][mode]) == {"1", "2"}
        assert all(seconds > 0 for seconds in row["latency_s"][mode].values())
    assert row["sizes_bytes"]["litert_float"] > 0
    table = runtimes.markdown_table([row], batch_sizes=(1, 2))
    assert "tsm_tiny" in table and "clips/s" in table
    json.dumps(row)  # the report is JSON-serialisable


def test_a_failing_runtime_is_reported_not_fatal():
    row = runtimes.measure_model(
        "tsm_tiny", num_classes=5, modes=("no_such_mode",), batch_sizes=(1,), repeats=1
    )
    assert "no_such_mode@1" in row["errors"]
