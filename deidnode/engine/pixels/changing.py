"""Text whose own glyphs change between the frames of a cine: a clock, a timer, a counter.

An ultrasound cine burns the time into every frame, and it ticks. Read small, outlined or coloured, a clock
comes back as a different misreading on each frame ("00-1", "nar1-0", "T-r1-51"): no single reading looks like a
time, and it stayed. The pixels say what the readings cannot: the glyphs of static text are the same on every
frame, those of a clock are not. A line whose ink changes between the frames that were read while its
surroundings stay still, and whose readings differ, is removed, unless one of its readings is sure technical
annotation (a frame counter "Fr 12/24" read at 0.9 or more, which the allow-list keeps) and no reading as sure
of the same place, whose ink changes steadily, says it is something else. Over moving anatomy
the pixels cannot tell (the surroundings change too, and static text there reads a little differently on each
frame: "Gn 60", "6n 60"); there a line goes only when its readings differ and two in three of them at least are
numbers of four digits or more ("10147-18", "00 47-18", "1 47-18": a clock read in pieces over a beating heart;
one reading in a few is letters: "XKA 554A54" of 03:11:54 in an outlined font).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from .ocr import TextBox
from .redact import Box, inside_share
from .words import background_distance, ink_mask

CHANGING = 0.04
"""A line changes when at least this share of its ink pixels (in either frame) differ between two frames."""
MOVING_BACKGROUND = 0.02
"""Text whose surroundings (a ring one text height wide) change in more than this share of their pixels is not
judged: anatomy moves under and around it."""
COMPARED = 3
"""Each line is compared with this many other frames read, spread over the cine (first and last included)."""
SAME_PLACE = 0.5
"""Two readings on two frames are of one line when their boxes overlap by this share of the smaller box."""


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return d.max(axis=-1) if d.ndim == 3 else d


def ink_changes(a: np.ndarray, b: np.ndarray, box: Box) -> float:
    """Share of the ink pixels of ``box`` (ink in either frame ``a`` or ``b``, as displayed) that differ by half
    the text's contrast or more (at least 24 levels); 0 when the image around the box changes too (anatomy
    moving under and around the text: glyphs that change cannot be told apart from it)."""
    x0, y0, x1, y1 = box
    ca, cb = a[y0:y1, x0:x1], b[y0:y1, x0:x1]
    if a.shape != b.shape or ca.size == 0 or background_moves(a, b, box):
        return 0.0
    ink = ink_mask(ca, 12) | ink_mask(cb, 12)
    if not ink.any():
        return 0.0
    contrast = float(background_distance(ca)[ink].max())
    return float((_diff(ca, cb)[ink] >= max(24.0, 0.5 * contrast)).mean())


def background_moves(a: np.ndarray, b: np.ndarray, box: Box) -> bool:
    """Whether the surroundings of ``box`` (a ring one text height wide) change between frames ``a`` and ``b``
    in more than ``MOVING_BACKGROUND`` of their pixels."""
    if a.shape != b.shape:
        return False
    x0, y0, x1, y1 = box
    h = max(2, min(x1 - x0, y1 - y0))
    rx0, ry0, rx1, ry1 = max(0, x0 - h), max(0, y0 - h), min(a.shape[1], x1 + h), min(a.shape[0], y1 + h)
    ring = np.ones((ry1 - ry0, rx1 - rx0), bool)
    ring[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0] = False
    return (
        bool(ring.any())
        and float((_diff(a[ry0:ry1, rx0:rx1], b[ry0:ry1, rx0:rx1])[ring] >= 24).mean()) > MOVING_BACKGROUND
    )


NUMBER_DIGITS = 4
NUMBER_SHARE = 0.75
"""Over moving anatomy, a reading is a number when it holds this many digits or more, this share of its letters
and digits or more: a clock read in pieces ("1 47-18"), not technical text ("Gn 60", "Depth 16cm")."""
NUMBER_READINGS = 2 / 3
"""... and a place is a clock when this share of its readings (on the frames read) are numbers."""


def _number(text: str) -> bool:
    alnum = [c for c in text if c.isalnum()]
    digits = sum(c.isdigit() for c in alnum)
    return digits >= NUMBER_DIGITS and digits >= NUMBER_SHARE * len(alnum)


def changing_lines(
    views: dict[int, np.ndarray],
    lines: dict[int, list[TextBox]],
    sure: Callable[[TextBox], bool],
    read_surely: Callable[[TextBox], bool] = lambda ln: False,
) -> dict[int, set[int]]:
    """Per frame read, the indices of its lines whose ink changes between that frame and another one read (over
    moving anatomy, where that cannot be told: two in three readings of the place numbers), whose readings at that place
    differ between frames (a line read the same on every frame is not a clock), and whose place is not technical
    (``_technical_place``).

    ``views``: the frames read, as displayed; ``lines``: what was read on each; ``sure``: a reading that is sure
    technical annotation; ``read_surely``: a reading as sure as that, whatever it says."""
    out: dict[int, set[int]] = {}
    if len(views) < 2:
        return out
    compared: dict[int, list[int]] = {}
    ticking: dict[tuple[int, int], bool] = {}
    for f, lns in lines.items():
        others = sorted(g for g in views if g != f)
        n = min(COMPARED, len(others))
        compared[f] = [others[round(i * (len(others) - 1) / max(n - 1, 1))] for i in range(n)]
        for k, ln in enumerate(lns):
            ticking[f, k] = any(ink_changes(views[f], views[g], ln.box) >= CHANGING for g in compared[f])
    for f, lns in lines.items():
        for k, ln in enumerate(lns):
            ticks = ticking[f, k]
            if not ticks and not _number(ln.text):
                continue
            readings = [(lines[g][j], ticking[g, j]) for g, j in _same_place(lines, ln.box)]
            place = [o for o, _t in readings]
            if not ticks and not (
                sum(_number(o.text) for o in place) >= NUMBER_READINGS * len(place)
                and any(background_moves(views[f], views[g], ln.box) for g in compared[f])
            ):
                continue
            if len({_plain(o.text) for o in place}) > 1 and not _technical_place(ln.box, readings, sure, read_surely):
                out.setdefault(f, set()).add(k)
    return out


TICKING = 0.5
"""A place's readings of about one box tick on this share of their frames or more: its ink changes steadily, as a
clock's does, not on one frame in many (moving anatomy under static text)."""


def _technical_place(
    box: Box,
    readings: list[tuple[TextBox, bool]],
    sure: Callable[[TextBox], bool],
    read_surely: Callable[[TextBox], bool],
) -> bool:
    """Whether the readings of a changing place (of the line at ``box``; each with whether its ink changed) say
    it is technical annotation: one of them is ``sure`` (and no clock), unless the place ticks steadily
    (``TICKING``) and one of about the same box, read as surely, is anything else. A frame counter reads
    "Fr 12/24", "Fr 13/24": every sure reading is technical. A clock in an outlined font read "D81428" at 0.92
    (a depth setting to the allow-list) on one frame and "DB1424" at 0.93 (nothing it knows) on the next, its
    ink changing on nine frames of ten, is not (dev_24257 of the twelfth dev-drawn 400: "03:14:22" stayed on
    every frame). "W 400 L 40" read "H 400 L 40" and "400L40", its ink seen to change on one frame of twelve,
    stays; so does a line that a longer reading holds with a name beside it ("Depth 16cm C5-1 Tech: Adeyemi,
    F."): that reading says nothing of the line itself."""
    if not any(sure(o) and not clock(o.text) for o, _t in readings):
        return False
    same = [(o, t) for o, t in readings if min(inside_share(o.box, box), inside_share(box, o.box)) >= SAME_PLACE]
    steady = sum(t for _o, t in same) >= TICKING * len(same)
    return not (steady and any(read_surely(o) and not sure(o) for o, _t in same))


def number_pieces(text: str) -> bool:
    """Whether every word of a reading is mostly digits ("73 515056", "03A 511952": a clock read in pieces), so
    that a changing line found in part goes whole; a line with words of letters ("C 50 W 350 07.07.1982": a
    setting and a date that changes under moving anatomy) loses only what was found."""
    words = [[c for c in w if c.isalnum()] for w in text.split()]
    return bool(words) and all(w and 2 * sum(c.isdigit() for c in w) >= len(w) for w in words)


_CLOCK = re.compile(r"(?:[01]\d|2[0-3])[:.]?[0-5]\d[:.,][0-5]\d")


def clock(text: str) -> bool:
    """Whether a reading is a time of day with a colon lost or read as a full stop ("0241.50" of 02:41:50): it
    passes for a decimal number, which the allow-list keeps, but on a line that changes it is a clock ticking."""
    return _CLOCK.fullmatch(_plain(text)) is not None


def _plain(text: str) -> str:
    return "".join(text.split()).upper()


def _same_place(lines: dict[int, list[TextBox]], box: Box) -> list[tuple[int, int]]:
    """(frame, index) of every reading of the place of ``box``, on any frame read."""
    return [
        (g, j)
        for g, lns in lines.items()
        for j, o in enumerate(lns)
        if max(inside_share(o.box, box), inside_share(box, o.box)) >= SAME_PLACE
    ]
