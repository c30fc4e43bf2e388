"""Verification: two independent readers read the cleaned frames; PHI either finds fails the instance closed.

- The main engine re-reads every place that changed, with a margin of two text heights (a partly removed
  word shows up there). Everywhere else the cleaned frame is pixel-identical to what it already read and
  judged on the first pass, and a reader gives the same answer on the same pixels.
- The second reader (Tesseract by default, ``pixels.second_reader``) reads every text on the cleaned frame:
  each line that stayed, each changed place and each text-like region, one crop at a time, scaled for it.
  It shares no model with the first, so a line the first misread ("J0HN SM1TH" kept as not PHI) is read
  again by something that errs differently.

Each reading is judged like the first pass; inside regions where a pseudonym was rendered (obfuscation) only
the dataset's own values count, since the pseudonym itself is a name, an ID or a date by design.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .detect import READ_HEIGHT, best_plane
from .ocr import OcrEngine, TextBox
from .redact import Box, along_across, intersects
from .text import Decision, TextJudge
from .text.patterns import lone_label
from .words import char_centres


@dataclass(frozen=True)
class Residual:
    """A line still judged PHI after cleaning: which frame, which reader, where, and the decision."""

    frame: int
    reader: str
    box: TextBox
    decision: Decision


def _overlaps(a: Box, b: Box) -> bool:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return False
    area = (a[2] - a[0]) * (a[3] - a[1])
    return ix * iy >= 0.3 * max(area, 1)


def windows(changed: Sequence[Box], rows: int, cols: int, texts: Sequence[Box] = ()) -> list[Box]:
    """Changed boxes grown by two text heights (at least 8 px), widened to the whole of any text they cut
    into (a reader given half a word reads nonsense), and merged where they touch."""

    def cuts(a: list[int], b: Sequence[int]) -> bool:
        inside = b[0] >= a[0] and b[1] >= a[1] and b[2] <= a[2] and b[3] <= a[3]
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3] and not inside

    out: list[list[int]] = []
    for x0, y0, x1, y1 in changed:
        m = max(8, 2 * min(y1 - y0, x1 - x0))
        w = [max(0, x0 - m), max(0, y0 - m // 2), min(cols, x1 + m), min(rows, y1 + m // 2)]
        grown = True
        while grown:
            grown = False
            for o in [*out, *texts]:
                if cuts(w, o):
                    w = [min(w[0], o[0]), min(w[1], o[1]), max(w[2], o[2]), max(w[3], o[3])]
                    grown = True
            out = [o for o in out if not (o[0] >= w[0] and o[1] >= w[1] and o[2] <= w[2] and o[3] <= w[3])]
        out.append(w)
    return [(b[0], b[1], b[2], b[3]) for b in out]


def read_crop(engine: OcrEngine, view: np.ndarray, box: Box, height: float, max_scale: float = 4.0) -> list[TextBox]:
    """``engine``'s lines inside ``box`` of ``view`` (scaled so text is about ``READ_HEIGHT`` px, at most
    ``max_scale`` times), in image coordinates."""
    x0, y0, x1, y1 = box
    crop = view[y0:y1, x0:x1]
    if crop.size == 0:
        return []
    crop = best_plane(crop)  # faint or coloured text: the plane where it stands out, stretched
    scale = float(np.clip(READ_HEIGHT / max(height, 1.0), 1.0, max_scale))
    if scale > 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    pad = 8  # readers need a little background around a line
    crop = cv2.copyMakeBorder(np.ascontiguousarray(crop), pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return [
        tb.shifted(x0 - int(round(pad / scale)), y0 - int(round(pad / scale)), 1.0 / scale)
        for tb in engine.read_region(crop)
    ]


def _judged(lines: list[TextBox], judge: TextJudge, frame: int, reader: str, rendered: Sequence[Box]) -> list[Residual]:
    out = []
    for ln in lines:
        d = judge.judge(ln.text, ln.confidence)
        if not d.phi:
            continue
        if d.layer != "metadata" and any(_overlaps(ln.box, r) for r in rendered):
            continue
        out.append(Residual(frame, reader, ln, d))
    return out


def _label_only(d: Decision) -> bool:
    """Whether a line is judged PHI only as the value of a label in it ("DOB B30f")."""
    return d.layer == "pattern" and bool(d.spans) and all(sp.kind == "label" for sp in d.spans)


def _fills_across(line: TextBox, changed: Sequence[Box]) -> list[tuple[int, int]]:
    """(start, end) along ``line`` of each filled box that crosses it over half its height (its width, for a
    vertical line)."""
    _lo, _hi, a0, a1 = along_across(line.box, line.vertical)
    out = []
    for c in changed:
        c_lo, c_hi, c_a0, c_a1 = along_across(c, line.vertical)
        if min(a1, c_a1) - max(a0, c_a0) >= 0.5 * (a1 - a0):
            out.append((c_lo, c_hi))
    return out


def _label_pieces(res: Residual, changed: Sequence[Box]) -> list[Box] | None:
    """The pieces of a line judged PHI only as a label's value ("DOB B30f", "PATIENT Row") that a filled box
    splits, or None. The value after that label was removed: on the cleaned frame the reader joins the label to
    the text beyond the gap, which the first pass read in full and kept ("DOB Jan 10,1980 B30f")."""
    if not _label_only(res.decision):
        return None
    v = res.box.vertical
    lo, hi, a0, a1 = along_across(res.box.box, v)
    cuts = [(c_lo, c_hi) for c_lo, c_hi in _fills_across(res.box, changed) if lo + 2 < c_lo and c_hi < hi - 2]
    if not cuts:
        return None
    pieces, at = [], lo
    for c_lo, c_hi in sorted(cuts):
        if c_lo > at:
            pieces.append((at, c_lo))
        at = max(at, c_hi)
    pieces.append((at, hi))
    return [(a0, p0, a1, p1) if v else (p0, a0, p1, a1) for p0, p1 in pieces if p1 - p0 >= 2]


def _whole(piece: Box, kept: Sequence[Box], vertical: bool) -> Box:
    """``piece`` widened along its line to the whole of each kept box it cuts into on the same line (across
    the line, half of the smaller of the two in common)."""
    x0, y0, x1, y1 = piece
    for b in kept:
        if not intersects(piece, b):
            continue
        a0, a1, c0, c1 = (piece[0], piece[2], b[0], b[2]) if vertical else (piece[1], piece[3], b[1], b[3])
        if min(a1, c1) - max(a0, c0) >= 0.5 * min(a1 - a0, c1 - c0):
            x0, y0, x1, y1 = min(x0, b[0]), min(y0, b[1]), max(x1, b[2]), max(y1, b[3])
    return (x0, y0, x1, y1)


def _grown(box: Box, height: float, rows: int, cols: int) -> Box:
    """``box`` with a margin of 0.4 text heights (at least 3 px) for a reader, inside the frame."""
    m = max(3, int(0.4 * height))
    return (max(0, box[0] - m), max(0, box[1] - m), min(cols, box[2] + m), min(rows, box[3] + m))


def _words(text: str) -> set[str]:
    return {w for w in map(_squashed, text.split()) if w}


def _judged_pieces(
    found: list[Residual],
    view: np.ndarray,
    changed: Sequence[Box],
    readers: Sequence[OcrEngine],
    judge: TextJudge,
    rendered: Sequence[Box],
    height: float,
    kept: Sequence[tuple[Box, str]],
) -> list[Residual]:
    """``found``, a label joined across a filled box to what lies beyond it read again piece by piece, when every
    piece beyond the label's reads as text the first pass read and kept there, word for word: the first pass
    judged it beside the label and its value. A piece read otherwise ("JOHN" where the first pass read "J0HN" and
    removed only the SMITH before it) is new evidence, and the label's join stands. The reader that found the
    join reads first (``readers[0]``); a piece it cannot make out as the kept text ("Bro" for "P Low") is read by
    the other reader too, and either reading it as kept is enough: both judge what they read."""
    out = []
    rows, cols = view.shape[:2]
    for r in found:
        if _inside_kept_label(r, kept) or _value_on_fill(r, changed):
            continue
        pieces = _label_pieces(r, changed)
        if pieces is None:
            out.append(r)
            continue
        alone: list[Residual] = []
        known = True
        first = len(pieces) - 1 if r.box.reads_up else 0  # the label's piece: a label, read either way
        for k, piece in enumerate(pieces):
            if k != first:  # the piece whole: the kept text it cuts into, read in full (half a word reads nonsense)
                piece = _whole(piece, [b for b, _t in kept], r.box.vertical)
            as_kept = False
            for reader in readers if k != first else readers[:1]:
                lines = read_crop(reader, view, _grown(piece, height, rows, cols), height)
                alone += _judged(lines, judge, r.frame, r.reader, rendered)
                as_kept = k != first and _reads_as_kept(lines, kept)
                if as_kept:
                    break
            known = known and (k == first or as_kept)
        out += alone if known else [r, *alone]
    return out


def _value_on_fill(res: Residual, changed: Sequence[Box]) -> bool:
    """Whether a line judged PHI only as a label's value has every character of its value centred on a box that
    was filled (across the line, over half the line's height): the reader took the edge of the fill for letters
    after the label that stays ("OPERATOR J", "operator fil")."""
    if not _label_only(res.decision):
        return False
    ln = res.box
    centres = char_centres(ln)
    fills = _fills_across(ln, changed)
    chars = [i for sp in res.decision.spans for i in range(sp.start, sp.end) if not ln.text[i].isspace()]
    return bool(chars) and all(any(lo <= centres[i] < hi for lo, hi in fills) for i in chars)


def _inside_kept_label(res: Residual, kept: Sequence[tuple[Box, str]]) -> bool:
    """Whether a line judged PHI only as a label's value lies within a label the first pass read and kept
    ("Ref. hys" and "Pat. ame" for "Ref. Phys:" and "Pat. Name:", their values removed): the "name" is the
    label's own letters misread, read again where nothing was removed. The kept words on its row that it
    overlaps, read together, must be a label on their own; the reading may overhang them by half a text height
    at each end."""
    if not _label_only(res.decision):
        return False
    v = res.box.vertical
    lo, hi, a0, a1 = along_across(res.box.box, v)
    row = []
    for b, text in kept:
        k_lo, k_hi, k_a0, k_a1 = along_across(b, v)
        if min(a1, k_a1) - max(a0, k_a0) >= 0.5 * min(a1 - a0, k_a1 - k_a0) and min(hi, k_hi) > max(lo, k_lo):
            row.append((k_lo, k_hi, k_a1 - k_a0, text))
    if not row:
        return False
    row.sort(reverse=v and res.box.reads_up)
    slack = 0.5 * max(h for _lo, _hi, h, _t in row)
    inside = min(r[0] for r in row) - slack <= lo and hi <= max(r[1] for r in row) + slack
    return inside and lone_label(" ".join(t for *_x, t in row)) is not None


def _reads_as_kept(lines: list[TextBox], kept: Sequence[tuple[Box, str]]) -> bool:
    """Whether every line read is, word for word, text the first pass read and kept where it stands, or the same
    characters with the spaces read elsewhere ("w400L" where the first pass kept "ETL16W400", "L" and "40")."""
    for ln in lines:
        near = sorted((b[1], b[0], t) if ln.vertical else (b[0], b[1], t) for b, t in kept if intersects(ln.box, b))
        seen = set().union(*(_words(t) for _a, _b, t in near))
        if _words(ln.text) <= seen:
            continue
        squashed = _squashed(ln.text)
        if len(squashed) < 3 or squashed not in "".join(_squashed(t) for _a, _b, t in near):
            return False
    return True


def _squashed(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def residual_phi(
    view: np.ndarray,
    frame: int,
    changed: Sequence[Box],
    texts: Sequence[tuple[Box, float]],
    engine: OcrEngine,
    second: OcrEngine | None,
    judge: TextJudge,
    rendered: Sequence[Box] = (),
    timings: dict[str, float] | None = None,
    kept: Sequence[tuple[Box, str]] = (),
) -> list[Residual]:
    """PHI still readable on one cleaned frame (``view``, 8-bit display).

    ``changed``: boxes that were filled; ``texts``: (box, text height) of every text that stayed (lines kept,
    text-like regions), for the second reader; ``kept``: (box, text) of what the first pass read and kept.
    """
    import time

    rows, cols = view.shape[:2]
    out: list[Residual] = []
    t = time.perf_counter()
    wins = windows(changed, rows, cols, [b for b, _h in texts])
    heights = {w: max([min(b[3] - b[1], b[2] - b[0]) for b in changed if _overlaps(b, w)] or [16]) for w in wins}

    def found(reader: OcrEngine, box: Box, height: float, max_scale: float = 4.0) -> list[Residual]:
        lines = _judged(read_crop(reader, view, box, height, max_scale), judge, frame, reader.name, rendered)
        both = [reader, *(o for o in (engine, second) if o is not None and o is not reader)]
        return _judged_pieces(lines, view, changed, both, judge, rendered, height, kept)

    for w in wins:  # a window holds several lines: scaled up less than a single line
        out += found(engine, w, heights[w], 2.0)
    t1 = time.perf_counter()
    if second is not None:
        for w in wins:
            out += found(second, w, heights[w])
        for box, height in texts:
            out += found(second, _grown(box, height, rows, cols), height)
    if timings is not None:
        timings["verify_ocr"] = timings.get("verify_ocr", 0.0) + (t1 - t)
        timings["verify_second"] = timings.get("verify_second", 0.0) + (time.perf_counter() - t1)
    return out
