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


def intersects(a: Box, b: Box) -> bool:
    """Whether two boxes share at least one pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def inside_share(a: Box, b: Box) -> float:
    """Share of ``a``'s area inside ``b``."""
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    return ix * iy / max((a[2] - a[0]) * (a[3] - a[1]), 1) if ix > 0 and iy > 0 else 0.0


def along_across(b: Box, vertical: bool) -> tuple[int, int, int, int]:
    """A box's (start, end) along its line and (start, end) across it (a vertical line runs down the rows)."""
    return (b[1], b[3], b[0], b[2]) if vertical else (b[0], b[2], b[1], b[3])


TALL_ACROSS = 1.6
"""A reading that runs past a box above and below its line (left and right of a vertical one), is this many times
its height or more across it, and reaches into it along the line by a text height or more is no text on the box's
row: the detector's box over something else (a stray reading "sa!" 49 px high over the end of a 14 px phone
number). It stops no walk along the row (``detect.extend_along_row``) and holds back no padding
(``pad_clear_of``); a line beside the box, whose box overlaps it by a detector's margin, still does."""


def over_the_row(other: Box, box: Box, vertical: bool = False) -> bool:
    """Whether ``other`` lies over ``box``'s row rather than on it (``TALL_ACROSS``)."""
    lo, hi, a0, a1 = along_across(box, vertical)
    o_lo, o_hi, o_a0, o_a1 = along_across(other, vertical)
    height = a1 - a0
    return (
        o_a0 < a0
        and a1 < o_a1
        and o_a1 - o_a0 >= TALL_ACROSS * height
        and min(hi, o_hi) - max(lo, o_lo) >= max(height, 2)
    )


def transposed(b: Box) -> Box:
    """``b`` on the transposed image (rows and columns swapped): vertical lines are handled as horizontal ones."""
    return (b[1], b[0], b[3], b[2])


def _trim_margins(box: Box, keep: Iterable[Box]) -> Box:
    """``box`` with its top or bottom moved to halfway between its middle and that of a kept line overlapping it
    there (detector boxes have margins; stacked lines touch); a kept box across half the line's height or more
    (a vertical label crossing it) moves no edge."""
    x0, y0, x1, y1 = box
    cy = (y0 + y1) / 2
    for k in keep:
        if not intersects(k, (x0, y0, x1, y1)):
            continue
        if min(k[3], y1) - max(k[1], y0) >= 0.5 * (y1 - y0):
            continue
        ky = (k[1] + k[3]) / 2
        if ky < y0:
            y0 = max(y0, int(np.ceil((cy + ky) / 2)))
        elif ky > y1:
            y1 = min(y1, int(np.floor((cy + ky) / 2)))
    return box if y1 <= y0 else (x0, y0, x1, y1)


def pad_clear_of(
    box: Box,
    keep: Iterable[Box],
    rows: int,
    cols: int,
    pad: int,
    pad_x: int | None = None,
    pad_y: int | None = None,
    vertical: bool = False,
) -> Box:
    """``box`` grown by ``pad`` px each side (``pad_x``/``pad_y``: across the columns / rows, when they differ),
    but never into a box of text that stays (``keep``).

    Each side stops at the nearest kept box on that side; a kept line overlapping the box across its line (above
    or below a horizontal line, left or right of a ``vertical`` one) by a detector's margin moves that edge to
    halfway between the two lines. What is inside ``box`` along its line goes in any case (the PHI is removed
    whatever is beside it).
    """
    keep = list(keep)
    if vertical:
        x0, y0, x1, y1 = transposed(_trim_margins(transposed(box), [transposed(k) for k in keep]))
    else:
        x0, y0, x1, y1 = _trim_margins(box, keep)
    px = pad if pad_x is None else pad_x
    py = pad if pad_y is None else pad_y
    p0, q0, p1, q1 = max(0, x0 - px), max(0, y0 - py), min(cols, x1 + px), min(rows, y1 + py)
    bcx, bcy, bw, bh = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, 1), max(y1 - y0, 1)
    for k in keep:
        if not intersects(k, (p0, q0, p1, q1)):
            continue
        if x0 - 2 <= k[0] and k[2] <= x1 + 2 and y0 - 2 <= k[1] and k[3] <= y1 + 2:
            continue  # inside the box: the same ink read a second time, which goes with the PHI
        if over_the_row(k, (x0, y0, x1, y1), vertical):
            continue
        # the side the kept text is on, from the centres (it may overlap the box by a detector's margin): no
        # padding goes past its edge, nor past the box's own edge on that side
        kcx, kcy = (k[0] + k[2]) / 2, (k[1] + k[3]) / 2
        sx = (kcx - bcx) / (bw / 2 + (k[2] - k[0]) / 2)
        sy = (kcy - bcy) / (bh / 2 + (k[3] - k[1]) / 2)
        if abs(sy) >= abs(sx):
            if sy > 0:
                q1 = min(q1, max(y1, k[1]))
            else:
                q0 = max(q0, min(y0, k[3]))
        elif sx > 0:
            p1 = min(p1, max(x1, k[0]))
        else:
            p0 = max(p0, min(x0, k[2]))
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
