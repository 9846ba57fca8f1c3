"""`tfvideo info`: versions, Keras backend and devices; with --model, a model's cost.

Example:
    tfvideo info
    tfvideo info --model tada2d_r50 --num_frames 16 --input_size 256
"""

import platform

from tfvideo.cli.flags import CommandFlags, no_arguments

FLAGS = CommandFlags()

FLAGS.define("string", "model", None, "Registered model name to summarise (see --list).")
FLAGS.define("integer", "num_classes", None, "Classes (default: the model's).")
FLAGS.define("integer", "num_frames", None, "Input frames (default: the model's).")
FLAGS.define("integer", "input_size", None, "Input height = width (default: the model's).")
FLAGS.define("bool", "summary", True, "Print the Keras summary of --model.")
FLAGS.define("bool", "list", False, "List the registered model names.")


def environment_report() -> dict:
    """Versions of Python and the libraries tfvideo uses, the backend and the devices."""
    import keras
    import numpy as np

    import tfvideo

    report = {
        "tfvideo": tfvideo.__version__,
        "python": platform.python_version(),
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": np.__version__,
    }
    try:
        import tensorflow as tf

        report["tensorflow"] = tf.__version__
        report["devices"] = [d.name for d in tf.config.list_logical_devices()]
    except ImportError:
        report["tensorflow"] = "not installed"
    try:
        import av

        report["av (PyAV)"] = av.__version__
    except ImportError:
        report["av (PyAV)"] = "not installed"
    return report


def model_report(name, num_classes=None, num_frames=None, input_size=None, summary=True):
    """Builds a registered model and returns (model, params, MACs)."""
    from tfvideo import models, profile

    model = models.create(
        name, num_classes=num_classes, num_frames=num_frames, input_size=input_size
    )
    if summary:
        model.summary(line_length=110)
    return model, profile.count_params(model), profile.count_macs(model)


def main(args):
    no_arguments(args)
    for key, value in environment_report().items():
        print(f"{key:>14}: {value}")
    if FLAGS.list:
        from tfvideo import models

        print("models:", ", ".join(models.available()))
    if FLAGS.model:
        model, params, macs = model_report(
            FLAGS.model, FLAGS.num_classes, FLAGS.num_frames, FLAGS.input_size, FLAGS.summary
        )
        shape = "x".join(str(d) for d in model.inputs[0].shape[1:])
        print(f"{FLAGS.model}: input {shape}, params {params:,}, GMACs {macs / 1e9:.2f}")
