"""`python benchmarks/streaming.py`: per-frame cost of streaming against re-running the clip model.

A causal model predicts every new frame either by one streaming step (`model.stream_step`: the
frame and the carried states) or by re-running the clip model over the sliding window of its T
latest frames. Streaming should cost at most 1.3 / T of the window re-run. Measured on one
thread (TensorFlow intra/inter-op threads and LiteRT `num_threads` = 1), batch 1, for Keras (the
step model and the clip model, each in a `tf.function`) and LiteRT float32 and int8 (the
streaming `.tflite` of `tfvideo export --format tflite --streaming` against the clip
`.tflite`), together with the memory one stream keeps (its states, float32) and the process's
peak RSS. Each model runs in a fresh process (`benchmarks.harness`).

Example:
    python benchmarks/streaming.py --models tsm_causal_tiny --repeats 5
    python benchmarks/streaming.py --models tsm_r50,teinet_r50 --input_size 224 --repeats 3

The calibration of the int8 models uses random frames: these files are timed, not evaluated.
"""

import json
import os
import resource
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks import harness  # noqa: E402
from tfvideo.cli.flags import CommandFlags  # noqa: E402

FLAGS = CommandFlags()
FLAGS.define("list", "models", ["tsm_causal_tiny"], "Registered model names (built causal).")
FLAGS.define("integer", "input_size", 0, "Input size (0: the model's default).")
FLAGS.define("integer", "num_frames", 0, "Frames per clip T (0: the model's default).")
FLAGS.define("list", "runtimes", ["keras", "litert_float", "litert_int8"], "Runtimes.")
FLAGS.define("integer", "repeats", 5, "Timed repetitions (the median is reported).")
FLAGS.define("string", "output_dir", "runs/benchmark", "Where streaming.json/.md are written.")

RUNTIMES = ("keras", "litert_float", "litert_int8")
TARGET = 1.3  # the step may cost at most TARGET / T of the window re-run


def _single_thread():
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _keras_runners(model, frames, clip):
    import tensorflow as tf

    step_model = model.streaming_model(1)
    step = tf.function(lambda inputs: step_model(inputs, training=False))
    window = tf.function(lambda x: model(x, training=False))
    states = {k: tf.constant(v) for k, v in model.init_states(1).items()}
    feed = {"frames": tf.constant(frames), **states}
    clip = tf.constant(clip)
    return (lambda: step(feed)["logits"].numpy()), (lambda: window(clip).numpy())


def _litert_runners(model, frames, clip, quantize, workdir, calibration):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from tfvideo.export.streaming import export_streaming_tflite
    from tfvideo.export.tflite import export_tflite

    clips = calibration if quantize == "int8" else None
    count = len(calibration)
    stream_path = export_streaming_tflite(
        model, os.path.join(workdir, f"stream_{quantize}.tflite"), quantize, clips, count
    )
    clip_path = export_tflite(
        model, os.path.join(workdir, f"clip_{quantize}.tflite"), quantize, clips, count
    )
    states = {k: np.asarray(v) for k, v in model.init_states(1).items()}

    def runner(path, inputs):
        for resolver in (OpResolverType.AUTO, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
            try:  # as tfvideo's predictors do: the builtin kernels where XNNPACK refuses
                interpreter = Interpreter(
                    model_path=path, num_threads=1, experimental_op_resolver_type=resolver
                )
                run = interpreter.get_signature_runner()
                run(**inputs)
                return lambda: run(**inputs)
            except RuntimeError:
                if resolver == OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES:
                    raise
        return None

    step = runner(stream_path, {"frames": frames, **states})
    window = runner(clip_path, {"frames": clip})
    sizes = {"stream": os.path.getsize(stream_path), "clip": os.path.getsize(clip_path)}
    return step, window, sizes


def _timings(fn, warmup, repeats):
    """Median and minimum wall-clock seconds of `fn()` after `warmup` untimed calls (the
    minimum is the steadier figure on a loaded machine)."""
    import statistics
    import time

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def measure_streaming(
    name, num_frames=None, input_size=None, num_classes=None, runtimes=RUNTIMES, repeats=5, warmup=1
) -> dict:
    """Per-frame seconds of the step and of the window re-run, for each runtime, of `name`
    built causal (`causal=True`); their ratio against `TARGET / T`; the stream's state bytes."""
    _single_thread()
    from benchmarks.runtimes import machine_description
    from tfvideo import models

    options = {} if "causal" in name else {"causal": True}
    model = models.create(
        name, num_classes=num_classes, num_frames=num_frames, input_size=input_size, **options
    )
    spec = model.spec
    t = spec.num_frames
    rng = np.random.default_rng(0)
    step_shape = (1, *spec.input_size, 3)
    if model.stream_frames > 1:
        step_shape = (1, model.stream_frames, *spec.input_size, 3)
    frames = rng.uniform(0, 255, step_shape).astype(np.float32)
    clip = rng.uniform(0, 255, (1, t, *spec.input_size, 3)).astype(np.float32)
    calibration = [rng.uniform(0, 255, clip.shape[1:]).astype(np.float32) for _ in range(2)]
    states = model.init_states(1)
    row = {
        "model": name,
        "input": f"{t}x{spec.input_size[0]}x{spec.input_size[1]}",
        "num_frames": t,
        "frames_per_step": model.stream_frames,
        "state_bytes": int(sum(np.asarray(v).nbytes for v in states.values())),
        "num_states": len(states),
        "max_state_rank": max(len(np.asarray(v).shape) for v in states.values()),
        "step_s": {},
        "window_s": {},
        "ratio": {},
        "step_min_s": {},
        "window_min_s": {},
        "ratio_min": {},
        "sizes_bytes": {},
        "errors": {},
        "machine": machine_description() + ", 1 thread",
    }
    with tempfile.TemporaryDirectory() as workdir:
        for runtime in runtimes:
            try:
                if runtime == "keras":
                    step, window = _keras_runners(model, frames, clip)
                else:
                    quantize = "none" if runtime == "litert_float" else "int8"
                    step, window, sizes = _litert_runners(
                        model, frames, clip, quantize, workdir, calibration
                    )
                    row["sizes_bytes"][runtime] = sizes
                step_s, step_min = _timings(step, warmup, repeats)
                window_s, window_min = _timings(window, warmup, repeats)
            except Exception as error:  # a runtime that fails is reported, not fatal
                row["errors"][runtime] = f"{type(error).__name__}: {error}"[:300]
                continue
            # one step predicts `frames_per_step` new frames; a re-run predicts one
            k = model.stream_frames
            row["step_s"][runtime] = step_s / k
            row["window_s"][runtime] = window_s
            row["ratio"][runtime] = row["step_s"][runtime] / window_s
            row["step_min_s"][runtime] = step_min / k
            row["window_min_s"][runtime] = window_min
            row["ratio_min"][runtime] = step_min / k / window_min
    row["target_ratio"] = TARGET / t
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def measure_in_subprocess(name, **kwargs) -> dict:
    """`measure_streaming` in a fresh Python process."""
    return harness.call_in_subprocess(
        "streaming",
        "measure_streaming",
        f"streaming benchmark of {name}",
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        name=name,
        **kwargs,
    )


def markdown_table(rows) -> str:
    """One line per model and runtime: per-frame step and window re-run (median ms), their
    ratio against the target 1.3 / T, the minima, and the state memory of one stream."""
    header = ["model", "input", "runtime", "step / frame", "window re-run", "ratio", "1.3 / T"]
    header += ["min: step / window (ratio)", "states / stream"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        for runtime in RUNTIMES:
            if runtime not in row["step_s"]:
                continue
            ratio = row["ratio"][runtime]
            cells = [
                row["model"],
                row["input"],
                runtime,
                f"{row['step_s'][runtime] * 1000:.2f} ms",
                f"{row['window_s'][runtime] * 1000:.2f} ms",
                f"{ratio:.3f}" + (" (met)" if ratio <= row["target_ratio"] else " (missed)"),
                f"{row['target_ratio']:.3f}",
                f"{row['step_min_s'][runtime] * 1000:.2f} / "
                f"{row['window_min_s'][runtime] * 1000:.2f} ms ({row['ratio_min'][runtime]:.3f})",
                f"{row['state_bytes'] / 1024:.0f} KiB ({row['num_states']}, <= "
                f"{row['max_state_rank']}-D)",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    del argv
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    rows = []
    for name in FLAGS.models:
        row = measure_in_subprocess(
            name,
            input_size=FLAGS.input_size or None,
            num_frames=FLAGS.num_frames or None,
            runtimes=list(FLAGS.runtimes),
            repeats=FLAGS.repeats,
        )
        rows.append(row)
        print(json.dumps({k: row[k] for k in ("model", "step_s", "window_s", "ratio", "errors")}))
    with open(os.path.join(FLAGS.output_dir, "streaming.json"), "w") as file:
        json.dump(rows, file, indent=1)
    table = f"Measured on: {rows[0]['machine']}\n\n{markdown_table(rows)}\n"
    with open(os.path.join(FLAGS.output_dir, "streaming.md"), "w") as file:
        file.write(table)
    print(table)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfvideo.cli import run_command

    sys.exit(run_command("__main__", sys.argv))
