"""Transfer syntaxes we read and write, and the backend chosen for each (PS3.5 Section 10 and Annex A).

The backend order is the measured preference (fastest first that is also exact); see ``bench/codec.py`` and
``docs/codec.md``. Numbers: MB/s of raw pixel data on the 2-core dev box, 512x512x16-bit mono / 1024x1024 RGB,
``bench/codec.py`` run 2026-11-26 (decode | encode).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom import uid as U

MONO = frozenset({"MONOCHROME1", "MONOCHROME2"})
MONO_PAL = MONO | {"PALETTE COLOR"}
COLOUR = frozenset({"RGB", "YBR_FULL", "YBR_FULL_422"})


@dataclass(frozen=True)
class Syntax:
    uid: str
    name: str
    encapsulated: bool
    lossy: bool
    decoders: tuple[str, ...]
    """Backend names, preferred first; the next one is tried when the first is not installed."""
    encoders: tuple[str, ...] = ()
    encode_pis: frozenset[str] = frozenset()
    """Photometric interpretations we write in this syntax (PS3.5 8.2 for the compressed ones)."""
    max_bits: int = 64
    lossy_method: str = ""
    """(0028,2114) Lossy Image Compression Method (PS3.3 C.7.6.1.1.5.1) for lossy syntaxes."""


_NATIVE_PIS = MONO_PAL | COLOUR

SYNTAXES: dict[str, Syntax] = {
    s.uid: s
    for s in (
        Syntax(U.ImplicitVRLittleEndian, "Implicit VR Little Endian", False, False, ("native",), ("native",),
               _NATIVE_PIS),
        Syntax(U.ExplicitVRLittleEndian, "Explicit VR Little Endian", False, False, ("native",), ("native",),
               _NATIVE_PIS),
        Syntax(U.DeflatedExplicitVRLittleEndian, "Deflated Explicit VR Little Endian", False, False, ("native",),
               ("native",), _NATIVE_PIS),
        # Retired (PS3.5 A.3): read, never written; output goes to the fallback syntax.
        Syntax(U.ExplicitVRBigEndian, "Explicit VR Big Endian", False, False, ("native",)),
        # RLE: pydicom's numpy codec, GDCM as alternative.
        Syntax(U.RLELossless, "RLE Lossless", True, False, ("pydicom",), ("pydicom", "gdcm"),
               MONO_PAL | {"RGB", "YBR_FULL"}, 32),
        # JPEG baseline: libjpeg-turbo through Pillow encodes; pylibjpeg (libjpeg) decodes.
        Syntax(U.JPEGBaseline8Bit, "JPEG Baseline (Process 1)", True, True, ("pylibjpeg", "pillow", "gdcm"),
               ("pillow", "gdcm"), MONO | COLOUR, 8, "ISO_10918_1"),
        Syntax(U.JPEGExtended12Bit, "JPEG Extended (Process 2 & 4)", True, True, ("pylibjpeg", "gdcm")),
        Syntax(U.JPEGLossless, "JPEG Lossless (Process 14)", True, False, ("pylibjpeg", "gdcm")),
        Syntax(U.JPEGLosslessSV1, "JPEG Lossless SV1 (Process 14 SV1)", True, False, ("pylibjpeg", "gdcm"),
               ("gdcm",), MONO_PAL | {"RGB"}, 16),
        # JPEG-LS: only CharLS inside GDCM encodes (pyjpegls is not a dependency).
        Syntax(U.JPEGLSLossless, "JPEG-LS Lossless", True, False, ("pylibjpeg", "gdcm"), ("gdcm",),
               MONO_PAL | {"RGB"}, 16),
        Syntax(U.JPEGLSNearLossless, "JPEG-LS Near-Lossless", True, True, ("pylibjpeg", "gdcm"), ("gdcm",),
               MONO | {"RGB"}, 16, "ISO_14495_1"),
        # JPEG 2000: OpenJPEG through pylibjpeg.
        Syntax(U.JPEG2000Lossless, "JPEG 2000 Lossless", True, False, ("pylibjpeg", "gdcm", "pillow"),
               ("pylibjpeg", "gdcm"), MONO_PAL | {"RGB", "YBR_RCT"}, 16),
        Syntax(U.JPEG2000, "JPEG 2000", True, True, ("pylibjpeg", "gdcm", "pillow"), ("pylibjpeg", "gdcm"),
               MONO | {"RGB", "YBR_ICT", "YBR_RCT"}, 16, "ISO_15444_1"),
        # HTJ2K: decode only (OpenJPEG >= 2.5); written in the configured fallback syntax.
        Syntax(U.HTJ2KLossless, "HTJ2K Lossless", True, False, ("pylibjpeg",)),
        Syntax(U.HTJ2KLosslessRPCL, "HTJ2K Lossless RPCL", True, False, ("pylibjpeg",)),
        Syntax(U.HTJ2K, "HTJ2K", True, True, ("pylibjpeg",)),
    )
}
