"""Atomic file writes: a temporary file beside the target, then `os.replace` (atomic on POSIX),
so a crash leaves either the old or the new file, never half of one.

    >>> from tfvideo._atomic import atomic_write_text
    >>> atomic_write_text("/tmp/tfvideo_atomic_demo.txt", "hello")
    '/tmp/tfvideo_atomic_demo.txt'
"""

import os
import tempfile


def atomic_save(path, save):
    """Calls `save(tmp_path)` beside `path`, then renames the result into place; returns `path`.

    The temporary name keeps `path`'s extension (Keras picks the format from it)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    os.close(fd)
    try:
        save(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def atomic_write_text(path, text):
    """Writes `text` (str or bytes) to `path` atomically, flushed to disk; returns `path`."""

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(text.encode("utf-8") if isinstance(text, str) else text)
            f.flush()
            os.fsync(f.fileno())

    return atomic_save(path, write)
