"""Text-like regions without OCR: rows of glyph-sized strokes that stand out from their surroundings.

Burned-in text is drawn in thin strokes of one value over whatever is behind it. A morphological top-hat (bright
strokes) and bottom-hat (dark strokes) per channel keeps structures thinner than ``STROKE_KERNEL`` and drops
anatomy and filled areas; a threshold that follows the local texture keeps strokes well above it. Connected
components of glyph size are joined into lines (similar height, aligned tops or baselines, small gaps; vertical
lines too). A line is scored on what text has and texture lacks (``LINE_WEIGHTS``, a logistic model fitted on
the development split of bench/pixelset.py): glyphs of one value (within a glyph and from glyph to glyph),
flat-topped strokes, consistent height, vertical strokes at a text-like rate, and a response well above its
surroundings. Used as the safety net behind OCR (a text-like line no OCR read is handled per policy), to pick
the crops read again on contrast-normalised views, and as the text-presence check for CT/MR.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]

STROKE_KERNEL = 9
"""Structures narrower than this (px) in some direction count as strokes (text up to ~28 px, bold)."""
MIN_CONTRAST = 6
"""Display levels a stroke must stand out by, at least."""
MAX_HEIGHT = 40
"""Taller components are not glyphs (text up to 28 px)."""
# component table columns
X0, Y0, X1, Y1, AREA, PEAK, COH, FLAT, VALUE, THICK = range(10)
NCOLS = 10


@dataclass(frozen=True)
class TextRegion:
    """A text-like line: its box, whether it runs vertically, its glyph count and height, and a score."""

    x0: int
    y0: int
    x1: int
    y1: int
    vertical: bool
    glyphs: int
    height: float
    score: float

    @property
    def box(self) -> Box:
        return (self.x0, self.y0, self.x1, self.y1)


def channels(img: np.ndarray) -> list[np.ndarray]:
    """uint8 planes where text differs from its background: grey as is; colour as luminance and two opponent
    channels (red-green, yellow-blue), so text of any hue stands out in at least one."""
    if img.ndim == 2:
        return [img]
    f = img.astype(np.int16)
    lum = (f[..., 0] * 77 + f[..., 1] * 150 + f[..., 2] * 29) >> 8
    rg = np.clip((f[..., 0] - f[..., 1]) // 2 + 128, 0, 255)
    yb = np.clip(((f[..., 0] + f[..., 1]) // 2 - f[..., 2]) // 2 + 128, 0, 255)
    return [lum.astype(np.uint8), rg.astype(np.uint8), yb.astype(np.uint8)]


def stroke_maps(plane: np.ndarray, kernel: int = STROKE_KERNEL) -> tuple[np.ndarray, np.ndarray]:
    """(bright, dark): how far each pixel stands out as part of a thin bright / dark stroke.

    The polarities stay apart: between the strokes of a bright line of text the gaps are thin dark structures,
    so one map of both would fill the whole line.
    """
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (kernel, kernel))
    plane = np.ascontiguousarray(plane)
    rep = cv2.BORDER_REPLICATE  # the default border makes every image edge a stroke
    return (
        cv2.morphologyEx(plane, cv2.MORPH_TOPHAT, k, borderType=rep),
        cv2.morphologyEx(plane, cv2.MORPH_BLACKHAT, k, borderType=rep),
    )


def binarize(strokes: np.ndarray, min_contrast: int = MIN_CONTRAST, texture: float = 2.0) -> np.ndarray:
    """Strokes above both ``min_contrast`` and ``texture`` x the local mean response (31 px window)."""
    local = cv2.blur(strokes, (31, 31))
    thr = cv2.max(np.full_like(strokes, min_contrast), cv2.convertScaleAbs(local, alpha=texture))
    return (strokes >= thr).astype(np.uint8)


def components(binary: np.ndarray, strokes: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """Glyph-sized stroke components, one row each: box, area, peak response, coherence (spread of the
    plane's values over the component's core, relative to its peak), flatness (share of pixels within 70%
    of the peak) and the core's median value."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 1:
        return np.zeros((0, NCOLS))
    x, y, w, h, area = (stats[:, i].astype(np.float64) for i in range(5))
    on = binary.ravel() > 0
    lab = labels.ravel()[on].astype(np.intp)
    val = strokes.ravel()[on].astype(np.int32)
    pv = plane.ravel()[on].astype(np.float64)
    peak = np.zeros(n, np.int32)
    np.maximum.at(peak, lab, val)
    core = val >= 0.7 * peak[lab]
    cnt = np.bincount(lab[core], minlength=n).astype(np.float64)
    s1 = np.bincount(lab[core], weights=pv[core], minlength=n)
    s2 = np.bincount(lab[core], weights=pv[core] ** 2, minlength=n)
    mean = s1 / np.maximum(cnt, 1)
    std = np.sqrt(np.maximum(s2 / np.maximum(cnt, 1) - mean**2, 0))
    # stroke thickness: twice the largest distance from a component pixel to its edge (text: thin, blobs: thick)
    dist = cv2.distanceTransform(binary, cv2.DIST_L2, 3).ravel()[on]
    thick = np.zeros(n, np.float32)
    np.maximum.at(thick, lab, dist)
    table = np.stack(
        [x, y, x + w, y + h, area, peak, std / np.maximum(peak, 1), cnt / np.maximum(area, 1), mean, 2.0 * thick],
        axis=1,
    )[1:]
    hh, ww = h[1:], w[1:]
    rows, cols = binary.shape
    inside = (x[1:] > 0) & (y[1:] > 0) & (x[1:] + ww < cols) & (y[1:] + hh < rows)  # edges make false strokes
    keep = (hh >= 3) & (hh <= MAX_HEIGHT) & (ww <= 30 * hh) & (area[1:] >= 3) & inside
    return table[keep]


def _group(c: np.ndarray, window: int = 16) -> np.ndarray:
    """Line label per component: neighbours in reading order (similar height, overlapping rows, small gap)."""
    n = c.shape[0]
    lab = np.arange(n)
    if n < 2:
        return lab
    x0, y0, x1, y1 = c[:, X0], c[:, Y0], c[:, X1], c[:, Y1]
    h = y1 - y0
    cy = (y0 + y1) / 2
    ea, eb = [], []
    for off in range(1, min(window, n - 1) + 1):
        i = np.arange(n - off)
        j = i + off
        hm = np.maximum(h[i], h[j])
        ok = (
            (h[i] >= 3)
            & (x0[j] <= x1[i] + 1.1 * np.maximum(h[i], 4))
            & (x0[j] >= x1[i] - 0.3 * hm)
            & ((np.abs(cy[j] - cy[i]) <= 0.35 * hm) | (np.abs(y1[j] - y1[i]) <= 0.2 * hm + 1))
            & (np.minimum(y1[i], y1[j]) - np.maximum(y0[i], y0[j]) >= 0.3 * np.minimum(h[i], h[j]))
        )
        ea.append(i[ok])
        eb.append(j[ok])
    a, b = np.concatenate(ea), np.concatenate(eb)
    if a.size == 0:
        return lab
    while True:  # label propagation with pointer jumping
        m = np.minimum(lab[a], lab[b])
        new = lab.copy()
        np.minimum.at(new, a, m)
        np.minimum.at(new, b, m)
        new = new[new]
        if np.array_equal(new, lab):
            return lab
        lab = new


# Logistic weights over line features (bias first): fitted on bench/pixelset.py's dev split (see
# bench/glyphs.py), never on the test split.
LINE_FEATURES = (
    "glyphs",
    "height_cv",
    "value_spread",
    "coherence",
    "flatness",
    "strokes_per_h",
    "surround",
    "thickness",
    "fill",
    "components",
)
LINE_WEIGHTS = (-6.944, 4.376, -0.908, -2.345, -31.340, 1.334, -1.434, 1.589, -12.576, 15.483, 1.330)


def _reduce(ufunc: np.ufunc, values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return ufunc.reduceat(values, starts) if values.size else values


def line_features(c: np.ndarray, lab: np.ndarray, integral: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (``LINE_FEATURES``) of every line of components, vectorised: (features, boxes, heights, counts).

    ``c`` are the components, ``lab`` their line labels, ``integral`` the stroke map's integral image.
    """
    order = np.argsort(lab, kind="stable")
    c, g = c[order], lab[order]
    starts = np.r_[0, np.nonzero(np.diff(g))[0] + 1]
    count = np.diff(np.r_[starts, g.size]).astype(np.float64)
    x0 = _reduce(np.minimum, c[:, X0], starts)
    y0 = _reduce(np.minimum, c[:, Y0], starts)
    x1 = _reduce(np.maximum, c[:, X1], starts)
    y1 = _reduce(np.maximum, c[:, Y1], starts)
    gi = np.repeat(np.arange(starts.size), count.astype(int))
    h = c[:, Y1] - c[:, Y0]
    hmax = _reduce(np.maximum, h, starts)
    main = (h >= 0.6 * hmax[gi]).astype(np.float64)
    n_main = np.bincount(gi, weights=main)
    hm = np.bincount(gi, weights=h * main) / np.maximum(n_main, 1)
    h2 = np.bincount(gi, weights=h * h * main) / np.maximum(n_main, 1)
    height_cv = np.where(n_main >= 2, np.sqrt(np.maximum(h2 - hm**2, 0)) / np.maximum(hm, 1), 0.5)
    area = c[:, AREA]
    a_sum = np.bincount(gi, weights=area)
    peak = np.bincount(gi, weights=c[:, PEAK] * area) / a_sum
    v1 = np.bincount(gi, weights=c[:, VALUE] * main) / np.maximum(n_main, 1)
    v2 = np.bincount(gi, weights=c[:, VALUE] ** 2 * main) / np.maximum(n_main, 1)
    value_spread = np.where(n_main >= 2, np.sqrt(np.maximum(v2 - v1**2, 0)) / np.maximum(peak, 1), 0.5)
    coherence = np.bincount(gi, weights=c[:, COH] * area) / a_sum
    flatness = np.bincount(gi, weights=c[:, FLAT] * area) / a_sum
    w = x1 - x0
    glyphs = w / (0.6 * np.maximum(hm, 1))
    strokes_per_h = count / np.maximum(w / np.maximum(hm, 1), 1e-6)
    rows, cols = integral.shape[0] - 1, integral.shape[1] - 1
    r = np.maximum(2, np.rint(0.6 * hm))
    ox0, oy0 = np.maximum(0, x0 - r), np.maximum(0, y0 - r)
    ox1, oy1 = np.minimum(cols, x1 + r), np.minimum(rows, y1 + r)

    def _sum(a0, b0, a1, b1):
        a0, b0, a1, b1 = (v.astype(np.intp) for v in (a0, b0, a1, b1))
        return integral[b1, a1] - integral[b0, a1] - integral[b1, a0] + integral[b0, a0]

    inner = _sum(x0, y0, x1, y1)
    outer = _sum(ox0, oy0, ox1, oy1) - inner
    ring = np.maximum((ox1 - ox0) * (oy1 - oy0) - w * (y1 - y0), 1)
    surround = peak / np.maximum(outer / ring, 1.0)
    thickness = np.bincount(gi, weights=c[:, THICK] * area) / a_sum / np.maximum(hm, 1)
    fill = a_sum / np.maximum(np.bincount(gi, weights=(c[:, X1] - c[:, X0]) * (c[:, Y1] - c[:, Y0])), 1)
    feats = np.stack(
        [
            np.minimum(glyphs, 8.0) / 8.0,
            height_cv,
            value_spread,
            coherence,
            flatness,
            np.minimum(strokes_per_h, 3.0),
            np.minimum(np.log2(np.maximum(surround, 1e-6)), 5.0),
            np.minimum(thickness, 1.0),
            fill,
            np.minimum(count, 8.0) / 8.0,
        ],
        axis=1,
    )
    boxes = np.stack([x0, y0, x1, y1], axis=1).astype(int)
    usable = (hm >= 4) & (w >= 1.5 * hm) & ((count >= 3) | (w >= 2.5 * hmax))
    return feats[usable], boxes[usable], np.stack([hm, count], axis=1)[usable]


def score(features: np.ndarray) -> np.ndarray:
    """Text-likeness (0..1) of line features, one per row."""
    w = np.asarray(LINE_WEIGHTS)
    z = w[0] + np.asarray(features) @ w[1:]
    return 1.0 / (1.0 + np.exp(-z))


def candidate_lines(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every line of stroke components in every plane and polarity: (features, boxes, [height, glyphs],
    vertical flags), boxes in image coordinates."""
    fs, bs, hs, vs = [], [], [], []
    for plane in channels(img):
        for sm in stroke_maps(plane):
            if int(sm.max()) < MIN_CONTRAST:
                continue
            binary = binarize(sm)
            comps = components(binary, sm, plane)
            if comps.shape[0] == 0:
                continue
            integral = cv2.integral(sm)
            for vertical in (False, True):
                c = comps[:, [Y0, X0, Y1, X1, AREA, PEAK, COH, FLAT, VALUE, THICK]] if vertical else comps
                c = c[np.argsort(c[:, X0], kind="stable")]
                f, b, hc = line_features(c, _group(c), integral.T if vertical else integral)
                if vertical:
                    b = b[:, [1, 0, 3, 2]]
                fs.append(f)
                bs.append(b)
                hs.append(hc)
                vs.append(np.full(len(f), vertical))
    if not fs:
        return np.zeros((0, len(LINE_FEATURES))), np.zeros((0, 4), int), np.zeros((0, 2)), np.zeros(0, bool)
    return np.concatenate(fs), np.concatenate(bs), np.concatenate(hs), np.concatenate(vs)


def _overlap(a: Box, b: Box) -> float:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    return ix * iy / max(1, min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])))


def find_text_regions(img: np.ndarray, *, min_score: float = 0.5) -> list[TextRegion]:
    """Text-like lines (horizontal and vertical) in an 8-bit grey or RGB image, best first; where lines from
    different planes overlap, the best-scoring one stands for them."""
    feats, boxes, hc, vert = candidate_lines(img)
    scores = score(feats) if len(feats) else np.zeros(0)
    keep = np.nonzero(scores >= min_score)[0]
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    out: list[TextRegion] = []
    for k in keep:
        x0, y0, x1, y1 = (int(v) for v in boxes[k])
        box = (x0, y0, x1, y1)
        if not any(_overlap(box, o.box) > 0.5 for o in out):
            out.append(
                TextRegion(x0, y0, x1, y1, bool(vert[k]), int(hc[k, 1]), float(hc[k, 0]), round(float(scores[k]), 3))
            )
    return out


COLUMN_GAP = 2.0
"""Pieces of a line running down the image, this many text heights apart or closer, are one line
(``join_columns``)."""


def join_columns(regions: list[TextRegion]) -> list[TextRegion]:
    """``regions`` with the pieces of each line running down the image joined: the glyph grouping cuts such a
    line at its wide letters and spaces ("los" | "poul" | "pad" of "Papadopoulos"), and each piece alone reads
    as nonsense. Pieces join when they share their column (0.6 of the narrower) and lie within ``COLUMN_GAP``
    text heights, and neither is half again as wide as the other; the joined line keeps the best score."""
    upright = sorted((r for r in regions if r.vertical), key=lambda r: r.y0)
    out = [r for r in regions if not r.vertical]
    chains: list[TextRegion] = []
    for r in upright:
        for k, c in enumerate(chains):
            shared = min(c.x1, r.x1) - max(c.x0, r.x0)
            narrow, wide = sorted((c.x1 - c.x0, r.x1 - r.x0))
            gap = r.y0 - c.y1
            if shared >= 0.6 * narrow and wide <= 1.5 * narrow and gap <= COLUMN_GAP * max(c.height, r.height):
                chains[k] = TextRegion(
                    min(c.x0, r.x0),
                    c.y0,
                    max(c.x1, r.x1),
                    max(c.y1, r.y1),
                    True,
                    c.glyphs + r.glyphs,
                    max(c.height, r.height),
                    max(c.score, r.score),
                )
                break
        else:
            chains.append(r)
    return out + chains


CHECK_SCORE = 0.9
"""A text-like line at least this likely, confirmed by the OCR engine's detector, makes the check fire."""


def has_text(img: np.ndarray, engine=None) -> bool:
    """The text-presence check for an 8-bit display image: a text-like line scoring at least ``CHECK_SCORE``,
    and, when an OCR ``engine`` with a ``detect`` method is given, its text detector also finding text in the
    line's neighbourhood (two different detectors must agree: either alone fires on some anatomy) and its
    recogniser reading something there (``CHECK_READ``).

    ``engine`` may also be a function returning the engine, called only once a candidate line is found: a
    worker that sees only slices without text never loads the OCR models (~100 MB of its memory)."""
    regions = find_text_regions(img, min_score=CHECK_SCORE)
    if not regions:
        return False
    if callable(engine) and not hasattr(engine, "detect"):
        engine = engine()
    detect = getattr(engine, "detect", None)
    if detect is None:
        return True
    rows, cols = img.shape[:2]
    for r in regions[:8]:
        m = max(8, int(r.height))
        x0, y0, x1, y1 = max(0, r.x0 - m), max(0, r.y0 - m), min(cols, r.x1 + m), min(rows, r.y1 + m)
        scale = float(np.clip(32.0 / max(r.height, 1.0), 1.0, 4.0))
        for crop in _check_views(img, r, (x0, y0, x1, y1)):
            if scale > 1.0:
                crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            for q in detect(crop, min_side=None):
                qx0, qy0 = (q.min(axis=0) / scale) + (x0, y0)
                qx1, qy1 = (q.max(axis=0) / scale) + (x0, y0)
                if qx0 < r.x1 and r.x0 < qx1 and qy0 < r.y1 and r.y0 < qy1 and _reads(engine, crop, q):
                    return True
    return False


CHECK_STRETCH = 96
"""A candidate line whose own grey levels span less than this (2nd to 98th percentile) is also shown to the
detector stretched to full range: text a few grey levels above its label box is invisible to it as stored
(dev-drawn dev_6101: a 24 px date 10 levels above its box, the whole CT slice released unread)."""


def _check_views(img: np.ndarray, r: TextRegion, crop_box: Box):
    x0, y0, x1, y1 = crop_box
    crop = np.ascontiguousarray(img[y0:y1, x0:x1])
    yield crop
    lo, hi = np.percentile(img[r.y0 : r.y1, r.x0 : r.x1], (2, 98))
    if 4 <= hi - lo < CHECK_STRETCH:
        yield np.clip((crop.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


CHECK_READ = (2, 0.6)
"""... and the engine's recogniser reading at least 2 letters or digits there with confidence 0.6 or more: the
sulci of a brain CT pass both detectors on 2% of slices, never the recogniser (bench/textcheck.py)."""


def _reads(engine, crop: np.ndarray, quad: np.ndarray) -> bool:
    recognize = getattr(engine, "recognize", None)
    if recognize is None:
        return True
    a0, b0 = np.maximum(np.floor(quad.min(axis=0)).astype(int), 0)
    a1, b1 = np.ceil(quad.max(axis=0)).astype(int)
    line = crop[b0:b1, a0:a1]
    if line.size == 0:
        return False
    text, conf, _pos = recognize([np.ascontiguousarray(line)])[0]
    return sum(c.isalnum() for c in text) >= CHECK_READ[0] and conf >= CHECK_READ[1]
