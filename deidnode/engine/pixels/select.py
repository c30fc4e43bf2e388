"""Which instances get OCR: by modality, SOP class, Burned In Annotation, Image Type, and a cheap text check.

Defaults (``PixelSettings``): US, SC, OT, XA, DX, CR, MG... and secondary captures always; CT, MR, PT, NM, SM
when Burned In Annotation (0028,0301) is YES or the text check fires; whole-slide LABEL and OVERVIEW images
are handled apart (``wsi_kind``).
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from ...config import PixelSettings
from .glyphs import has_text

__all__ = ["has_text", "image_type", "selection", "wsi_kind"]


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
