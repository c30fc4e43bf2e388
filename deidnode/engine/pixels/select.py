"""Which instances get OCR: by modality, SOP class, Burned In Annotation, Image Type, and a cheap text check.

Defaults (``PixelSettings``): US, SC, OT, XA, DX, CR, MG... and secondary captures always; CT, MR, PT, NM, SM
when Burned In Annotation (0028,0301) is YES or the text check fires; whole-slide LABEL and OVERVIEW images
are handled apart (``wsi_kind``).
"""

from __future__ import annotations

import cv2
import numpy as np
from pydicom.dataset import Dataset

from ...config import PixelSettings


def image_type(ds: Dataset) -> tuple[str, ...]:
    v = ds.get("ImageType")
    if v is None:
        return ()
    vals = [v] if isinstance(v, str) else list(v)
    return tuple(str(x).strip().upper() for x in vals)


def wsi_kind(ds: Dataset) -> str | None:
    """'LABEL' or 'OVERVIEW' for whole-slide images that show the slide label; None otherwise."""
    it = image_type(ds)
    if str(ds.get("Modality", "")).upper() != "SM" and "1.2.840.10008.5.1.4.1.1.77.1.6" != ds.get("SOPClassUID"):
        return None
    for kind in ("LABEL", "OVERVIEW"):
        if kind in it[2:] or (len(it) > 2 and it[2] == kind):
            return kind
    return None


def selection(ds: Dataset, settings: PixelSettings) -> str:
    """'always' (OCR), 'check' (OCR if ``has_text`` fires) or 'skip' (recorded in the audit)."""
    modality = str(ds.get("Modality", "")).upper()
    sop = str(ds.get("SOPClassUID", ""))
    bia = str(ds.get("BurnedInAnnotation", "")).upper()
    it = image_type(ds)
    if bia == "YES":
        return "always"
    if modality in settings.ocr_modalities or sop in settings.ocr_sop_classes:
        return "always"
    if any(t in settings.ocr_image_types for t in it):
        return "always"
    if modality in settings.ocr_check_modalities:
        return "check"
    return "skip"


def has_text(image: np.ndarray) -> bool:
    """A cheap test for overlay text on an 8-bit display image (a few ms on 512x512).

    Text is drawn in near-extreme values with sharp edges: threshold the brightest (and, inverted, darkest)
    pixels, and look for a row of at least three glyph-sized components of similar height.
    """
    gray = image if image.ndim == 2 else image.max(axis=2)
    for g in (gray, 255 - gray):
        hi = np.percentile(g, 99.5)
        if hi < 128:
            continue
        mask = (g >= max(hi - 12, 140)).astype(np.uint8)
        n, _labels, stats, _c = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n < 4:
            continue
        h = stats[1:, cv2.CC_STAT_HEIGHT]
        w = stats[1:, cv2.CC_STAT_WIDTH]
        area = stats[1:, cv2.CC_STAT_AREA]
        y = stats[1:, cv2.CC_STAT_TOP]
        x = stats[1:, cv2.CC_STAT_LEFT]
        glyph = (h >= 5) & (h <= 60) & (w >= 1) & (w <= 60) & (area <= h * w) & (area >= 3)
        gy, gh, gx = y[glyph], h[glyph], x[glyph]
        if gy.size < 3:
            continue
        order = np.argsort(gy)
        gy, gh, gx = gy[order], gh[order], gx[order]
        for i in range(gy.size):
            same = (np.abs(gy - gy[i]) <= max(2, gh[i] // 3)) & (np.abs(gh - gh[i]) <= max(2, gh[i] // 3))
            if same.sum() >= 3 and np.ptp(gx[same]) <= 40 * gh[i]:
                return True
    return False
