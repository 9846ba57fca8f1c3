"""TF Serving warmup requests: `assets.extra/tf_serving_warmup_requests`.

A TFRecord file of `PredictionLog` protos (tensorflow-serving-api), each holding a `PredictRequest`
for one signature. TF Serving replays them when it loads a version, so the first real request does
not pay for graph tracing and kernel initialisation.

Example:
    >>> import numpy as np
    >>> from tfvideo.export import warmup
    >>> requests = [("serving_default", {"frames": np.zeros((1, 4, 8, 8, 3), np.uint8)})]
    >>> path = warmup.write_warmup_requests("/tmp/warmup_demo", requests, model_name="toy")
    >>> [(sig, sorted(x)) for sig, x in warmup.read_warmup_requests(path)]
    [('serving_default', ['frames'])]
"""

import os

import numpy as np
import tensorflow as tf

from tfvideo._optional import require
from tfvideo.data import tfrecords

WARMUP_DIR = "assets.extra"
WARMUP_FILENAME = "tf_serving_warmup_requests"


def _apis():
    require("tensorflow_serving.apis.prediction_log_pb2", "TF Serving warmup requests")
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    return model_pb2, predict_pb2, prediction_log_pb2


def write_warmup_requests(export_dir, requests, model_name="model"):
    """Writes `requests` (pairs `(signature_name, {input_name: array})`) as PredictionLogs.

    Returns the path of `<export_dir>/assets.extra/tf_serving_warmup_requests`.
    """
    model_pb2, predict_pb2, prediction_log_pb2 = _apis()
    path = os.path.join(export_dir, WARMUP_DIR, WARMUP_FILENAME)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature, inputs in requests:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
            )
            for key, value in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(path):
    """Parses a warmup file back into `[(signature_name, {input_name: np.ndarray})]`."""
    _, _, prediction_log_pb2 = _apis()
    requests = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
        requests.append((request.model_spec.signature_name or "serving_default", inputs))
    return requests


def encode_jpeg(frame) -> bytes:
    """uint8 `[H, W, 3]` -> JPEG bytes (quality 95)."""
    return tf.io.encode_jpeg(tf.convert_to_tensor(frame, tf.uint8), quality=95).numpy()


def sequence_example(encoded_frames, label_index=-1, label_text="") -> bytes:
    """A serialized SequenceExample in tfvideo's TFRecord layout (one JPEG per frame)."""
    return tfrecords.make_sequence_example(
        encoded_frames, label=label_index, label_text=label_text
    ).SerializeToString()


def default_requests(metadata, seed=0, frame_size=None):
    """One batch-1 request per classifying signature, with random frames.

    `frame_size` (default: 4/3 of the input size, so the resize path runs) is the size of the
    encoded frames and of a causal model's `stream_step` frame (sent with the start states);
    the `frames` request uses the model's input size.
    """
    rng = np.random.default_rng(seed)
    height, width = metadata.input_size
    t = metadata.num_frames
    frames = rng.integers(0, 256, (1, t, height, width, 3), dtype=np.uint8)
    big_h, big_w = frame_size or (height * 4 // 3, width * 4 // 3)
    big = rng.integers(0, 256, (t, big_h, big_w, 3), dtype=np.uint8)
    encoded = [encode_jpeg(f) for f in big]
    requests = [
        ("serving_default", {"frames": frames}),
        ("encoded_frames", {"encoded_frames": np.array([encoded], dtype=object)}),
        ("tf_example", {"examples": np.array([sequence_example(encoded)], dtype=object)}),
    ]
    if "streaming" in metadata.extra:
        from tfvideo.export import streaming

        step = streaming.frame_shape(metadata)
        frame = rng.integers(0, 256, (1, *step[:-3], big_h, big_w, 3), dtype=np.uint8)
        states = streaming.initial_states(metadata.extra["streaming"])
        requests.append((streaming.STREAM_SIGNATURE, {streaming.FRAME_INPUT: frame, **states}))
    return requests
