"""Background images for the burned-in text benchmark: real images that ship in packages, without their text.

pydicom's test files and the pydicom-data package hold CT, MR, US (grey, colour Doppler, palette, a 120-frame
echo cine), CR and NM images. Several ultrasound images carry their own overlay text (dates, "BAPTIST MED CTR",
settings): only a crop free of text is used (``crop``, checked by eye and by both OCR readers), so every text
in a generated image is in the ground truth. Images come back as float32 in [0, 1], grey (rows, cols) or colour
(rows, cols, 3), with all frames for cine sources.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_color_lut


@dataclass(frozen=True)
class Source:
    file: str
    modality: str  # the modality the generated instance gets
    crop: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 in the file's pixels: the part without text
    colour: bool = False
    frames: int = 1  # frames available (cine)


# file name -> (modality, crop without overlay text, colour, frames)
SOURCES: tuple[Source, ...] = (
    Source("693_UNCR.dcm", "CT"),
    Source("explicit_VR-UN.dcm", "CT"),
    Source("bad_sequence.dcm", "CT"),
    Source("eCT_Supplemental.dcm", "CT", frames=2),
    Source("CT_small.dcm", "CT"),
    Source("MR-SIEMENS-DICOM-WithOverlays.dcm", "MR"),
    Source("MR2_UNCR.dcm", "MR"),
    Source("MR_small.dcm", "MR"),
    Source("emri_small.dcm", "MR", frames=10),
    Source("US1_UNCR.dcm", "US", (48, 108, 592, 338), colour=True),
    Source("color3d_jpeg_baseline.dcm", "US", (100, 30, 560, 420), colour=True, frames=120),
    Source("color-pl.dcm", "US", (0, 0, 200, 120), colour=True),
    Source("OBXXXX1A.dcm", "US", (340, 88, 760, 560)),
    Source("gdcm-US-ALOKA-16.dcm", "US", (110, 70, 600, 412)),
    Source("JPGLosslessP14SV1_1s_1f_8b.dcm", "US", (150, 140, 750, 690)),
    Source("RG1_UNCR.dcm", "CR"),
    Source("RG3_UNCR.dcm", "CR", (430, 0, 1260, 1350)),
    Source("JPEG2000_UNC.dcm", "NM"),
    Source("image_dfl.dcm", "OT"),
)
BY_MODALITY: dict[str, tuple[Source, ...]] = {
    m: tuple(s for s in SOURCES if s.modality == m) for m in sorted({s.modality for s in SOURCES})
}


def _path(name: str) -> str:
    return str(get_testdata_file(name, download=False) or name)


@functools.cache
def load(src: Source) -> np.ndarray:
    """All frames of ``src``, cropped, as float32 in [0, 1]: (frames, rows, cols[, 3])."""
    ds = dcmread(_path(src.file))
    a = ds.pixel_array
    spp = int(ds.get("SamplesPerPixel", 1))
    nf = int(ds.get("NumberOfFrames", 1) or 1)
    if nf == 1:
        a = a[None]
    pi = str(ds.PhotometricInterpretation)
    if pi == "PALETTE COLOR":
        rgb = apply_color_lut(a, ds).astype(np.float32)
        a = rgb.mean(axis=-1)  # the palette sources are grey ramps
        spp = 1
    a = a.astype(np.float32)
    if src.crop is not None:
        x0, y0, x1, y1 = src.crop
        a = a[:, y0:y1, x0:x1]
    if spp == 1:
        lo, hi = np.percentile(a, 0.5), np.percentile(a, 99.8)
        a = np.clip((a - lo) / max(hi - lo, 1e-6), 0, 1)
        if pi == "MONOCHROME1":
            a = 1.0 - a
    else:
        a = np.clip(a / 255.0, 0, 1)
    return np.ascontiguousarray(a, dtype=np.float32)


def available() -> tuple[Source, ...]:
    """Sources whose files are installed here (pydicom-data provides most)."""
    out = []
    for s in SOURCES:
        try:
            if os.path.isfile(_path(s.file)):
                out.append(s)
        except Exception:  # noqa: BLE001 - a missing data file is skipped, never downloaded
            continue
    return tuple(out)
