"""Find burned-in text on a frame: OCR, then what OCR missed, then one decision per line with its PHI spans.

1. The OCR engine reads the display image (``to_display``: the stored range, colour kept); its detector runs
   once on the luminance and its locally normalised view together (``detection_view``), so text a few grey
   levels off its background is found with the rest.
2. The glyph detector (``glyphs``) finds text-like lines; those no OCR line covers are cut out, contrast-
   normalised in the plane where they stand out (luminance, or an opponent colour channel), scaled up when
   small, and read again (``read_region``). This is what finds light text on bright anatomy, colour text whose
   luminance matches its background, and 7-9 px text.
3. A text-like line that still no reader could read is *unread*; the stage removes or refuses it per policy.
4. Each line is judged (``text.TextJudge``); a lone role label ("Tech:") makes the name to its right PHI. The
   parts of a line that go are turned into pixel boxes (``words``) so the technical text beside them stays.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from . import glyphs
from .changing import number_pieces
from .glyphs import TextRegion
from .ocr import OcrEngine, TextBox
from .redact import Box, along_across, inside_share, intersects, over_the_row, transposed
from .text import Decision, TextJudge
from .text.decide import Span
from .text.garbled import GARBLED_BELOW
from .text.metadata import MetaHit, words_of_value
from .text.patterns import is_initial, lone_label, name_like
from .words import ink_band, ink_box, ink_mask, ink_profile, intrusions_trimmed, not_slabs, own_box, span_box

CANDIDATE_SCORE = 0.5
"""Glyph lines at least this text-like that no OCR line covers are read again on a normalised crop."""
UNREAD_SCORE = 0.9
"""Glyph lines at least this text-like that no reader could read are unread text (safety net)."""
READ_HEIGHT = 32
"""Small text is scaled up to about this height before it is read again."""


@dataclass(frozen=True)
class Finding:
    """A recognised line, the decision on it, whether anything of it goes, and the boxes that go."""

    box: TextBox
    decision: Decision
    redact: bool
    frame: int
    targets: tuple[Box, ...] = ()
    keeps: tuple[Box, ...] = ()
    source: str = "ocr"
    ends: tuple[bool, ...] = ()  # per target: whether it reaches an end of its line (readings get cut there)
    kept_text: tuple[str, ...] = ()  # per box of ``keeps``: the text read there


@dataclass
class FrameRead:
    """What was read on one frame: lines, text-like regions no reader read, and counters for the audit."""

    frame: int
    lines: list[TextBox]
    unread: list[TextRegion]
    view: np.ndarray
    regions: list[TextRegion] = field(default_factory=list)
    crops_read: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    alternates: dict[int, TextBox] = field(default_factory=dict)  # line index -> the second reader's reading


def to_display(frame: np.ndarray, working_pi: str) -> np.ndarray:
    """An 8-bit image for reading from one frame of stored values (the codec's working colour space).

    Monochrome: the full stored range, linearly (burned-in text sits wherever it was drawn); MONOCHROME1
    inverted. YBR_FULL: converted to RGB so colour text keeps its colour. PALETTE COLOR: the indices' range.
    Same size as the frame, so boxes are stored-pixel coordinates.
    """
    a = np.asarray(frame)
    if a.ndim == 3 and working_pi == "YBR_FULL":
        y = a.astype(np.float32)
        cb, cr = y[..., 1] - 128.0, y[..., 2] - 128.0
        rgb = np.stack([y[..., 0] + 1.402 * cr, y[..., 0] - 0.344136 * cb - 0.714136 * cr, y[..., 0] + 1.772 * cb], -1)
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        out: np.ndarray = np.zeros(a.shape, dtype=np.uint8)
    else:
        out = cv2.convertScaleAbs(a.astype(np.float32), alpha=255.0 / (hi - lo), beta=-lo * 255.0 / (hi - lo))
    if working_pi == "MONOCHROME1":
        out = 255 - out
    return out


def sample_frames(n_frames: int, max_frames: int) -> list[int]:
    """Frames to read text on: all when few, else evenly spaced including the first and the last."""
    if n_frames <= max_frames:
        return list(range(n_frames))
    idx = np.linspace(0, n_frames - 1, max_frames).round().astype(int)
    return sorted(set(int(i) for i in idx))


def _area(b: Box) -> int:
    return max(0, b[2] - b[0]) * max(0, b[3] - b[1])


def covered(box: Box, lines: list[TextBox], share: float = 0.5, region: TextRegion | None = None) -> bool:
    """Whether at least ``share`` of ``box`` lies inside the lines' boxes.

    For a text-like ``region`` the lines must also be plausible readings of it: not boxes spanning several
    rows of text (2.6 times its text height or more), and holding at least half as many characters as the
    region seems to have glyphs. A detector box over two lines of small text reads as one or two letters.
    """
    x0, y0, x1, y1 = box
    if _area(box) == 0:
        return True
    m = np.zeros((y1 - y0, x1 - x0), bool)
    chars = 0
    for ln in lines:
        a0, b0, a1, b1 = max(ln.x0, x0), max(ln.y0, y0), min(ln.x1, x1), min(ln.y1, y1)
        if a1 > a0 and b1 > b0:
            if region is not None and ln.vertical == region.vertical and ln.height >= 2.6 * max(region.height, 4):
                continue
            m[b0 - y0 : b1 - y0, a0 - x0 : a1 - x0] = True
            chars += sum(not c.isspace() for c in ln.text)
    if float(m.mean()) < share:
        return False
    if region is not None:
        length = (region.y1 - region.y0) if region.vertical else (region.x1 - region.x0)
        return chars >= 0.5 * length / (0.6 * max(region.height, 1.0)) - 1
    return True


def _deviation(plane: np.ndarray) -> np.ndarray:
    """(I - local mean) / local deviation over ``NORMALISE_WINDOW`` px, the deviation at least 3 levels."""
    w = NORMALISE_WINDOW
    f = plane.astype(np.float32)
    mean = cv2.blur(f, (w, w))
    sd = np.sqrt(np.maximum(cv2.blur(f * f, (w, w)) - mean * mean, 0.0))
    return (f - mean) / np.maximum(sd, 3.0)


def _as_view(z: np.ndarray) -> np.ndarray:
    return np.clip(128.0 + 48.0 * z, 0, 255).astype(np.uint8)


def text_view(view: np.ndarray, planes: list[np.ndarray] | None = None) -> np.ndarray:
    """The luminance normalised to its surroundings (``_deviation``). Light text on bright anatomy and text a few
    grey levels off its background come out as plain dark-on-light or light-on-dark text, which is what the text
    detector reads best. ``planes``: the view's ``glyphs.channels``, when already computed."""
    planes = glyphs.channels(view) if planes is None else planes
    return _as_view(_deviation(planes[0]))


def chroma_view(view: np.ndarray) -> np.ndarray | None:
    """A colour view's two opponent channels (red-green, yellow-blue) normalised the same way, each pixel from
    the channel where it stands out more: text of the same luminance as the colour behind it, which the
    luminance views do not show. None for a grey view."""
    return _chroma(glyphs.channels(view))


def _chroma(planes: list[np.ndarray]) -> np.ndarray | None:
    if len(planes) < 3:
        return None
    a, b = _deviation(planes[1]), _deviation(planes[2])
    return _as_view(np.where(np.abs(a) >= np.abs(b), a, b))


NORMALISE_WINDOW = 15
"""The neighbourhood of ``text_view``. 31 px took the edge of a filled label box a few rows from its text into
the deviation, and text 12-16 grey levels off the box came out too faint to detect. On the dev split, against 31:
PHI removed 1178 -> 1183 of 1261, technical kept 664 -> 667 of 704, quarantined 1 -> 0 (11 px: 1182, 665; 21 px:
1174, 665); small bitmap fonts no split uses: PHI 621 -> 626 of 696, technical 333 -> 332 of 369."""


def _stroke_strength(plane: np.ndarray) -> int:
    """How far the strokes of ``plane`` stand out: the strongest stroke response off the rows and columns a
    long edge runs along (half of their pixels or more respond at half their strongest: the edge of a label box
    or a frame the crop takes in at its border, a thin dark strip that outshines text drawn a few levels off its
    box in another hue)."""
    best = 0
    for resp in glyphs.stroke_maps(plane):  # each polarity alone: together they fill a line of text
        strong = 2 * resp.astype(np.int16)
        rows = 2 * (strong >= resp.max(axis=1, keepdims=True)).sum(axis=1) < resp.shape[1]
        cols = 2 * (strong >= resp.max(axis=0, keepdims=True)).sum(axis=0) < resp.shape[0]
        inner = resp[np.ix_(rows, cols)]
        best = max(best, int(inner.max()) if inner.size else 0)
    return best


def best_plane(crop: np.ndarray) -> np.ndarray:
    """The plane of ``crop`` (grey; or luminance and two opponent colour channels) where strokes stand out
    most (``_stroke_strength``), stretched to the full 8-bit range: what a recogniser reads best."""
    planes = glyphs.channels(crop)
    best, best_r = planes[0], -1
    if len(planes) > 1:
        for p in planes:
            r = _stroke_strength(p)
            if r > best_r:
                best, best_r = p, r
    lo, hi = np.percentile(best, 1), np.percentile(best, 99)
    if hi - lo < 2:
        lo, hi = float(best.min()), float(best.max())
    gain = 255.0 / max(float(hi - lo), 1.0)
    return cv2.convertScaleAbs(best.astype(np.float32), alpha=gain, beta=-float(lo) * gain)


def _region_crop(view: np.ndarray, r: TextRegion) -> tuple[np.ndarray, Box, float]:
    """The region with a margin, as its best plane, scaled so its text is about ``READ_HEIGHT`` px."""
    rows, cols = view.shape[:2]
    mx, my = (max(2, int(0.3 * r.height)), max(2, int(0.5 * r.height)))
    if r.vertical:
        mx, my = my, mx
    box = (max(0, r.x0 - mx), max(0, r.y0 - my), min(cols, r.x1 + mx), min(rows, r.y1 + my))
    crop = best_plane(view[box[1] : box[3], box[0] : box[2]])
    scale = float(np.clip(READ_HEIGHT / max(r.height, 1.0), 1.0, 4.0))
    if scale > 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return crop, box, scale


def _recognize_regions(engine: OcrEngine, view: np.ndarray, regions: list[TextRegion]) -> list[TextBox | None]:
    """Read text-like regions as lines, in one batch (vertical ones both ways up); None where nothing
    confident was read."""
    recognize = getattr(engine, "recognize", None)
    crops: list[np.ndarray] = []
    meta: list[Any] = []
    for r in regions:
        crop, box, scale = _region_crop(view, r)
        meta.append((box, scale, r.vertical, len(crops)))
        if recognize is None:
            crops.append(crop)
        elif r.vertical:
            crops += [np.ascontiguousarray(np.rot90(crop, 1)), np.ascontiguousarray(np.rot90(crop, 3))]
        else:
            crops.append(crop)
    if recognize is None:
        out: list[TextBox | None] = []
        for box, scale, _v, k in meta:
            got = engine.read_region(crops[k])
            out.append(got[0].shifted(box[0], box[1], 1.0 / scale) if got else None)
        return out
    res = recognize(crops) if crops else []
    out = []
    for (x0, y0, x1, y1), scale, vertical, k in meta:
        if vertical:
            a, b = res[k], res[k + 1]
            if a[1] >= b[1]:
                text, conf, pos = a[0], a[1], [y0 + p / scale for p in a[2]]
            else:
                text, conf, pos = b[0], b[1], [y1 - p / scale for p in b[2]]
        else:
            text, conf, pos = res[k][0], res[k][1], [x0 + p / scale for p in res[k][2]]
        lead = len(text) - len(text.lstrip())
        text = text.strip()
        if sum(c.isalnum() for c in text) < 2 or conf < getattr(engine, "min_confidence", 0.3):
            out.append(None)
            continue
        out.append(TextBox(x0, y0, x1, y1, text, conf, tuple(pos[lead : lead + len(text)]), vertical))
    return out


def _detector_agrees(engine: OcrEngine, view: np.ndarray, r: TextRegion) -> bool:
    """Whether the OCR engine's text detector also finds text at ``r`` (on its normalised crop)."""
    detect = getattr(engine, "detect", None)
    if detect is None:
        return True
    crop, box, scale = _region_crop(view, r)
    for q in detect(cv2.copyMakeBorder(crop, 16, 16, 16, 16, cv2.BORDER_REPLICATE), min_side=None):
        qx0, qy0 = (q.min(axis=0) - 16) / scale + (box[0], box[1])
        qx1, qy1 = (q.max(axis=0) - 16) / scale + (box[0], box[1])
        if qx0 < r.x1 and r.x0 < qx1 and qy0 < r.y1 and r.y0 < qy1:
            return True
    return False


def _as_box(q: np.ndarray) -> Box:
    return (
        int(np.floor(q[:, 0].min())),
        int(np.floor(q[:, 1].min())),
        int(np.ceil(q[:, 0].max())),
        int(np.ceil(q[:, 1].max())),
    )


def _ink_columns(view: np.ndarray, band: Box, inner: tuple[int, int]) -> np.ndarray:
    """Columns of ``band`` (the line's rows, wider than the line) that continue the line: on the line's own
    background, holding pixels of the line's own text value (burned-in text is drawn in one value)."""
    x0, y0, x1, y1 = band
    p = best_plane(view[y0:y1, x0:x1]).astype(np.int16)
    a, z = inner
    if p.size == 0 or z <= a:
        return np.zeros(max(x1 - x0, 0), bool)
    m = max(1, int(0.15 * (y1 - y0)))
    core = p[m : max(m + 1, p.shape[0] - m)]
    if core.shape[0] == 0:  # a box a pixel high
        core = p
    bg = int(np.median(core[:, a:z]))
    d = np.abs(core[:, a:z] - bg)
    ref = float(np.percentile(d, 95))
    if ref < 12:
        return np.zeros(p.shape[1], bool)
    text = int(np.median(core[:, a:z][d >= 0.5 * ref]))
    contrast = abs(text - bg)
    col_bg = np.median(core, axis=0)
    on_bg = np.abs(col_bg - bg) <= 0.3 * contrast
    inked = (np.abs(core - text) <= 0.3 * contrast).any(axis=0)
    return on_bg & inked


def ink_reach(ink: np.ndarray, a: int, b: int, gap_max: int) -> tuple[int, int]:
    """The columns ``[a, b)`` of ``ink`` (inked columns along a line) widened on each side over the inked columns
    that follow with gaps of ``gap_max`` columns at most."""
    gap = 0
    for c in range(b, ink.size):
        gap = 0 if ink[c] else gap + 1
        if gap > gap_max:
            break
        if ink[c]:
            b = c + 1
    gap = 0
    for c in range(a - 1, -1, -1):
        gap = 0 if ink[c] else gap + 1
        if gap > gap_max:
            break
        if ink[c]:
            a = c
    return a, b


LINE_HEIGHTS = 3.5
"""Detector boxes on one row join only when neither is this many times taller than the other: a box the
detector put over a colour blob beside a line is not a piece of the line ("DR Kristiansen" joined to a Doppler
box five times its height was read as nonsense)."""


def _upright(b: Box) -> bool:
    """Whether a detector box holds a line running down the image (as ``read_boxes`` reads it)."""
    return (b[3] - b[1]) >= 1.5 * (b[2] - b[0])


def line_boxes(view: np.ndarray, quads: list[np.ndarray]) -> list[np.ndarray]:
    """Detector boxes made whole: neighbours along one line with a gap under 0.9 text heights joined (a
    detector sometimes splits a word, and cuts a line running down the image into pieces: "Medical" | "ield"),
    and each box extended along its line while glyphs continue within 0.8 text heights, up to the next box (it
    sometimes stops a few characters short). Lines running down the image are made whole the same way, on the
    view turned on its side. Returned as 4-point boxes."""
    boxes = [_as_box(q) for q in quads]
    rows = [b for b in boxes if not _upright(b)]
    columns = [b for b in boxes if _upright(b)]
    out = _whole_lines(view, rows, columns)
    if columns:
        turned = np.swapaxes(view, 0, 1)
        whole = _whole_lines(turned, [transposed(b) for b in columns], [transposed(b) for b in rows])
        out += [transposed(b) for b in whole]
    return [np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32) for x0, y0, x1, y1 in out]


def _whole_lines(view: np.ndarray, lines: list[Box], others: list[Box]) -> list[Box]:
    """``lines`` (boxes of lines along the view's rows) joined and extended along their rows (``line_boxes``);
    ``others`` (the lines running across) only stop an extension."""
    rows, cols = view.shape[:2]
    merged: list[list[int]] = []
    for b in sorted(lines, key=lambda b: (b[0], b[1])):
        h = b[3] - b[1]
        for m in merged:
            mh = m[3] - m[1]
            overlap = min(m[3], b[3]) - max(m[1], b[1])
            same_size = max(h, mh) <= LINE_HEIGHTS * max(min(h, mh), 1)
            if same_size and overlap >= 0.6 * min(h, mh) and b[0] - m[2] <= 0.9 * max(h, mh):
                m[:] = [min(m[0], b[0]), min(m[1], b[1]), max(m[2], b[2]), max(m[3], b[3])]
                break
        else:
            merged.append(list(b))
    stops = [tuple(m) for m in merged] + list(others)
    out: list[Box] = []
    for k, (x0, y0, x1, y1) in enumerate(merged):
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(cols, x1), min(rows, y1)
        h = y1 - y0
        if h <= 0 or x1 <= x0:
            continue
        lo, hi = max(0, x0 - 2 * h), min(cols, x1 + 2 * h)
        for j, o in enumerate(stops):
            if j != k and min(o[3], y1) - max(o[1], y0) > 0.3 * h:
                if o[0] >= x1:
                    hi = min(hi, o[0])
                elif o[2] <= x0:
                    lo = max(lo, o[2])
        ink = _ink_columns(view, (lo, y0, hi, y1), (x0 - lo, x1 - lo))
        left, right = ink_reach(ink, x0 - lo, x1 - lo, max(2, int(0.8 * h)))
        out.append((lo + left, y0, lo + right, y1))
    return out


EXTEND_GAP = 0.8
"""A PHI span at an end of its reading is followed along its row while glyphs continue with gaps under this
many text heights (readers drop the first or last characters of a line: "MOUNT CARMEL HOSPI", "825-")."""
EXTEND_MAX = 8.0
"""... at most this many text heights beyond the reading."""


def _glyph_columns(view: np.ndarray, band: Box, inner: tuple[int, int]) -> np.ndarray:
    """Columns of ``band`` that look like the glyphs in its ``inner`` columns: holding the text's value, and
    made of the text's value and its background's (three in four pixels; anti-aliased edges are between).
    Anatomy beside a line has values in between; a stem is all text value."""
    x0, y0, x1, y1 = band
    p = best_plane(view[y0:y1, x0:x1]).astype(np.int16)
    a, z = inner
    if p.size == 0 or z <= a:
        return np.zeros(max(x1 - x0, 0), bool)
    bg = int(np.median(p[:, a:z]))
    d = np.abs(p[:, a:z] - bg)
    ref = float(np.percentile(d, 95))
    far = d >= 0.5 * ref
    slabs = far & ~not_slabs(far)
    if slabs.any() and not slabs.all():  # the value furthest from the background is not the glyphs': again without it
        ref = float(np.percentile(d[~slabs], 95))
        far = (d >= 0.5 * ref) & ~slabs
    if ref < 12 or not far.any():
        return np.zeros(p.shape[1], bool)
    text = int(np.median(p[:, a:z][far]))
    tol = 0.3 * abs(text - bg)
    is_text = np.abs(p - text) <= tol
    two_tone = (is_text | (np.abs(p - bg) <= tol)).mean(axis=0) >= 0.75
    return is_text.any(axis=0) & two_tone


def _short_of_stops(row: Box, lo: int, hi: int, stops: list[Box]) -> tuple[int, int]:
    """The columns ``lo``..``hi`` that a box on ``row`` (its columns and the rows of its text) may grow over, cut
    at the first other reading on the row on each side (``stops``: the side one is on by its centre; one over
    the box's middle is the same text; one ``over_the_row`` is none), never inside the box itself."""
    x0, b0, x1, b1 = row
    cx = (x0 + x1) / 2
    for o in stops:
        if over_the_row(o, row):
            continue
        if min(o[3], b1) - max(o[1], b0) > 0 and not o[0] <= cx <= o[2]:
            if (o[0] + o[2]) / 2 > cx:
                hi = min(hi, max(o[0], x1))
            else:
                lo = max(lo, min(o[2], x0))
    return min(lo, x0), max(hi, x1)


def extend_along_row(view: np.ndarray, box: Box, stops: list[Box], left: bool, right: bool, hop: bool = False) -> Box:
    """``box`` (a PHI span reaching an end of its line) grown along its row over glyphs that continue it: in
    the text's own value on the text's own background (``_ink_columns``), gaps under ``EXTEND_GAP`` text
    heights, never past another line read on the row (``stops``: its own decision covers it). ``hop``: then
    over one word gap to a short word standing alone (``_lone_word``: the initial of "F. Moretti", the "67" of
    "67 YRS" that the reader dropped)."""
    if _upright(box):  # the same walk on the transposed image
        v = np.swapaxes(view, 0, 1)
        t = extend_along_row(v, transposed(box), [transposed(o) for o in stops], left, right, hop)
        return transposed(t)
    cols = view.shape[1]
    x0, y0, x1, y1 = box
    h = max(y1 - y0, 1)
    reach = int(EXTEND_MAX * h)
    lo, hi = (max(0, x0 - reach) if left else x0), (min(cols, x1 + reach) if right else x1)
    # the row is the band of the text's own ink: a line above or below whose box reaches into this one's is not
    # on it ("TI 150" over the first digit of an identifier)
    b0, b1 = ink_band(view, box)
    open_lo, open_hi = lo, hi
    lo, hi = _short_of_stops((x0, b0, x1, b1), lo, hi, stops)
    if (lo == x0 and hi == x1) or x1 <= x0 or y1 <= y0:
        return box
    ink = _glyph_columns(view, (lo, y0, hi, y1), (x0 - lo, x1 - lo))
    a, b = ink_reach(ink, x0 - lo, x1 - lo, max(2, int(EXTEND_GAP * h)))
    if hop:
        if right and (far := _lone_word(ink, b, 1, h, closed=hi < open_hi)) is not None:
            b = far
        if left and (far := _lone_word(ink, a - 1, -1, h, closed=lo > open_lo)) is not None:
            a = far  # may be column 0: the image's edge
    return (lo + a, y0, lo + b, y1)


HOP_GAP = 1.6
"""A word gap, in text heights (a bitmap font's space is a whole cell, more than the cap height)."""
HOP_WORD = 2.0
"""The longest word a hop takes, in text heights: an initial, a two- or three-character number or label."""


def _lone_word(ink: np.ndarray, start: int, step: int, h: int, closed: bool = False) -> int | None:
    """From ``start`` (the first column past the glyphs, walking by ``step``), the far edge of a short word
    beyond one word gap, when nothing follows it within another word gap; else None. ``closed``: ``ink`` ends,
    on that side, at another reading on the row, which follows the word if it is within that gap ("MI" before
    "1.1" read on its own is no initial)."""
    n = ink.size
    c, gap = start, 0
    while 0 <= c < n and not ink[c]:
        gap += 1
        c += step
        if gap > HOP_GAP * h:
            return None
    if not 0 <= c < n or gap == 0:
        return None
    first, far, gap = c, c, 0
    while 0 <= c < n:
        if ink[c]:
            far, gap = c, 0
            if abs(far - first) + 1 > HOP_WORD * h:
                return None
        else:
            gap += 1
            if gap > EXTEND_GAP * h:
                break
        c += step
    c, gap = far + step, 0  # nothing may follow within a word gap: the word stands alone
    while 0 <= c < n and gap <= HOP_GAP * h:
        if ink[c]:
            return None
        gap += 1
        c += step
    if closed and gap <= HOP_GAP * h:
        return None  # the reading that cut the walk follows it
    return far + 1 if step > 0 else far


def second_opinions(read: FrameRead, second: OcrEngine | None, below: float) -> None:
    """Lines read with less than ``below`` confidence are read again by the ``second`` reader (on the line's
    best plane, scaled for reading); its reading is kept beside the first (``FrameRead.alternates``)."""
    if second is None:
        return
    from .verify import read_crop

    rows, cols = read.view.shape[:2]
    for k, ln in enumerate(read.lines):
        if ln.confidence >= below or ln.vertical:
            continue
        m = max(2, int(0.3 * ln.height))
        box = (max(0, ln.x0 - m), max(0, ln.y0 - m), min(cols, ln.x1 + m), min(rows, ln.y1 + m))
        got = [g for g in read_crop(second, read.view, box, float(ln.height)) if g.text.strip()]
        if got:
            best = max(got, key=lambda g: len(g.text))
            read.alternates[k] = TextBox(ln.x0, ln.y0, ln.x1, ln.y1, best.text, best.confidence, best.char_pos)


DETECT_MIN_SIDE = 768
"""The detector reads its view (``detection_view``) scaled up to this short side (512x512 at 1.5x): its boxes then hug
the text, and lines that nearly touch come apart, so less of the text beside a PHI box is caught in its fill.
On dev, against 512: technical text kept 0.908 -> 0.928, the image changed away from any text 2.22% -> 1.84%,
PHI removed the same (0.919 -> 0.918: different segments won and lost, reading noise); 640 kept 8 segments
more and removed 7 PHI fewer; 1024 kept 2 more than 768 for twice its cost. About 0.09 s more per 512x512 view
(the detector ~40 -> ~100 ms, and more boxes to read: test split 0.369 -> 0.463 s per image)."""


EDGE_STRIP = 0.15
"""Share of the width, at each side, that the detector reads again turned a quarter (``vertical_at_edges``)."""


def _short_of_rows(q: np.ndarray, rows: list[np.ndarray]) -> np.ndarray | None:
    """Vertical quad ``q`` cut back, at its top or bottom end, to where it meets a horizontal box of ``rows``;
    None when what is left is no vertical line (a short box cut to a pixel's height broke the line's ink
    columns: an engine error on a held-out image)."""
    box = _as_box(q)
    x0, y0, x1, y1 = box
    for r in map(_as_box, rows):
        if not intersects(r, (x0, y0, x1, y1)):
            continue
        if r[3] >= y1 and r[1] > y0:  # at its bottom end
            y1 = r[1]
        elif r[1] <= y0 and r[3] < y1:  # at its top end
            y0 = r[3]
    if (y0, y1) == (box[1], box[3]):
        return q
    if y1 - y0 < 1.5 * (x1 - x0):
        return None
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def vertical_at_edges(engine: Any, view: np.ndarray) -> list[np.ndarray]:
    """Vertical lines at the left and right edges, where devices and annotation put them, found by the detector
    on each edge's strip (``EDGE_STRIP``) turned a quarter, at the first pass's scale, in view coordinates. The
    detector was trained on horizontal lines: on the view as displayed it finds a vertical line in pieces or not
    at all (on the seventh dev-drawn 400, 127 of 197 vertical PHI values were found whole upright, 156 with the
    edges turned). Both strips are turned on every view (~0.03 s for a 512x512 view). They were turned only
    where the upright pass had found a vertical box in them; on the one-pass ``detection_view`` that pass finds
    fewer pieces of vertical lines, and boxes over the truth of vertical text (120 images with some, of the
    eighth dev-drawn 400) went PHI 102 -> 113 of 120, technical 104 -> 120 of 141 (ninth: 104 -> 111 of 116,
    109 -> 119 of 144). Only vertical boxes are kept: a horizontal line crossing the strip is the upright
    pass's."""
    rows, cols = view.shape[:2]
    k = max(1, int(round(EDGE_STRIP * cols)))
    if 2 * k >= cols:
        return []
    scale = DETECT_MIN_SIDE / max(min(rows, cols), 1)
    out = []
    for c0 in (0, cols - k):
        turned = np.ascontiguousarray(np.rot90(view[:, c0 : c0 + k], 1))  # turned[i, j] = strip[j, k - 1 - i]
        for q in engine.detect(turned, min_side=max(32, int(round(k * scale)))):
            back = np.stack([c0 + (k - 1) - q[:, 1], q[:, 0]], axis=1).astype(np.float32)
            if _upright(_as_box(back)):
                out.append(back)
    return out


def detection_view(view: np.ndarray, planes: list[np.ndarray] | None = None) -> np.ndarray:
    """What the detector reads: three channels, the luminance as displayed in the first and its locally
    normalised view (``text_view``) in the other two. The detector answers to text in any channel, so one run
    finds high-contrast text whole (on the luminance; normalising breaks some of it) and text a few grey levels
    off its background (on the normalised view). Against two runs (the view as displayed, then its normalised
    view where the first found nothing, its boxes kept only clear of the first's: a faint value touching a
    bright label was dropped), boxes over the truth, 120 images of the ninth dev-drawn 400: PHI 710 -> 723 of
    770, technical 682 -> 683 of 769, detection 0.243 -> 0.169 s per image; 150 of the eighth: 945 -> 950 of
    993, 885 -> 896 of 986. End to end on the tenth dev-drawn 400, untouched until then: PHI removed 1978 ->
    1989 of 2092, technical kept 1054 -> 1058 of 1134, quarantined 2 -> 2, 0.654 -> 0.594 s per 512x512
    image with text. The sets tuned on lost PHI to it (readings of other boxes, their rules fitted to the old
    ones: eighth 2001 -> 1977 and technical 1025 -> 1041; dev 1211 -> 1196, 676 -> 667). Held out (forty-sixth
    run, docs/pixels.md): test PHI 0.943 -> 0.960, technical 0.927 -> 0.916; fresh 0.931 -> 0.942, 0.914 ->
    0.923."""
    planes = glyphs.channels(view) if planes is None else planes
    normalised = text_view(view, planes)
    return np.dstack([planes[0], normalised, normalised])


def detect_both(engine: Any, view: np.ndarray) -> list[np.ndarray]:
    """Text quads found on the ``detection_view`` (scaled to ``DETECT_MIN_SIDE``), with vertical lines at the
    edges found on its turned strips (``vertical_at_edges``). A colour view gets a second pass on its
    ``chroma_view``, for text no luminance view shows; grey views do not pay it."""
    planes = glyphs.channels(view)
    packed = detection_view(view, planes)
    first = engine.detect(packed, min_side=DETECT_MIN_SIDE)
    for q in vertical_at_edges(engine, packed):
        # a vertical line found on its turned strip replaces the pieces the upright pass found of it, when it is
        # the longer; where the upright pass found more of it, that stands. It ends before a horizontal line it
        # runs into at either end (the detector joins the first glyphs of a row below it to the line).
        cut = _short_of_rows(q, [p for p in first if not _upright(_as_box(p))])
        if cut is None:
            continue
        q, b = cut, _as_box(cut)
        pieces = [p for p in first if inside_share(_as_box(p), b) >= 0.7]
        covering = any(inside_share(b, _as_box(p)) >= 0.7 for p in first)
        if not covering and _area(b) > sum(_area(_as_box(p)) for p in pieces):
            first = [p for p in first if not any(p is x for x in pieces)] + [q]
    chroma = _chroma(planes)
    if chroma is None:
        return first
    seen = [_as_box(q) for q in first]
    return first + [q for q in engine.detect(chroma) if not any(intersects(_as_box(q), b) for b in seen)]


def read_frame(view: np.ndarray, engine: OcrEngine, frame: int) -> FrameRead:
    """Every line ``engine`` can read on ``view``, and the text-like regions it could not.

    With an engine that exposes its detector and recogniser (rapidocr), text is detected on the view and on
    its normalised view (``detect_both``; boxes made whole by ``line_boxes``) and each line recognised on its
    own best plane; otherwise the engine reads the view.
    Then every text-like region no line covers is read on its own crop; one that is still unread counts only
    if the engine's detector agrees there is text (the glyph detector alone fires on some graphics).
    """
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    read_boxes = getattr(engine, "read_boxes", None)
    if read_boxes is not None:
        quads = line_boxes(view, detect_both(engine, view))
        lines = read_boxes(view, quads, best_plane)
    else:
        lines = engine.read(view)
    seconds["ocr"] = time.perf_counter() - t
    t = time.perf_counter()
    regions = glyphs.find_text_regions(view, min_score=CANDIDATE_SCORE)
    seconds["glyphs"] = time.perf_counter() - t
    t = time.perf_counter()
    extra: list[TextBox] = []
    unread: list[TextRegion] = []
    todo: list[Any] = []
    for r in regions:  # regions overlapping each other: the best scoring first, the rest only if still needed
        if not covered(r.box, lines, region=r) and not any(inside_share(r.box, o.box) > 0.7 for o in todo):
            todo.append(r)
    todo = glyphs.join_columns(todo)
    for r, got in zip(todo, _recognize_regions(engine, view, todo), strict=True):
        if got is not None and not covered(r.box, extra, share=0.7):
            extra.append(got)
        elif got is None and r.score >= UNREAD_SCORE and _detector_agrees(engine, view, r):
            unread.append(r)
    crops = len(todo)
    # a detector line that turned out to be several lines read on their own is dropped (its reading is
    # nonsense, and as text that stays it would stop the padding of the real lines)
    kept = []
    for ln in lines:
        inner = [e for e in extra if inside_share(e.box, ln.box) >= 0.7 and e.vertical == ln.vertical]
        rows_ = {(e.x0, e.x1) if ln.vertical else (e.y0, e.y1) for e in inner}
        stacked = any(b0 >= a1 for a0, a1 in rows_ for b0, _b1 in rows_)
        if stacked or (inner and sum(len(e.text) for e in inner) > 2 * len(ln.text)):
            continue
        kept.append(ln)
    seconds["crops"] = time.perf_counter() - t
    read = FrameRead(frame, kept + extra, unread, view, regions, crops, seconds)
    for k, ln in enumerate(read.lines):  # a vertical line read the other way up: PHI in either reading counts
        if ln.other is not None:
            read.alternates[k] = ln.other
    return read


SOLID = 0.75
"""Mean share of its box that a mark fills, at or above which a few marks are blots, not glyphs (strokes leave
counters and gaps; holes in bone on a CT slice are filled blots)."""


def _marks(view: np.ndarray, u: TextRegion) -> list[tuple[int, int, float]]:
    """(width, height, share of its box filled) of each mark (4 px or more) of an unread region's ink."""
    crop = best_plane(view[u.y0 : u.y1, u.x0 : u.x1])
    if crop.size == 0:
        return []
    n, _lab, st, _ = cv2.connectedComponentsWithStats(ink_mask(crop, 12).astype(np.uint8), connectivity=8)
    out = []
    for c in range(1, n):
        w, h, area = st[c, cv2.CC_STAT_WIDTH], st[c, cv2.CC_STAT_HEIGHT], st[c, cv2.CC_STAT_AREA]
        if area >= 4:
            out.append((int(w), int(h), area / (w * h)))
    return out


def solid_blots(view: np.ndarray, u: TextRegion) -> bool:
    """Whether an unread region is a few (three or fewer) filled blots rather than glyphs: marks filling on
    average ``SOLID`` of their boxes. Such a region outside any read row is no reason to quarantine."""
    fills = [f for _w, _h, f in _marks(view, u)]
    return 0 < len(fills) <= 3 and float(np.mean(fills)) >= SOLID


def no_words(view: np.ndarray, u: TextRegion) -> bool:
    """Whether an unread region holds nothing that can spell PHI: a single mark no longer along the line
    than 1.5 times its size across it (one symbol: a caliper's cross, an arrow, an orientation letter; glyphs
    run together make a long mark), or marks that are all filled squares or near-squares (``SOLID`` of their
    boxes, sides of 3 px or more within 2:1 of each other), however many: the cells of a test pattern or a
    grid (no glyph is a filled square but a full stop, and a line is never all full stops). Such a region is
    left alone wherever it lies."""
    marks = _marks(view, u)
    if not marks:
        return False
    if len(marks) == 1:
        w, h, _f = marks[0]
        along, across = (h, w) if u.vertical else (w, h)
        if along <= 1.5 * across:
            return True
    return all(f >= SOLID and min(w, h) >= 3 and max(w, h) <= 2 * min(w, h) for w, h, f in marks)


def box_behind_text(u: TextRegion, lines: list[TextBox]) -> bool:
    """Whether an unread region is the box that read lines are written on (a filled label box, a frame), not
    text: its "glyphs" are at least twice as tall as a line read inside it. The lines inside are judged on
    their own; removing the box would take the text that stays on it with it."""
    return any(inside_share(ln.box, u.box) >= 0.8 and 2 * ln.height <= u.height for ln in lines)


def trim_unread(u: TextRegion, lines: list[TextBox]) -> TextRegion | None:
    """A vertical unread region without the ends that are glyphs of horizontal lines read across it (the glyph
    detector strings a column of letters from stacked rows into one "vertical" line: the "C" of a kept
    "C 50 W 350" under a letter of the line above); None when nothing of a glyph is left."""
    if not u.vertical:
        return u
    y0, y1 = u.y0, u.y1
    for ln in lines:
        if ln.vertical or min(ln.x1, u.x1) - max(ln.x0, u.x0) < 0.6 * (u.x1 - u.x0) or ln.y1 <= y0 or ln.y0 >= y1:
            continue  # only a horizontal line across (most of) the region's width
        if ln.y0 <= y0:
            y0 = max(y0, ln.y1)
        elif ln.y1 >= y1:
            y1 = min(y1, ln.y0)
    if y1 - y0 < 0.5 * u.height:
        return None
    if (y0, y1) == (u.y0, u.y1):
        return u
    return TextRegion(u.x0, y0, u.x1, y1, u.vertical, u.glyphs, u.height, u.score)


def _right_of(lab: TextBox, lines: list[TextBox]) -> int | None:
    """The nearest line to the right of ``lab`` on the same row, within three text heights."""
    best = None
    for k, o in enumerate(lines):
        if o is lab or o.x0 < lab.x1 - 2 or lab.vertical or o.vertical:
            continue
        overlap = min(o.y1, lab.y1) - max(o.y0, lab.y0)
        if overlap < 0.5 * min(o.height, lab.height) or o.x0 - lab.x1 > 3 * max(lab.height, 1):
            continue
        if best is None or o.x0 < lines[best].x0:
            best = k
    return best


def _gap_along(a: TextBox, b: TextBox) -> int:
    """The gap from ``a`` to ``b``, which follows it in reading order."""
    if not a.vertical:
        return b.x0 - a.x1
    return a.y0 - b.y1 if a.reads_up else b.y0 - a.y1


def next_along(lab: TextBox, lines: list[TextBox]) -> int | None:
    """The line that follows ``lab`` in reading order on its row, within three text heights: to its right, or
    for a vertical line, the next vertical line in its column in the direction it reads (down or up)."""
    if not lab.vertical:
        return _right_of(lab, lines)
    best, best_gap = None, 0
    for k, o in enumerate(lines):
        if o is lab or not o.vertical:
            continue
        if min(o.x1, lab.x1) - max(o.x0, lab.x0) < 0.5 * min(o.height, lab.height):
            continue
        gap = _gap_along(lab, o)
        if gap < -2 - 0.3 * lab.height or gap > 3 * max(lab.height, 1):
            continue
        if best is None or gap < best_gap:
            best, best_gap = k, gap
    return best


ALONG_PAD = 0.6
"""Padding along a line, in text heights (clipped by kept text)."""
END_PAD = 1.5
"""Padding along a line where a PHI span reaches an end of its reading: readers drop the first or last
characters of a line ("MOUNT CARMEL HOSPI")."""


def kept_runs(text: str, gone: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(start, end) of each run of characters that stay: no space, in no removed span ("ETL16" of
    "ETL1615AUG 2025" when the date goes)."""
    keep = [not c.isspace() and not any(a <= i < b for a, b in gone) for i, c in enumerate(text)]
    out, i = [], 0
    while i < len(text):
        if keep[i]:
            j = i
            while j < len(text) and keep[j]:
                j += 1
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


NAME_KINDS = frozenset({"name", "label"})
"""A person's name: found from the metadata, or after a role label."""
INITIAL_HEIGHT = 0.4
"""An initial read on its own beside a name is at least this share of the name's box tall (the name's box holds
its descenders and the reader's margin)."""
HOP_KINDS = NAME_KINDS | {"age"}
"""PHI whose reading often drops a short word a space away: a name's initial, an age's number."""

JOIN_GAP = 1.0
"""Neighbours on a row closer than this many text heights are also judged as one line."""


def _join_pieces(view: np.ndarray, lines: list[TextBox], decisions: list[Decision], judge: TextJudge) -> None:
    """A value read in pieces ("535-414" | "4197", "875" | "645" | "3888"; down a column too: "1990/" |
    "10/09"): two or three neighbours in reading order, none PHI alone, are judged joined (strictly: no loose
    matching); each gets the PHI spans that fall in it."""

    def next_piece(k: int) -> int | None:
        ln = lines[k]
        j = next_along(ln, lines)
        if j is None or decisions[j].phi or _gap_along(ln, lines[j]) > JOIN_GAP * max(ln.height, 1):
            return None
        ha, hb = (_across(ink_box(view, b.box), ln.vertical) for b in (ln, lines[j]))
        if max(ha, hb) > 1.4 * max(min(ha, hb), 1):
            return None  # a box over two rows of text is not a piece of the row's line
        return j

    for k in range(len(lines)):
        if decisions[k].phi:
            continue
        chain = [k]
        while len(chain) < 3:
            j = next_piece(chain[-1])
            if j is None or j in chain:
                break
            chain.append(j)
            joined = judge.judge(" ".join(lines[i].text for i in chain))
            if not joined.phi:
                continue
            lo = 0
            for i in chain:
                hi = lo + len(lines[i].text)
                spans = tuple(
                    Span(max(sp.start, lo) - lo, min(sp.end, hi) - lo, sp.layer, sp.kind)
                    for sp in joined.spans
                    if sp.start < hi and sp.end > lo
                )
                if spans:
                    decisions[i] = Decision(True, joined.layer, joined.kind, joined.hit, spans)
                lo = hi + 1
            break


def _sort_of(text: str) -> str | None:
    """``letters`` (name-like words), ``address`` (an e-mail address of letters), ``digits`` (a number, date or
    time in pieces: digits with separators and at most three letters, "SEP 22", "V23"), or None."""
    words = text.split()
    if len(words) == 1 and "@" in text and name_like(text.replace("@", "", 1)):
        return "address"
    if words and all(name_like(w) for w in words):
        return "letters"
    if any(c.isdigit() for c in text) and sum(c.isalpha() for c in text) <= 3:
        if all(c.isalnum() or c in " /:.,-()#" for c in text):  # "#255" | "139-7174"
            return "digits"
    return None


def _beside(view: np.ndarray, ln: TextBox, lines: list[TextBox], gap: float) -> list[int]:
    """Lines in ``ln``'s row (or column) on either side of it, the gap between them under ``gap`` text heights
    (they may overlap, as pieces read from neighbouring detector boxes do, but neither holds the other), or
    under ``BRIDGE`` text heights where ``ln``'s glyphs run on to the other line (a middle no reader read:
    "Mount" .. "Hospi")."""
    a0, a1, c0, c1 = along_across(ln.box, ln.vertical)
    h = max(ln.height, 1)
    out = []
    for j, o in enumerate(lines):
        if o is ln or o.vertical != ln.vertical:
            continue
        b0, b1, d0, d1 = along_across(o.box, o.vertical)
        if min(c1, d1) - max(c0, d0) < 0.5 * min(c1 - c0, d1 - d0):
            continue
        after, before = b0 > a0 and b1 > a1, b0 < a0 and b1 < a1
        d = b0 - a1 if after else a0 - b1
        if not (after or before) or d > BRIDGE * h:
            continue
        if d > gap * h:
            grown = along_across(extend_along_row(view, ln.box, [], before, after), ln.vertical)
            if not (grown[1] >= b0 - 1 if after else grown[0] <= b1 + 1):
                continue
        out.append(j)
    return out


BRIDGE = 4.0
"""The widest gap, in text heights, between two pieces of a value whose glyphs run on from one to the other."""


_NUMBER = re.compile(r"#?[\d\s./:-]+")  # "#255" of "#255-139-7174" too
_ADDRESS_PIECE = re.compile(r"[a-z][a-z0-9._-]*")
"""A piece of an address read as a line of its own: one word in small letters ("kenji" | "adeyemi@mail.org"; not
"XOSI WOOZ", "ZOOM 150%" read upside down down the image's edge)."""


def _absorb_pieces(view: np.ndarray, lines: list[TextBox], decisions: list[Decision], judge: TextJudge) -> None:
    """A piece of a PHI value read as a line of its own ("RIVERSIDE" | "GENERAL HOSPITAL", "1935" | "SEP 22",
    "420" | "1961"): a line beside a PHI line on its row, within ``JOIN_GAP`` text heights, with ink of the same
    height, of the same sort (letters beside letters, digits beside digits, a word in small letters beside an
    address: ``_ADDRESS_PIECE``), and not technical text the allow-list knows (a bare number counts as a piece:
    beside a number it is one), goes with it. Repeated so that a value in several pieces goes whole."""
    for _round in range(3):
        changed = False
        for k, ln in enumerate(lines):
            if not decisions[k].phi or not decisions[k].spans:
                continue
            sort = _sort_of(" ".join(ln.text[sp.start : sp.end] for sp in decisions[k].spans))
            if sort is None:
                continue
            for j in _beside(view, ln, lines, JOIN_GAP):
                other = lines[j]
                if decisions[j].phi or lone_label(other.text):
                    continue
                if _sort_of(other.text) != sort and not (sort == "address" and _ADDRESS_PIECE.fullmatch(other.text)):
                    continue
                hit = decisions[k].hit
                same_glyphs = _reads_again(ln, decisions[k], other)
                # a name's initial read on its own beside it ("Quintero" | "K"), a letter the allow-list knows
                initial = decisions[k].kind in NAME_KINDS and is_initial(other.text, "", judge.allowlist.words)
                if initial:  # within the name's row, a capital's height at least (a letter is no taller)
                    _a0, _a1, c0, c1 = along_across(ln.box, ln.vertical)
                    _b0, _b1, d0, d1 = along_across(other.box, other.vertical)
                    if d0 < c0 - 2 or d1 > c1 + 2 or d1 - d0 < INITIAL_HEIGHT * (c1 - c0):
                        continue
                elif not same_glyphs and (
                    hit is None or hit.kind not in ("text", "name") or not words_of_value(other.text, hit.value)
                ):
                    # a word of the very name or institution found beside it (or a piece of one), or a reading of
                    # the same glyphs, needs no more evidence; anything else must not be technical text and must
                    # be as tall (its ink, or its reader's box: the ink of a piece on a bright band beside a dark
                    # one is measured apart: "09-F" | "1980")
                    if judge.allowlist.allows(other.text) and not (sort == "digits" and _NUMBER.fullmatch(other.text)):
                        continue
                    ha, hb = (_across(ink_box(view, b.box), b.vertical) for b in (ln, other))
                    ba, bb = (_across(b.box, b.vertical) for b in (ln, other))
                    if max(ha, hb) > 1.4 * max(min(ha, hb), 1) and max(ba, bb) > 1.15 * max(min(ba, bb), 1):
                        continue
                decisions[j] = _piece_of(decisions[k].kind, other.text, hit)
                changed = True
        if not changed:
            break


def _reads_again(ln: TextBox, d: Decision, other: TextBox) -> bool:
    """Whether ``other`` overlaps ``ln`` along its row, is less than twice as tall, and shares three letters or
    digits in a row with its PHI: the same glyphs read twice ("3941611" and "A7394" of "A73941611"; a box over
    three rows that holds a piece of the value is not that value: its reading says nothing of the other rows)."""
    a0, a1, c0, c1 = along_across(ln.box, ln.vertical)
    b0, b1, d0, d1 = along_across(other.box, other.vertical)
    if min(a1, b1) - max(a0, b0) <= 0 or d1 - d0 > 1.8 * max(c1 - c0, 1):
        return False
    phi = "".join(c for sp in d.spans for c in ln.text[sp.start : sp.end] if c.isalnum()).upper()
    mine = "".join(c for c in other.text if c.isalnum()).upper()
    return any(mine[i : i + 3] in phi for i in range(len(mine) - 2))


def _piece_of(kind: str, text: str, hit: MetaHit | None = None) -> Decision:
    """The decision on a whole reading that goes with a PHI line beside it: PHI of that line's kind."""
    return Decision(True, "pattern", kind, hit, (Span(0, len(text), "pattern", kind),))


CROSS_CHARS = 3
"""A reading this short (letters and digits) lying across a vertical PHI line is a piece of it."""


def _cross_readings(lines: list[TextBox], decisions: list[Decision], judge: TextJudge) -> None:
    """A short reading mostly inside a vertical PHI line's box or just beyond its ends ("9", "39" read across the
    glyphs of a phone number written bottom to top; the "0" of "RADIOLOGY" read on its own past the end of
    "HARBOR VIEW RADIOL") is a piece of that line, not text that stays: kept, it would hold the PHI's removal
    back from the glyphs under it. Beyond its ends, a technical word the allow-list knows is a row of its own
    ("Gen" and "Se:3" under a vertical identifier's end; a lone letter there is the name's initial: "I" of "T"),
    and so is one the line itself read as a word that stays ("Gen" of "5:03:07 AM Gen" read again alone)."""
    for j, o in enumerate(lines):
        alnum = [c for c in o.text if c.isalnum()]
        if decisions[j].phi or len(alnum) > CROSS_CHARS:
            continue
        if any(i != j and not decisions[i].phi and inside_share(o.box, b.box) >= 0.8 for i, b in enumerate(lines)):
            continue  # a piece of a line that stays, read again ("350" of "C 50 W 350" below a vertical ID)
        word = len(alnum) >= 2 and any(c.isalpha() for c in alnum) and judge.allowlist.allows(o.text)
        for k, ln in enumerate(lines):
            if not ln.vertical or not decisions[k].phi:
                continue
            if word and _kept_word(ln, decisions[k], alnum):
                continue  # the line's own word that stays, read again ("Gen" of "5:03:07 AM Gen")
            reach = 0 if word else int(END_PAD * (ln.x1 - ln.x0))  # at its ends too: where the reader lost glyphs
            if inside_share(o.box, (ln.x0, ln.y0 - reach, ln.x1, ln.y1 + reach)) >= 0.5:
                decisions[j] = _piece_of(decisions[k].kind, o.text)
                break


def _kept_word(ln: TextBox, d: Decision, alnum: list[str]) -> bool:
    """Whether the letters and digits ``alnum`` are those of a run of ``ln``'s text that stays."""
    word = "".join(alnum).upper()
    kept = kept_runs(ln.text, [(s.start, s.end) for s in d.spans])
    return any(word in "".join(c for c in ln.text[a:b] if c.isalnum()).upper() for a, b in kept)


def _all_of(text: str, spans: tuple[Span, ...]) -> bool:
    """Whether ``spans`` hold every letter and digit of ``text``."""
    return all(any(s.start <= i < s.end for s in spans) for i, c in enumerate(text) if c.isalnum())


def _own_band(view: np.ndarray, box: Box, vertical: bool) -> Box:
    """``box`` trimmed across its text to the one band of ink in it (``ink_band``)."""
    a0, a1 = ink_band(view, box, vertical)
    return (a0, box[1], a1, box[3]) if vertical else (box[0], a0, box[2], a1)


def _across(b: Box, vertical: bool) -> int:
    return (b[2] - b[0]) if vertical else (b[3] - b[1])


SAME_PLACE = 0.7
"""Share of each other's box two lines of different frames cover, at or above which they are one text read twice."""


def same_place(reads: list[FrameRead]) -> dict[int, dict[int, list[str]]]:
    """Per frame read, per line: what the other frames read at the same place (the same orientation, boxes
    covering ``SAME_PLACE`` of each other). Static text of a cine is read on every frame; where one frame's
    reading is garbled, another's may make sense of it."""
    out: dict[int, dict[int, list[str]]] = {}
    for r in reads:
        for k, ln in enumerate(r.lines):
            got = [
                o.text
                for other in reads
                if other is not r
                for o in other.lines
                if o.vertical == ln.vertical
                and inside_share(ln.box, o.box) >= SAME_PLACE
                and inside_share(o.box, ln.box) >= SAME_PLACE
            ]
            if got:
                out.setdefault(r.frame, {})[k] = got
    return out


def _beside_sure_text(k: int, lines: list[TextBox]) -> bool:
    """Whether another line of the same orientation that was read surely (``GARBLED_BELOW`` or more, three
    letters or digits at least) shares a row (a column, vertical) with line ``k`` for half the smaller line's
    height. A garbled reading is unread text only where text is known to be, as an unread region is (the stage's
    ``_in_band``): alone, it is as likely a reading of anatomy or noise, which stays as it is."""
    ln = lines[k]
    a0, a1 = (ln.x0, ln.x1) if ln.vertical else (ln.y0, ln.y1)
    for j, o in enumerate(lines):
        if j == k or o.vertical != ln.vertical or o.confidence < GARBLED_BELOW:
            continue
        if sum(c.isalnum() for c in o.text) < 3:
            continue
        b0, b1 = (o.x0, o.x1) if o.vertical else (o.y0, o.y1)
        if min(a1, b1) - max(a0, b0) >= 0.5 * max(min(a1 - a0, b1 - b0), 1):
            return True
    return False


def _glyphs_under(ln: TextBox, regions: list[TextRegion]) -> bool:
    """Whether the glyph detector found a text-like line (``UNREAD_SCORE`` or more) where ``ln`` was read,
    covering half of the smaller of the two."""
    for r in regions:
        if r.score >= UNREAD_SCORE and r.vertical == ln.vertical:
            if max(inside_share(ln.box, r.box), inside_share(r.box, ln.box)) >= 0.5:
                return True
    return False


UNREAD_VALUE = 2.0
"""A role or ID label read alone ("OPERGTOR" of "OPERATOR: Quintero") in a box that holds ink this many text
heights past its last character: the reader dropped the value after the label, and that ink goes."""


def _unread_value(view: np.ndarray, ln: TextBox) -> TextBox | None:
    if ln.vertical or not ln.char_pos or len(ln.char_pos) != len(ln.text) or lone_label(ln.text) is None:
        return None
    h = float(ln.height)
    start = int(np.ceil(ln.char_pos[-1] + 0.8 * h))
    if ln.x1 - start < UNREAD_VALUE * h:
        return None
    ink = ink_profile(view, ln)[start - ln.x0 :]
    cols = np.nonzero(ink)[0]
    if cols.size < 0.5 * h or cols[-1] - cols[0] < h:
        return None
    a, b = start + int(cols[0]), start + int(cols[-1]) + 1
    return TextBox(a, ln.y0, b, ln.y1, "?" * max(1, round((b - a) / (0.6 * h))), 0.0, (), False)


def _clear_of_neighbours(view: np.ndarray, box: Box, ln: TextBox, lines: list[TextBox]) -> Box:
    """``box`` (a horizontal PHI line's ink) without the rows at its top or bottom that hold another line's
    glyphs (``words.intrusions_trimmed``), where another reading stands there: a line read above or below, its
    middle outside the rows kept."""
    trimmed = intrusions_trimmed(view, box)
    if trimmed == box:
        return box
    x0, y0, x1, y1 = box
    cut = [(x0, y0, x1, trimmed[1]), (x0, trimmed[3], x1, y1)]
    for o in lines:
        if o is ln or o.vertical or trimmed[1] <= (o.y0 + o.y1) / 2 < trimmed[3]:
            continue
        if any(c[3] > c[1] and intersects(o.box, c) for c in cut):
            return trimmed
    return box


def _skipped_or_not(ln: TextBox, a: int, b: int, ink: np.ndarray, staying: list[Box]) -> Box:
    """The box of a PHI span over the glyphs its reader skipped beside it (``words.SKIPPED``), unless what that
    adds overlaps a reading that stays."""
    plain = span_box(ln, a, b, ink)
    wide = span_box(ln, a, b, ink, skipped=True)
    if wide == plain:
        return plain
    added = [(wide[0], wide[1], plain[0], wide[3]), (plain[2], wide[1], wide[2], wide[3])]
    if ln.vertical:
        added = [(wide[0], wide[1], wide[2], plain[1]), (wide[0], plain[3], wide[2], wide[3])]
    if any(e[2] > e[0] and e[3] > e[1] and intersects(e, o) for e in added for o in staying):
        return plain
    return wide


REST_REACH = 1.15
"""How far past a reading's edge a value's unread rest is taken to reach, in its characters' pitch on the line."""


def _pitch(ln: TextBox) -> float:
    """The distance from one character to the next along ``ln``, in pixels."""
    if len(ln.char_pos) == len(ln.text) and len(ln.char_pos) >= 2:
        return float(np.median(np.abs(np.diff(ln.char_pos))))
    return (ln.y1 - ln.y0 if ln.vertical else ln.x1 - ln.x0) / max(len(ln.text), 1)


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def past_the_edge(ln: TextBox, t: Box, chars: tuple[int, int], stops: list[Box], shape: tuple[int, ...]) -> Box:
    """``t`` (a PHI span's box at an edge of its reading) grown along the line over the characters of its value
    that the reader cut off (``chars``: before and after the span, ``TextJudge.unread_rest``) at the line's
    pitch (``REST_REACH``), whatever the ink there looks like (text on anatomy fails the row extension's
    two-tone test), never past another reading on the row (``stops``) nor the image's edge."""
    before, after = chars
    if not before and not after:
        return t
    if ln.vertical:
        up = ln.reads_up
        grow = transposed(t)
        lo_n, hi_n = (after, before) if up else (before, after)
        stops = [transposed(o) for o in stops]
        limit = shape[0]
    else:
        grow, lo_n, hi_n, limit = t, before, after, shape[1]
    step = REST_REACH * _pitch(ln)
    x0, y0, x1, y1 = grow
    lo, hi = _short_of_stops(grow, max(0, int(x0 - lo_n * step)), min(limit, int(np.ceil(x1 + hi_n * step))), stops)
    out = (lo, y0, hi, y1)
    return transposed(out) if ln.vertical else out


def judge_frame(
    read: FrameRead,
    judge: TextJudge,
    policy: str,
    changing: frozenset[int] = frozenset(),
    elsewhere: dict[int, list[str]] | None = None,
) -> list[Finding]:
    """A decision per line, and the pixel boxes that go (``targets``) and stay (``keeps``) under ``policy``.

    ``changing``: lines whose glyphs change between frames (``changing.py``): a clock, PHI whatever it reads.
    ``elsewhere``: line index -> the readings of the same place on the instance's other frames
    (``same_place``)."""
    elsewhere = elsewhere or {}
    lines = list(read.lines)
    decisions = [judge.judge(ln.text, ln.confidence) for ln in lines]
    for k in changing:  # all of it: a clock found in part ("73 515056": its six digits) is a clock still
        d = decisions[k]
        if not d.phi or (not _all_of(lines[k].text, d.spans) and number_pieces(lines[k].text)):
            n = len(lines[k].text)
            decisions[k] = Decision(True, "pattern", "changing", None, (Span(0, n, "pattern", "changing"),))
    for k, alt in read.alternates.items():  # a second reading of an unsure line: PHI in either counts
        if not decisions[k].phi:
            d2 = judge.judge(alt.text, alt.confidence)
            if d2.phi or lone_label(alt.text):
                lines[k], decisions[k] = alt, d2
    for ln in lines:  # a lone label: the value is the line after it (a name read in pieces: the next one too)
        what = lone_label(ln.text)
        j = next_along(ln, lines) if what else None
        if j is None:
            continue
        decisions[j] = judge.judge_value_after_label(lines[j].text, person=what == "role")
        while what == "role" and name_like(lines[j].text) and decisions[j].phi:  # one word: "Celine" | "Okonkwo"
            nxt = next_along(lines[j], lines)
            if nxt is None or decisions[nxt].phi or not name_like(lines[nxt].text.split()[0]):
                break
            if _gap_along(lines[j], lines[nxt]) > JOIN_GAP * lines[j].height:
                break
            decisions[nxt], j = judge.judge_value_after_label(lines[nxt].text), nxt
    _join_pieces(read.view, lines, decisions, judge)
    _absorb_pieces(read.view, lines, decisions, judge)
    _cross_readings(lines, decisions, judge)
    for k, ln in enumerate(lines):  # a reading nobody can make sense of: its unknown words go, as unread text
        if decisions[k].phi:
            continue
        again = read.alternates.get(k)
        garbled = judge.garbled(ln.text, ln.confidence, ([again.text] if again else []) + elsewhere.get(k, []))
        if garbled is not None and (_beside_sure_text(k, lines) or _glyphs_under(ln, read.regions)):
            decisions[k] = garbled
    for k in range(len(lines)):  # a label read alone in a box that runs on past it: the rest is its value, unread
        rest = _unread_value(read.view, lines[k]) if not decisions[k].phi else None
        if rest is not None:
            ln = lines[k]
            lines[k] = TextBox(ln.x0, ln.y0, rest.x0, ln.y1, ln.text, ln.confidence, ln.char_pos, ln.vertical)
            lines.append(rest)
            decisions.append(Decision(True, "pattern", "label", None, (Span(0, len(rest.text), "pattern", "label"),)))
    whole = [d.phi and _all_of(ln.text, d.spans) for ln, d in zip(lines, decisions, strict=True)]
    out = []
    for ln0, d in zip(lines, decisions, strict=True):
        # trimmed across the line (along it the character positions decide): text that stays to its own band of
        # ink, so that it does not hold back the removal of the line above or below; a line with PHI to the ink
        # in its box, all of it
        spans = judge.removed_spans(ln0.text, d, policy)
        if spans == []:
            a0, a1 = ink_band(read.view, ln0.box, ln0.vertical)
        else:
            ib = ink_box(read.view, ln0.box)
            if not ln0.vertical:  # but not the glyphs of the lines above and below that its box reaches into
                ib = _clear_of_neighbours(read.view, ib, ln0, lines)
            a0, a1 = (ib[0], ib[2]) if ln0.vertical else (ib[1], ib[3])
        if ln0.vertical:
            x0, y0, x1, y1 = a0, ln0.y0, a1, ln0.y1
        else:
            x0, y0, x1, y1 = ln0.x0, a0, ln0.x1, a1
        ln = TextBox(x0, y0, x1, y1, ln0.text, ln0.confidence, ln0.char_pos, ln0.vertical)
        ink = ink_profile(read.view, ln)
        if spans is None:
            stops = [o.box for o in lines if o is not ln0]
            targets: tuple[Box, ...] = (extend_along_row(read.view, ln.box, stops, True, True),)
            keeps: tuple[Box, ...] = ()
            kept_text: tuple[str, ...] = ()
            ends: tuple[bool, ...] = (True,)
        else:
            live = [(a, b) for a, b in spans if b > a]
            # over glyphs the reader skipped beside the span too, unless another reading that stays holds them
            # ("R A2251914" over "P Low" read as "PLOM")
            staying = [o.box for o, g in zip(lines, decisions, strict=True) if o is not ln0 and not g.phi]
            targets = tuple(_skipped_or_not(ln, a, b, ink, staying) for a, b in live)
            # the text that stays beside PHI, to its own band of ink too: a line box a row into the line below
            # would otherwise hold back the removal of that line's top row of glyphs
            runs = kept_runs(ln.text, spans)
            keeps = tuple(_own_band(read.view, span_box(ln, a, b, ink), ln.vertical) for a, b in runs)
            kept_text = tuple(ln.text[a:b] for a, b in runs)
            last = len(ln.text.rstrip())
            first = len(ln.text) - len(ln.text.lstrip())
            ends = tuple(a <= first or b >= last for a, b in live)
            # a line removed whole is no stop: its removal covers it, and the glyphs past it are the value's too
            # (the "Y" past "C" and "0" read on their own at the end of "HARBOR VIEW RADIOL")
            stops = [o.box for o, g in zip(lines, whole, strict=True) if o is not ln0 and not g] + list(keeps)
            hops = [any(sp.kind in HOP_KINDS and sp.start < b and a < sp.end for sp in d.spans) for a, b in live]
            up = ln0.vertical and ln0.reads_up  # its first characters are at the bottom: the image's "right"
            grown = []
            for t, (a, b), e, hp in zip(targets, live, ends, hops, strict=True):
                if e:  # over the glyphs that continue it, and over the part of its value the reader cut off
                    sides = (b >= last, a <= first) if up else (a <= first, b >= last)
                    cut_off = judge.unread_rest(ln.text[a:b], a <= first, b >= last)
                    t = _union(
                        extend_along_row(read.view, t, stops, *sides, hp),
                        past_the_edge(ln, t, cut_off, stops, read.view.shape),
                    )
                grown.append(t)
            targets = tuple(grown)
        if not targets:  # a line that stays, as far as its characters go
            keeps, kept_text = (own_box(ln, ink),), (ln.text,)
        out.append(Finding(ln, d, bool(targets), read.frame, targets, keeps, "ocr", ends, kept_text))
    return out
