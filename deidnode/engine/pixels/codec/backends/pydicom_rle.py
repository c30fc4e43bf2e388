"""RLE Lossless (PS3.5 Annex G) with pydicom's own numpy decoder and encoder."""

from __future__ import annotations

import numpy as np
from pydicom.pixels import get_encoder
from pydicom.uid import RLELossless

from .._info import PixelInfo
from ._common import decode_with_pydicom_plugin

NAME = "pydicom"
DEPENDENCY = "pydicom>=3.0"
DECODES = frozenset({RLELossless})
ENCODES = frozenset({RLELossless})


def is_available(ts: str, *, encode: bool = False) -> bool:
    return ts in (ENCODES if encode else DECODES)


def decode(frame: bytes, info: PixelInfo, ts: str) -> np.ndarray:
    return decode_with_pydicom_plugin(frame, info, ts, "pydicom")


def encode(frame: np.ndarray, info: PixelInfo, ts: str, options: dict[str, object] | None = None) -> bytes:
    kwargs = info.pydicom_kwargs()
    kwargs["planar_configuration"] = 0  # the array is pixel-interleaved; RLE segments are per sample anyway
    # pydicom's option check stops at 16 bits; PS3.5 G.2 allows 15 segments, so 32-bit mono and RGB are valid
    # (the pixel module was validated by PixelInfo already).
    return get_encoder(ts).encode(np.ascontiguousarray(frame), encoding_plugin="pydicom", validate=False, **kwargs)
