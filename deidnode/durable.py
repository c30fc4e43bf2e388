"""Durable file writes: every byte written or an error, then fsync, rename into place, fsync the folder.

``os.write`` may write fewer bytes than asked (a volume filling up returns a short count before ENOSPC): a file
is never renamed into place, and never reported written, unless all of it was written and synced.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_fully(fd: int, data: bytes | memoryview) -> None:
    """Write all of ``data`` to ``fd`` or raise OSError."""
    view = memoryview(data).cast("B")
    while view:
        n = os.write(fd, view)
        if n <= 0:  # pragma: no cover - os.write raises rather than return 0 for regular files
            raise OSError(28, "no space left on device (short write)")
        view = view[n:]


def write_atomic(path: Path, data: bytes | memoryview, *, mode: int = 0o600) -> None:
    """Write ``path`` through a hidden temporary file beside it, durably (see the module docstring).

    On failure the temporary file is removed and the exception propagates; ``path`` is untouched.
    """
    # A name of its own: two writers of the same file (an expired lease, a retried task) never rename each
    # other's half-written file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            os.fchmod(fd, mode)  # O_CREAT's mode is filtered by the umask
            write_fully(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
