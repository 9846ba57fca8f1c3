"""The official PyTorch implementations, timed on the same CPU as tfvideo's models.

Nothing of the reference code is part of tfvideo: the official TAdaConv and bLVNet-TAM models
are built from local checkouts whose paths the caller gives; torchvision's S3D comes from
torchvision. Each reference runs in its own subprocess with random weights.

Example:
    python benchmarks/zoo.py --models s3d --modes tf_function --batch_sizes 1 \\
        --compare_reference
"""

import os
import sys
import textwrap

from benchmarks.harness import run_for_result


def _tadaconv_model(config_code, clip_shape):
    """Builder snippet for a model of the TAdaConv repository: `config_code` sets `config`, the
    path of its YAML config (relative to the checkout, or a file it writes)."""
    return "\n".join(
        [
            textwrap.dedent("""
        import tempfile, types
        sys.modules.setdefault("oss2", types.ModuleType("oss2"))  # cloud storage, unused
        os.chdir(checkout); sys.path.insert(0, checkout)
    """),
            textwrap.dedent(config_code),
            textwrap.dedent(f"""
        sys.argv = ["ref", "--cfg", config, "OUTPUT_DIR", tempfile.mkdtemp()]
        from tadaconv.utils.config import Config
        from tadaconv.models.base.builder import build_model
        cfg = Config(load=True); cfg.NUM_GPUS = 0; cfg.NUM_SHARDS = 1
        model, _ = build_model(cfg)
        clip_shape = {clip_shape!r}
    """),
        ]
    )


# tfvideo model -> (frames, size, reference name, builder snippet needing `checkout`).
_BUILDERS = {
    "s3d": (
        16,
        224,
        "torchvision S3D",
        None,
        textwrap.dedent("""
        import torchvision
        model = torchvision.models.video.s3d(weights=None)
        clip_shape = (3, 16, 224, 224)
    """),
    ),
    "tada2d_r50": (
        8,
        224,
        "official TAda2D-R50 (alibaba-mmai-research/TAdaConv)",
        "tadaconv",
        _tadaconv_model(
            """
        config = "configs/projects/tada/k400/tada2d_8x8.yaml"
    """,
            clip_shape=(3, 8, 224, 224),
        ),
    ),
    "blvnet_tam_r50": (
        16,
        224,
        "official bLVNet-TAM-50 8x2 (IBM/bLVNet-TAM)",
        "blvnet",
        textwrap.dedent("""
        sys.path.insert(0, checkout)
        from core.models.blvnet_tam import bLVNet_TAM
        model = bLVNet_TAM(dict(depth=50, alpha=2, beta=4, groups=16, blending_frames=3,
                                input_channels=3, imagenet_blnet_pretrained=False,
                                blending_method="sum", partial_freeze_bn=False, dropout=0.5,
                                num_classes=174, dataset="st2stv2", pretrained=False))
        clip_shape = (16 * 3, 224, 224)
    """),
    ),
    "s3dg": (
        64,
        224,
        ("S3D-G of alibaba-mmai-research/TAdaConv (PyTorch; the paper's own code is TF-slim)"),
        "tadaconv",
        _tadaconv_model(
            """
        config = os.path.join(tempfile.mkdtemp(), "s3dg.yaml")
        with open(config, "w") as file:
            file.write(f"_BASE_RUN: {checkout}/configs/pool/run/training/from_scratch_large.yaml\\n"
                       f"_BASE_MODEL: {checkout}/configs/pool/backbone/s3dg.yaml\\n"
                       "DATA: {NUM_INPUT_FRAMES: 64, TRAIN_CROP_SIZE: 224}\\n"
                       "VIDEO: {HEAD: {NUM_CLASSES: 400}}\\n")
    """,
            clip_shape=(3, 64, 224, 224),
        ),
    ),
    # TEINet has no official code (papers.md 2.1). The stand-in is its 2D backbone alone,
    # torchvision's ResNet-50 on every frame with the scores averaged: the reference cost
    # without TEINet's modules, so the ratio against it is a lower bound.
    "teinet_r50": (
        8,
        224,
        "torchvision ResNet-50 per frame (stand-in: no official TEINet code)",
        None,
        textwrap.dedent("""
        import torchvision

        class PerFrame(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = torchvision.models.resnet50(weights=None, num_classes=400)

            def forward(self, x):  # [B, T, 3, H, W]
                return self.net(x.flatten(0, 1)).unflatten(0, x.shape[:2]).mean(1)

        model = PerFrame()
        clip_shape = (8, 3, 224, 224)
    """),
    ),
}

_TIMER = textwrap.dedent("""
    import json, os, statistics, sys, time
    import torch
    checkout, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    {build}
    clip = torch.randn((1,) + clip_shape)
    model.eval()
    with torch.inference_mode():
        model(clip)
        times = []
        for _ in range(repeats):
            start = time.perf_counter(); model(clip); times.append(time.perf_counter() - start)
    print("RESULT " + json.dumps({{"seconds": statistics.median(times),
                                  "params": sum(p.numel() for p in model.parameters()),
                                  "torch": torch.__version__}}))
""")


def reference_needs(model_name):
    """The checkout a reference needs ("tadaconv", "blvnet"), "" when it needs none (it comes
    from torchvision), None when `model_name` has no reference."""
    entry = _BUILDERS.get(model_name)
    return None if entry is None else (entry[3] or "")


def reference_builder(model_name, checkout=None):
    """`(frames, size, label, code)`: the code builds `model` and `clip_shape` (one clip,
    PyTorch layout) with `torch`, `os`, `sys` and `checkout` in scope."""
    if model_name not in _BUILDERS:
        raise ValueError(
            f"no PyTorch reference for {model_name!r}; references: {', '.join(_BUILDERS)}"
        )
    frames, size, label, needs, build = _BUILDERS[model_name]
    if needs and not checkout:
        raise ValueError(f"{label} needs --reference_{needs} (a local checkout)")
    return frames, size, label, build


def time_reference(model_name, checkout=None, threads=None, repeats=3) -> dict:
    """Median forward latency (batch 1, inference mode) of the reference for `model_name`."""
    frames, size, label, build = reference_builder(model_name, checkout)
    timing = run_for_result(
        [
            sys.executable,
            "-c",
            _TIMER.format(build=build),
            os.path.abspath(checkout or "."),
            str(threads or os.cpu_count()),
            str(repeats),
        ],
        label,
    )
    return {"reference": label, "input": f"{frames}x{size}x{size}", **timing}


def compare(rows, tadaconv_checkout=None, blvnet_checkout=None, threads=None, repeats=3):
    """Ratio tfvideo / reference of batch-1 forward latency for each measured pair.

    tfvideo's time is its fastest TensorFlow runtime among tf.function (with or without XLA)
    and the SavedModel, each of which a user can deploy.
    """
    checkouts = {"tadaconv": tadaconv_checkout, "blvnet": blvnet_checkout}
    comparisons = []
    for model_name, (_, _, _, needs, _) in _BUILDERS.items():
        row = rows.get(model_name)
        if row is None or (needs and not checkouts[needs]):
            continue
        candidates = {
            mode: row["latency_s"][mode]["1"]
            for mode in ("tf_function", "tf_function_xla", "saved_model")
            if "1" in row["latency_s"].get(mode, {})
        }
        if not candidates:
            continue
        mode = min(candidates, key=candidates.get)
        reference = time_reference(model_name, checkouts.get(needs), threads, repeats)
        comparisons.append(
            {
                "model": model_name,
                "input": row["input"],
                "tfvideo_mode": mode,
                "tfvideo_s": candidates[mode],
                **reference,
                "reference_s": reference["seconds"],
                "ratio": candidates[mode] / reference["seconds"],
            }
        )
    return comparisons


def markdown_table(comparisons) -> str:
    """One line per `compare` result: both latencies and the ratio."""
    lines = [
        "| model | input | tfvideo (s) | reference | reference (s) | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for ref in comparisons:
        lines.append(
            f"| {ref['model']} | {ref['input']} | {ref['tfvideo_s']:.3f} "
            f"({ref['tfvideo_mode']}) | {ref['reference']} | {ref['reference_s']:.3f} "
            f"| {ref['ratio']:.2f} |"
        )
    return "\n".join(lines)
