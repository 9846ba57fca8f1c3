"""The benchmark harness runs end to end on a tiny model (timings are not asserted)."""

import json
import os
import sys
import textwrap

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


def test_training_steps_in_both_precisions_and_their_fraction_of_peak():
    """train_step / train_step_bf16 run (the bf16 copy computes in bf16 with float32
    variables), and the peak table counts a training step as 3x the forward's multiply-adds."""
    row = runtimes.measure_model(
        "tsm_tiny",
        num_classes=5,
        modes=("train_step", "train_step_bf16"),
        batch_sizes=(2,),
        repeats=1,
        warmup=1,
    )
    assert not row["errors"], row["errors"]
    assert set(row["latency_s"]) == {"train_step", "train_step_bf16"}
    # 2 x (3 x 1 GMACs) x batch 2 in 0.1 s = 120 GFLOP/s: 50 % of 240 (bf16), 60 % of 200
    fake = {
        "model": "m",
        "gmacs": 1.0,
        "latency_s": {"train_step": {"2": 0.1}, "train_step_bf16": {"2": 0.1}},
    }
    peaks = {"float32": {"1": 100.0, "all": 200.0}, "bfloat16": {"1": 120.0, "all": 240.0}}
    table = runtimes.peak_table([fake], peaks, (2,))
    assert "| m | train_step | 2 | 120 | 60% |" in table
    assert "| m | train_step_bf16 | 2 | 120 | 50% |" in table


def test_reference_training_step_is_timed_and_compared(monkeypatch):
    """compare() times the reference's SGD training step at tfvideo's train_step batch and
    reports the ratio (a tiny PyTorch model standing in for an official one; it returns a
    tuple, as the TAdaConv models do)."""
    pytest.importorskip("torch")
    from benchmarks import references

    tiny = """
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2 * 3 * 4 * 4, 5)

        def forward(self, x):
            return self.fc(x.flatten(1)), None

    model = Tiny()
    clip_shape = (2, 3, 4, 4)
    """
    monkeypatch.setattr(
        references, "_BUILDERS", {"tiny": (2, 4, "tiny torch", None, textwrap.dedent(tiny))}
    )
    rows = {"tiny": {"input": "2x4x4", "latency_s": {"train_step": {"4": 0.5, "8": 2.0}}}}
    (comparison,) = references.compare(rows, repeats=1)
    assert comparison["train_batch"] == 4 and "ratio" not in comparison
    assert comparison["reference_train_s"] > 0
    assert comparison["train_ratio"] == pytest.approx(0.5 / comparison["reference_train_s"])
    line = references.markdown_table([comparison]).splitlines()[-1]
    assert line.startswith("| tiny | 2x4x4 | tiny torch | n/a | n/a | n/a | 4 | 0.500 |")
