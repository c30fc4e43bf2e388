"""A value kept by any rule is valid for its VR; text planted in a kept attribute never reaches the output.

The planted values are written into the file as raw bytes (as a hostile or broken sender would), so the engine
sees them as it sees a real file. An invalid value gets the table's removal code for its row (removed, emptied
or a dummy), or removal for attributes the table does not list, and is counted as ``invalid_vr`` in the audit.
"""

from __future__ import annotations

import io
import struct

import phi_dataset as P
import pydicom
import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from deidnode.config import Profile, TagOverride
from deidnode.engine import Keys, Policy, deidentify_bytes, encode_dataset

KEY = Keys(b"r" * 32)
TEXT = b"ZZLEAKAGE "  # 10 bytes: an even length, so it even fits a binary number's length rules for US/SS


_BINARY = {"US", "SS", "UL", "SL", "FL", "FD"}
_PATCH: list[tuple[int, str]] = []  # binary elements written as OB, then given their VR in the file's bytes


def plant(ds: Dataset, keyword: str, vr: str, value: bytes) -> None:
    """Put ``value`` into ``ds`` as raw bytes, as read from a file (no validation, no conversion). pydicom will
    not write a binary number of the wrong length, so those go in as OB and get their VR in the bytes."""
    tag = Tag(tag_for_keyword(keyword))
    if len(value) % 2:
        value += b" "
    if vr in _BINARY:
        _PATCH.append((tag, vr))
        vr = "OB"
    ds._dict[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)


def _undefined_lengths(ds: Dataset) -> None:
    """Write every sequence and item with undefined length (pydicom writes defined lengths, which the header
    patching below would leave 4 bytes too long per patched element: a malformed file the parser refuses)."""
    for elem in ds._dict.values():  # not ``for elem in ds``: that would convert the planted raw values
        if isinstance(elem, DataElement) and elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
                _undefined_lengths(item)


def to_file(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    _undefined_lengths(ds)
    ds.save_as(buf, enforce_file_format=True)  # sequences and items of undefined length: nothing to re-count
    data = buf.getvalue()
    for tag, vr in _PATCH:
        head = struct.pack("<HH", tag.group, tag.element)
        i = data.index(head + b"OB\0\0")
        (n,) = struct.unpack("<I", data[i + 8 : i + 12])
        data = data[:i] + head + vr.encode() + struct.pack("<H", n) + data[i + 12 :]
    _PATCH.clear()
    return data


def deid(ds: Dataset, profile: Profile) -> tuple[bytes, pydicom.Dataset, dict]:
    result = deidentify_bytes(to_file(ds), Policy(profile=profile), KEY)
    assert result.ok, result.quarantine
    out = encode_dataset(result.dataset)
    return out, pydicom.dcmread(io.BytesIO(out)), result.audit["actions"]


# (keyword, VR, planted bytes, profile, what the output holds instead: "removed", "empty" or a dummy value)
MODIFIED = Profile()  # the default profile: modified dates, patient characteristics, clean descriptors...
FULL = Profile(options=("retain_long_full_dates", "retain_patient_characteristics", "retain_safe_private"))
CASES = [
    ("PatientAge", "AS", TEXT, MODIFIED, "removed"),  # kept by Retain Patient Characteristics; basic X
    ("PatientAge", "AS", b"62 years", FULL, "removed"),
    ("PatientSex", "CS", TEXT, MODIFIED, "empty"),  # a valid CS repertoire, but not M/F/O; basic Z
    ("ImageType", "CS", b"ORIGINAL\\Smith, John", MODIFIED, "removed"),  # lower case and comma: not CS
    ("StudyTime", "TM", TEXT, MODIFIED, "empty"),  # kept (C) with modified dates; basic Z
    ("ContentTime", "TM", b"101512ZZLEAKAGE", FULL, "000000"),  # kept (K) with full dates; basic Z/D -> D
    ("StudyDate", "DA", TEXT, FULL, "empty"),
    ("StudyDate", "DA", TEXT, MODIFIED, "empty"),  # would be shifted: a shift of text is no date
    ("AcquisitionDateTime", "DT", b"20230914101510ZZLEAKAGE", MODIFIED, "19000101000000"),  # date part shifted,
    ("AcquisitionDateTime", "DT", b"20230914101510ZZLEAKAGE", FULL, "19000101000000"),  # the rest was kept
    ("PatientSize", "DS", TEXT, MODIFIED, "removed"),
    ("PatientWeight", "DS", b"72kg Smith", MODIFIED, "removed"),
    ("SliceThickness", "DS", TEXT, MODIFIED, "removed"),  # not in Table E.1-1: kept by the keep-list
    ("InstanceNumber", "IS", TEXT, MODIFIED, "removed"),
    ("MappingResourceUID", "UI", TEXT, MODIFIED, "removed"),  # kept verbatim by the keep-list
    ("PlanarConfiguration", "US", TEXT, MODIFIED, "removed"),  # VM 1: ten bytes are five values
    ("AcquisitionMatrix", "US", TEXT, MODIFIED, "removed"),  # VM 4
    ("TagAngleSecondAxis", "SS", TEXT, MODIFIED, "removed"),
    ("TriggerSamplePosition", "UL", b"ZZLEAKAGEZ", MODIFIED, "removed"),  # not a multiple of 4
    ("ReferencePixelX0", "SL", b"ZZLEAKAGEZZL", MODIFIED, "removed"),  # 3 values for VM 1
    ("ContrastBolusT1Relaxivity", "FL", b"ZZLEAKAGEZZL", MODIFIED, "removed"),
    ("ExposureInmAs", "FD", TEXT, MODIFIED, "removed"),
]


@pytest.mark.parametrize(
    ("keyword", "vr", "value", "profile", "expected"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{'full' if c[3] is FULL else 'default'}" for c in CASES],
)
def test_text_planted_in_a_kept_attribute_of_each_vr_gets_the_row_removal_code(keyword, vr, value, profile, expected):
    ds = P.planted_ct()
    plant(ds, keyword, vr, value)
    raw, out, actions = deid(ds, profile)
    assert b"LEAKAGE" not in raw and b"Smith" not in raw and b"kg" not in raw
    assert actions.get("invalid_vr") == 1
    if expected == "removed":
        assert keyword not in out
    elif expected == "empty":
        assert keyword in out and out[keyword].value in ("", None)
    else:
        assert out[keyword].value == expected


def test_invalid_values_are_found_at_any_depth():
    ds = P.planted_ct()
    region = Dataset()  # Sequence of Ultrasound Regions: not in Table E.1-1, walked item by item
    plant(region, "RegionSpatialFormat", "US", b"ZZLEAKAGE ")
    plant(region, "RegionFlags", "UL", b"ZZLEAKAGEZ")
    plant(region, "ReferencePixelX0", "SL", b"ZZLEAKAGEZZL")
    plant(region, "PhysicalDeltaX", "FD", b"ZZLEAKAGE ")
    plant(region, "ReferencePixelPhysicalValueX", "FD", (0.5).hex().encode()[:8])  # 8 bytes: a valid number
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    plant(ds.ReferencedImageSequence[0], "ReferencedFrameNumber", "IS", b"1\\ZZLEAKAGE")
    inner = Dataset()
    plant(inner, "PatientAge", "AS", b"ZZLEAKAGE ")
    ds.ReferencedImageSequence[0].AnatomicRegionSequence = Sequence([inner])
    raw, out, actions = deid(ds, MODIFIED)
    assert b"LEAKAGE" not in raw
    assert actions["invalid_vr"] == 6
    item = out.SequenceOfUltrasoundRegions[0]
    assert "ReferencePixelPhysicalValueX" in item
    assert not {"RegionSpatialFormat", "RegionFlags", "ReferencePixelX0", "PhysicalDeltaX"} & set(item.dir())


def test_valid_kept_values_are_kept():
    ds = P.planted_ct()
    plant(ds, "PatientSize", "DS", b"1.82")
    plant(ds, "ImageType", "CS", b"ORIGINAL\\PRIMARY\\AXIAL")
    plant(ds, "StudyTime", "TM", b"10:15:00")  # ACR-NEMA form, still a time
    _, out, actions = deid(ds, FULL)
    assert "invalid_vr" not in actions
    assert out.PatientAge == "062Y" and out.PatientSex == "M" and out.PatientSize == 1.82
    assert out.SliceThickness == 5.0 and out.InstanceNumber == 1 and out.StudyTime == "10:15:00"
    assert list(out.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]


def test_a_uid_under_the_dicom_root_with_text_is_replaced_not_kept():
    ds = P.planted_ct()
    plant(ds.ReferencedImageSequence[0], "ReferencedSOPClassUID", "UI", b"1.2.840.10008.5.1.4.1.1.2 ZZLEAKAGE")
    raw, out, _ = deid(ds, MODIFIED)
    assert b"LEAKAGE" not in raw
    assert out.ReferencedImageSequence[0].ReferencedSOPClassUID.startswith("2.25.")


def test_safe_private_values_are_checked_against_the_vr_table_e_3_10_1_gives():
    ds = P.planted_ct()
    block = ds.private_block(0x7053, "Philips PET Private Group")
    tag = Tag(block.get_tag(0x00))  # SUV Factor: DS in Table E.3.10-1
    ds._dict[tag] = RawDataElement(tag, "UN", 10, b"ZZLEAKAGE ", 0, False, True)
    raw, out, actions = deid(ds, FULL)
    assert b"LEAKAGE" not in raw and tag not in out
    assert actions["invalid_vr"] == 1


def test_an_override_that_keeps_is_checked_too():
    ds = P.planted_ct()
    plant(ds, "PatientSex", "CS", b"SMITH")
    profile = Profile(options=(), overrides={"PatientSex": TagOverride(action="keep")})
    raw, out, actions = deid(ds, profile)
    assert b"SMITH" not in raw and out.PatientSex == "" and actions["invalid_vr"] == 1


@pytest.mark.parametrize(
    ("vr", "good", "bad"),
    [
        ("AS", [b"062Y", b"003M"], [b"62Y", b"ZZLEAKAGE", b"062 Y"]),
        ("CS", [b"ORIGINAL\\PRIMARY", b"AXIAL_1 "], [b"Axial", b"A/B", b"SEVENTEEN_CHARS_X"]),
        ("DA", [b"20230914", b"2023.09.14"], [b"20231399", b"2023-09-14", b"14/09/2023"]),
        ("DT", [b"2023", b"20230914101510.123456+0100"], [b"20230914101510ZZ", b"2023-09-14"]),
        ("TM", [b"10", b"101512.5", b"10:15:12"], [b"10h15", b"101512ZZ"]),
        ("DS", [b" 1.5", b"-2e-3\\4", b"1.00000000000000001"], [b"1,5", b"12 mm", b"NaN"]),
        ("IS", [b"12", b"-3\\4 "], [b"1.5", b"12a"]),
        ("UI", [b"1.2.3\x00", b"2.25.123"], [b"1.2.a", b"1..2", b"1." + b"2" * 70]),
        ("AE", [b"STORESCU", b"A B"], [b"TOO_LONG_AE_TITLE_", b"A\x01B"]),
    ],
)
def test_the_forms_of_each_string_vr(vr, good, bad):
    from deidnode.engine.header.vrcheck import valid_string_bytes

    for v in good:
        assert valid_string_bytes(vr, v), v
    for v in bad:
        assert not valid_string_bytes(vr, v), v


def test_binary_numbers_are_checked_by_length_and_multiplicity():
    from deidnode.engine.header.vrcheck import checker

    acq = checker(tag_for_keyword("AcquisitionMatrix"), "US")  # VM 4
    ok = RawDataElement(Tag(0), "US", 8, b"\x00\x01" * 4, 0, False, True)
    assert acq is not None and acq(ok)
    assert not acq(ok._replace(value=b"\x00\x01" * 3, length=6))
    fd = checker(tag_for_keyword("ExposureInmAs"), "FD")
    assert fd is not None and not fd(ok._replace(value=b"ZZLEAK", length=6))


def test_standard_attributes_sent_as_explicit_un_are_judged_by_their_dictionary_vr():
    """pydicom's explicit_VR-UN.dcm sends every element as UN: UIDs must still be remapped, names and IDs
    replaced, and nothing kept because "UN is binary" (main kept the original Study Instance UID)."""
    from pydicom.data import get_testdata_file

    src = pydicom.dcmread(get_testdata_file("explicit_VR-UN.dcm"))
    study, name, pid = src.StudyInstanceUID, str(src.PatientName), src.PatientID
    result = deidentify_bytes(open(get_testdata_file("explicit_VR-UN.dcm"), "rb").read(), Policy(profile=MODIFIED), KEY)
    assert result.ok
    raw = encode_dataset(result.dataset)
    out = pydicom.dcmread(io.BytesIO(raw))
    assert out.StudyInstanceUID == KEY.uid(study)
    assert study.encode() not in raw and pid.encode() not in raw
    assert name.split("^")[0].encode() not in raw
