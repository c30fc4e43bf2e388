"""Part 10 file meta information (PS3.10 7.1): the one place that decides what it holds and packs it.

Every file meta deidnode writes describes deidnode: Media Storage SOP Class and Instance UIDs, Transfer Syntax
UID, our Implementation Class UID and Version Name (PS3.10 7.1: the implementation that wrote the file), and, in
the spool only, (0002,0016) Source Application Entity Title. Two forms: bytes (:func:`part10_header`, the spool's
files, packed by hand at a fraction of pydicom's cost, which was ~15% of the receive CPU) and a
``FileMetaDataset`` of raw elements in the bytes pydicom would write (:func:`meta_dataset`, the engine's
output, which :mod:`.part10` frames directly). :func:`element` packs an explicit VR little endian element for
both and for :mod:`.part10`.
"""

from __future__ import annotations

import struct

from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileMetaDataset
from pydicom.tag import Tag

from .. import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

PREAMBLE = b"\x00" * 128 + b"DICM"
_SHORT = struct.Struct("<HH2sH")
_LONG = struct.Struct("<HH2sHI")
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})


def element(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
    """An explicit VR little endian element (PS3.5 7.1.2), 2- or 4-byte length by VR; ``value`` already padded."""
    if vr in _LONG_VRS:
        return _LONG.pack(group, elem, vr, 0, len(value)) + value
    return _SHORT.pack(group, elem, vr, len(value)) + value


def pad(value: str, vr: str) -> bytes:
    """ASCII bytes of a value padded to even length as PS3.5 6.2 says (UI with NUL, text with a space)."""
    b = value.encode("ascii", "replace")
    if len(b) % 2:
        b += b"\x00" if vr == "UI" else b" "
    return b


_FIXED_HEAD = element(0x0002, 0x0001, b"OB", b"\x00\x01")
_IMPL = element(0x0002, 0x0012, b"UI", pad(IMPLEMENTATION_CLASS_UID, "UI")) + element(
    0x0002, 0x0013, b"SH", pad(IMPLEMENTATION_VERSION_NAME, "SH")
)


def part10_header(sop_class: str, sop_instance: str, transfer_syntax: str, source_aet: str = "") -> bytes:
    """Preamble, ``DICM`` and the explicit VR little endian group 0002 with its group length (the spool's files)."""
    body = b"".join(
        (
            _FIXED_HEAD,
            element(0x0002, 0x0002, b"UI", pad(sop_class, "UI")),
            element(0x0002, 0x0003, b"UI", pad(sop_instance, "UI")),
            element(0x0002, 0x0010, b"UI", pad(transfer_syntax, "UI")),
            _IMPL,
            element(0x0002, 0x0016, b"AE", pad(source_aet.strip(), "AE")) if source_aet.strip() else b"",
        )
    )
    return PREAMBLE + element(0x0002, 0x0000, b"UL", struct.pack("<I", len(body))) + body


META_TAGS = tuple(Tag(t) for t in (0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013))
"""What :func:`meta_dataset` holds; the writer adds (0002,0000) and (0002,0001)."""
_META_VRS = ("UI", "UI", "UI", "UI", "SH")


def meta_dataset(sop_class: str, sop_instance: str, transfer_syntax: str) -> FileMetaDataset:
    """The engine's output file meta: raw elements in the bytes pydicom would write for them (setting them as
    attributes costs several times more). The UIDs must be plain ASCII (callers fall back to
    :func:`meta_dataset_slow` otherwise)."""
    meta = FileMetaDataset()
    values = (sop_class, sop_instance, transfer_syntax, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME)
    for tag, vr, value in zip(META_TAGS, _META_VRS, values, strict=True):
        b = pad(value, vr)
        meta._dict[tag] = RawDataElement(tag, vr, len(b), b, 0, False, True)
    return meta


def meta_dataset_slow(sop_class: object, sop_instance: object, transfer_syntax: str) -> FileMetaDataset:
    """The same file meta through pydicom's attribute setters (values that are not plain ASCII UIDs)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta
