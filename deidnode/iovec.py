"""Gathered writes (``sendmsg``, ``writev``) that may write only part of what they were given."""

from __future__ import annotations

from collections.abc import Callable, Sequence

IOV_MAX = 512
"""Buffers per call; Linux allows 1024."""


def write_all(write: Callable[[Sequence[memoryview]], int], buffers: Sequence[bytes | memoryview]) -> None:
    """Call ``write`` (e.g. ``sock.sendmsg`` or ``lambda b: os.writev(fd, b)``) until every byte is written."""
    views = [memoryview(b).cast("B") for b in buffers]
    while views:
        batch = views[:IOV_MAX]
        n = write(batch)
        i = 0
        while i < len(batch) and n >= len(batch[i]):
            n -= len(batch[i])
            i += 1
        views = views[i:]
        if n:
            views[0] = views[0][n:]
