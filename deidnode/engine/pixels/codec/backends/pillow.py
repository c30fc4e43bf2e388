"""Pillow: JPEG baseline decode and encode (libjpeg-turbo), JPEG 2000 decode (OpenJPEG).

Encoding keeps the stored colour space: a YBR_FULL(_422) image is handed over as YCbCr (no colour conversion,
4:2:2 or 4:4:4 sampling as the photometric interpretation says, PS3.5 8.2.1), an RGB image is written with
``keep_rgb`` (Adobe marker, no transform), monochrome as one component.
"""

from __future__ import annotations

import importlib.util
import io

import numpy as np
from pydicom.uid import JPEG2000, JPEG2000Lossless, JPEGBaseline8Bit

from .._info import PixelInfo
from ._common import decode_with_pydicom_plugin

NAME = "pillow"
DEPENDENCY = "pillow>=10"
DECODES = frozenset({JPEGBaseline8Bit, JPEG2000Lossless, JPEG2000})
ENCODES = frozenset({JPEGBaseline8Bit})


def is_available(ts: str, *, encode: bool = False) -> bool:
    return ts in (ENCODES if encode else DECODES) and importlib.util.find_spec("PIL") is not None


def decode(frame: bytes, info: PixelInfo, ts: str) -> np.ndarray:
    return decode_with_pydicom_plugin(frame, info, ts, "pillow")


def encode(frame: np.ndarray, info: PixelInfo, ts: str, options: dict[str, object] | None = None) -> bytes:
    from PIL import Image

    if info.bits_allocated != 8 or info.bits_stored != 8 or info.pixel_representation:
        raise ValueError("JPEG baseline needs unsigned 8-bit samples")
    options = options or {}
    quality = int(options.get("jpeg_quality", 95))  # type: ignore[call-overload]
    pi = info.photometric_interpretation
    arr = np.ascontiguousarray(frame, dtype=np.uint8)
    kwargs: dict[str, object] = {"quality": quality, "optimize": False}
    if info.samples_per_pixel == 1:
        img = Image.fromarray(arr)
    elif pi in ("YBR_FULL", "YBR_FULL_422"):
        img = Image.frombuffer("YCbCr", (info.columns, info.rows), arr.tobytes(), "raw", "YCbCr", 0, 1)
        kwargs["subsampling"] = 1 if pi == "YBR_FULL_422" else 0
    elif pi == "RGB":
        img = Image.fromarray(arr)
        kwargs["keep_rgb"] = True
        kwargs["subsampling"] = 0
    else:
        raise ValueError(f"photometric interpretation {pi} is not written as JPEG baseline")
    out = io.BytesIO()
    img.save(out, format="JPEG", **kwargs)
    return out.getvalue()
