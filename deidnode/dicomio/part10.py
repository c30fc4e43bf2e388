"""A faster Part 10 writer for the engine's own output, byte for byte the same as pydicom's ``dcmwrite``.

``dcmwrite(..., enforce_file_format=True)`` deep-copies and validates the file meta twice and sends every element,
raw or not, through ``write_data_element`` with a scratch buffer of its own; for a header of a few hundred
elements that costs more than de-identifying it. Here the common case is done directly: raw elements (what the
reader produced and what the engine writes back) are framed with one ``struct`` call, everything else goes
through pydicom's ``write_data_element`` as ``dcmwrite`` would. Whatever falls outside that case (deflate, a
private transfer syntax, an encoding or character set that differs from the one read, file meta other than what
:func:`~deidnode.dicomio.filemeta.meta_dataset` makes) returns ``None``, and the caller uses
``dcmwrite``. ``tests/test_part10.py`` compares both writers on every file the engine tests use.
"""

from __future__ import annotations

from struct import Struct

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.tag import BaseTag, tag_in_exception
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from .filemeta import META_TAGS, element
from .rawvalue import elements, plain_uid

_PIXEL_DATA = 0x7FE00010
SPILL_BYTES = 1 << 20
"""encode_body() hands on raw values this large as they are instead of copying them."""
_UNDEFINED = 0xFFFFFFFF
_VR32 = frozenset(str(v) for v in EXPLICIT_VR_LENGTH_32)
# The file meta filemeta.meta_dataset() makes (PS3.10 7.1), without the two elements the writer adds itself.
_META_TAGS = frozenset(int(t) for t in META_TAGS)
_META_REQUIRED = (0x00020002, 0x00020003, 0x00020010, 0x00020012)
# (0002,0001) File Meta Information Version 00 01, as dcmwrite adds it (explicit VR little endian).
_META_VERSION = element(0x0002, 0x0001, b"OB", b"\x00\x01")
_UL_LE = Struct("<L").pack


def encode_part10(ds: Dataset, implicit: bool, little: bool) -> bytes | None:
    """``ds`` as ``dcmwrite(buf, ds, enforce_file_format=True, implicit_vr=implicit, little_endian=little)`` would
    write it, or ``None`` where this writer does not apply (``ds`` is then left for ``dcmwrite``, with at most the
    elements converted that it would convert too)."""
    meta = getattr(ds, "file_meta", None)
    if meta is None or not _meta_supported(meta):
        return None
    plain_ts = plain_uid(meta, 0x00020010)
    tsyntax = UID(plain_ts) if plain_ts else meta.get("TransferSyntaxUID", None)
    if not isinstance(tsyntax, UID) or tsyntax.is_private or not tsyntax.is_transfer_syntax:
        return None
    if tsyntax == DeflatedExplicitVRLittleEndian or (tsyntax.is_implicit_VR, tsyntax.is_little_endian) != (
        implicit,
        little,
    ):
        return None
    if implicit and not little:
        return None
    preamble = getattr(ds, "preamble", None)
    if preamble and len(preamble) != 128:
        return None
    if any(t >> 16 in (0, 2) for t in elements(ds)):
        return None  # dcmwrite refuses these; let it say so
    if ds.original_encoding != (implicit, little):
        return None  # pydicom re-encodes every element then; leave that to it
    if ds.original_character_set != ds._character_set:
        return None
    meta_bytes = _file_meta(ds, meta)
    if meta_bytes is None:
        return None
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    fp.write(preamble or b"\x00" * 128)
    fp.write(b"DICM")
    fp.write(meta_bytes)
    _write_top_level(fp, ds, tsyntax.is_compressed)
    return fp.getvalue()


def encode_body(ds: Dataset, implicit: bool, little: bool) -> list[bytes | memoryview] | None:
    """The data set without preamble and file meta (what a C-STORE carries), as pydicom's ``write_dataset``
    writes it, in buffers to send one after the other (large raw values, e.g. pixel data, are not copied), or
    ``None`` where this writer does not apply (the encoding or character set differs from the one read, or there
    are group 0000/0002 elements)."""
    if ds.original_encoding != (implicit, little) or ds.original_character_set != ds._character_set:
        return None
    if implicit and not little:
        return None
    if any(t >> 16 in (0, 2) for t in elements(ds)):
        return None
    meta = getattr(ds, "file_meta", None)
    plain_ts = plain_uid(meta, 0x00020010) if meta is not None else None
    tsyntax = UID(plain_ts) if plain_ts else (meta.get("TransferSyntaxUID", None) if meta is not None else None)
    if not isinstance(tsyntax, UID) or not tsyntax.is_transfer_syntax or tsyntax == DeflatedExplicitVRLittleEndian:
        return None
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    parts: list[bytes | memoryview] = []
    _write_top_level(fp, ds, tsyntax.is_compressed, parts)
    parts.append(fp.parent.getbuffer())
    return parts


def _meta_supported(meta: Dataset) -> bool:
    present = elements(meta)
    tags = set(present) - {0x00020000, 0x00020001}
    return tags <= _META_TAGS and all(t in tags for t in _META_REQUIRED) and 0x00020001 not in present


def _file_meta(ds: Dataset, meta: Dataset) -> bytes | None:
    """The file meta group as write_file_meta_info writes it after dcmwrite's checks: Media Storage SOP Class and
    Instance UIDs as in the data set, (0002,0001) added, (0002,0000) computed."""
    for meta_tag, tag, keyword in ((0x00020002, 0x00080016, "SOPClassUID"), (0x00020003, 0x00080018, "SOPInstanceUID")):
        meta_value = plain_uid(meta, meta_tag)
        if meta_value is None:
            meta_value = meta[meta_tag].value
        ds_value = plain_uid(ds, tag)  # dcmwrite converts the element; that changes nothing where this is not None
        if ds_value is None:
            ds_value = ds.get(keyword, None)
        if ds_value and ds_value != meta_value:
            return None
    buf = DicomBytesIO()
    buf.is_implicit_VR, buf.is_little_endian = False, True
    buf.write(_META_VERSION)
    for tag in sorted(elements(meta)):
        if tag == 0x00020000:
            continue
        raw = _canonical_meta_bytes(meta, tag)
        if raw is not None:
            buf.write(element(tag >> 16, tag & 0xFFFF, elements(meta)[tag].VR.encode(), raw))
            continue
        elem = meta[tag]
        if elem.is_empty:
            return None  # validate_file_meta raises
        with tag_in_exception(BaseTag(tag)):
            write_data_element(buf, elem)
    body = buf.getvalue()
    return element(0x0002, 0x0000, b"UL", _UL_LE(len(body))) + body


def _canonical_meta_bytes(meta: Dataset, tag: int) -> bytes | None:
    """A raw, non-empty UI or SH meta element's bytes where they are what pydicom writes after reading them."""
    elem = elements(meta)[tag]
    if not elem.is_raw or elem.VR not in ("UI", "SH") or type(elem.value) is not bytes or not elem.value:
        return None
    b = elem.value
    if elem.VR == "UI":
        return b if plain_uid(meta, tag) else None
    if not b.isascii() or b"\\" in b or b"\x00" in b:
        return None
    s = b.rstrip(b" ")  # pydicom reads SH without trailing spaces and NULs, and pads with a space
    return b if s and b == s + b" " * (len(s) % 2) else None


def _write_top_level(fp: DicomBytesIO, ds: Dataset, compressed: bool, spill: list | None = None) -> None:
    """write_dataset() for the top level, where the encoding is the one read (checked by the caller).

    ``spill``: raw values of ``SPILL_BYTES`` or more are not copied into ``fp`` but listed, in order, between the
    bytes written so far (each a separate buffer), so the pixel data of a large instance is sent as read.
    """
    implicit, little = fp.is_implicit_VR, fp.is_little_endian
    end = "<" if little else ">"
    head = Struct(end + "HHL") if implicit else None
    head16, head32 = Struct(end + "HH2sH"), Struct(end + "HH2s2xL")
    present = elements(ds)
    if _PIXEL_DATA in present and not _raw_pixels_as_is(present[_PIXEL_DATA], compressed):
        ds["PixelData"].is_undefined_length = compressed  # what dcmwrite does (it converts the element)
    charset = ds.get("SpecificCharacterSet", "iso8859")
    write = fp.write

    def value_out(value: bytes) -> None:
        if spill is None or len(value) < SPILL_BYTES:
            write(value)
            return
        spill.append(fp.getvalue())
        fp.parent.seek(0)
        fp.parent.truncate(0)
        spill.append(value)

    for tag in sorted(present):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # retired group lengths are not written (PS3.5 7.2)
        elem = present[tag]
        if type(elem) is RawDataElement and elem.length != _UNDEFINED and type(elem.value) is bytes:
            value: bytes = elem.value
            n = len(value)
            if implicit:
                write(head.pack(tag >> 16, tag & 0xFFFF, n))  # type: ignore[union-attr]
                value_out(value)
                continue
            vr = elem.VR
            if vr in _VR32:
                write(head32.pack(tag >> 16, tag & 0xFFFF, vr.encode("latin-1"), n))
                value_out(value)
                continue
            if vr is not None and len(vr) == 2 and n <= 0xFFFF:
                write(head16.pack(tag >> 16, tag & 0xFFFF, vr.encode("latin-1"), n))
                value_out(value)
                continue
        with tag_in_exception(BaseTag(tag)):
            write_data_element(fp, ds.get_item(BaseTag(tag)), charset)


def _raw_pixels_as_is(elem: RawDataElement | DataElement, compressed: bool) -> bool:
    """Raw native Pixel Data that dcmwrite's conversion would write unchanged: defined, even length, OB/OW."""
    return (
        type(elem) is RawDataElement
        and not compressed
        and elem.length != _UNDEFINED
        and elem.VR in ("OB", "OW")
        and type(elem.value) is bytes
        and len(elem.value) % 2 == 0
    )
