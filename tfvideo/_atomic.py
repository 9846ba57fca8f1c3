"""Atomic file writes: a temporary file beside the target, then `os.replace` (atomic on POSIX),
so a crash leaves either the old or the new file, never half of one.

    >>> from tfvideo._atomic import atomic_write_text
    >>> atomic_write_text("/tmp/tfvideo_atomic_demo.txt", "hello")
    '/tmp/tfvideo_atomic_demo.txt'
"""

import os
import uuid


def atomic_save(path, save):
    """Calls `save(tmp_path)` beside `path`, then renames the result into place; returns `path`.

    The temporary name is unique and keeps `path`'s extension (Keras and matplotlib pick the
    format from it). `save` creates the file, so it gets the usual permissions (a
    `tempfile.mkstemp` file would stay readable by its owner only)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex[:12]}-{os.path.basename(path)}")
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
