"""Readers the benchmark uses to ask "is any PHI still readable in what was written?", apart from the engine.

The image is rendered as a viewer shows it (pydicom's decoding, colour conversion and palette, full-range
window, MONOCHROME1 inverted), then read by rapidocr with its own default settings (with its angle classifier,
so upside-down vertical labels count) and by Tesseract (Debian's ``tesseract-ocr``, through tesserocr) on the
luminance and, for colour images, on the channel that differs most from grey, each scaled 2x. A PHI value is
readable when either reader's text contains it, allowing OCR confusions (0/O, 1/I/l, 5/S...).
"""

from __future__ import annotations

import functools
import re

import cv2
import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut

TESSDATA = "/usr/share/tesseract-ocr/5/tessdata/"
_CONF = str.maketrans(
    {
        "O": "0",
        "Q": "0",
        "D": "0",
        "I": "1",
        "L": "1",
        "J": "1",
        "|": "1",
        "S": "5",
        "B": "8",
        "Z": "2",
        "G": "6",
        "U": "V",
    }
)
COMMON = frozenset(
    "HOSPITAL MEDICAL CENTER CLINIC IMAGING INSTITUTE GENERAL RADIOLOGY DIAGNOSTICS STREET VIEW HARBOR MOUNT "
    "NORTHFIELD LAKESHORE RIVERSIDE WESTGATE".split()
)


def viewer_frames(ds: Dataset) -> np.ndarray:
    """Frames as a viewer shows them: uint8 (frames, rows, cols, 3)."""
    a = ds.pixel_array
    n = int(ds.get("NumberOfFrames", 1) or 1)
    pi = str(ds.PhotometricInterpretation)
    spp = int(ds.get("SamplesPerPixel", 1))
    if n == 1:
        a = a[None]
    if pi == "PALETTE COLOR":
        a = apply_color_lut(a, ds)
        a = (a.astype(np.float32) / max(float(a.max()), 1.0) * 255.0).astype(np.uint8)
    elif spp == 1:
        f = a.astype(np.float32)
        lo, hi = float(f.min()), float(f.max())
        f = (f - lo) * (255.0 / max(hi - lo, 1e-6))
        if pi == "MONOCHROME1":
            f = 255.0 - f
        a = np.repeat(f.clip(0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    return np.ascontiguousarray(a.astype(np.uint8))


@functools.cache
def _rapid():
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1, print_verbose=False)


@functools.cache
def _tess():
    import tesserocr

    from deidnode.engine.pixels.ocr.tess import quiet_leptonica

    quiet_leptonica()  # as in the node: Leptonica's layout messages are noise in the benchmark's output
    return tesserocr.PyTessBaseAPI(path=TESSDATA, lang="eng", psm=tesserocr.PSM.SPARSE_TEXT)


def read(rgb: np.ndarray) -> list[str]:
    """Lines both readers find in one uint8 RGB frame."""
    from PIL import Image

    lines: list[str] = []
    res, _ = _rapid()(np.ascontiguousarray(rgb))
    lines += [str(r[1]) for r in res or []]
    lum = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    views = [lum]
    chroma = rgb.astype(np.int16) - lum[..., None].astype(np.int16)
    if np.abs(chroma).max() > 24:  # colour: the channel farthest from grey, where colour text shows best
        views.append(np.abs(chroma).max(axis=-1).clip(0, 255).astype(np.uint8))
    api = _tess()
    for v in views:
        big = cv2.resize(v, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        api.SetImage(Image.fromarray(big))
        lines += [t for t in api.GetUTF8Text().splitlines() if t.strip()]
    return lines


def fold(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper()).translate(_CONF)


def secrets(text: str, kind: str) -> list[str]:
    """What must not be readable of a PHI segment: its words (names, institutions) or the whole value."""
    if kind in ("name", "other_name", "text"):
        words = [w for w in re.split(r"[\s^,.]+", text) if len(re.sub(r"[^A-Za-z]", "", w)) >= 3]
        return [w for w in words if w.upper() not in COMMON]
    if kind == "email":
        return [p for p in re.split(r"[@.]", text) if len(p) >= 3 and p not in ("org", "com")]
    return [text] if len(fold(text)) >= 3 else []


def _distance_within(pattern: str, text: str, k: int) -> bool:
    """Whether ``pattern`` occurs in ``text`` with at most ``k`` edits (small strings: plain DP)."""
    m = len(pattern)
    prev = list(range(m + 1))
    best = m
    for c in text:
        cur = [0]
        for j in range(1, m + 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (pattern[j - 1] != c)))
        best = min(best, cur[m])
        prev = cur
    return best <= k


def readable(secret: str, lines: list[str]) -> bool:
    s = fold(secret)
    if len(s) < 3:
        return False
    k = 0 if len(s) <= 4 else 1 if len(s) <= 8 else 2
    for line in lines:
        t = fold(line)
        if s in t or (k and len(t) >= len(s) - k and _distance_within(s, t, k)):
            return True
    return False
