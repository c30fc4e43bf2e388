"""Redaction: fill padded boxes with the background value, in stored-pixel space, on every frame."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

Box = tuple[int, int, int, int]


def pad_box(box: Box, rows: int, cols: int, ratio: float, minimum: int = 2) -> Box:
    """``box`` grown by ``ratio`` of its height (at least ``minimum`` px) each side, clipped to the image."""
    x0, y0, x1, y1 = box
    p = max(minimum, int(round((y1 - y0) * ratio)))
    return (max(0, x0 - p), max(0, y0 - p), min(cols, x1 + p), min(rows, y1 + p))


def fill_boxes(
    frames: np.ndarray,
    boxes: Iterable[Box],
    fill: int | Sequence[int],
    frame_indices: Iterable[int] | None = None,
) -> list[int]:
    """Fill ``boxes`` with ``fill`` (one value, or one per sample) on the given frames (default: all).

    ``frames`` is (frames, rows, cols[, samples]) and is modified in place; returns the frames changed.
    """
    boxes = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
    if not boxes:
        return []
    idx = range(frames.shape[0]) if frame_indices is None else sorted(set(frame_indices))
    value = np.asarray(fill, dtype=frames.dtype)
    changed = []
    for i in idx:
        f = frames[i]
        before = None
        for x0, y0, x1, y1 in boxes:
            region = f[y0:y1, x0:x1]
            if before is None and not np.all(region == value):
                before = True
            region[...] = value
        if before:
            changed.append(int(i))
    return changed
