"""Transfer syntaxes we read and write, and which backend we prefer for each (PS3.5 Section 10 and Annex A).

The backend order is the measured preference (fastest first among those that are exact); see ``bench/codec.py``
and ``docs/codec.md``. Numbers in the comments: MB/s of uncompressed pixel data, 512x512 16-bit mono / 1024x1024
8-bit RGB, best of 3, shared 2-core dev box, ``bench/codec.py`` on 2026-11-26.
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
    """Backend names in order of preference. Which backends serve the syntax is theirs to say
    (``is_available(uid)``); an installed backend missing here is tried last."""
    encoders: tuple[str, ...] = ()
    """The same for encoding; a syntax no installed backend encodes is written in the fallback syntax."""
    encode_pis: frozenset[str] = frozenset()
    """Photometric interpretations we write in this syntax (PS3.5 8.2 for the compressed ones)."""
    max_bits: int = 64
    lossy_method: str = ""
    """(0028,2114) Lossy Image Compression Method (PS3.3 C.7.6.1.1.5.1) for lossy syntaxes."""


_NATIVE_PIS = MONO_PAL | COLOUR

SYNTAXES: dict[str, Syntax] = {
    s.uid: s
    for s in (
        Syntax(
            U.ImplicitVRLittleEndian, "Implicit VR Little Endian", False, False, ("native",), ("native",), _NATIVE_PIS
        ),
        Syntax(
            U.ExplicitVRLittleEndian, "Explicit VR Little Endian", False, False, ("native",), ("native",), _NATIVE_PIS
        ),
        Syntax(
            U.DeflatedExplicitVRLittleEndian,
            "Deflated Explicit VR Little Endian",
            False,
            False,
            ("native",),
            ("native",),
            _NATIVE_PIS,
        ),
        # Retired (PS3.5 A.3): read, never written; output goes to the fallback syntax.
        Syntax(U.ExplicitVRBigEndian, "Explicit VR Big Endian", False, False, ("native",)),
        # RLE: encode gdcm 341 / 175 MB/s vs pydicom 13 / 7; decode pydicom 186 / 54 (only RLE decoder wired).
        Syntax(
            U.RLELossless,
            "RLE Lossless",
            True,
            False,
            ("pydicom",),
            ("gdcm", "pydicom"),
            MONO_PAL | {"RGB", "YBR_FULL"},
            32,
        ),
        # JPEG baseline (RGB): encode pillow 532 vs gdcm 140; decode pillow 310, gdcm 101, pylibjpeg 79. Pillow and
        # GDCM also upsample 4:2:2 chroma exactly as dcmtk does (pylibjpeg differs by up to 13 levels).
        Syntax(
            U.JPEGBaseline8Bit,
            "JPEG Baseline (Process 1)",
            True,
            True,
            ("pillow", "gdcm", "pylibjpeg"),
            ("pillow", "gdcm"),
            MONO | COLOUR,
            8,
            "ISO_10918_1",
        ),
        # JPEG extended / lossless: decode gdcm 150 / 79 vs pylibjpeg 67 / 39 (SV1); only gdcm encodes (56 / 30).
        Syntax(U.JPEGExtended12Bit, "JPEG Extended (Process 2 & 4)", True, True, ("gdcm", "pylibjpeg")),
        Syntax(U.JPEGLossless, "JPEG Lossless (Process 14)", True, False, ("gdcm", "pylibjpeg")),
        Syntax(
            U.JPEGLosslessSV1,
            "JPEG Lossless SV1 (Process 14 SV1)",
            True,
            False,
            ("gdcm", "pylibjpeg"),
            ("gdcm",),
            MONO_PAL | {"RGB"},
            16,
        ),
        # JPEG-LS: decode gdcm 99 / 76 vs pylibjpeg 30 / 13; only CharLS in GDCM encodes (78 / 55; near: 64 / 49)
        # (pydicom's other JPEG-LS encoder, pyjpegls, is not a dependency).
        Syntax(
            U.JPEGLSLossless, "JPEG-LS Lossless", True, False, ("gdcm", "pylibjpeg"), ("gdcm",), MONO_PAL | {"RGB"}, 16
        ),
        Syntax(
            U.JPEGLSNearLossless,
            "JPEG-LS Near-Lossless",
            True,
            True,
            ("gdcm", "pylibjpeg"),
            ("gdcm",),
            MONO | {"RGB"},
            16,
            "ISO_14495_1",
        ),
        # JPEG 2000 lossless: decode gdcm 27 / 21, pylibjpeg 20 / 14, pillow 19 / 13; encode pylibjpeg 17.5 / 12.9,
        # gdcm 16.1 / 12.2. Lossy (ratio 10): decode gdcm 55-59 / 45-68, pylibjpeg 52-70 / 62-63 over two runs
        # (within noise on the shared box; gdcm kept for one decoder across both), encode pylibjpeg 14-17 / 14.
        Syntax(
            U.JPEG2000Lossless,
            "JPEG 2000 Lossless",
            True,
            False,
            ("gdcm", "pylibjpeg", "pillow"),
            ("pylibjpeg", "gdcm"),
            MONO_PAL | {"RGB", "YBR_RCT"},
            16,
        ),
        Syntax(
            U.JPEG2000,
            "JPEG 2000",
            True,
            True,
            ("gdcm", "pylibjpeg", "pillow"),
            ("pylibjpeg", "gdcm"),
            MONO | {"RGB", "YBR_ICT", "YBR_RCT"},
            16,
            "ISO_15444_1",
        ),
        # HTJ2K: decode only (OpenJPEG >= 2.5 via pylibjpeg: 214 / 91 MB/s, OpenJPH-made streams); written in the
        # configured fallback syntax.
        Syntax(U.HTJ2KLossless, "HTJ2K Lossless", True, False, ("pylibjpeg",)),
        Syntax(U.HTJ2KLosslessRPCL, "HTJ2K Lossless RPCL", True, False, ("pylibjpeg",)),
        Syntax(U.HTJ2K, "HTJ2K", True, True, ("pylibjpeg",)),
    )
}
