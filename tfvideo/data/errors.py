"""Exceptions and error accounting for the data pipeline.

A bad input gets a specific exception naming the file and the cause. Pipelines
take ``on_error="skip"|"raise"``; in skip mode every skipped video is recorded
in an :class:`ErrorLog` (thread-safe, readable from Python) and reported at
the end of each epoch by the :class:`DecodeErrorReport` Keras callback.
"""

import collections
import logging
import threading

import keras

logger = logging.getLogger("tfvideo.data")

ON_ERROR_MODES = ("skip", "raise")


class VideoDecodeError(RuntimeError):
    """A video file could not be decoded.

    Attributes:
        path: the file.
        cause: a short human-readable cause, e.g. ``"zero-byte file"``.
        reason: a stable machine-readable code, one of ``"missing"``,
            ``"empty"``, ``"not_a_video"``, ``"truncated"``,
            ``"no_video_stream"``, ``"no_frames"``, ``"corrupt"``.
    """

    REASONS = (
        "missing",
        "empty",
        "not_a_video",
        "truncated",
        "no_video_stream",
        "no_frames",
        "corrupt",
    )

    def __init__(self, path, cause, reason="corrupt"):
        self.path = str(path)
        self.cause = str(cause)
        self.reason = reason
        super().__init__(f"cannot decode video '{self.path}': {self.cause}")

    def __reduce__(self):
        return (type(self), (self.path, self.cause, self.reason))


class AnnotationError(ValueError):
    """An annotation file is missing or holds an invalid entry.

    Attributes:
        path: the annotation file.
        line: 1-based line number (or item number for JSON), or None.
        label: the offending label, or None.
    """

    def __init__(self, path, message, line=None, label=None):
        self.path = str(path)
        self.line = line
        self.label = label
        where = f"{self.path}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {message}")


def check_on_error(on_error):
    """Validates an ``on_error`` argument and returns it."""
    if on_error not in ON_ERROR_MODES:
        raise ValueError(f"on_error must be one of {ON_ERROR_MODES}, got {on_error!r}")
    return on_error


class ErrorLog:
    """Thread-safe record of videos skipped by a pipeline.

    Decoding runs in parallel ``tf.numpy_function`` calls, so records are
    guarded by a lock. Read ``count``, ``paths`` or ``entries`` at any time;
    ``reset()`` starts a new epoch's tally (``total`` keeps counting).

    Example:
    >>> log = ErrorLog()
    >>> log.record("a.mp4", "zero-byte file")
    >>> log.count, log.paths
    (1, ['a.mp4'])
    """

    def __init__(self, name="decode", max_consecutive=1000):
        self.name = name
        self.max_consecutive = max_consecutive
        self._lock = threading.Lock()
        self._entries = []
        self._total = 0
        self._consecutive = 0

    def record(self, path, message):
        """Records one skipped video and logs a warning.

        Raises:
            RuntimeError: more than ``max_consecutive`` videos in a row failed
                (the data, not one video, is broken; without this a repeated
                dataset of unreadable files would spin forever).
        """
        path = path.decode() if isinstance(path, bytes) else str(path)
        with self._lock:
            self._entries.append((path, str(message)))
            self._total += 1
            self._consecutive += 1
            consecutive = self._consecutive
        logger.warning("skipped video %s: %s", path, message)
        if self.max_consecutive and consecutive > self.max_consecutive:
            raise RuntimeError(
                f"{consecutive} videos in a row failed to decode (last: "
                f"{path}: {message}); check the dataset paths and files"
            )

    def record_success(self):
        """Called by the pipeline for each decoded video."""
        self._consecutive = 0

    @property
    def count(self):
        """Number of skips since the last reset."""
        with self._lock:
            return len(self._entries)

    @property
    def total(self):
        """Number of skips since construction."""
        with self._lock:
            return self._total

    @property
    def entries(self):
        """List of ``(path, message)`` since the last reset."""
        with self._lock:
            return list(self._entries)

    @property
    def paths(self):
        """Distinct skipped paths since the last reset, in first-seen order."""
        return list(dict.fromkeys(p for p, _ in self.entries))

    def reasons(self):
        """``collections.Counter`` of messages since the last reset."""
        return collections.Counter(m for _, m in self.entries)

    def reset(self):
        with self._lock:
            self._entries = []

    def summary(self, max_paths=20):
        """One human-readable paragraph: count and (some) paths."""
        entries = self.entries
        if not entries:
            return f"{self.name}: no videos skipped"
        lines = [f"{self.name}: skipped {len(entries)} video(s)"]
        for path, message in entries[:max_paths]:
            lines.append(f"  {path}: {message}")
        if len(entries) > max_paths:
            lines.append(f"  ... and {len(entries) - max_paths} more")
        return "\n".join(lines)

    def __repr__(self):
        return f"ErrorLog(name={self.name!r}, count={self.count}, total={self.total})"


class DecodeErrorReport(keras.callbacks.Callback):
    """Reports the videos skipped during each epoch.

    At the end of every epoch it logs (and, with ``verbose``, prints) the
    number of skipped videos and their paths, adds ``decode_errors`` to the
    epoch ``logs`` (so it reaches History/CSVLogger/TensorBoard), and resets
    the log for the next epoch.

    Args:
        error_log: the :class:`ErrorLog` given to the pipeline builder.
        verbose: print the summary (default True).
        reset: reset the log after reporting (default True).
        max_paths: at most this many paths are listed.

    Example:
    >>> log = ErrorLog()
    >>> cb = DecodeErrorReport(log, verbose=False)
    >>> log.record("bad.mp4", "zero-byte file")
    >>> logs = {}
    >>> cb.on_epoch_end(0, logs)
    >>> logs["decode_errors"], cb.history[0]["paths"]
    (1, ['bad.mp4'])
    """

    def __init__(self, error_log, verbose=True, reset=True, max_paths=20):
        super().__init__()
        self.error_log = error_log
        self.verbose = verbose
        self.reset = reset
        self.max_paths = max_paths
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        entries = self.error_log.entries
        self.history.append(
            {
                "epoch": epoch,
                "count": len(entries),
                "paths": list(dict.fromkeys(p for p, _ in entries)),
            }
        )
        if logs is not None:
            logs["decode_errors"] = len(entries)
        text = f"epoch {epoch + 1}: " + self.error_log.summary(self.max_paths)
        if entries:
            logger.warning(text)
        else:
            logger.info(text)
        if self.verbose:
            print(text)
        if self.reset:
            self.error_log.reset()
