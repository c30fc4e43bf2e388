"""Helpers shared by the backends that go through pydicom's pixel plugins."""

from __future__ import annotations

import numpy as np
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space, get_decoder

from .._info import PixelInfo


def decode_with_pydicom_plugin(frame: bytes, info: PixelInfo, ts: str, plugin: str) -> np.ndarray:
    """Decode one frame's codestream with pydicom's ``plugin``; colour left as stored (``raw=True``)."""
    decoder = get_decoder(ts)
    arr, meta = decoder.as_array(encapsulate([frame]), raw=True, decoding_plugin=plugin, **info.pydicom_kwargs())
    return to_working_pi(arr, str(meta.get("photometric_interpretation", info.photometric_interpretation)), info)


def to_working_pi(arr: np.ndarray, decoded_pi: str, info: PixelInfo) -> np.ndarray:
    """Bring a decoded frame to ``info.working_pi`` (YBR_FULL_422 -> YBR_FULL values, YBR_ICT/RCT -> RGB)."""
    want = info.working_pi
    got = {"YBR_FULL_422": "YBR_FULL", "YBR_ICT": "RGB", "YBR_RCT": "RGB"}.get(decoded_pi, decoded_pi)
    if got != want and {got, want} == {"RGB", "YBR_FULL"}:
        arr = convert_color_space(arr, got, want)
    if arr.dtype != info.dtype:
        arr = arr.astype(info.dtype)
    return arr
