"""Benchmarks of tfvideo, run from a source checkout (they are not part of the installed package).

Entry points (`--help` lists the flags of each):

    python benchmarks/zoo.py     speed and memory of the zoo on this CPU (Keras, tf.function, XLA,
                                 SavedModel, LiteRT, a training step), optionally against the
                                 official PyTorch code
    python benchmarks/gpu.py     tfvideo on JAX in bf16 against the official PyTorch code under
                                 bf16 autocast on the accelerator
    python benchmarks/data.py    input-pipeline throughput (serial decoding, PyAV in parallel,
                                 TFRecords)

Modules: `harness` (one subprocess per measurement, its result on a `RESULT` line), `runtimes`
(the zoo's runtimes), `references` (builders of the PyTorch references), `accelerator` (the
JAX-vs-PyTorch comparison).
"""
