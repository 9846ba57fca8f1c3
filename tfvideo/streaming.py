"""Streaming recognition: a label for every frame of a video as it arrives.

`StreamingClassifier(model_or_artifact)` reads any video PyAV opens (a file, a URL, a device;
`tfvideo.data.iter_frames`) frame by frame, prepares each frame as the model was evaluated (short
side resized to the model's `short_side`, then the centre crop of its input size), steps a causal
model with its carried states (`tfvideo.export.streaming`: a Keras `VideoClassifier`, a streaming
`.tflite` file, or a SavedModel with the `stream_step` signature) and yields, for every step, a
`StreamPrediction(timestamp, labels, scores)`: the top-k labels and their probabilities.
Models that step by frame pairs (bLVNet-TAM) give one prediction per pair, at its second frame.

`smoothing=w` averages the probabilities of the last `w` steps (a moving average; the first
steps average what there is) before taking the top k; `None` (or 1) does not smooth.

Example:
    >>> import tfvideo
    >>> from tfvideo.streaming import StreamingClassifier
    >>> model = tfvideo.models.create("tsm_causal_tiny", num_classes=4)  # doctest: +SKIP
    >>> stream = StreamingClassifier(model, top_k=2, smoothing=8)  # doctest: +SKIP
    >>> for timestamp, labels, scores in stream("clip.mp4"):  # doctest: +SKIP
    ...     print(f"{timestamp:6.2f}s  {labels[0]}  {scores[0]:.2f}")
      0.00s  3  0.31
"""

import collections
from typing import NamedTuple

import numpy as np

from tfvideo.data.decode import iter_frames
from tfvideo.export.predict import one_line_error
from tfvideo.export.streaming import load_stepper


class StreamPrediction(NamedTuple):
    """One step's result: `timestamp` (seconds, of the step's last frame), the top-k `labels`
    (best first) and their probabilities `scores` (float32 `[k]`)."""

    timestamp: float
    labels: list
    scores: np.ndarray


def top_k(probabilities, k) -> np.ndarray:
    """Indices of the `k` largest probabilities, best first (ties: the lower index first)."""
    return np.argsort(-np.asarray(probabilities), kind="stable")[:k]


class MovingAverage:
    """The mean of the last `window` vectors pushed (of all of them while fewer were pushed).

    Example:
    >>> average = MovingAverage(2)
    >>> [float(average.push([x])[0]) for x in (1.0, 3.0, 5.0)]
    [1.0, 2.0, 4.0]
    """

    def __init__(self, window):
        window = int(window)
        if window < 1:
            raise ValueError(f"smoothing window must be a positive number of steps, got {window}")
        self.window = window
        self._values = collections.deque(maxlen=window)

    def push(self, value) -> np.ndarray:
        self._values.append(np.asarray(value, np.float64))
        return np.mean(self._values, axis=0)


class StreamingClassifier:
    """Per-frame top-k labels of a video, stepping a causal model with its carried states.

    Args:
        model_or_artifact: a causal Keras `VideoClassifier` (e.g. `tsm_causal_tiny`), a `.keras`
            file or training directory holding one, a streaming `.tflite` file
            (`tfvideo export --format tflite --streaming`) or a SavedModel with `stream_step`.
        top_k: how many labels each prediction has.
        smoothing: None, or the number of steps whose probabilities are averaged.
        num_threads: LiteRT threads for a `.tflite` model (None: LiteRT's default).

    Calling the classifier on a source (`classifier(source, format=None, options=None)`, the
    arguments of `tfvideo.data.iter_frames`) yields one `StreamPrediction` per step and starts
    from fresh states each time.
    """

    def __init__(self, model_or_artifact, top_k=5, smoothing=None, num_threads=None):
        self.stepper = load_stepper(model_or_artifact, num_threads)
        self.metadata = self.stepper.metadata
        self.top_k = max(1, min(int(top_k), self.metadata.num_classes))
        self.smoothing = None if smoothing in (None, 0, 1) else int(smoothing)
        if self.smoothing is not None:
            MovingAverage(self.smoothing)  # validates the window

    @property
    def class_names(self) -> list:
        return list(self.metadata.class_names)

    @property
    def kind(self) -> str:
        """What runs the steps: "keras", "tflite" or "saved_model"."""
        return self.stepper.kind

    def steps(self, source, format=None, options=None):
        """Yields `(timestamp, logits)` for every step of the stream (no smoothing)."""
        stepper = self.stepper
        stepper.reset()
        k = stepper.frames_per_step
        pending = []
        for timestamp, frame in iter_frames(source, format=format, options=options):
            pending.append(stepper.prepare(frame))
            if len(pending) == k:
                frames = pending[0] if k == 1 else np.stack(pending)
                pending = []
                yield timestamp, stepper.step(frames)

    def probabilities(self, source, format=None, options=None):
        """Yields `(timestamp, probabilities)` for every step, smoothed over the window."""
        average = MovingAverage(self.smoothing) if self.smoothing else None
        for timestamp, logits in self.steps(source, format, options):
            probs = self.metadata.scores(logits)
            yield timestamp, (average.push(probs) if average else probs)

    def _ranked(self, source, format, options):
        for timestamp, probs in self.probabilities(source, format, options):
            yield float(timestamp), top_k(probs, self.top_k), probs

    def __call__(self, source, format=None, options=None):
        names = self.class_names
        for timestamp, order, probs in self._ranked(source, format, options):
            yield StreamPrediction(
                timestamp, [names[i] for i in order], probs[order].astype(np.float32)
            )

    def timeline(self, source, format=None, options=None) -> list:
        """The whole stream as JSON-ready dicts: `{"timestamp", "predictions": [{"label",
        "index", "probability"}, ...]}` per step."""
        names = self.class_names
        return [
            {
                "timestamp": round(timestamp, 6),
                "predictions": [
                    {"label": names[i], "index": int(i), "probability": float(probs[i])}
                    for i in order
                ],
            }
            for timestamp, order, probs in self._ranked(source, format, options)
        ]


def stream_videos(sources, classifier) -> list:
    """`classifier.timeline` of each source: `{"path", "timeline"}`, or `{"path", "error"}` (one
    line naming the source) where it cannot be read; the other sources still run."""
    results = []
    for source in sources:
        try:
            results.append({"path": str(source), "timeline": classifier.timeline(source)})
        except Exception as error:  # noqa: BLE001 - reported per source, the others go on
            results.append({"path": str(source), "error": one_line_error(source, error)})
    return results


def format_stream(result) -> str:
    """Text of one `stream_videos` result: the path, then a line per step with its timestamp
    and the `probability label` pairs, best first."""
    if "error" in result:
        return f"error: {result['error']}"
    lines = [result["path"]]
    for row in result["timeline"]:
        best = "  ".join(f"{p['probability']:.3f} {p['label']}" for p in row["predictions"])
        lines.append(f"  {row['timestamp']:9.3f}s  {best}")
    return "\n".join(lines)
