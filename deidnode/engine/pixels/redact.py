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


def _intersects(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def pad_clear_of(box: Box, keep: Iterable[Box], rows: int, cols: int, pad: int) -> Box:
    """``box`` grown by ``pad`` px each side, but never into a box of text that stays (``keep``).

    Each side stops at the nearest kept box on that side; a kept box that overlaps ``box`` itself does not
    limit it (the PHI is removed whatever is beside it).
    """
    x0, y0, x1, y1 = box
    # a kept text that only grazes the box's edge (a detector's margin reaching the next line) is cut away
    for k in keep:
        if not _intersects(k, (x0, y0, x1, y1)):
            continue
        h = max(y1 - y0, 1)
        cy, cx = (k[1] + k[3]) / 2, (k[0] + k[2]) / 2
        if cy < y0 and k[3] - y0 <= 0.35 * h:
            y0 = k[3]
        elif cy > y1 and y1 - k[1] <= 0.35 * h:
            y1 = k[1]
        elif cx < x0 and k[2] - x0 <= 0.35 * h:
            x0 = k[2]
        elif cx > x1 and x1 - k[0] <= 0.35 * h:
            x1 = k[0]
    box = (x0, y0, x1, y1)
    p0, q0, p1, q1 = max(0, x0 - pad), max(0, y0 - pad), min(cols, x1 + pad), min(rows, y1 + pad)
    for k in keep:
        if _intersects(k, box) or not _intersects(k, (p0, q0, p1, q1)):
            continue
        # which side of the box the kept text is on: the side with the largest clearance
        right, left = k[0] - x1, x0 - k[2]
        below, above = k[1] - y1, y0 - k[3]
        side = max((right, "r"), (left, "l"), (below, "b"), (above, "a"))[1]
        if side == "r":
            p1 = min(p1, max(x1, k[0]))
        elif side == "l":
            p0 = max(p0, min(x0, k[2]))
        elif side == "b":
            q1 = min(q1, max(y1, k[1]))
        else:
            q0 = max(q0, min(y0, k[3]))
    return (p0, q0, p1, q1)


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
