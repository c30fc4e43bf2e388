"""Uncompressed pixel data (PS3.5 8.1.1, 8.2 none; Implicit/Explicit VR Little Endian, Deflated, Big Endian).

Pure numpy, always available. Stored values are returned as they are in the container: for unsigned data the
bits above High Bit are kept (so overlays stored there stay visible to ``clear_overlay_bits``); signed data is
sign-extended from High Bit (PS3.5 8.1.1) so that the array holds the real values.
"""

from __future__ import annotations

import numpy as np
from pydicom.pixels.utils import pack_bits, unpack_bits
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from .._info import PixelInfo

NAME = "native"
DEPENDENCY = "numpy"
DECODES = frozenset(
    {ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian}
)
ENCODES = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian})


def is_available(ts: str, *, encode: bool = False) -> bool:
    return ts in (ENCODES if encode else DECODES)


def sign_extend(arr: np.ndarray, info: PixelInfo) -> np.ndarray:
    """Signed data: replace the bits above High Bit by copies of the sign bit (in place, returns ``arr``)."""
    if info.pixel_representation and info.bits_stored < info.bits_allocated:
        shift = info.bits_allocated - info.bits_stored
        arr <<= shift
        arr >>= shift  # arithmetic shift on a signed dtype
    return arr


def decode(frame: bytes, info: PixelInfo, ts: str) -> np.ndarray:
    if info.bits_allocated == 1:
        arr = np.asarray(unpack_bits(frame, as_array=True))[: info.rows * info.columns]
        return arr.reshape(info.rows, info.columns).astype(np.uint8)
    dtype = info.dtype.newbyteorder(">" if ts == ExplicitVRBigEndian else "<")
    if info.photometric_interpretation == "YBR_FULL_422":
        return _decode_422(np.frombuffer(frame, dtype=dtype), info).astype(info.dtype)
    arr = np.frombuffer(frame, dtype=dtype, count=info.rows * info.columns * info.samples_per_pixel)
    if info.samples_per_pixel > 1 and info.planar_configuration == 1:
        arr = arr.reshape(info.samples_per_pixel, info.rows, info.columns).transpose(1, 2, 0)
    arr = np.array(arr.reshape(info.frame_shape), dtype=info.dtype, order="C")  # a writable copy
    return sign_extend(arr, info)


def encode(frame: np.ndarray, info: PixelInfo, ts: str, options: dict[str, object] | None = None) -> bytes:
    """Native little-endian bytes of one frame in the input's planar configuration. Odd lengths are padded by
    the caller (pixel data as a whole, PS3.5 7.1.1), not per frame."""
    if info.bits_allocated == 1:
        return pack_bits(np.asarray(frame, dtype=np.uint8).ravel(), pad=False)
    arr = np.asarray(frame, dtype=info.dtype)
    if info.photometric_interpretation == "YBR_FULL_422":
        quads = _encode_422(arr, info, (options or {}).get("original"))
        return quads.astype(info.dtype.newbyteorder("<")).tobytes()
    if info.samples_per_pixel > 1 and info.planar_configuration == 1:
        arr = arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr, dtype=info.dtype.newbyteorder("<")).tobytes()


def _decode_422(flat: np.ndarray, info: PixelInfo) -> np.ndarray:
    """Native YBR_FULL_422 (Y1 Y2 Cb Cr per pixel pair, PS3.3 C.7.6.3.1.2) to full-resolution YBR_FULL."""
    quads = flat[: info.rows * info.columns * 2].reshape(info.rows, info.columns // 2, 4)
    out = np.empty((info.rows, info.columns, 3), dtype=flat.dtype)
    out[:, 0::2, 0] = quads[..., 0]
    out[:, 1::2, 0] = quads[..., 1]
    out[:, 0::2, 1] = out[:, 1::2, 1] = quads[..., 2]
    out[:, 0::2, 2] = out[:, 1::2, 2] = quads[..., 3]
    return out


def _encode_422(arr: np.ndarray, info: PixelInfo, original: object) -> np.ndarray:
    """Full-resolution YBR to native YBR_FULL_422. The chroma of a pixel pair is the mean of the two pixels,
    except where only one pixel of the pair was changed (against ``original``): then that pixel's chroma wins,
    so a filled rectangle stays uniform up to its edge (the neighbour takes the fill's chroma, never the reverse).
    """
    left = arr[:, 0::2, :].astype(np.int64)
    right = arr[:, 1::2, :].astype(np.int64)
    chroma = (left[..., 1:] + right[..., 1:] + 1) // 2
    if isinstance(original, np.ndarray):
        changed_left = (original[:, 0::2, :] != arr[:, 0::2, :]).any(axis=-1)
        changed_right = (original[:, 1::2, :] != arr[:, 1::2, :]).any(axis=-1)
        only_left = changed_left & ~changed_right
        only_right = changed_right & ~changed_left
        chroma[only_left] = left[..., 1:][only_left]
        chroma[only_right] = right[..., 1:][only_right]
    quads = np.empty((info.rows, info.columns // 2, 4), dtype=np.int64)
    quads[..., 0] = left[..., 0]
    quads[..., 1] = right[..., 0]
    quads[..., 2:] = chroma
    return quads.astype(info.dtype)
