r"""ONNX export parity for every `*_tiny` model of the registry and one full-size model: each is
exported with `tfvideo.export.onnx.export_onnx` and run with onnxruntime on two random clips; the
largest logit difference to Keras, relative to the logit scale, must be at most 1e-4.

  python benchmarks/onnx_parity.py                       # every *_tiny model and tsm_r50 (8x224)
  python benchmarks/onnx_parity.py --models tsm_tiny,s3d_tiny --full ''

Prints one line per model (export seconds, max |diff| / scale) and exits 1 if any model fails.
"""

import os
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_string("models", "", "Comma-separated models (default: every *_tiny model).")
flags.DEFINE_string("full", "tsm_r50", "A full-size model to check too ('' for none).")
FLAGS = flags.FLAGS


def check(name, directory, full=False):
    import keras
    import numpy as np
    import onnxruntime

    import tfvideo
    from tfvideo.export.onnx import export_onnx

    options = {} if full else {"input_size": 32}
    model = tfvideo.models.create(name, num_classes=10, **options)
    frames, size = model.spec.num_frames, model.spec.input_size[0]
    start = time.perf_counter()
    path = export_onnx(model, os.path.join(directory, f"{name}.onnx"))
    seconds = time.perf_counter() - start
    clips = np.random.default_rng(0).uniform(0, 255, (2, frames, size, size, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(clips, training=False))
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {"frames": clips})[0]
    scale = float(np.abs(expected).max())
    return seconds, float(np.abs(got - expected).max()) / scale, scale


def main(argv):
    del argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfvideo.models import available

    names = [n for n in FLAGS.models.split(",") if n] or [
        n for n in available() if n.endswith("_tiny")
    ]
    jobs = [(n, False) for n in names] + ([(FLAGS.full, True)] if FLAGS.full else [])
    failed = []
    with tempfile.TemporaryDirectory() as directory:
        for name, full in jobs:
            try:
                seconds, relative, scale = check(name, directory, full)
            except Exception as error:  # noqa: BLE001 - reported, the others go on
                failed.append(name)
                print(f"{name:28s} FAILED {' '.join(str(error).split())[:300]}", flush=True)
                continue
            ok = relative <= 1e-4
            failed += [] if ok else [name]
            print(
                f"{name:28s} export {seconds:6.1f} s  max|diff|/scale {relative:.2e} "
                f"(scale {scale:.3g}) {'ok' if ok else 'FAIL'}",
                flush=True,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(app.run(main))
