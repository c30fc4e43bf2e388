"""What redactions are painted with, and overlays hidden in unused high bits removed."""

from __future__ import annotations

import struct

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian

from ....reasons import Code
from ._errors import PixelCodecError
from ._info import PixelInfo
from ._syntax import SYNTAXES
from .decode import decode_frames
from .lookup import transfer_syntax


def fill_value(ds: Dataset, frames: np.ndarray | None = None) -> int | tuple[int, ...]:
    """Background value to paint redactions with, in the stored (working) space of :func:`decode_frames`.

    Monochrome: the stored value that displays darkest *and occurs in the image*: the minimum for MONOCHROME2,
    the maximum for MONOCHROME1 (PS3.3 C.7.6.3.1.2), swapped when Rescale Slope is negative. Taking a value from
    the image keeps its range (viewers that auto-window on min/max show the same picture) and paints black under
    any window, which is how a radiologist reads background. Colour: black in the colour space (RGB / YBR_ICT /
    YBR_RCT held as RGB: (0, 0, 0); YBR_FULL(_422): (0, 2^(n-1), 2^(n-1))). PALETTE COLOR: the index whose
    palette entry is darkest. ``frames`` (from :func:`decode_frames`) saves a second decode.
    """
    info = PixelInfo.from_dataset(ds)
    pi = info.working_pi
    if pi == "RGB":
        return (0, 0, 0)
    if pi == "YBR_FULL":
        mid = 1 << (info.bits_stored - 1)
        return (0, mid, mid)
    if pi == "PALETTE COLOR":
        return _darkest_palette_index(ds, info)
    if pi not in ("MONOCHROME1", "MONOCHROME2"):
        raise PixelCodecError(Code.UNSUPPORTED_PIXEL_LAYOUT, f"(0028,0004) {pi}")
    if frames is None:
        frames = decode_frames(ds)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    want_max = (pi == "MONOCHROME1") != (slope < 0)
    values = frames
    if not info.pixel_representation and info.bits_stored < info.bits_allocated and info.bits_allocated > 1:
        values = frames & np.asarray((1 << info.bits_stored) - 1, dtype=frames.dtype)
    return int(values.max() if want_max else values.min())


def _darkest_palette_index(ds: Dataset, info: PixelInfo) -> int:
    from pydicom.pixels import apply_color_lut

    desc = ds.get("RedPaletteColorLookupTableDescriptor")
    if desc is None:
        raise PixelCodecError(Code.MISSING_ATTRIBUTE, "(0028,1101)")
    first = int(desc[1])
    if info.pixel_representation:
        first = struct.unpack("<h", struct.pack("<H", first & 0xFFFF))[0]
    count = int(desc[0]) or 65536
    indices = np.arange(first, first + count, dtype=np.int64).astype(info.dtype)
    try:
        rgb = apply_color_lut(indices, ds).astype(np.float64)
    except Exception as e:  # noqa: BLE001 - malformed LUT
        raise PixelCodecError(Code.UNSUPPORTED_PIXEL_LAYOUT, "(0028,1201)-(0028,1203) palette unreadable") from e
    luminance = rgb @ np.array([0.299, 0.587, 0.114])
    return int(indices[int(np.argmin(luminance))])


def clear_overlay_bits(ds: Dataset, frames: np.ndarray) -> bool:
    """Remove overlays stored in the unused high bits of Pixel Data (PS3.3 C.9.2, retired usage with Overlay Bit
    Position (60xx,0102) > High Bit): every bit above High Bit is cleared in ``frames`` (in place).

    Unsigned data: bits above High Bit are masked. Signed data: ``frames`` are already sign-extended by
    :func:`decode_frames`; the raw native pixel data is checked for anything else in those bits. Returns True
    when something was removed: the caller must then treat every frame as changed.
    """
    info = PixelInfo.from_dataset(ds)
    if info.bits_allocated == 1 or info.bits_stored >= info.bits_allocated:
        return False
    if not info.pixel_representation:
        mask = np.asarray((1 << info.bits_stored) - 1, dtype=frames.dtype)
        if not (frames & ~mask).any():
            return False
        frames &= mask
        return True
    ts = transfer_syntax(ds)
    syntax = SYNTAXES.get(ts)
    if syntax is None or syntax.encapsulated:
        return False
    dtype = np.dtype(f"u{info.bits_allocated // 8}").newbyteorder(">" if ts == ExplicitVRBigEndian else "<")
    raw = np.frombuffer(ds.PixelData, dtype=dtype, count=len(ds.PixelData) // dtype.itemsize)
    sign = (raw >> (info.bits_stored - 1)) & 1
    high = raw >> info.bits_stored
    full = (1 << (info.bits_allocated - info.bits_stored)) - 1
    return bool(
        ((high != 0) & (high != full)).any()
        or ((high == full) & (sign == 0)).any()
        or ((high == 0) & (sign == 1)).any()
    )
