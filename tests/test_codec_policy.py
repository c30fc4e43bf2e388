"""Codec policy: pass-through, fallback syntax, quarantine reasons, fill values, overlay bits, bundled files."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
import pytest
from codec_helpers import generated, roundtrip_file, synthetic_frames
from pydicom import uid as U
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_fragmented_frames
from pydicom.multival import MultiValue

from deidnode.engine.pixels import codec
from deidnode.engine.pixels.codec import PixelCodecError

DATA = Path(__file__).parent / "data"

BUNDLED = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "rtdose.dcm",
    "rtdose_rle.dcm",
    "SC_rgb_rle_2frame.dcm",
    "SC_rgb_rle_16bit_2frame.dcm",
    "SC_rgb_rle_32bit_2frame.dcm",
    "examples_palette.dcm",
    "examples_rgb_color.dcm",
    "ExplVR_BigEnd.dcm",
    "SC_ybr_full_422_uncompressed.dcm",
    "examples_ybr_color.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_dcmtk_+eb+cy+s2.dcm",
    "SC_jpeg_no_color_transform.dcm",
    "examples_jpeg2k.dcm",
    "J2K_pixelrep_mismatch.dcm",
    "693_J2KI.dcm",
    "SC_rgb_jls_lossy_sample.dcm",
    "liver_1frame.dcm",
    "liver_expb_1frame.dcm",
    "JPGExtended.dcm",
]


def _read(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(get_testdata_file(name))


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_file_decodes_and_rewrites_faithfully(name):
    ds = _read(name)
    ts_in = ds.file_meta.TransferSyntaxUID
    frames = codec.decode_frames(ds)
    assert frames.shape[0] == int(ds.get("NumberOfFrames", 1))
    if not SYNTAX_LOSSY(ts_in) and ds.BitsAllocated > 1:
        ref = ds.pixel_array.reshape(frames.shape) if ds.PhotometricInterpretation != "YBR_FULL_422" else None
        if ref is not None and ds.get("PixelRepresentation") == 0:
            assert np.array_equal(frames, ref)
    edited = frames.copy()
    edited[-1, :4, :4] = codec.fill_value(ds, frames)
    module = {
        kw: ds.get(kw)
        for kw in (
            "BitsAllocated",
            "BitsStored",
            "HighBit",
            "PixelRepresentation",
            "SamplesPerPixel",
            "PlanarConfiguration",
        )
    }
    audit = codec.encode_frames(ds, edited, [frames.shape[0] - 1])
    out = roundtrip_file(ds)
    assert {kw: out.get(kw) for kw in module} == module
    expected_ts = ts_in if codec.can_encode(ts_in) else U.ExplicitVRLittleEndian
    assert out.file_meta.TransferSyntaxUID == expected_ts
    assert audit["syntax_changed"] == (expected_ts != ts_in)
    again = codec.decode_frames(out)
    if not SYNTAX_LOSSY(ts_in):
        assert np.array_equal(again, edited)


def SYNTAX_LOSSY(ts: str) -> bool:  # noqa: N802 - reads like a predicate table lookup
    return codec.SYNTAXES[ts].lossy


def test_unchanged_dataset_passes_through_untouched():
    ds = _read("examples_ybr_color.dcm")
    before = copy.deepcopy(ds)
    audit = codec.encode_frames(ds, codec.decode_frames(ds), [])
    assert audit["frames_reencoded"] == 0 and audit["reason"] == "unchanged"
    assert ds.PixelData == before.PixelData and ds == before
    assert ds.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID


def test_only_changed_frames_are_reencoded_and_offsets_rebuilt():
    ds = _read("examples_ybr_color.dcm")  # 30 frames JPEG baseline YBR_FULL_422
    frames = codec.decode_frames(ds)
    old = list(generate_fragmented_frames(ds.PixelData, number_of_frames=30))
    methods_before = _values(ds.get("LossyImageCompressionMethod"))
    ratios_before = _values(ds.get("LossyImageCompressionRatio"))
    frames[7, 10:50, 10:90] = codec.fill_value(ds)
    audit = codec.encode_frames(ds, frames, [7])
    out = roundtrip_file(ds)
    assert audit["frames_reencoded"] == 1 and out.PhotometricInterpretation == "YBR_FULL_422"
    new = list(generate_fragmented_frames(out.PixelData, number_of_frames=30))
    assert [a == b for a, b in zip(old, new, strict=True)] == [i != 7 for i in range(30)]
    bot = np.frombuffer(out.PixelData[8 : 8 + 4 * 30], "<u4")
    assert bot[0] == 0 and np.all(np.diff(bot.astype(np.int64)) > 0)
    assert out.LossyImageCompression == "01"
    assert _values(out.get("LossyImageCompressionMethod")) == methods_before + ["ISO_10918_1"]
    assert len(_values(out.get("LossyImageCompressionRatio"))) == len(ratios_before) + 1


def _values(value: object) -> list[object]:
    return [] if value in (None, "") else list(value) if isinstance(value, MultiValue) else [value]


def test_extended_offset_table_is_kept_extended():
    ds, arr = generated("MONOCHROME2", 12, 3, ts=U.RLELossless)
    from pydicom.encaps import encapsulate_extended

    frames = [b"".join(f) for f in generate_fragmented_frames(ds.PixelData, number_of_frames=3)]
    ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(frames)
    ds = roundtrip_file(ds)
    edited = codec.decode_frames(ds)
    edited[2, :5, :5] = 0
    codec.encode_frames(ds, edited, [2])
    out = roundtrip_file(ds)
    assert "ExtendedOffsetTable" in out and np.array_equal(codec.decode_frames(out), edited)
    assert out.PixelData[4:8] == b"\x00\x00\x00\x00"  # empty Basic Offset Table (PS3.5 A.4)


@pytest.mark.parametrize(
    ("name", "ts", "pi", "bits", "nframes"),
    [
        ("htj2k_lossless_mono12_2frames.dcm", U.HTJ2KLossless, "MONOCHROME2", 12, 2),
        ("htj2k_rpcl_rgb8.dcm", U.HTJ2KLosslessRPCL, "YBR_RCT", 8, 1),
    ],
)
def test_htj2k_is_decoded_and_written_in_the_fallback_syntax(name, ts, pi, bits, nframes):
    ds = pydicom.dcmread(DATA / name)
    assert ds.file_meta.TransferSyntaxUID == ts and not codec.can_encode(ts)
    samples = 3 if pi == "YBR_RCT" else 1
    expected = synthetic_frames(48, 64, nframes, samples, bits, False)
    frames = codec.decode_frames(ds)
    assert np.array_equal(frames, expected)
    frames[0, :8, :8] = codec.fill_value(ds, frames)
    audit = codec.encode_frames(ds, frames, [0], fallback_transfer_syntax=U.JPEG2000Lossless)
    out = roundtrip_file(ds)
    assert audit["syntax_changed"] and audit["reason"] == "input-syntax-not-writable"
    assert audit["frames_reencoded"] == nframes
    assert out.file_meta.TransferSyntaxUID == U.JPEG2000Lossless and out.PhotometricInterpretation == pi
    assert np.array_equal(codec.decode_frames(out), frames)


def test_htj2k_fixture_matches_openjph_when_installed():
    from codec_helpers import htj2k_dataset, tool

    if tool("ojph_compress") is None:
        pytest.skip("ojph_compress not installed")
    ds, arr = htj2k_dataset("MONOCHROME2", 12, 2, U.HTJ2KLossless)
    assert np.array_equal(codec.decode_frames(ds), arr)


def test_big_endian_is_read_and_written_little_endian():
    ds = _read("MR_small_bigendian.dcm")
    ref = codec.decode_frames(_read("MR_small.dcm"))
    frames = codec.decode_frames(ds)
    assert np.array_equal(frames, ref)
    audit = codec.encode_frames(ds, frames, [0])
    out = roundtrip_file(ds)
    assert audit["transfer_syntax_out"] == U.ExplicitVRLittleEndian and audit["syntax_changed"]
    assert np.array_equal(codec.decode_frames(out), ref)


def test_lossless_input_is_never_written_lossy():
    ds = pydicom.dcmread(DATA / "htj2k_lossless_mono12_2frames.dcm")
    frames = codec.decode_frames(ds)
    with pytest.raises(PixelCodecError) as err:
        codec.encode_frames(ds, frames, [0], fallback_transfer_syntax=U.JPEGBaseline8Bit)
    assert err.value.code == "unencodable_transfer_syntax" and err.value.stage == "pixels"


def test_pixel_data_length_mismatch_is_reported_without_values():
    ds = _read("CT_small.dcm")
    ds.PixelData = ds.PixelData[:-100]
    with pytest.raises(PixelCodecError) as err:
        codec.decode_frames(ds)
    assert err.value.code == "pixel_data_mismatch"
    assert str(ds.PatientName) not in str(err.value) and "(7FE0,0010)" in str(err.value)


def test_undecodable_pixel_data_raises_for_quarantine():
    ds = _read("JPEG-lossy.dcm")  # known-corrupt JPEG extended stream
    with pytest.raises(PixelCodecError) as err:
        codec.decode_frames(ds)
    assert err.value.code == "decode_failed" and U.JPEGExtended12Bit in str(err.value)
    ds.file_meta.TransferSyntaxUID = U.MPEG2MPML
    assert not codec.can_decode(U.MPEG2MPML)
    with pytest.raises(PixelCodecError) as err:
        codec.decode_frames(ds)
    assert err.value.code == "undecodable_transfer_syntax"


def test_missing_backend_names_the_dependency(monkeypatch):
    from deidnode.engine.pixels.codec.backends import gdcm, pylibjpeg

    monkeypatch.setattr(pylibjpeg, "is_available", lambda ts, encode=False: False)
    monkeypatch.setattr(gdcm, "is_available", lambda ts, encode=False: False)
    assert not codec.can_decode(U.HTJ2KLossless) and not codec.can_encode(U.JPEGLSLossless)
    with pytest.raises(PixelCodecError) as err:
        codec.decode_frames(pydicom.dcmread(DATA / "htj2k_rpcl_rgb8.dcm"))
    assert err.value.code == "backend_unavailable" and "pylibjpeg-openjpeg" in str(err.value)


def test_can_decode_and_encode_cover_the_reference_table():
    decodable = [
        U.ImplicitVRLittleEndian,
        U.ExplicitVRLittleEndian,
        U.ExplicitVRBigEndian,
        U.DeflatedExplicitVRLittleEndian,
        U.RLELossless,
        U.JPEGBaseline8Bit,
        U.JPEG2000,
        U.JPEG2000Lossless,
        U.JPEGLSLossless,
        U.JPEGLSNearLossless,
        U.HTJ2K,
        U.HTJ2KLossless,
        U.HTJ2KLosslessRPCL,
    ]
    assert all(codec.can_decode(ts) for ts in decodable)
    assert all(codec.can_encode(ts) for ts in decodable[:2] + decodable[3:10])
    assert not any(codec.can_encode(ts) for ts in (U.ExplicitVRBigEndian, U.HTJ2K, U.HTJ2KLossless))


# ------------------------------------------------------------------------------------------------ fill value
def test_fill_value_monochrome2_is_the_darkest_stored_value():
    ds = _read("CT_small.dcm")
    frames = codec.decode_frames(ds)
    assert codec.fill_value(ds) == frames.min()


def test_fill_value_monochrome1_is_the_maximum():
    ds, arr = generated("MONOCHROME1", 12, 1)
    assert codec.fill_value(ds) == arr.max()


def test_fill_value_negative_rescale_slope_flips_the_choice():
    ds, arr = generated("MONOCHROME2", 16, 1, signed=True)
    assert codec.fill_value(ds) == arr.min() and arr.min() < 0
    ds.RescaleSlope, ds.RescaleIntercept = -1, 0
    assert codec.fill_value(ds) == arr.max()


@pytest.mark.parametrize(
    ("pi", "expected"),
    [("RGB", (0, 0, 0)), ("YBR_FULL", (0, 128, 128)), ("YBR_FULL_422", (0, 128, 128)), ("YBR_RCT", (0, 0, 0))],
)
def test_fill_value_colour_is_black_in_the_working_space(pi, expected):
    ds, _ = generated(pi, 8, 1)
    assert codec.fill_value(ds) == expected


def test_fill_value_palette_is_the_darkest_entry():
    ds, _ = generated("PALETTE COLOR", 8, 1)  # palette built with its darkest entry at index 200
    assert codec.fill_value(ds) == 200


def test_native_422_box_with_odd_edges_is_uniform():
    ds, _ = generated("YBR_FULL_422", 8, 1)
    frames = codec.decode_frames(ds)
    frames[0, 5:21, 3:17] = codec.fill_value(ds)
    codec.encode_frames(ds, frames, [0])
    box = codec.decode_frames(roundtrip_file(ds))[0, 5:21, 3:17]
    assert (box == np.array([0, 128, 128], dtype=np.uint8)).all()


# ------------------------------------------------------------------------------------------------ overlays
def test_overlay_in_unused_high_bits_is_cleared():
    ds, arr = generated("MONOCHROME2", 12, 2)
    frames = codec.decode_frames(ds)
    frames[1, 10:20, 10:30] |= 1 << 13  # retired overlay in bit 13, (6000,0102) = 13
    ds.add_new(0x60000102, "US", 13)
    codec.encode_frames(ds, frames, [1])
    ds = roundtrip_file(ds)
    frames = codec.decode_frames(ds)
    assert (frames >> 12).any()
    assert codec.clear_overlay_bits(ds, frames) is True
    assert np.array_equal(frames, arr)
    codec.encode_frames(ds, frames, range(2))
    assert not (codec.decode_frames(roundtrip_file(ds)) >> 12).any()
    assert codec.clear_overlay_bits(ds, codec.decode_frames(ds)) is False


def test_signed_overlay_bits_are_detected_in_the_raw_data():
    ds, arr = generated("MONOCHROME2", 12, 1, signed=True)
    ds.BitsStored, ds.HighBit = 12, 11
    raw = np.frombuffer(ds.PixelData, "<u2").copy()
    raw &= 0x0FFF
    ds.PixelData = raw.tobytes()  # no sign extension: correct values, bits 12-15 zero
    frames = codec.decode_frames(ds)
    assert np.array_equal(frames, arr)
    raw[:50] |= 1 << 14
    ds.PixelData = raw.tobytes()
    assert codec.clear_overlay_bits(ds, codec.decode_frames(ds)) is True


def test_backends_say_which_syntaxes_they_serve_and_the_table_only_orders_them(monkeypatch):
    from deidnode.engine.pixels.codec import lookup
    from deidnode.engine.pixels.codec.backends import BACKENDS, pillow

    for syntax in codec.SYNTAXES.values():
        assert all(syntax.uid in BACKENDS[n].DECODES for n in syntax.decoders), syntax.name
        assert all(syntax.uid in BACKENDS[n].ENCODES for n in syntax.encoders), syntax.name
    assert [b.NAME for b in lookup.decoders(U.JPEGBaseline8Bit)] == ["pillow", "gdcm", "pylibjpeg"]
    assert lookup.encoder(U.JPEGBaseline8Bit).NAME == "pillow"
    monkeypatch.setattr(pillow, "is_available", lambda ts, encode=False: False)
    assert [b.NAME for b in lookup.decoders(U.JPEGBaseline8Bit)] == ["gdcm", "pylibjpeg"]
    assert lookup.encoder(U.JPEGBaseline8Bit).NAME == "gdcm"
