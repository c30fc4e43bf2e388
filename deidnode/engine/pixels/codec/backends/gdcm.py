"""GDCM (python-gdcm): decodes every compressed syntax but HTJ2K; encodes RLE, JPEG baseline, JPEG-LS and JPEG 2000.

pydicom's GDCM plugin covers decoding; encoding goes through ``gdcm.ImageChangeTransferSyntax`` on an in-memory
image (pydicom 3.0 only offers GDCM for RLE), with the JPEG / JPEG-LS / JPEG 2000 codec configured for lossy
output where asked.
"""

from __future__ import annotations

import importlib.util

import numpy as np
from pydicom.uid import (
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from .._info import PixelInfo
from ._common import decode_with_pydicom_plugin

NAME = "gdcm"
DEPENDENCY = "python-gdcm>=3.0.24"
DECODES = frozenset(
    {
        JPEGBaseline8Bit,
        JPEGExtended12Bit,
        JPEGLossless,
        JPEGLosslessSV1,
        JPEGLSLossless,
        JPEGLSNearLossless,
        JPEG2000Lossless,
        JPEG2000,
    }
)
ENCODES = frozenset(
    {RLELossless, JPEGBaseline8Bit, JPEGLSLossless, JPEGLSNearLossless, JPEG2000Lossless, JPEG2000, JPEGLosslessSV1}
)


def is_available(ts: str, *, encode: bool = False) -> bool:
    return ts in (ENCODES if encode else DECODES) and importlib.util.find_spec("gdcm") is not None


def decode(frame: bytes, info: PixelInfo, ts: str) -> np.ndarray:
    return decode_with_pydicom_plugin(frame, info, ts, "gdcm")


def encode(frame: np.ndarray, info: PixelInfo, ts: str, options: dict[str, object] | None = None) -> bytes:
    """Encode one frame. Options: ``jpeg_quality`` (1-100), ``jls_error`` (NEAR), ``j2k_cr`` (ratio)."""
    import gdcm

    options = options or {}
    pi_name = info.photometric_interpretation
    src = np.ascontiguousarray(frame, dtype=info.dtype.newbyteorder("<"))
    if pi_name in ("YBR_ICT", "YBR_RCT"):
        pi_name = "RGB"  # the array is RGB; the JPEG 2000 codec applies the component transform (SetMCT)
    writer = gdcm.ImageWriter()  # keeps the image alive (pydicom's GDCM encoder does the same)
    image = writer.GetImage()
    image.SetNumberOfDimensions(2)
    image.SetDimensions((info.columns, info.rows, 1))
    image.SetPhotometricInterpretation(
        gdcm.PhotometricInterpretation(gdcm.PhotometricInterpretation.GetPIType(pi_name))
    )
    image.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.ExplicitVRLittleEndian))
    image.SetPixelFormat(
        gdcm.PixelFormat(
            info.samples_per_pixel, info.bits_allocated, info.bits_stored, info.high_bit, info.pixel_representation
        )
    )
    if info.samples_per_pixel > 1:
        image.SetPlanarConfiguration(0)
    elem = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    elem.SetByteStringValue(src.tobytes())
    image.SetDataElement(elem)

    changer = gdcm.ImageChangeTransferSyntax()
    changer.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.GetTSType(ts)))
    codec = None
    if ts == JPEGBaseline8Bit:
        codec = gdcm.JPEGCodec()
        codec.SetLossless(False)
        codec.SetQuality(float(options.get("jpeg_quality", 95)))  # type: ignore[arg-type]
    elif ts == JPEGLSNearLossless:
        codec = gdcm.JPEGLSCodec()
        codec.SetLossless(False)
        codec.SetLossyError(int(options.get("jls_error", 2)))  # type: ignore[call-overload]
    elif ts in (JPEG2000, JPEG2000Lossless):
        codec = gdcm.JPEG2000Codec()
        if ts == JPEG2000:
            codec.SetReversible(False)
            ratio = options.get("j2k_cr", [10])
            codec.SetRate(0, float(ratio[0] if isinstance(ratio, list | tuple) else ratio))  # type: ignore[arg-type]
        codec.SetMCT(1 if info.photometric_interpretation in ("YBR_ICT", "YBR_RCT") else 0)
    if codec is not None:
        changer.SetUserCodec(codec)
    changer.SetInput(image)
    if not changer.Change():
        raise RuntimeError("gdcm ImageChangeTransferSyntax.Change() failed")
    seq = changer.GetOutput().GetDataElement().GetSequenceOfFragments()
    if seq is None or seq.GetNumberOfFragments() < 1:
        raise RuntimeError("gdcm returned no fragments")
    parts = []
    for i in range(seq.GetNumberOfFragments()):
        buf = seq.GetFragment(i).GetByteValue().GetBuffer()
        parts.append(buf.encode("utf-8", "surrogateescape"))
    return b"".join(parts)
