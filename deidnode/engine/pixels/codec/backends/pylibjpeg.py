"""pylibjpeg: libjpeg (JPEG 10918 and JPEG-LS decode) and OpenJPEG (JPEG 2000 / HTJ2K decode, JPEG 2000 encode)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from typing import Any, cast

import numpy as np
from pydicom.pixels import get_encoder
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
)

from .._info import PixelInfo
from ._common import decode_with_pydicom_plugin

NAME = "pylibjpeg"
DEPENDENCY = "pylibjpeg>=2.0, pylibjpeg-libjpeg>=2.2, pylibjpeg-openjpeg>=2.3"
_LIBJPEG = frozenset(
    {JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless}
)
_OPENJPEG = frozenset({JPEG2000Lossless, JPEG2000, HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K})
DECODES = _LIBJPEG | _OPENJPEG
ENCODES = frozenset({JPEG2000Lossless, JPEG2000})


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def is_available(ts: str, *, encode: bool = False) -> bool:
    if ts not in (ENCODES if encode else DECODES) or not _have("pylibjpeg"):
        return False
    return _have("libjpeg") if ts in _LIBJPEG else _have("openjpeg")  # the sub-plugin per syntax


def decode(frame: bytes, info: PixelInfo, ts: str) -> np.ndarray:
    return decode_with_pydicom_plugin(frame, info, ts, "pylibjpeg")


def encode(frame: np.ndarray, info: PixelInfo, ts: str, options: dict[str, object] | None = None) -> bytes:
    """JPEG 2000 with OpenJPEG. YBR_ICT / YBR_RCT images are given as RGB and encoded with the multiple component
    transform (PS3.5 8.2.4); lossy encoding takes ``options['j2k_psnr']`` (dB) or ``options['j2k_cr']``."""
    options = options or {}
    kwargs: dict[str, Any] = dict(info.pydicom_kwargs())  # pydicom's encoder options, a loose mapping
    kwargs["planar_configuration"] = 0
    if info.photometric_interpretation in ("YBR_ICT", "YBR_RCT"):
        kwargs["use_mct"] = True  # the array is RGB; OpenJPEG applies the RCT/ICT
    elif info.samples_per_pixel == 3:
        kwargs["use_mct"] = False
    if ts == JPEG2000:
        if "j2k_cr" in options:
            kwargs["j2k_cr"] = list(cast(Iterable[float], options["j2k_cr"]))
        else:
            kwargs["j2k_psnr"] = list(cast(Iterable[float], options.get("j2k_psnr", [80])))
    arr = np.ascontiguousarray(frame)
    return get_encoder(ts).encode(arr, encoding_plugin="pylibjpeg", **kwargs)
