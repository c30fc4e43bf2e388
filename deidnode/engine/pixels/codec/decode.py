"""Pixel Data to arrays of stored values, one frame at a time through the preferred backend (see the package
docstring for what the arrays hold)."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset

from ....reasons import Code
from ._encaps import split_frames
from ._errors import PixelCodecError
from ._info import PixelInfo
from ._syntax import SYNTAXES, Syntax
from .backends import Backend
from .lookup import decoders, transfer_syntax


def _native_frames(ds: Dataset, info: PixelInfo) -> list[bytes]:
    data = ds.PixelData
    total_bits = info.frame_bits * info.number_of_frames
    expected = (total_bits + 7) // 8
    if len(data) not in (expected, expected + expected % 2):
        raise PixelCodecError(
            Code.PIXEL_DATA_MISMATCH,
            "(7FE0,0010) length differs from (0028,0010) x (0028,0011) x (0028,0002) x (0028,0100) x (0028,0008)",
        )
    if info.bits_allocated == 1 and info.frame_bits % 8:
        # frames are not byte aligned (PS3.5 8.1.1 note): unpack everything, then re-pack each frame alone
        from pydicom.pixels.utils import pack_bits, unpack_bits

        bits = np.asarray(unpack_bits(data, as_array=True))[:total_bits].reshape(info.number_of_frames, -1)
        return [pack_bits(row, pad=False) for row in bits]
    n = info.frame_bytes
    return [bytes(data[i * n : (i + 1) * n]) for i in range(info.number_of_frames)]


def frame_codestreams(ds: Dataset, info: PixelInfo, syntax: Syntax) -> list[bytes]:
    if "PixelData" not in ds:
        raise PixelCodecError(Code.MISSING_ATTRIBUTE, "(7FE0,0010)")
    if not syntax.encapsulated:
        return _native_frames(ds, info)
    return [b"".join(f) for f in split_frames(ds, info.number_of_frames)]


def decode_one(backends: list[Backend], data: bytes, info: PixelInfo, ts: str, index: int) -> np.ndarray:
    failures = []
    for backend in backends:
        try:
            arr = backend.decode(data, info, ts)
        except Exception as e:  # noqa: BLE001 - any codec failure: try the next backend, then report
            failures.append(f"{backend.NAME}: {type(e).__name__}")
            continue
        shape = info.with_pi(info.working_pi).frame_shape
        if arr.shape != shape:
            failures.append(f"{backend.NAME}: decoded geometry differs from (0028,0010)/(0028,0011)/(0028,0002)")
            continue
        return arr
    raise PixelCodecError(Code.DECODE_FAILED, f"{ts} frame {index} ({'; '.join(failures)})")


def decode_frames(ds: Dataset) -> np.ndarray:
    """Decode all frames to stored values, shape ``(frames, rows, cols[, samples])`` (see module docstring).

    Raises :class:`PixelCodecError`: ``undecodable_transfer_syntax``, ``backend_unavailable``,
    ``pixel_data_mismatch`` (length or fragments do not match Rows x Columns x Samples x Bits x Frames),
    ``decode_failed``.
    """
    ts = transfer_syntax(ds)
    backends = decoders(ts)
    info = PixelInfo.from_dataset(ds)
    syntax = SYNTAXES[ts]
    streams = frame_codestreams(ds, info, syntax)
    out = np.empty((info.number_of_frames, *info.with_pi(info.working_pi).frame_shape), dtype=info.dtype)
    for i, data in enumerate(streams):
        out[i] = decode_one(backends, data, info, ts, i)
    return out
