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

# Forward at batch 1 (inference mode) and, with a training batch > 0, a training step as the
# benchmark's train_step times tfvideo's: forward, cross-entropy, backward, SGD with momentum.
_TIMER = textwrap.dedent("""
    import json, os, statistics, sys, time
    import torch
    checkout, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    train_batch = int(sys.argv[4])
    torch.set_num_threads(threads)
    {build}

    def median_time(fn):
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter(); fn(); times.append(time.perf_counter() - start)
        return statistics.median(times)

    clip = torch.randn((1,) + clip_shape)
    model.eval()
    with torch.inference_mode():
        result = {{"seconds": median_time(lambda: model(clip))}}
    if train_batch:
        model.train()
        clips, labels = torch.randn((train_batch,) + clip_shape), torch.zeros(train_batch).long()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            optimizer.zero_grad()
            logits = model(clips)  # the TAdaConv models return (logits, extra)
            logits = logits[0] if isinstance(logits, (tuple, list)) else logits
            torch.nn.functional.cross_entropy(logits, labels).backward()
            optimizer.step()

        result["train_seconds"] = median_time(step)
    result.update(params=sum(p.numel() for p in model.parameters()), torch=torch.__version__)
    print("RESULT " + json.dumps(result))
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


def time_reference(model_name, checkout=None, threads=None, repeats=3, train_batch=0) -> dict:
    """Median forward latency (batch 1, inference mode) of the reference for `model_name` and,
    with `train_batch`, of its SGD training step at that batch (`train_seconds`)."""
    frames, size, label, build = reference_builder(model_name, checkout)
    timing = run_for_result(
        [
            sys.executable,
            "-c",
            _TIMER.format(build=build),
            os.path.abspath(checkout or "."),
            str(threads or os.cpu_count()),
            str(repeats),
            str(train_batch),
        ],
        label,
    )
    return {"reference": label, "input": f"{frames}x{size}x{size}", **timing}


def compare(rows, tadaconv_checkout=None, blvnet_checkout=None, threads=None, repeats=3):
    """Ratios tfvideo / reference for each measured pair: batch-1 forward latency and, where
    tfvideo's float32 `train_step` was timed, the training step at its smallest batch.

    tfvideo's forward time is its fastest TensorFlow runtime among tf.function (with or without
    XLA) and the SavedModel, each of which a user can deploy.
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
        training = row["latency_s"].get("train_step", {})
        train_batch = min((int(b) for b in training), default=0)
        if not candidates and not train_batch:
            continue
        reference = time_reference(
            model_name, checkouts.get(needs), threads, repeats, train_batch=train_batch
        )
        comparison = {"model": model_name, "input": row["input"], **reference}
        if candidates:
            mode = min(candidates, key=candidates.get)
            comparison.update(
                tfvideo_mode=mode,
                tfvideo_s=candidates[mode],
                reference_s=reference["seconds"],
                ratio=candidates[mode] / reference["seconds"],
            )
        if train_batch:
            comparison.update(
                train_batch=train_batch,
                tfvideo_train_s=training[str(train_batch)],
                reference_train_s=reference["train_seconds"],
                train_ratio=training[str(train_batch)] / reference["train_seconds"],
            )
        comparisons.append(comparison)
    return comparisons


def markdown_table(comparisons) -> str:
    """One line per `compare` result: both latencies and the ratio."""
    lines = [
        "| model | input | reference | forward: tfvideo (s) | reference (s) | ratio "
        "| training step: batch | tfvideo (s) | reference (s) | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ref in comparisons:
        cells = [ref["model"], ref["input"], ref["reference"]]
        if "ratio" in ref:
            cells += [
                f"{ref['tfvideo_s']:.3f} ({ref['tfvideo_mode']})",
                f"{ref['reference_s']:.3f}",
                f"{ref['ratio']:.2f}",
            ]
        else:
            cells += ["n/a"] * 3
        if "train_ratio" in ref:
            cells += [
                str(ref["train_batch"]),
                f"{ref['tfvideo_train_s']:.3f}",
                f"{ref['reference_train_s']:.3f}",
                f"{ref['train_ratio']:.2f}",
            ]
        else:
            cells += ["n/a"] * 4
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
