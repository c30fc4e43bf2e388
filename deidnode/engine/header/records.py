"""What the output records about its de-identification (PS3.15 E.1.1, CID 7050) and its file meta."""

from __future__ import annotations

import struct
from functools import cache

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from ... import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from ...config import Option, Profile
from ...dicomio.filemeta import meta_dataset, meta_dataset_slow
from ...dicomio.rawvalue import plain_uid, put_strings

# CID 7050 "De-identification Method" (PS3.16 2024c), scheme DCM.
CID_7050 = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "clean_pixels": ("113101", "Clean Pixel Data Option"),
    "clean_visual": ("113102", "Clean Recognizable Visual Features Option"),
    Option.clean_graphics: ("113103", "Clean Graphics Option"),
    Option.clean_structured_content: ("113104", "Clean Structured Content Option"),
    Option.clean_descriptors: ("113105", "Clean Descriptors Option"),
    Option.retain_long_full_dates: ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    Option.retain_long_modified_dates: (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    Option.retain_patient_characteristics: ("113108", "Retain Patient Characteristics Option"),
    Option.retain_device_identity: ("113109", "Retain Device Identity Option"),
    Option.retain_uids: ("113110", "Retain UIDs Option"),
    Option.retain_safe_private: ("113111", "Retain Safe Private Option"),
    Option.retain_institution_identity: ("113112", "Retain Institution Identity Option"),
}
# Order of the code items: the profile, then options in CID order.
_ORDER = list(CID_7050)


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


@cache
def _encoded_code_sequence(codes: tuple[tuple[str, str], ...], implicit: bool) -> bytes:
    """The items of a De-identification Method Code Sequence, encoded once per option set (little endian)."""
    out = bytearray()
    for value, meaning in codes:
        buf = DicomBytesIO()
        buf.is_little_endian, buf.is_implicit_VR = True, implicit
        write_dataset(buf, _code_item(value, meaning))
        content = buf.getvalue()
        out += b"\xfe\xff\x00\xe0" + struct.pack("<I", len(content)) + content
    return bytes(out)


def add_deid_records(
    ds: Dataset, profile: Profile, *, pixels_cleaned: bool, little_endian: bool = True, implicit_vr: bool = False
) -> list[str]:
    """Set Patient Identity Removed, the method text and code sequence, Longitudinal Temporal Information
    Modified and (after Clean Pixel Data) Burned In Annotation. Returns the code values used."""
    used: list[object] = ["basic", *[o for o in _ORDER if o in profile.option_set]]
    if pixels_cleaned:
        used.insert(1, "clean_pixels")
    codes = tuple(CID_7050[k] for k in used)  # type: ignore[index]
    put_strings(ds, 0x00120062, "CS", ["YES"])  # Patient Identity Removed
    put_strings(ds, 0x00120063, "LO", [profile.method_text])  # De-identification Method
    if little_endian:
        value = _encoded_code_sequence(codes, implicit_vr)
        ds[0x00120064] = RawDataElement(Tag(0x00120064), "SQ", len(value), value, 0, implicit_vr, True)
    else:
        ds.DeidentificationMethodCodeSequence = Sequence([_code_item(v, m) for v, m in codes])
    opts = profile.option_set
    if Option.retain_long_full_dates in opts:
        longitudinal = "UNMODIFIED"
    elif Option.retain_long_modified_dates in opts:
        longitudinal = "MODIFIED"
    else:
        longitudinal = "REMOVED"
    put_strings(ds, 0x00280303, "CS", [longitudinal])  # Longitudinal Temporal Information Modified
    if pixels_cleaned:
        put_strings(ds, 0x00280301, "CS", ["NO"])  # Burned In Annotation
    return [v for v, _ in codes]


_META_TAGS = tuple(Tag(t) for t in (0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013))
_META_VRS = ("UI", "UI", "UI", "UI", "SH")
_IMPLEMENTATION = (IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME)


def rebuild_file_meta(ds: Dataset, transfer_syntax: str) -> None:
    """Replace the file meta with a description of this application (PS3.15 E.1.1; PS3.10 7.1)."""
    values = (plain_uid(ds, 0x00080016), plain_uid(ds, 0x00080018))
    if all(v and v.isascii() for v in values) and transfer_syntax.isascii():
        ds.file_meta = meta_dataset(values[0], values[1], transfer_syntax)  # type: ignore[arg-type]
    else:
        ds.file_meta = meta_dataset_slow(ds.SOPClassUID, ds.SOPInstanceUID, transfer_syntax)
