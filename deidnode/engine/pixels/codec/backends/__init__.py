"""Codec backends, one module each, all satisfying :class:`Backend`.

``is_available(uid, encode=...)`` is the single answer to which backend serves which transfer syntax (installed
and able); the syntax table in ``codec._syntax`` only orders them (the measured preference, ``bench/codec.py``).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .._info import PixelInfo
from . import gdcm, native, pillow, pydicom_rle, pylibjpeg


class Backend(Protocol):
    """One codec library behind the pixel stage."""

    NAME: str
    DEPENDENCY: str
    """What to install when it is missing."""
    DECODES: frozenset[str]
    ENCODES: frozenset[str]

    def is_available(self, ts: str, *, encode: bool = False) -> bool:
        """Whether this backend is installed and can decode (or ``encode``) transfer syntax ``ts``."""
        ...

    def decode(self, frame: bytes, info: PixelInfo, ts: str) -> np.ndarray:
        """One frame's codestream to an array in the working photometric interpretation."""
        ...

    def encode(self, frame: np.ndarray, info: PixelInfo, ts: str, options: dict[str, object] | None = None) -> bytes:
        """An array back to one frame's codestream."""
        ...


BACKENDS: dict[str, Backend] = {m.NAME: m for m in (native, pydicom_rle, pylibjpeg, gdcm, pillow)}

__all__ = ["BACKENDS", "Backend"]
