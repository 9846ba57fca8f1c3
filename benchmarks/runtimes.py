"""Speed and memory of the zoo: Keras, tf.function (with and without XLA), SavedModel, LiteRT and
a training step (`benchmarks.references` times the official PyTorch implementations on the same
CPU).

Each model is measured in a fresh subprocess so that its peak memory (max RSS) is its own;
`python benchmarks/zoo.py` runs it over the zoo.

Example:
    >>> from benchmarks import runtimes
    >>> row = runtimes.measure_model("tsm_tiny", modes=("tf_function",), batch_sizes=(1,),
    ...                              repeats=2)
    >>> row["latency_s"]["tf_function"]["1"] > 0
    True
"""

import os
import platform
import resource
import statistics
import tempfile
import time

import numpy as np

from benchmarks import harness
from tfvideo._optional import require

MODES = (
    "keras_predict",
    "tf_function",
    "tf_function_xla",
    "tf_function_folded",
    "tf_function_bf16",
    "saved_model",
    "litert_float",
    "litert_int8",
    "train_step",
    "train_step_bf16",
)


def machine_description() -> str:
    """One line naming the CPU, its core count and the TensorFlow version."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import tensorflow as tf

    return f"{cpu}, {os.cpu_count()} cores, TF {tf.__version__}, Python {platform.python_version()}"


def time_call(fn, warmup=1, repeats=3) -> float:
    """Median wall-clock seconds of `fn()` after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _random_clips(model, batch, seed=0):
    shape = (batch,) + tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


def _litert_runner(model, quantize, workdir, batch):
    import tensorflow as tf

    litert = require("ai_edge_litert.interpreter", "LiteRT benchmarks")
    Interpreter, OpResolverType = litert.Interpreter, litert.OpResolverType
    input_shape = (batch,) + tuple(model.inputs[0].shape[1:])
    # from_keras_model freezes the variables (a concrete function of a Keras 3 model does not).
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [_random_clips(model, 1, seed)] for seed in range(4)
        )
    flatbuffer = converter.convert()
    path = os.path.join(workdir, f"model_{quantize}_{batch}.tflite")
    with open(path, "wb") as file:
        file.write(flatbuffer)
    clips = _random_clips(model, batch)

    def make_run(resolver):
        interpreter = Interpreter(
            model_path=path, num_threads=os.cpu_count(), experimental_op_resolver_type=resolver
        )
        input_index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(input_index, input_shape)
        interpreter.allocate_tensors()

        def run():
            interpreter.set_tensor(input_index, clips)
            interpreter.invoke()

        run()  # XNNPACK rejects some int8 graphs only when it first runs them
        return run

    try:
        run = make_run(OpResolverType.AUTO)
    except RuntimeError:  # as `tfvideo predict` does: LiteRT's builtin kernels instead
        run = make_run(OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return run, os.path.getsize(path)


# The inference copies (tfvideo.models.inference) the tf_function modes time: batch norm folded
# into the convolutions, in float32 or with bf16 compute.
INFERENCE_PRECISION = {"tf_function_folded": "float32", "tf_function_bf16": "bfloat16"}
# The training steps' compute types (`mixed_bfloat16`: bf16 compute, float32 variables, as
# `tfvideo train --mixed_precision mixed_bfloat16`).
TRAIN_PRECISION = {"train_step": "float32", "train_step_bf16": "bfloat16"}
# The precision each mode computes in, for its fraction of the machine's peak (benchmarks.peak).
MODE_PRECISION = {
    "tf_function_bf16": "bfloat16",
    "litert_int8": "int8",
    "train_step_bf16": "bfloat16",
}
# A training step's multiply-adds: the forward's, and about twice that for the backward pass
# (the gradients with respect to the activations and to the weights).
TRAIN_MACS_FACTOR = 3


def _runner(mode, model, batch, workdir):
    """A zero-argument callable running one batch in `mode`, and the artifact size (or None)."""
    import keras
    import tensorflow as tf

    clips = _random_clips(model, batch)
    if mode == "keras_predict":
        return lambda: model.predict(clips, batch_size=batch, verbose=0), None
    if mode in ("tf_function", "tf_function_xla", *INFERENCE_PRECISION):
        if mode in INFERENCE_PRECISION:
            from tfvideo.models.inference import inference_model

            model = inference_model(model, INFERENCE_PRECISION[mode])
        function = tf.function(
            lambda x: model(x, training=False), jit_compile=mode == "tf_function_xla"
        )
        tensor = tf.constant(clips)
        return lambda: function(tensor).numpy(), None
    if mode == "saved_model":
        path = os.path.join(workdir, "saved_model")
        if not os.path.exists(path):
            model.export(path, format="tf_saved_model", verbose=False)
        loaded = tf.saved_model.load(path)
        tensor = tf.constant(clips)
        return lambda: loaded.serve(tensor).numpy(), None
    if mode in ("litert_float", "litert_int8"):
        return _litert_runner(model, mode.split("_")[1], workdir, batch)
    if mode in TRAIN_PRECISION:
        from tfvideo.models.inference import inference_model

        # a copy computing in the mode's precision, batch norms kept (it trains)
        trainable = inference_model(model, TRAIN_PRECISION[mode], fold_batch_norm=False)
        trainable.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=False,
        )
        labels = np.zeros((batch,), "int32")
        return lambda: trainable.train_on_batch(clips, labels), None
    raise ValueError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")


def measure_model(
    name,
    num_frames=None,
    input_size=None,
    num_classes=None,
    modes=MODES,
    batch_sizes=(1, 8),
    repeats=3,
    warmup=1,
) -> dict:
    """Params, MACs and per-mode latency (seconds per batch) of one registered model."""
    from tfvideo import models, profile

    model = models.create(
        name, num_classes=num_classes, num_frames=num_frames, input_size=input_size
    )
    row = {
        "model": name,
        "input": "x".join(str(d) for d in model.inputs[0].shape[1:4]),
        "params": profile.count_params(model),
        "gmacs": profile.count_macs(model) / 1e9,
        "latency_s": {},
        "throughput_clips_s": {},
        "sizes_bytes": {},
        "errors": {},
    }
    with tempfile.TemporaryDirectory() as workdir:
        for mode in modes:
            for batch in batch_sizes:
                try:
                    run, size = _runner(mode, model, batch, workdir)
                    seconds = time_call(run, warmup=warmup, repeats=repeats)
                except Exception as error:  # a mode that fails is reported, not fatal
                    row["errors"][f"{mode}@{batch}"] = f"{type(error).__name__}: {error}"[:300]
                    continue
                row["latency_s"].setdefault(mode, {})[str(batch)] = seconds
                row["throughput_clips_s"].setdefault(mode, {})[str(batch)] = batch / seconds
                if size:
                    row["sizes_bytes"][mode] = size
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def measure_in_subprocess(name, **kwargs) -> dict:
    """`measure_model` in a fresh Python process (so peak memory is this model's alone)."""
    return harness.call_in_subprocess(
        "runtimes",
        "measure_model",
        f"benchmark of {name}",
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        name=name,
        **kwargs,
    )


def markdown_table(rows, batch_sizes=(1, 8)) -> str:
    """A markdown table: one line per model, latency (batch 1) and throughput (batch 8)."""
    modes = [m for m in MODES if any(m in r["latency_s"] for r in rows)]
    header = ["model", "input", "params (M)", "GMACs", "peak RSS (MB)"]
    for mode in modes:
        header += [f"{mode} b{b}" for b in batch_sizes]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            row["model"],
            row["input"],
            f"{row['params'] / 1e6:.2f}",
            f"{row['gmacs']:.2f}",
            f"{row.get('peak_rss_mb', 0):.0f}",
        ]
        for mode in modes:
            for batch in batch_sizes:
                latency = row["latency_s"].get(mode, {}).get(str(batch))
                if latency is None:
                    cells.append("n/a")
                elif batch == 1:
                    cells.append(f"{latency * 1000:.0f} ms")
                else:
                    cells.append(f"{batch / latency:.2f} clips/s")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def peak_table(rows, peaks, batch_sizes=(1, 8)) -> str:
    """A markdown table: the machine's peaks, then each row's achieved GFLOP/s per mode and batch
    with its fraction of the all-core peak of the precision that mode computes in."""
    from benchmarks.peak import fraction_of_peak

    lines = ["| precision | peak GFLOP/s, 1 thread | all threads |", "|---|---|---|"]
    for precision, values in peaks.items():
        cells = [f"{v:.0f}" if isinstance(v, float) else str(v) for v in values.values()]
        lines.append(f"| {precision} | " + " | ".join(cells) + " |")
    lines += ["", "| model | mode | batch | GFLOP/s | of peak |", "|---|---|---|---|---|"]
    for row in rows:
        for mode, latencies in row["latency_s"].items():
            peak = peaks.get(MODE_PRECISION.get(mode, "float32"), {}).get("all")
            gmacs = row["gmacs"] * (TRAIN_MACS_FACTOR if mode in TRAIN_PRECISION else 1)
            for batch in batch_sizes:
                seconds = latencies.get(str(batch))
                if seconds is None or not isinstance(peak, float):
                    continue
                achieved = 2 * gmacs * batch / seconds
                fraction = fraction_of_peak(gmacs, batch, seconds, peak)
                lines.append(
                    f"| {row['model']} | {mode} | {batch} | {achieved:.0f} | {fraction:.0%} |"
                )
    return "\n".join(lines)
