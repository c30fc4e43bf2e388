"""Round-trip matrix: transfer syntaxes x photometric interpretations x bit depths x single/multi-frame.

Lossless: bit-exact, before and after a redaction is written back. Lossy: PSNR against the source, same geometry.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from codec_helpers import generated, psnr, roundtrip_file
from pydicom import uid as U
from pydicom.encaps import generate_fragmented_frames

from deidnode.engine.pixels import codec

LOSSLESS = {
    U.ExplicitVRLittleEndian: ["MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "YBR_FULL", "YBR_FULL_422"],
    U.ImplicitVRLittleEndian: ["MONOCHROME2", "RGB"],
    U.DeflatedExplicitVRLittleEndian: ["MONOCHROME2", "YBR_FULL_422"],
    U.RLELossless: ["MONOCHROME2", "PALETTE COLOR", "RGB", "YBR_FULL"],
    U.JPEGLSLossless: ["MONOCHROME1", "MONOCHROME2", "RGB"],
    U.JPEG2000Lossless: ["MONOCHROME2", "RGB", "YBR_RCT"],
    U.JPEGLosslessSV1: ["MONOCHROME2", "RGB"],
}
COLOUR = {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT", "PALETTE COLOR"}


def _bits(pi: str, ts: str) -> list[tuple[int, bool]]:
    if pi in COLOUR:
        return [(8, False)] + ([(16, False)] if ts in (U.ExplicitVRLittleEndian, U.RLELossless) and pi == "RGB" else [])
    return [(8, False), (12, False), (16, True)]


MATRIX = [
    pytest.param(ts, pi, bits, signed, frames, id=f"{ts.name[:18]}-{pi}-{bits}{'s' if signed else 'u'}-{frames}f")
    for ts, pis in LOSSLESS.items()
    for pi in pis
    for bits, signed in _bits(pi, ts)
    for frames in (1, 3)
]


def _fragments(ds):
    n = int(ds.get("NumberOfFrames", 1))
    return list(generate_fragmented_frames(ds.PixelData, number_of_frames=n))


@pytest.mark.parametrize(("ts", "pi", "bits", "signed", "frames"), MATRIX)
def test_lossless_roundtrip_is_bit_exact(ts, pi, bits, signed, frames):
    ds, arr = generated(pi, bits, frames, signed=signed, ts=ts)
    assert ds.file_meta.TransferSyntaxUID == ts
    decoded = codec.decode_frames(ds)
    assert decoded.dtype == arr.dtype
    assert np.array_equal(decoded, arr)

    # redact frame 1 (or 0) and write back: exact, same syntax and pixel module, other frames untouched
    target = min(1, frames - 1)
    edited = decoded.copy()
    # 4:2:2 shares chroma per pixel pair: an even-aligned box is exact (odd edges: test_codec_policy)
    edited[target, 3:17, 4:20] = codec.fill_value(ds, decoded)
    before = copy.deepcopy(ds)
    audit = codec.encode_frames(ds, edited, [target])
    out = roundtrip_file(ds)
    assert audit["transfer_syntax_out"] == ts and not audit["syntax_changed"]
    assert audit["frames_reencoded"] == 1
    for kw in (
        "PhotometricInterpretation",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "SamplesPerPixel",
        "Rows",
        "Columns",
    ):
        assert out.get(kw) == before.get(kw), kw
    assert np.array_equal(codec.decode_frames(out), edited)
    if ts in (U.RLELossless, U.JPEGLSLossless, U.JPEG2000Lossless, U.JPEGLosslessSV1) and frames > 1:
        old, new = _fragments(before), _fragments(out)
        assert [new[i] == old[i] for i in range(frames)] == [i != target for i in range(frames)]


LOSSY = [
    (U.JPEGBaseline8Bit, "MONOCHROME2", 8, 40.0),
    (U.JPEGBaseline8Bit, "RGB", 8, 40.0),
    (U.JPEGBaseline8Bit, "YBR_FULL", 8, 40.0),
    (U.JPEGBaseline8Bit, "YBR_FULL_422", 8, 40.0),  # luma; chroma is subsampled by definition
    (U.JPEGLSNearLossless, "MONOCHROME2", 8, 40.0),
    (U.JPEGLSNearLossless, "MONOCHROME2", 16, 60.0),
    (U.JPEGLSNearLossless, "RGB", 8, 40.0),
    (U.JPEG2000, "MONOCHROME2", 8, 45.0),
    (U.JPEG2000, "MONOCHROME2", 12, 60.0),
    (U.JPEG2000, "RGB", 8, 45.0),
    (U.JPEG2000, "YBR_ICT", 8, 45.0),
]


@pytest.mark.parametrize(
    ("ts", "pi", "bits", "min_psnr"), LOSSY, ids=[f"{t.name[:14]}-{p}-{b}" for t, p, b, _ in LOSSY]
)
@pytest.mark.parametrize("frames", [1, 2])
def test_lossy_roundtrip_psnr_and_geometry(ts, pi, bits, min_psnr, frames, record_property):
    ds, arr = generated(pi, bits, frames, ts=ts)
    decoded = codec.decode_frames(ds)
    assert decoded.shape == arr.shape and decoded.dtype == arr.dtype
    channel = (..., 0) if pi == "YBR_FULL_422" else (...,)
    value = psnr(decoded[channel], arr[channel], bits)
    record_property("psnr_db", round(value, 2))
    assert value >= min_psnr
    assert ds.LossyImageCompression == "01"

    # a redaction re-encodes the changed frame only, in the same lossy syntax, and records the step
    edited = decoded.copy()
    edited[-1, 8:40, 8:40] = codec.fill_value(ds, decoded)
    methods_before = list(np.atleast_1d(ds.get("LossyImageCompressionMethod", [])))
    before = copy.deepcopy(ds)
    audit = codec.encode_frames(ds, edited, [frames - 1])
    out = roundtrip_file(ds)
    assert audit["transfer_syntax_out"] == ts and audit["lossy_out"] and audit["frames_reencoded"] == 1
    again = codec.decode_frames(out)
    assert again.shape == arr.shape
    assert psnr(again[channel], edited[channel], bits) >= min_psnr - 3
    box = again[-1, 16:32, 16:32].astype(np.int64)
    assert np.abs(box - np.asarray(codec.fill_value(ds, decoded))).max() <= max(2, (1 << bits) // 256)
    assert len(np.atleast_1d(out.LossyImageCompressionMethod)) == len(methods_before) + 1
    if frames > 1:
        assert _fragments(out)[0] == _fragments(before)[0]
        assert np.array_equal(again[0], decoded[0])  # the unchanged frame kept its bytes: no generation loss
