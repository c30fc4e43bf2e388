"""Datasets with text burned in, for the pixel tests (every photometric interpretation, multi-frame)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SIZE = 320


def font(size: int = 20):
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        return ImageFont.load_default(size=size)


def burn_mask(texts: list[tuple[str, tuple[int, int]]], size: int = SIZE, fsize: int = 20) -> np.ndarray:
    """A boolean glyph mask of ``texts`` at their (x, y) positions."""
    img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(img)
    for text, xy in texts:
        d.text(xy, text, fill=255, font=font(fsize))
    return np.asarray(img) >= 128


def make_ds(
    pi: str,
    texts: list[tuple[str, tuple[int, int]]],
    *,
    frames: int = 1,
    modality: str = "US",
    size: int = SIZE,
    fsize: int = 20,
) -> Dataset:
    """An uncompressed dataset of ``pi`` with ``texts`` burned in (bright on a textured background)."""
    mask = burn_mask(texts, size, fsize)
    yy, xx = np.mgrid[0:size, 0:size]
    tex = (40 + 30 * np.sin(xx / 9.0) * np.cos(yy / 13.0)).astype(np.float32)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = modality
    ds.PatientName = "SMITH^JOHN"
    ds.PatientID = "PID448812"
    ds.AccessionNumber = "ACC99417"
    ds.PatientBirthDate = "19440705"
    ds.StudyDate = "20010705"
    ds.PatientAge = "057Y"
    ds.PatientSex = "M"
    ds.InstitutionName = "Riverside General Hospital"
    ds.Rows = ds.Columns = size
    ds.PixelRepresentation = 0
    if pi in ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"):
        ds.SamplesPerPixel = 1
        if pi == "PALETTE COLOR":
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
            img = np.where(mask, 250, tex).astype(np.uint8)
            lut = (np.arange(256, dtype=np.uint16) * 257).tobytes()
            for c in ("Red", "Green", "Blue"):
                setattr(ds, f"{c}PaletteColorLookupTableDescriptor", [256, 0, 16])
                setattr(ds, f"{c}PaletteColorLookupTableData", lut)
        else:
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
            base = tex * 20
            img = np.where(mask, 4095, base) if pi == "MONOCHROME2" else np.where(mask, 0, 4095 - base)
            img = img.astype(np.uint16)
    else:
        ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        if pi == "RGB":
            img = np.stack([np.where(mask, 255, tex)] * 3, axis=-1).astype(np.uint8)
        else:  # YBR_FULL: luminance carries the text, neutral chroma
            img = np.stack([np.where(mask, 235, tex), np.full_like(tex, 128), np.full_like(tex, 128)], axis=-1)
            img = img.astype(np.uint8)
    ds.PhotometricInterpretation = pi
    if frames > 1:
        ds.NumberOfFrames = frames
        img = np.stack([img] * frames)
    ds.PixelData = np.ascontiguousarray(img).tobytes()
    return ds
