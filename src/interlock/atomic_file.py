"""Files written all at once: a temporary file in the same directory, synced, then renamed
over the target, so a reader (or the next start) sees the old text or the new, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile

DIR_MODE = 0o700  # a directory made for such files: they may hold passwords


def write_atomic(path: str, text: str, mode: int) -> None:
    """``text`` in ``path`` all at once (``mode``: the file's permissions).  The temporary
    file is hidden (``.NAME.*.tmp``), so a directory of ``*.cnf`` files never reads it.
    Raises OSError."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def sync_directory(directory: str) -> None:
    """Make the renames in ``directory`` durable (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
