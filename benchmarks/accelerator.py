"""Training and inference throughput on an accelerator: tfvideo on the JAX backend in bf16
against the official PyTorch code under bf16 autocast, in one command.

Both sides run the same clip shape and batch size, each in its own subprocess (so neither
framework's memory pool or threads affect the other), on whatever device the framework finds
(the GPU when there is one; the CPU otherwise, which the tests use with tiny settings):

- tfvideo: ``keras.config`` dtype policy ``mixed_bfloat16`` (bf16 compute, float32 variables),
  the forward pass and a whole training step (forward, backward, SGD with momentum) each
  compiled once with ``jax.jit`` around ``model.stateless_call``, the step donating its buffers;
- the reference: ``torch.autocast(dtype=torch.bfloat16)``, ``cudnn.benchmark`` on, the same
  loss and optimizer, ``torch.inference_mode`` for inference.

Throughput is ``batch_size * steps / seconds`` after ``warmup`` untimed steps (compilation and
autotuning), timed up to the device synchronising. Nothing here imports TensorFlow, so it runs
where only JAX and PyTorch are installed.

`python benchmarks/gpu.py` runs it over the models of the comparison.

Example (tiny, on the CPU):
    >>> from benchmarks import accelerator as acc
    >>> row = acc.measure_tfvideo_in_subprocess("tsm_tiny", batch_size=2, steps=2, warmup=1)
    >>> row["inference_clips_s"] > 0 and row["training_clips_s"] > 0
    True
"""

import json
import os
import sys
import time

import numpy as np

from benchmarks import harness, references

# The configurations of the GPU comparison (frames and size are each model's defaults).
MODELS = ("tada2d_r50", "teinet_r50", "blvnet_tam_r50", "s3d", "s3dg")


def _device_description(device) -> str:
    kind = getattr(device, "device_kind", "") or ""
    return f"{device.platform}:{kind}" if kind else str(device.platform)


def _peak_bytes(device):
    try:
        stats = device.memory_stats() or {}
    except Exception:  # CPU devices do not report memory statistics
        return None
    return stats.get("peak_bytes_in_use")


def _timed(step, steps, warmup, block):
    for _ in range(warmup):
        block(step())
    start = time.perf_counter()
    out = None
    for _ in range(steps):
        out = step()
    block(out)
    return time.perf_counter() - start


def measure_tfvideo(
    name,
    batch_size=32,
    steps=10,
    warmup=3,
    dtype_policy="mixed_bfloat16",
    num_classes=None,
    num_frames=None,
    input_size=None,
    seed=0,
) -> dict:
    """Inference and training throughput of one registered model (Keras on JAX).

    Call it in a process whose Keras backend is JAX (``measure_tfvideo_in_subprocess`` does).
    Returns clips per second for both, the device, peak device memory where the device reports
    it, and the loss before and after the timed training steps on the one fixed batch.
    """
    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(
            f"measure_tfvideo needs KERAS_BACKEND=jax, this process runs "
            f"{keras.backend.backend()!r}"
        )
    from tfvideo import models

    keras.config.set_dtype_policy(dtype_policy)
    try:
        model = models.create(
            name, num_classes=num_classes, num_frames=num_frames, input_size=input_size
        )
    finally:
        keras.config.set_dtype_policy("float32")
    shape = (batch_size,) + tuple(model.inputs[0].shape[1:])
    rng = np.random.default_rng(seed)
    clips = jax.device_put(rng.uniform(0, 255, shape).astype("float32"))
    classes = int(model.outputs[0].shape[-1])
    labels = jax.device_put(rng.integers(0, classes, (batch_size,)).astype("int32"))

    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)
    slots = [v.value for v in optimizer.variables]
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @jax.jit
    def infer(trainable, frozen, x):
        logits, _ = model.stateless_call(trainable, frozen, x, training=False)
        return logits

    def loss_and_state(trainable, frozen, x, y):
        logits, frozen = model.stateless_call(trainable, frozen, x, training=True)
        return loss_fn(y, keras.ops.cast(logits, "float32")), frozen

    grad_fn = jax.value_and_grad(loss_and_state, has_aux=True)

    def train_step(state, x, y):
        trainable, frozen, slots = state
        (loss, frozen), grads = grad_fn(trainable, frozen, x, y)
        trainable, slots = optimizer.stateless_apply(slots, grads, trainable)
        return loss, (trainable, frozen, slots)

    train_step = jax.jit(train_step, donate_argnums=(0,))
    block = jax.block_until_ready
    inference_s = _timed(lambda: infer(trainable, frozen, clips), steps, warmup, block)

    state = (trainable, frozen, slots)
    losses = []

    def step():
        nonlocal state
        loss, state = train_step(state, clips, labels)
        losses.append(loss)
        return loss

    training_s = _timed(step, steps, warmup, block)
    device = jax.devices()[0]
    return {
        "model": name,
        "side": "tfvideo",
        "input": "x".join(str(d) for d in shape[1:4]),
        "batch_size": batch_size,
        "steps": steps,
        "dtype_policy": dtype_policy,
        "inference_clips_s": batch_size * steps / inference_s,
        "training_clips_s": batch_size * steps / training_s,
        "loss_first": float(losses[0]),
        "loss_last": float(losses[-1]),
        "device": _device_description(device),
        "peak_device_bytes": _peak_bytes(device),
        "jax": jax.__version__,
        "keras": keras.__version__,
    }


def measure_tfvideo_in_subprocess(name, **kwargs) -> dict:
    """``measure_tfvideo`` in a fresh process with ``KERAS_BACKEND=jax``."""
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    return harness.call_in_subprocess(
        "accelerator", "measure_tfvideo", f"tfvideo {name} on JAX", env=env, name=name, **kwargs
    )


_TORCH_TIMER = """
import json, os, sys, time
import torch
checkout, batch, steps, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
dtype = getattr(torch, sys.argv[5])
device = "cuda" if torch.cuda.is_available() else "cpu"
torch.backends.cudnn.benchmark = True
torch.manual_seed(0)
{build}
model.to(device)
clip = torch.randn((batch,) + clip_shape, device=device)


def logits(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def timed(step):
    for _ in range(warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


model.eval()
with torch.inference_mode(), torch.autocast(device, dtype=dtype):
    classes = logits(model(clip[:1])).shape[-1]
    inference_s = timed(lambda: model(clip))
labels = torch.randint(0, classes, (batch,), device=device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
model.train()
losses = []


def train_step():
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device, dtype=dtype):
        out = logits(model(clip))
    loss = torch.nn.functional.cross_entropy(out.float(), labels)
    loss.backward()
    optimizer.step()
    losses.append(loss.detach())


training_s = timed(train_step)
name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
print("RESULT " + json.dumps({{
    "inference_clips_s": batch * steps / inference_s,
    "training_clips_s": batch * steps / training_s,
    "loss_first": float(losses[0]), "loss_last": float(losses[-1]),
    "device": f"{{device}}:{{name}}", "peak_device_bytes": peak, "torch": torch.__version__,
    "params": sum(p.numel() for p in model.parameters())}}))
"""


def measure_reference(
    name, checkout=None, batch_size=32, steps=10, warmup=3, dtype="bfloat16"
) -> dict:
    """The same measurement for the PyTorch reference of ``name`` (see
    ``benchmarks.references``), under ``torch.autocast``."""
    frames, size, label, build = references.reference_builder(name, checkout)
    command = [
        sys.executable,
        "-c",
        _TORCH_TIMER.format(build=build),
        os.path.abspath(checkout or "."),
        str(batch_size),
        str(steps),
        str(warmup),
        dtype,
    ]
    row = harness.run_for_result(command, label)
    return {
        "model": name,
        "side": "reference",
        "reference": label,
        "input": f"{frames}x{size}x{size}",
        "batch_size": batch_size,
        "steps": steps,
        "dtype": dtype,
        **row,
    }


def ratios(ours, reference) -> dict:
    """``inference_ratio`` and ``training_ratio``: tfvideo clips/s over the reference's."""
    return {
        f"{what}_ratio": ours[f"{what}_clips_s"] / reference[f"{what}_clips_s"]
        for what in ("inference", "training")
    }


def compare(names=MODELS, checkouts=None, batch_size=32, steps=10, warmup=3, log=print):
    """tfvideo vs reference for each model whose reference is available; ratios are
    tfvideo clips/s / reference clips/s (above 1: tfvideo is faster)."""
    checkouts = checkouts or {}
    rows = []
    for name in names:
        ours = measure_tfvideo_in_subprocess(
            name, batch_size=batch_size, steps=steps, warmup=warmup
        )
        row = {"model": name, "tfvideo": ours}
        needs = references.reference_needs(name)
        if needs is None:
            row["reference_skipped"] = "no PyTorch reference for this model"
        elif needs and not checkouts.get(needs):
            row["reference_skipped"] = f"no --reference_{needs} checkout given"
        else:
            ref = measure_reference(name, checkouts.get(needs), batch_size, steps, warmup)
            row.update(reference=ref, **ratios(ours, ref))
        log(json.dumps({k: v for k, v in row.items() if k.endswith("ratio")} | {"model": name}))
        rows.append(row)
    return rows


def markdown_table(rows) -> str:
    """One line per model: clips/s of both sides and the ratios."""
    lines = [
        (
            "| model | input | batch | tfvideo infer | reference infer | ratio | "
            "tfvideo train | reference train | ratio | reference |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]

    def cell(side, what):
        return "n/a" if side is None else f"{side[f'{what}_clips_s']:.1f}"

    def ratio(row, what):
        value = row.get(f"{what}_ratio")
        return "n/a" if value is None else f"{value:.2f}"

    for row in rows:
        ours, ref = row["tfvideo"], row.get("reference")
        lines.append(
            f"| {row['model']} | {ours['input']} | {ours['batch_size']} | "
            f"{cell(ours, 'inference')} | {cell(ref, 'inference')} | "
            f"{ratio(row, 'inference')} | {cell(ours, 'training')} | "
            f"{cell(ref, 'training')} | {ratio(row, 'training')} | "
            f"{ref['reference'] if ref else row.get('reference_skipped', '')} |"
        )
    return "\n".join(lines)
