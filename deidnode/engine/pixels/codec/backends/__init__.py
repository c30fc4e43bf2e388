"""Codec backends, one module each (CONVENTIONS habit 6).

Each module has ``NAME``, ``DEPENDENCY`` (what to install when it is missing), ``DECODES`` and ``ENCODES`` (the
transfer syntax UIDs it handles), ``is_available()``, ``decode(frame, info, ts)`` (one frame's codestream to an
array in the working photometric interpretation, see ``codec.decode_frames``) and ``encode(frame, info, ts,
options)`` (an array back to one frame's codestream). Which backend serves which syntax is the measured table
in ``codec._syntax``.
"""

from __future__ import annotations

from types import ModuleType

from . import gdcm, native, pillow, pydicom_rle, pylibjpeg

BACKENDS: dict[str, ModuleType] = {
    m.NAME: m for m in (native, pydicom_rle, pylibjpeg, gdcm, pillow)
}

__all__ = ["BACKENDS"]
