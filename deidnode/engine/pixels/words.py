"""From character spans of a recognised line to pixel boxes: remove a PHI word, keep the text beside it.

An engine gives where each character is centred along the line (``TextBox.char_pos``: the recogniser's CTC
time steps, or Tesseract's word boxes). A span's extent runs from halfway to the previous character to
halfway to the next one (at a space between words, not past the edge of the word's own ink: ``_limit``); it is
then snapped to the ink: widened to the whole stroke run it starts or ends in,
so a PHI glyph is never cut, but never into the extent of a character that stays. Without character
positions the line's width is shared out in proportion to the characters.
"""

from __future__ import annotations

import numpy as np

from .glyphs import stroke_maps
from .ocr import TextBox
from .redact import Box


def char_centres(line: TextBox) -> list[float]:
    """Centre of each character along the line (x, or y for vertical lines), in image pixels."""
    n = len(line.text)
    if len(line.char_pos) == n and n:
        return list(line.char_pos)
    a, b = (line.y0, line.y1) if line.vertical else (line.x0, line.x1)
    step = (b - a) / max(n, 1)
    return [a + step * (i + 0.5) for i in range(n)]


def _bounds(line: TextBox, ink: np.ndarray | None = None) -> tuple[list[float], list[float], float, float]:
    """(lower, upper) limit of each character along the line, and the line's own limits (``ink``: as in
    ``span_extent``, to find the gap between two words)."""
    pos = char_centres(line)
    lo_line, hi_line = (line.y0, line.y1) if line.vertical else (line.x0, line.x1)
    n = len(pos)
    if n == 0:
        return [], [], lo_line, hi_line
    d = np.abs(np.diff(pos)) if n > 1 else np.array([(hi_line - lo_line) / max(len(line.text), 1)])
    half = float(np.median(d)) / 2 if d.size else 4.0
    text, at = line.text, int(lo_line)
    lo, hi = [], []
    for i, p in enumerate(pos):
        neigh = [j for j in (i - 1, i + 1) if 0 <= j < n]
        below = [j for j in neigh if pos[j] < p]  # the nearer neighbour on each side, as before
        above = [j for j in neigh if pos[j] > p]
        lo.append(
            _limit(pos, text, i, max(below, key=pos.__getitem__), ink, at) if below else max(lo_line, p - 1.6 * half)
        )
        hi.append(
            _limit(pos, text, i, min(above, key=pos.__getitem__), ink, at) if above else min(hi_line, p + 1.6 * half)
        )
    return lo, hi, lo_line, hi_line


WORD_GAP = 2
"""Blank pixels between two words, at least, for a gap between them to be told."""


def _limit(pos: list[float], text: str, i: int, j: int, ink: np.ndarray | None, base: int) -> float:
    """Where character ``i`` ends towards its neighbour ``j``: halfway between them. Where ``j`` is a space
    between two words, that is moved, if need be, to the edge of the word's own ink beside the blank gap between
    the words (halfway from a space to the next character can lie inside that character's first stroke when
    the recogniser places it a pixel or two late), and where no gap can be told (glyphs that touch, read small),
    to the space's own place. It is moved no further: a fill that reaches across the gap abuts the word that
    stays, and a reader takes the fill's edge beside a label for a letter ("OPERATOR J")."""
    p, q = pos[i], pos[j]  # (``char_centres`` gives one position per character of ``text``)
    half = (p + q) / 2
    if not text[j].isspace():
        return half
    gap = _blank_gap(pos, text, i, j, ink, base)
    if gap is None:
        return q
    return min(half, gap[1]) if q < p else max(half, gap[0])


def runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The starts and (exclusive) ends of the runs of set ``flags`` (one dimension)."""
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _blank_gap(
    pos: list[float], text: str, i: int, j: int, ink: np.ndarray | None, base: int
) -> tuple[int, int] | None:
    """The longest run of blank pixels (start, end: absolute, end exclusive) between character ``i`` and the
    character on the other side of the space ``j``, if ``WORD_GAP`` long or more."""
    if ink is None or not ink.size:
        return None
    k = j + (j - i)
    far = pos[k] if 0 <= k < len(pos) and not text[k].isspace() else pos[j]
    a = max(int(np.ceil(min(pos[i], far))) - base, 0)
    b = min(int(np.floor(max(pos[i], far))) - base, ink.size)
    if b <= a:
        return None
    starts, ends = runs(~ink[a:b])
    if not starts.size:
        return None
    m = int(np.argmax(ends - starts))  # the first of the longest
    if ends[m] - starts[m] < WORD_GAP:
        return None
    return base + a + int(starts[m]), base + a + int(ends[m])


def span_extent(
    line: TextBox, start: int, end: int, ink: np.ndarray | None = None, skipped: bool = False
) -> tuple[int, int]:
    """Pixel extent along the line of characters ``start``..``end`` (exclusive).

    ``ink``: one flag per pixel along the line (True where the line has ink) from ``line``'s low edge; the
    extent is widened to the ink runs it cuts into, up to the next gap, and with ``skipped`` (a span that goes)
    over the glyphs its reader skipped beside it (``SKIPPED``).
    """
    lo, hi, lo_line, hi_line = _bounds(line, ink)
    if not lo:
        return int(lo_line), int(hi_line)
    idx = [i for i in range(max(0, start), min(end, len(lo))) if not line.text[i].isspace()] or list(
        range(max(0, start), min(end, len(lo)))
    )
    if not idx:
        return int(lo_line), int(lo_line)
    a = min(lo[i] for i in idx)
    b = max(hi[i] for i in idx)
    # a span that holds the first (last) character reaches that end of the box: the low end, or the high end
    # for a vertical line that reads up the image (its first character is at the bottom)
    up = line.reads_up
    if start <= 0:
        a, b = (a, max(b, hi_line)) if up else (min(a, lo_line), b)
    if end >= len(line.text):
        a, b = (min(a, lo_line), b) if up else (a, max(b, hi_line))
    a_i, b_i = int(np.floor(a)), int(np.ceil(b))
    if ink is not None and ink.size:
        # widened over the ink run it cuts into, but never into the extent of a character that stays: on a
        # busy background (anatomy, a gradient) the ink run can be the whole rest of the line
        stays = [i for i in range(len(lo)) if not start <= i < end and not line.text[i].isspace()]
        mid = (a + b) / 2
        below = [hi[i] for i in stays if hi[i] <= mid]
        above = [lo[i] for i in stays if lo[i] >= mid]
        floor_ = int(np.ceil(max(below))) if below else int(lo_line)
        ceil_ = int(np.floor(min(above))) if above else int(hi_line)
        slack = BOUNDARY_SLACK * 2 * _half_pitch(lo, hi)
        a_i, b_i = _over_ink(a_i, b_i, int(lo_line), ink, floor_, ceil_, slack)
        if skipped and len(line.char_pos) == len(line.text) and not up:
            a_i, b_i = _over_skipped(line, idx, a_i, b_i, ink, int(lo_line))
    return max(a_i, int(lo_line)), min(b_i, int(hi_line))


BOUNDARY_SLACK = 0.4
"""A PHI span's end set halfway between its last character's centre and the next one's (a character that
stays) can cut that glyph ("F." of "PapadopoulosF.Page1/3": the dot's columns stay): the end goes on over the
glyph's ink when the run ends within this many character pitches past the halfway mark."""


def _half_pitch(lo: list[float], hi: list[float]) -> float:
    """Half the median extent of a character (``_bounds``)."""
    return float(np.median([b - a for a, b in zip(lo, hi, strict=True)])) / 2 if lo else 0.0


SKIPPED = 3.5
"""Two characters of a reading this many character pitches apart or more have glyphs between them no reader
read ("adate2015" of "Exam date 27 NOV 2015"): a PHI span beside such a gap takes the ink in it, but not within
``OWN_TAIL`` pitches of the character that stays (the unread "s" of "50mA" | "St Brendan" is that word's)."""
OWN_TAIL = 1.6


def _over_skipped(line: TextBox, idx: list[int], a: int, b: int, ink: np.ndarray, base: int) -> tuple[int, int]:
    pos = line.char_pos
    solid = [i for i, c in enumerate(line.text) if not c.isspace()]
    if len(solid) < 3:
        return a, b
    pitch = float(np.median(np.abs(np.diff([pos[i] for i in solid]))))
    if pitch <= 0:
        return a, b
    i0, i1 = min(idx), max(idx)
    before = [i for i in solid if i < i0]
    after = [i for i in solid if i > i1]
    if before and pos[i0] - pos[before[-1]] >= SKIPPED * pitch:
        lo = max(int(np.ceil(pos[before[-1]] + OWN_TAIL * pitch)) - base, 0)
        cols = np.nonzero(ink[lo : max(a - base, lo)])[0]
        if cols.size:
            a = min(a, base + lo + int(cols[0]))
    if after and pos[after[0]] - pos[i1] >= SKIPPED * pitch:
        hi = int(np.floor(pos[after[0]] - OWN_TAIL * pitch)) - base
        start = max(b - base, 0)
        cols = np.nonzero(ink[start : max(hi, start)])[0]
        if cols.size:
            b = max(b, base + start + int(cols[-1]) + 1)
    return a, b


def _over_ink(
    a: int,
    b: int,
    base: int,
    ink: np.ndarray,
    floor_: float = -np.inf,
    ceil_: float = np.inf,
    slack: float = 0.0,
) -> tuple[int, int]:
    """``a``..``b`` (pixels along a line whose ``ink`` flags start at ``base``) widened over the ink runs its
    ends cut into, not past ``floor_`` and ``ceil_`` unless the run ends within ``slack`` pixels past them
    (``BOUNDARY_SLACK``)."""
    k = a - base
    while 0 < k < ink.size and ink[k] and ink[k - 1] and base + k > floor_:
        k -= 1
    if 0 < k < ink.size and ink[k] and ink[k - 1] and slack > 0:
        j = k
        while 0 < j and ink[j - 1] and base + j > floor_ - slack:
            j -= 1
        if j == 0 or not ink[j - 1]:
            k = j
    a = base + max(k, 0)
    k = b - base
    while 0 < k < ink.size and ink[k - 1] and ink[k] and base + k < ceil_:
        k += 1
    if 0 < k < ink.size and ink[k - 1] and ink[k] and slack > 0:
        j = k
        while j < ink.size and ink[j] and base + j < ceil_ + slack:
            j += 1
        if j == ink.size or not ink[j]:
            k = j
    return a, base + min(k, ink.size)


def own_box(line: TextBox, ink: np.ndarray | None = None) -> Box:
    """The pixel box of ``line``'s characters along the line (not the reader's box, which can overhang a
    neighbour's first glyph), widened over the ink its ends cut into; full height across."""
    lo, hi, lo_line, hi_line = _bounds(line)
    idx = [i for i in range(len(lo)) if i < len(line.text) and not line.text[i].isspace()]
    if not idx:
        return line.box
    a, b = int(np.floor(min(lo[i] for i in idx))), int(np.ceil(max(hi[i] for i in idx)))
    a, b = max(a, int(lo_line)), min(b, int(hi_line))
    if ink is not None and ink.size:
        a, b = _over_ink(a, b, int(lo_line), ink)
    if b <= a:
        return line.box
    return (line.x0, a, line.x1, b) if line.vertical else (a, line.y0, b, line.y1)


def span_box(line: TextBox, start: int, end: int, ink: np.ndarray | None = None, skipped: bool = False) -> Box:
    """The pixel box of characters ``start``..``end`` of ``line``: its extent along the line, full height."""
    a, b = span_extent(line, start, end, ink, skipped)
    if line.vertical:
        return (line.x0, a, line.x1, b)
    return (a, line.y0, b, line.y1)


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each run of non-space characters."""
    out, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        j = i
        while j < n and not text[j].isspace():
            j += 1
        if j > i:
            out.append((i, j))
        i = j
    return out


def background_distance(crop: np.ndarray) -> np.ndarray:
    """Per pixel, how far ``crop`` is from its median (its background), in the channel where it is farthest."""
    c = crop.reshape(crop.shape[0], crop.shape[1], -1).astype(np.int16)
    bg = np.median(c.reshape(-1, c.shape[-1]), axis=0)
    return np.abs(c - bg).max(axis=-1)


def ink_mask(crop: np.ndarray, floor: int, share: float = 0.35) -> np.ndarray:
    """Pixels of ``crop`` far from its most common value (its background) in any channel: at least ``floor``
    levels, and at least ``share`` of the farthest."""
    return _far(background_distance(crop), floor, share)


def _far(dist: np.ndarray, floor: int, share: float) -> np.ndarray:
    """Where ``dist`` is at least ``floor`` and at least ``share`` of its largest value: the ink of a crop."""
    return np.asarray(dist >= max(floor, share * float(dist.max())))


def stroke_mask(view: np.ndarray, box: Box, size: int, floor: int, share: float = 0.35) -> np.ndarray:
    """``ink_mask`` of ``box`` for strokes: features narrower than ``size`` pixels, lighter or darker than what
    is around them (``glyphs.stroke_maps``, on the view around the box, in any channel), rather than pixels far from
    the crop's most common value: a label box's fill or edge, or a gradient of anatomy, under part of the crop
    is no ink; the strokes on it are."""
    x0, y0, x1, y1 = box
    rows, cols = view.shape[:2]
    k = max(3, size | 1)
    wx0, wy0, wx1, wy1 = max(0, x0 - k), max(0, y0 - k), min(cols, x1 + k), min(rows, y1 + k)
    win = np.ascontiguousarray(view[wy0:wy1, wx0:wx1])
    if win.size == 0 or x1 <= x0 or y1 <= y0:
        return np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), bool)
    planes = [win] if win.ndim == 2 else [win[..., c] for c in range(win.shape[-1])]
    d = np.max([np.maximum(*stroke_maps(p, k)) for p in planes], axis=0)
    dist = d[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0]
    if dist.size == 0:
        return np.zeros(dist.shape, bool)
    return _far(dist, floor, share)


def not_slabs(mask: np.ndarray) -> np.ndarray:
    """``mask`` without its slabs: rows that are all marked (the image beyond a label box that the crop
    overhangs, above or below it: text leaves gaps in every row) and, from either side, a run of more than a few
    columns that are all marked (the same at an end; a glyph's stem is a column or two)."""
    h, w = mask.shape
    out = mask.copy()
    out[mask.mean(axis=1) >= 0.95, :] = False
    full = mask.mean(axis=0) >= 0.95
    run = max(3, h // 8)
    left = int(np.argmin(full)) if not full.all() else w
    right = int(np.argmin(full[::-1])) if not full.all() else w
    if left >= run:
        out[:, :left] = False
    if right >= run:
        out[:, w - right :] = False
    return out


def glyph_mask(crop: np.ndarray, floor: int, share: float = 0.35) -> np.ndarray:
    """``ink_mask`` measured without slabs (``not_slabs``): faint text on a label box that the crop overhangs is
    ink, the darker image beyond the box is not."""
    dist = background_distance(crop)
    far = _far(dist, floor, share)
    slabs = far & ~not_slabs(far)
    if not slabs.any() or slabs.all():
        return np.asarray(far)
    return np.asarray((dist >= max(floor, share * float(dist[~slabs].max()))) & ~slabs)


def ink_profile(view: np.ndarray, line: TextBox) -> np.ndarray:
    """Columns (rows, for vertical lines) of ``line``'s box that hold ink: pixels far from the box's most
    common value (its background), in any channel."""
    crop = view[line.y0 : line.y1, line.x0 : line.x1]
    if crop.size == 0:
        return np.zeros(0, bool)
    far = ink_mask(crop, 12)
    return np.asarray(far.any(axis=1) if line.vertical else far.any(axis=0))


def ink_box(view: np.ndarray, box: Box) -> Box:
    """``box`` trimmed to the rows and columns that hold ink (detector boxes have margins that can reach into
    the next line of text); unchanged when no ink stands out."""
    x0, y0, x1, y1 = box
    crop = view[y0:y1, x0:x1]
    if crop.size == 0:
        return box
    far = glyph_mask(crop, 6)
    rows, cols = np.nonzero(far.any(axis=1))[0], np.nonzero(far.any(axis=0))[0]
    if rows.size == 0:
        return box
    out = (x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1)
    # what stands out most may be something else (the edge of a label box under faint text): a trim that
    # loses the middle of the box, or most of its height or width, is not trusted
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    if not (out[1] <= cy <= out[3] and out[0] <= cx <= out[2]):
        return box
    if out[3] - out[1] < 0.45 * (y1 - y0) or out[2] - out[0] < 0.45 * (x1 - x0):
        return box
    return out


INTRUDING = 0.4
"""A run of ink rows at the top or bottom of a line's box, apart from the line's own by blank rows, this share of
its height or less, is the next line's glyphs reaching in (``intrusions_trimmed``)."""
INTRUDING_WIDTH = 0.15
"""... at the top, only where its ink spans this share of the box's columns or more: the dots and accents over a
line's letters are apart from it too, but few and narrow."""
FAINT_INK = 0.12
"""Ink, for telling a blank row, at this share of the brightest ink: a small font's thin rows fall below the share
``ink_mask`` uses for glyphs, and a row of them is no gap between lines."""


def intrusions_trimmed(view: np.ndarray, box: Box) -> Box:
    """``box`` (a horizontal line's, trimmed to its ink) without the glyphs of the lines above and below that its
    edge rows reach into: a run of ink rows at an edge of the box, apart from the rows inside by a blank row and
    no taller than ``INTRUDING`` of the line's own ink (at the top, also as wide as ``INTRUDING_WIDTH``)."""
    x0, y0, x1, y1 = box
    crop = view[y0:y1, x0:x1]
    if crop.size < 4:
        return box
    far = ink_mask(crop, 6, share=FAINT_INK)
    rows = np.asarray(far.any(axis=1))
    n = rows.size
    lo, hi = 0, n
    bottom = _edge_run(rows[::-1])
    if bottom is not None:
        k, gap = bottom
        own = np.nonzero(rows[: n - gap])[0]
        if own.size and k <= INTRUDING * (own[-1] - own[0] + 1):
            hi = n - gap
    top = _edge_run(rows[:hi])
    if top is not None:
        k, gap = top
        own = np.nonzero(rows[gap:hi])[0]
        wide = far[:k].any(axis=0).mean() >= INTRUDING_WIDTH
        if own.size and wide and k <= INTRUDING * (own[-1] - own[0] + 1):
            lo = gap
    return (x0, y0 + lo, x1, y0 + hi) if (lo, hi) != (0, n) else box


def _edge_run(rows: np.ndarray) -> tuple[int, int] | None:
    """(rows in the run of ink at the start of ``rows``, rows to the end of the blank gap after it), or None where
    the first row is blank, no blank row follows the run, or nothing follows the gap."""
    n = rows.size
    if n < 4 or not rows[0]:
        return None
    k = 0
    while k < n and rows[k]:
        k += 1
    g = k
    while g < n and not rows[g]:
        g += 1
    if g == k or g == n:
        return None
    return k, g


def ink_band(view: np.ndarray, box: Box, vertical: bool = False) -> tuple[int, int]:
    """The extent across a line (rows; columns for a vertical line) of the one band of ink the line is in.

    A detector box often reaches into the line above or below (stacked lines, a tall margin): the box's rows
    with ink are split at blank rows, and the band that holds the box's middle (else the one with most ink)
    is the line's. A box whose ink has no blank row in it keeps its ink's extent (``ink_box``).
    """
    x0, y0, x1, y1 = box
    crop = view[y0:y1, x0:x1]
    if crop.size == 0:
        return (x0, x1) if vertical else (y0, y1)
    far = ink_mask(crop, 6)
    mass = far.sum(axis=0 if vertical else 1)
    lo = x0 if vertical else y0
    runs: list[tuple[int, int, int]] = []  # (start, end, ink)
    i, n = 0, mass.size
    while i < n:
        if mass[i] == 0:
            i += 1
            continue
        j = i
        while j < n and mass[j] > 0:
            j += 1
        runs.append((i, j, int(mass[i:j].sum())))
        i = j
    if not runs:
        return (x0, x1) if vertical else (y0, y1)
    mid = n / 2
    holding = [r for r in runs if r[0] <= mid < r[1]]
    a, b, _ = holding[0] if holding else max(runs, key=lambda r: r[2])
    # a band much thinner than the line is a stray (a rule, a speck): the box's own ink extent stands
    if b - a < 0.3 * n and len(runs) > 1 and not holding:
        return (lo + runs[0][0], lo + runs[-1][1])
    return lo + a, lo + b
