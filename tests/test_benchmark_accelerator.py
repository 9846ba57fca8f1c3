"""The accelerator comparison (tfvideo on JAX in bf16 vs PyTorch under bf16 autocast) runs end to
end on the CPU with tiny settings; timings are not asserted."""

import json
import os
import subprocess
import sys

# benchmarks/ sits beside tfvideo/ in the checkout and is not installed.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from conftest import child_env  # noqa: E402

from benchmarks import accelerator as acc  # noqa: E402
from benchmarks.harness import run_for_result  # noqa: E402


def test_tfvideo_side_trains_in_bf16_on_jax_without_tensorflow():
    # The GPU machines have JAX and PyTorch but no TensorFlow: block its import.
    code = (
        f"import json, sys; sys.modules['tensorflow'] = None; sys.path.insert(0, {ROOT!r}); "
        "from benchmarks import accelerator as acc; "
        "print('RESULT ' + json.dumps(acc.measure_tfvideo("
        "'tsm_tiny', num_classes=7, batch_size=2, steps=4, warmup=1)))"
    )
    row = run_for_result(
        [sys.executable, "-c", code],
        "tsm_tiny on JAX without TensorFlow",
        env=child_env("jax"),
    )
    assert row["dtype_policy"] == "mixed_bfloat16" and row["device"].startswith("cpu")
    assert row["input"] == "8x64x64" and row["batch_size"] == 2
    assert row["inference_clips_s"] > 0 and row["training_clips_s"] > 0
    # Five SGD steps (1 warm-up + 4 timed) on one fixed batch: the jitted step really updates
    # the weights.
    assert row["loss_last"] < row["loss_first"]


def test_reference_side_runs_under_autocast():
    row = acc.measure_reference("teinet_r50", batch_size=1, steps=1, warmup=0)
    assert row["dtype"] == "bfloat16" and row["device"] == "cpu:cpu"
    assert row["input"] == "8x224x224"
    assert row["inference_clips_s"] > 0 and row["training_clips_s"] > 0
    # torchvision ResNet-50 with a 400-way head: 25,557,032 parameters for 1000 classes,
    # minus 600 rows of the 2048-input FC (weights and bias).
    assert row["params"] == 25_557_032 - 600 * 2049


def test_script_writes_report_and_marks_models_without_reference(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "gpu.py"),
            "--models=tsm_tiny",
            "--batch_size=2",
            "--steps=2",
            "--warmup=1",
            f"--output_dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "benchmark_gpu.json").read_text())
    (row,) = report["rows"]
    assert row["model"] == "tsm_tiny" and row["tfvideo"]["training_clips_s"] > 0
    assert row["reference_skipped"] == "no PyTorch reference for this model"
    table = (tmp_path / "benchmark_gpu.md").read_text()
    assert "| tsm_tiny | 8x64x64 | 2 |" in table and "cpu" in table


def test_ratios_in_table_are_tfvideo_over_reference():
    ours = {
        "input": "8x224x224",
        "batch_size": 32,
        "inference_clips_s": 600.0,
        "training_clips_s": 150.0,
    }
    ref = {"inference_clips_s": 200.0, "training_clips_s": 100.0, "reference": "official"}
    row = {"model": "tada2d_r50", "tfvideo": ours, "reference": ref, **acc.ratios(ours, ref)}
    assert row["inference_ratio"] == 3.0 and row["training_ratio"] == 1.5
    line = acc.markdown_table([row]).splitlines()[-1]
    assert line == (
        "| tada2d_r50 | 8x224x224 | 32 | 600.0 | 200.0 | 3.00 | 150.0 | 100.0 | 1.50 | official |"
    )


def test_jitted_forward_has_no_layout_transposes():
    # Temporal convolutions, shifts and calibrations run on free reshapes of the channels-last
    # tensors ([B*T, H, W, C] <-> [B, T, H*W, C]); a permutation would cost a full copy per layer
    # on a GPU. Count transposes in the lowered (StableHLO) forward of one model per family.
    code = (
        f"import sys; sys.path.insert(0, {ROOT!r})"
        + """
import json, re
import jax, numpy as np
from tfvideo import models
counts = {}
for name in ["tsm_tiny", "teinet_tiny", "tada2d_tiny", "blvnet_tam_tiny", "s3d_tiny",
             "tadaconvnext_tiny"]:
    m = models.create(name, num_classes=5)
    trainable = [v.value for v in m.trainable_variables]
    frozen = [v.value for v in m.non_trainable_variables]
    x = np.zeros((2,) + tuple(m.inputs[0].shape[1:]), "float32")
    forward = jax.jit(lambda t, f, x: m.stateless_call(t, f, x, training=False)[0])
    text = forward.lower(trainable, frozen, x).as_text()
    counts[name] = {op: len(re.findall(r"stablehlo\\." + op + r"\\b", text))
                    for op in ("transpose", "convolution")}
print("RESULT " + json.dumps(counts))
"""
    )
    counts = run_for_result(
        [sys.executable, "-c", code],
        "the lowered forwards on JAX",
        env=child_env("jax"),
    )
    assert len(counts) == 6
    for name, ops in counts.items():
        assert ops["convolution"] > 0, name  # the count sees the graph
        assert ops["transpose"] == 0, (name, ops)
