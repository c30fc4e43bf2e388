"""Raw element access: the one module that reaches into a pydicom Dataset's element dict.

Read and write string values straight from and to raw elements.

pydicom decodes a raw element into a DataElement on first access and re-encodes it on write; both cost more than
the rest of header de-identification together. Most values the engine reads or writes are ASCII (UIDs, dates,
IDs, codes, our pseudonyms), so they are decoded and encoded here directly; anything else (non-ASCII bytes,
ISO 2022 escapes) goes through pydicom's character set handling.
"""

from __future__ import annotations

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

STRING_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
_SINGLE_VALUED = frozenset({"LT", "ST", "UT", "UR"})
# Setting these through Dataset.__setitem__ does more than store them (private creators, the pixel array cache).
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})


def get_strings(ds: Dataset, tag: int, vr: str) -> list[str]:
    """The values of a string element as a list (empty when absent or empty)."""
    raw = ds._dict.get(tag)  # type: ignore[call-overload]  # get_item() would build a Tag first; per element
    if raw is None:
        return []
    if raw.is_raw and isinstance(raw.value, bytes) and vr in STRING_VRS:
        b = raw.value
        if b.isascii() and 0x1B not in b:
            s = b.decode("ascii")
            if vr in _SINGLE_VALUED:
                s = s.rstrip(" \x00")
                return [s] if s else []
            vals = [v.strip(" \x00") for v in s.split("\\")]
            return [] if vals == [""] else vals
    value = ds[tag].value
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple | MultiValue):
        return ["" if v is None else str(v) for v in value]
    return [str(value)]


def put_strings(ds: Dataset, tag: int, vr: str, values: list[str] | None) -> None:
    """Replace a string element's values; ASCII values are stored as a raw element, encoded once."""
    values = list(values or [])
    joined = "\\".join(values)
    if joined.isascii() and vr in STRING_VRS:
        b = joined.encode("ascii")
        if len(b) % 2:
            b += b"\x00" if vr == "UI" else b" "
        present = elements(ds)
        old = present.get(tag)
        implicit = bool(getattr(old, "is_implicit_VR", False)) if old is not None and old.is_raw else False
        little = bool(getattr(old, "is_little_endian", True)) if old is not None and old.is_raw else True
        elem = RawDataElement(BaseTag(tag), vr, len(b), b, 0, implicit, little)
        if tag >> 16 & 1 or tag in _PIXEL_TAGS:
            ds[tag] = elem
        else:  # what Dataset.__setitem__ does for a raw standard element, without its checks
            present[elem.tag] = elem
        return
    ds[tag] = DataElement(tag, vr, values if len(values) > 1 else (values[0] if values else None))


def elements(ds: Dataset) -> dict[int, DataElement | RawDataElement]:
    """The data set's own element dict (tag int -> element, raw or decoded), for walks and bulk edits that
    must neither decode elements nor build Tag objects. Deleting or replacing entries changes ``ds``."""
    return ds._dict  # type: ignore[return-value]  # keyed by BaseTag, an int (no cast(): a call per use)


def plain_uid(ds: Dataset, tag: int) -> str | None:
    """A single-valued UI element's value, read without converting it, where its raw bytes are already what
    pydicom would write for it (the value, NUL-padded to even length); else None."""
    elem = ds._dict.get(tag)  # type: ignore[call-overload]
    if elem is None:
        return None
    if not elem.is_raw:
        value = elem.value
        return value if isinstance(value, str) and "\\" not in value else None
    b = elem.value
    if type(b) is not bytes or not b.isascii() or b"\\" in b:
        return None
    s = b.rstrip(b" \x00")
    return s.decode("ascii") if b == s + b"\x00" * (len(s) % 2) else None


def clone(ds: Dataset) -> Dataset:
    """A new dataset whose top-level elements are copies sharing the values of ``ds`` (pydicom sets a value by
    changing the element object, so shared element objects would carry a change back), with its own file meta.
    Sequences and their items stay shared."""
    import copy

    new = copy.copy(ds)
    object.__setattr__(
        new, "_dict", {tag: copy.copy(e) if isinstance(e, DataElement) else e for tag, e in ds._dict.items()}
    )
    object.__setattr__(new, "_private_blocks", {})
    object.__setattr__(new, "_pixel_array", None)
    object.__setattr__(new, "_pixel_id", {})
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        new.file_meta = copy.deepcopy(meta)
    return new
