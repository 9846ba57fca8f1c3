"""The machine's own peak: matrix-product GFLOP/s in float32 and bfloat16 through TensorFlow
(oneDNN) and in int8 through LiteRT (XNNPACK, which uses VNNI where the CPU has it), on one
thread and on all of them. Each figure comes from a fresh process, because TensorFlow fixes its
thread pools when it starts.

A model row of the zoo benchmark is then `2 x MACs x batch / seconds` GFLOP/s, and its fraction
of the peak of the precision it ran in (`fraction_of_peak`).

Example:
    >>> from benchmarks import peak
    >>> gflops = peak.matmul_gflops("float32", threads=1, size=256, repeats=2)
    >>> gflops > 0
    True
"""

import os
import time

from benchmarks import harness

PRECISIONS = ("float32", "bfloat16", "int8")
SIZE = 2048  # square products this large keep the cores busy and fit the caches' blocking


def matmul_gflops(precision, threads=None, size=SIZE, repeats=5) -> float:
    """Best GFLOP/s (2 n^3 / seconds) of an `n x n` product in `precision` in this process.

    `threads` must be set before this process's first TensorFlow/LiteRT call (None: all cores).
    """
    import numpy as np

    rng = np.random.default_rng(0)
    if precision == "int8":
        run = _litert_int8_matmul(size, threads, rng)
    else:
        import tensorflow as tf

        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        a = tf.constant(rng.standard_normal((size, size)), dtype=precision)
        b = tf.constant(rng.standard_normal((size, size)), dtype=precision)
        matmul = tf.function(lambda: tf.matmul(a, b))

        def run():
            matmul().numpy()

    run()  # warm up: kernel selection, weight packing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def _litert_int8_matmul(size, threads, rng):
    """A LiteRT int8 fully connected layer `[size, size] x [size, size]` (full-integer
    quantisation), as a zero-argument runner."""
    import keras
    import tensorflow as tf

    from tfvideo._optional import require

    litert = require("ai_edge_litert.interpreter", "the int8 peak benchmark")
    inputs = keras.Input((size,), batch_size=size)
    model = keras.Model(inputs, keras.layers.Dense(size, use_bias=False)(inputs))
    data = rng.standard_normal((size, size)).astype("float32")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([data[i : i + size]] for i in range(0, 1))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    interpreter = litert.Interpreter(
        model_content=converter.convert(), num_threads=threads or os.cpu_count()
    )
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    interpreter.set_tensor(index, data)
    return interpreter.invoke


def measure_peaks(size=SIZE, repeats=5) -> dict:
    """`{precision: {"1": GFLOP/s on one thread, "all": on every core}}`, each in a fresh
    process; a precision this machine cannot run is reported as an error string."""
    peaks = {}
    for precision in PRECISIONS:
        for threads, key in ((1, "1"), (None, "all")):
            try:
                value = harness.call_in_subprocess(
                    "peak",
                    "matmul_gflops",
                    f"{precision} peak",
                    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
                    precision=precision,
                    threads=threads,
                    size=size,
                    repeats=repeats,
                )
            except RuntimeError as error:
                value = f"error: {str(error).splitlines()[0][:200]}"
            peaks.setdefault(precision, {})[key] = value
    return peaks


def fraction_of_peak(gmacs, batch, seconds, peak_gflops) -> float:
    """Achieved GFLOP/s (`2 x GMACs x batch / seconds`) over `peak_gflops`."""
    return 2 * gmacs * batch / seconds / peak_gflops
