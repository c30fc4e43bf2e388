"""A fill that covers every glyph it cuts into.

A box from a reader is an estimate: it can stop short of the tops or bottoms of its glyphs (an ascender, an
outline or a shadow, or padding stopped by the line above), and a glyph cut in two stays readable, to a person and
to a second reader. Across the line, the fill grows over each glyph-sized stroke component mostly inside it, as
far as no other ink lies in the rows it grows into (text that stays, the next line, anatomy). Along the line a
span's ends are words.span_extent's business (growing there cost technical text and gained no PHI on the dev
split).
"""

from __future__ import annotations

import cv2
import numpy as np

from .redact import Box, transposed
from .words import ink_mask

REACH = 0.6
"""How far past the box a glyph may reach, as a share of the text height (an ascender, an outline, a shadow)."""
CUT_SHARE = 0.5
"""A component is one the box cuts into when at least this share of its box is inside the fill."""
FAINT = 8
"""Levels from the background at which ink stops the fill from growing, however faint beside the PHI."""
KEPT_SHARE = 0.3
"""A component with more of its box than this inside a kept box belongs to the text that stays."""


def _overlap(a: Box, b: Box) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def cover_glyphs(view: np.ndarray, box: Box, height: float, keeps: list[Box], vertical: bool = False) -> Box:
    """``box`` grown across its line over the glyph-sized ink components mostly inside it, at most ``REACH`` of
    the text height, and only as far as no other ink (however faint) lies in the part that grows."""
    x0, y0, x1, y1 = box
    rows, cols = view.shape[:2]
    if x1 <= x0 or y1 <= y0:
        return box
    if vertical:  # work on the transpose: across the line is then up and down
        t = cover_glyphs(np.swapaxes(view, 0, 1), transposed(box), height, [transposed(k) for k in keeps])
        return transposed(t)
    g = max(2, int(round(REACH * height)))
    # the window reaches twice as far as growth may, so ink beyond the reach is seen whole, not cut by the window
    wx0, wy0, wx1, wy1 = max(0, x0 - 2 * g), max(0, y0 - 2 * g), min(cols, x1 + 2 * g), min(rows, y1 + 2 * g)
    crop = view[wy0:wy1, wx0:wx1]
    if crop.size == 0:
        return box
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink_mask(crop, 12).astype(np.uint8), connectivity=8)
    bx0, by0, bx1, by1 = x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0  # the box in window coordinates
    limit_h = 1.6 * height + 2
    grow, boxes, small = [], {}, []
    for c in range(1, n):
        cx, cy = int(stats[c, cv2.CC_STAT_LEFT]), int(stats[c, cv2.CC_STAT_TOP])
        cb = (cx, cy, cx + int(stats[c, cv2.CC_STAT_WIDTH]), cy + int(stats[c, cv2.CC_STAT_HEIGHT]))
        area = (cb[2] - cb[0]) * (cb[3] - cb[1])
        if cb[3] - cb[1] > limit_h or cb[1] < by0 - g or cb[3] > by1 + g:
            continue  # not a glyph of this line: taller than a line, or reaching past where growth may go
        world = (cb[0] + wx0, cb[1] + wy0, cb[2] + wx0, cb[3] + wy0)
        if sum(_overlap(world, k) for k in keeps) > KEPT_SHARE * area:
            continue
        boxes[c] = cb
        if _overlap(cb, (bx0, by0, bx1, by1)) >= CUT_SHARE * area:
            grow.append(c)
        elif max(cb[3] - cb[1], cb[2] - cb[0]) <= 0.35 * height:
            small.append(c)  # maybe the dot of an i or an accent
    if not grow:
        return box
    # a dot or an accent right over or under a glyph that grows belongs to it
    grow += [
        c
        for c in small
        if boxes[c][2] > bx0
        and boxes[c][0] < bx1
        and any(boxes[c][0] < boxes[o][2] and boxes[o][0] < boxes[c][2] for o in grow)
    ]
    own = np.isin(labels, grow)
    ys = np.nonzero(own.any(axis=1))[0]
    top, bottom = int(ys[0]), int(ys[-1]) + 1
    if top >= by0 and bottom <= by1:
        return box
    # any other ink in the rows that would grow, however faint (text that stays in a fainter grey, the next
    # line, anatomy), stops the growth before it; the grown glyphs' own anti-aliased rims do not
    rims = cv2.dilate(own.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    foreign = ink_mask(crop, FAINT, share=0.0) & ~rims
    new_top, new_bottom = _reach(foreign[:, bx0:bx1].any(axis=1), by0, by1, top, bottom)
    return (x0, new_top + wy0, x1, new_bottom + wy0)


def _reach(blocked: np.ndarray, lo: int, hi: int, want_lo: int, want_hi: int) -> tuple[int, int]:
    """``lo``..``hi`` widened towards ``want_lo``..``want_hi``, each side up to the first blocked index."""
    a, b = lo, hi
    for r in range(lo - 1, want_lo - 1, -1):
        if blocked[r]:
            break
        a = r
    for r in range(hi, want_hi):
        if blocked[r]:
            break
        b = r + 1
    return a, b
