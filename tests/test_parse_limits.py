"""Issue 12, items 6, 10 and 11: what the engine reads from a file is bounded and checked before it is trusted.

Deflate bombs are refused past ``node.max_inflated_bytes`` without being inflated further; group 0002
elements inside the data set are dropped (only the file meta names the transfer syntax); an element, item or
fragment whose length runs past the end of its container quarantines the instance (``parse/unparseable``,
detail ``truncated: ...``).
"""

from __future__ import annotations

import io
import struct
import sys
import tracemalloc
import zlib
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian

from deidnode.config import settings_from_dict
from deidnode.dicomio.parse import parse_bytes
from deidnode.engine import Keys, Policy, deidentify_bytes, encode_dataset

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import make_study, to_bytes  # noqa: E402

KEYS = Keys(b"k" * 32)
POLICY = Policy()


def _ct() -> bytes:
    return to_bytes(make_study(1, 1)[0])


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """(preamble and file meta, data set) of a Part 10 file."""
    end = 144 + struct.unpack_from("<I", raw, 140)[0]
    return raw[:end], raw[end:]


def _with_syntax(meta: bytes, ts: str) -> bytes:
    """``meta`` (preamble + group 0002) with its transfer syntax replaced; the group length is fixed up."""
    ds = dcmread(io.BytesIO(meta + b"\x08\x00\x16\x00UI\x02\x001\x00"))
    ds.file_meta.TransferSyntaxUID = ts
    buf = io.BytesIO()
    from pydicom.filewriter import write_file_meta_info

    write_file_meta_info(buf, ds.file_meta, enforce_standard=True)
    return b"\x00" * 128 + b"DICM" + buf.getvalue()


def _quarantine_code(raw: bytes, policy: Policy = POLICY) -> str | None:
    """None when de-identified; else ``code`` or ``code/first word of the detail``."""
    result = deidentify_bytes(raw, policy, KEYS)
    if result.ok:
        return None
    q = result.quarantine
    return f"{q.code}/{q.detail.split(':')[0]}" if ":" in q.detail else q.code


# -- 6. deflate bombs -------------------------------------------------------------------------------------------------
def _deflate_bomb(inflated_mib: int) -> bytes:
    """A deflated CT whose data set ends in a private OB element of ``inflated_mib`` MiB of zeros (~1 KB per
    MiB on the wire), built without holding the inflated bytes."""
    meta, body = _split(_ct())
    size = inflated_mib << 20
    head = body + struct.pack("<HH2sHI", 0x0009, 0x1010, b"OB", 0, size)
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    out = [z.compress(head)]
    zeros = bytes(1 << 20)
    for _ in range(inflated_mib):
        out.append(z.compress(zeros))
    out.append(z.flush())
    return _with_syntax(meta, DeflatedExplicitVRLittleEndian) + b"".join(out)


def test_a_deflate_bomb_is_quarantined_at_the_configured_bound_without_inflating_it():
    """261 KB on the wire inflated to 256 MiB in the worker (peak 571 MiB)."""
    bomb = _deflate_bomb(64)
    assert len(bomb) < 200_000
    policy = Policy.from_settings(settings_from_dict({"node": {"max_inflated_bytes": 16 << 20}}))
    tracemalloc.start()
    try:
        result = deidentify_bytes(bomb, policy, KEYS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not result.ok and (result.quarantine.stage, result.quarantine.code) == ("parse", "inflate_limit")
    assert peak < 40 << 20, f"{peak >> 20} MiB held while refusing the bomb"


def test_the_inflate_bound_defaults_to_128_mib_and_deflated_instances_below_it_pass():
    assert Policy.from_settings(settings_from_dict({})).max_inflated_bytes == 128 << 20
    small = _deflate_bomb(1)
    result = deidentify_bytes(small, POLICY, KEYS)
    assert result.ok, result.quarantine
    assert str(result.dataset.file_meta.TransferSyntaxUID) == DeflatedExplicitVRLittleEndian
    assert (0x0009, 0x1010) not in result.dataset  # the private element was removed as usual


def test_the_inflate_bound_is_validated_in_the_config():
    from deidnode.errors import ConfigError

    with pytest.raises(ConfigError, match="node.max_inflated_bytes"):
        settings_from_dict({"node": {"max_inflated_bytes": 10}})


# -- 10. group 0002 inside the data set ----------------------------------------------------------------------------
def _element(group: int, elem: int, vr: bytes, value: bytes, implicit: bool = False) -> bytes:
    if implicit:
        return struct.pack("<HHI", group, elem, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value


@pytest.mark.parametrize("implicit", [False, True])
def test_file_meta_elements_inside_the_data_set_do_not_change_the_transfer_syntax(implicit):
    """(0002,0010) at the start of the data set used to override the file meta's transfer syntax."""
    ds = make_study(1, 1)[0]
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    meta, body = _split(to_bytes(ds))
    stray = _element(0x0002, 0x0010, b"UI", ExplicitVRBigEndian.encode() + b"\x00", implicit)
    stray += _element(0x0002, 0x0016, b"AE", b"EVIL", implicit)
    raw = meta + stray + body
    parsed = parse_bytes(raw)
    assert str(parsed.file_meta.TransferSyntaxUID) == str(ds.file_meta.TransferSyntaxUID)
    assert not [t for t in parsed.keys() if t.group == 0x0002]
    assert "SourceApplicationEntityTitle" not in parsed.file_meta
    result = deidentify_bytes(raw, POLICY, KEYS)
    assert result.ok, result.quarantine
    out = dcmread(io.BytesIO(encode_dataset(result.dataset)))
    assert str(out.file_meta.TransferSyntaxUID) == str(ds.file_meta.TransferSyntaxUID)
    assert out.PixelData == ds.PixelData


def test_file_meta_elements_later_in_the_data_set_are_dropped():
    meta, body = _split(_ct())
    raw = meta + body + _element(0x0002, 0x0013, b"SH", b"EVIL")  # out of order, after the pixel data
    result = deidentify_bytes(raw, POLICY, KEYS)
    assert result.ok, result.quarantine
    assert not [t for t in result.dataset.keys() if t.group == 0x0002]
    assert b"EVIL" not in encode_dataset(result.dataset)


# -- 11. truncated elements and items ----------------------------------------------------------------------------------
def _seq(items: list[bytes], length: int | None = None) -> bytes:
    """(0008,1140) Referenced Image Sequence, explicit VR LE, of the given encoded items."""
    body = b"".join(items)
    n = len(body) if length is None else length
    return struct.pack("<HH2sHI", 0x0008, 0x1140, b"SQ", 0, n) + body


def _item(content: bytes, length: int | None = None) -> bytes:
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(content) if length is None else length) + content


_REF = _element(0x0008, 0x1150, b"UI", b"1.2.840.10008.5.1.4.1.1.2\x00")


def _insert_after_group_0008(body: bytes, extra: bytes) -> bytes:
    """Put ``extra`` (elements of group 0008 above 0x1000) before the first element of group 0010."""
    i = body.index(b"\x10\x00\x10\x00PN")
    return body[:i] + extra + body[i:]


TRUNCATIONS = {
    "pixel_data_cut": lambda meta, body: meta + body[:-100],
    "half_an_element_header": lambda meta, body: meta + body + b"\x10\x00\x20",
    "value_past_the_end": lambda meta, body: meta + body + _element(0x0029, 0x0010, b"LO", b"X" * 8)[:-4],
    "item_past_its_sequence": lambda meta, body: meta + _insert_after_group_0008(body, _seq([_item(_REF, 200)])),
    "sequence_past_the_end": lambda meta, body: meta + body + _seq([_item(_REF)], 5000),
    "undefined_sequence_never_closed": lambda meta, body: (
        meta + body + struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF) + _item(_REF)
    ),
}


@pytest.mark.parametrize("case", sorted(TRUNCATIONS))
def test_a_truncated_element_or_item_is_quarantined(case):
    """A length past the end of its container was read short and the instance forwarded."""
    meta, body = _split(_ct())
    raw = TRUNCATIONS[case](meta, body)
    result = deidentify_bytes(raw, POLICY, KEYS)
    assert not result.ok, "a truncated instance was de-identified"
    assert (result.quarantine.stage, result.quarantine.code) == ("parse", "unparseable")
    assert result.quarantine.detail.startswith("truncated: ")


def test_a_truncated_encapsulated_fragment_is_quarantined():
    raw = Path(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm")).read_bytes()
    assert _quarantine_code(raw) is None
    assert _quarantine_code(raw[:-500]) == "unparseable/truncated"


def test_sequences_nested_past_the_limit_are_refused():
    meta, body = _split(_ct())
    nested = _REF
    for _ in range(100):
        nested = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, len(nested) + 8) + _item(nested)
    assert _quarantine_code(meta + body + nested) == "unparseable"
    assert "nested deeper than 64" in deidentify_bytes(meta + body + nested, POLICY, KEYS).quarantine.detail


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small_RLE.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "JPEG-LL.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "image_dfl.dcm",
        "rtplan.dcm",
        "rtstruct.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "waveform_ecg.dcm",
        "JPEG2000.dcm",
        "liver.dcm",
        "nested_priv_SQ.dcm",
        "color3d_jpeg_baseline.dcm",
    ],
)
def test_well_formed_files_pass_the_framing_check(name):
    """Undefined lengths, encapsulated fragments, big endian, implicit VR, private sequences: all walk cleanly."""
    from deidnode.dicomio.framing import check_framing, encoding, locate

    raw = Path(get_testdata_file(name)).read_bytes()
    layout = locate(raw)
    if layout is None:  # no preamble: a bare data set
        ds = dcmread(io.BytesIO(raw), force=True)
        check_framing(raw, 0, bool(ds.original_encoding[0]), True)
    elif layout.transfer_syntax == DeflatedExplicitVRLittleEndian:
        parse_bytes(raw)
    else:
        check_framing(raw, layout.dataset_start, *encoding(layout.transfer_syntax))


def test_the_framing_check_names_no_value():
    from deidnode.dicomio.framing import Truncated, check_framing

    meta, body = _split(_ct())
    with pytest.raises(Truncated) as e:
        check_framing(meta + body[:-100], len(meta), False, True)
    assert "MCTESTFACE" not in str(e.value) and "PID" not in str(e.value)
