"""Gathered writes (``sendmsg``, ``writev``) that may write only part of what they were given."""

from __future__ import annotations

from collections.abc import Callable, Sequence

IOV_MAX = 512
"""Buffers per call; Linux allows 1024."""


def write_all(write: Callable[[Sequence[memoryview]], int], buffers: Sequence[bytes | memoryview]) -> None:
    """Call ``write`` (e.g. ``sock.sendmsg`` or ``lambda b: os.writev(fd, b)``) until every byte is written.

    Linear in the number of buffers: the position advances by index (slicing the remaining list after each
    call made a million one-byte buffers cost minutes).
    """
    views = [memoryview(b).cast("B") for b in buffers]
    i, end = 0, len(views)
    while i < end:
        batch = views[i : i + IOV_MAX]
        n = write(batch)
        j = 0
        while j < len(batch) and n >= len(batch[j]):
            n -= len(batch[j])
            j += 1
        i += j
        if n:
            views[i] = views[i][n:]
