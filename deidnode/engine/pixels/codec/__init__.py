"""Pixel data codec: decode to stored values, re-encode only what changed (PS3.5 Section 8 and Annex A).

Public contract (used by the engine and the burned-in-text pipeline):

- :func:`decode_frames` returns every frame as ``(frames, rows, cols[, samples])`` stored values: no rescale, no
  VOI, no palette lookup; dtype from Bits Allocated / Pixel Representation (uint8 for Bits Allocated 1). Colour
  is held in the *working* photometric interpretation, the space the encoder takes back:

  ======================  ==================================================================================
  stored PI               array holds
  ======================  ==================================================================================
  MONOCHROME1/2, PALETTE  the stored values (palette indices for PALETTE COLOR)
  RGB, YBR_FULL           the stored samples
  YBR_FULL_422            full-resolution YBR_FULL samples (chroma upsampled); re-encoding subsamples again
  YBR_ICT, YBR_RCT        RGB: the component transform is part of the JPEG 2000 codestream (PS3.5 8.2.4)
  ======================  ==================================================================================

  So filling a rectangle with one value per sample (e.g. :func:`fill_value`) gives a uniform rectangle after
  :func:`encode_frames` and a new decode (exactly for lossless syntaxes; for native YBR_FULL_422 the pixel pair
  straddling an odd edge takes the fill's chroma).
- :func:`encode_frames` writes frames back: same transfer syntax where we can encode it, else the configured
  lossless fallback (recorded in the audit); lossless inputs are never written lossy; with nothing changed
  the dataset is left untouched; encapsulated unchanged frames keep their original fragments.
- :func:`fill_value`, :func:`clear_overlay_bits`, :func:`can_decode`, :func:`can_encode`.

Modules: :mod:`.lookup` (which backend serves a syntax), :mod:`.decode`, :mod:`.encode`, :mod:`.fill`;
backends in :mod:`.backends`, one module each behind one protocol.

Errors are :class:`PixelCodecError` (stage ``pixels``) with a stable ``code``; messages carry tags, transfer
syntax UIDs and frame numbers only.
"""

from __future__ import annotations

from ._errors import PixelCodecError
from ._info import PixelInfo
from ._syntax import SYNTAXES
from .decode import decode_frames
from .encode import DEFAULT_JPEG_QUALITY, encode_frames, transcode
from .fill import clear_overlay_bits, fill_value
from .lookup import can_decode, can_encode

__all__ = [
    "DEFAULT_JPEG_QUALITY",
    "SYNTAXES",
    "PixelCodecError",
    "PixelInfo",
    "can_decode",
    "can_encode",
    "transcode",
    "clear_overlay_bits",
    "decode_frames",
    "encode_frames",
    "fill_value",
]
