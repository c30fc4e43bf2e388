"""The structure of a Part 10 file checked before and around pydicom's reading of it (issue 12).

pydicom reads what it can: a value whose length runs past the end of its container is returned short, an
element header cut in half ends the data set silently, group 0002 elements that follow the file meta are
merged into it (they could change the transfer syntax of the output), and a deflated data set is inflated
whole, however large. Here:

- :func:`locate` finds the file meta by its group length (PS3.10 7.1) and any group 0002 elements after it,
  which belong to no one and are skipped;
- :func:`check_framing` walks every element, item and fragment header (PS3.5 7.1-7.5, A.4) without
  decoding a value: a length past the end of its container is :class:`Truncated`;
- :func:`inflate_bounded` inflates a deflated data set (PS3.5 A.5) up to a limit and no further.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from dataclasses import dataclass

from pydicom.datadict import DicomDictionary

DEFLATED = "1.2.840.10008.1.2.1.99"
MAX_DEPTH = 64
"""Sequences nested deeper than this are refused (real instances nest a handful of levels)."""

_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_FRAGMENT_VRS = frozenset({b"OB", b"OW"})
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
_UNDEFINED = 0xFFFFFFFF
_STRUCTS = {
    little: (struct.Struct(p + "HHI"), struct.Struct(p + "HH2sH"), struct.Struct(p + "I"), struct.Struct(p + "H"))
    for little, p in ((True, "<"), (False, ">"))
}

Buffer = bytes | bytearray | memoryview | mmap.mmap


class ParseLimitError(ValueError):
    """The input breaks a structural rule or a limit; ``code`` is the quarantine reason code, ``str()`` the
    detail (what was wrong, never a value)."""

    code = "unparseable"


class Truncated(ParseLimitError):
    """An element, item or fragment whose length runs past the end of its container: unparseable (the safe
    default of issue 12 item 11), with ``truncated:`` in the detail."""

    def __init__(self, what: str) -> None:
        super().__init__(f"truncated: {what}")


class TooDeep(ParseLimitError):
    """Sequences nested deeper than :data:`MAX_DEPTH`: unparseable."""


class InflateLimit(ParseLimitError):
    code = "inflate-limit"


@dataclass(frozen=True)
class Layout:
    """Where the parts of a Part 10 file start: file meta, end of file meta, data set (after any stray
    group 0002 elements), and the transfer syntax the meta names."""

    meta_start: int
    meta_end: int
    dataset_start: int
    transfer_syntax: str


def locate(raw: Buffer) -> Layout | None:
    """The layout of a Part 10 file (preamble, ``DICM``, file meta); None when ``raw`` is not one."""
    if len(raw) < 132 or raw[128:132] != b"DICM":
        return None
    tag_vr_len, u32 = _STRUCTS[True][1], _STRUCTS[True][2]
    pos, end = 132, len(raw)
    meta_end: int | None = None  # from the group length, once read
    ts = ""
    while pos + 8 <= end and (meta_end is None or pos < meta_end):
        group, elem, vr, length = tag_vr_len.unpack_from(raw, pos)
        if group != 0x0002:
            break
        head = 8
        if vr in _LONG_VRS:
            if pos + 12 > end:
                break
            (length,) = u32.unpack_from(raw, pos + 8)
            head = 12
        value_at = pos + head
        if elem == 0x0000 and vr == b"UL" and length == 4 and value_at + 4 <= end:
            meta_end = value_at + 4 + u32.unpack_from(raw, value_at)[0]
        elif elem == 0x0010:
            ts = bytes(raw[value_at : value_at + length]).rstrip(b"\x00 ").decode("ascii", "replace")
        pos = value_at + length
    meta = pos
    start = meta
    if meta_end == meta and ts != DEFLATED:
        start = _skip_group_0002(raw, meta, ts)
    return Layout(132, meta, start, ts)


def encoding(ts: str) -> tuple[bool, bool]:
    """(implicit VR, little endian); unknown syntaxes read as Explicit VR Little Endian, as pydicom does."""
    return ts == "1.2.840.10008.1.2", ts != "1.2.840.10008.1.2.2"


def _skip_group_0002(raw: Buffer, pos: int, ts: str) -> int:
    """The offset of the first element after group 0002 elements that start the data set (they are not part
    of the file meta, whose group length ended before them, and are dropped)."""
    implicit, little = encoding(ts)
    tag_len, tag_vr_len, u32, _ = _STRUCTS[little]
    end = len(raw)
    while pos + 8 <= end:
        if implicit:
            group, _, length = tag_len.unpack_from(raw, pos)
            head = 8
        else:
            group, _, vr, length = tag_vr_len.unpack_from(raw, pos)
            head = 8
            if vr in _LONG_VRS:
                if pos + 12 > end:
                    break
                (length,) = u32.unpack_from(raw, pos + 8)
                head = 12
        if group != 0x0002 or length == _UNDEFINED or pos + head + length > end:
            break
        pos += head + length
    return pos


def inflate_bounded(data: Buffer, limit: int) -> bytes:
    """Inflate a deflated data set (raw deflate, PS3.5 A.5), refusing one that grows past ``limit`` bytes."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
        if len(out) <= limit and not inflater.unconsumed_tail:
            out += inflater.flush()
    except zlib.error as e:
        raise ParseLimitError(f"deflated data set does not inflate ({e.__class__.__name__})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise InflateLimit(f"deflated data set inflates past {limit} bytes")
    return out


def _is_sequence(tag: int) -> bool:
    entry = DicomDictionary.get(tag)
    return entry is not None and entry[0] == "SQ"


def check_framing(buf: Buffer, start: int, implicit: bool, little: bool) -> None:
    """Walk every element, item and fragment header of the data set in ``buf[start:]``; raise
    :class:`Truncated` where a length runs past the end of its container (or a delimiter is missing), and
    :class:`TooDeep` past :data:`MAX_DEPTH` nested sequences. Values are not decoded.

    Mirrors what pydicom accepts: a VR that is not two capital letters in explicit VR is read as an implicit
    VR header; an undefined length is a sequence, or encapsulated fragments for OB/OW and Pixel Data; UN of
    undefined length holds Implicit VR Little Endian items (PS3.5 6.2.2); in implicit VR a defined-length
    value is walked as a sequence when the data dictionary says SQ.
    """
    # Each frame: [kind, limit, bound, implicit, little]; kind "ds" (elements up to limit, or up to an item
    # delimiter when limit is None), "seq" (items), "frags" (fragments); bound: the nearest defined end.
    end = len(buf)
    stack: list[tuple[str, int | None, int, bool, bool]] = [("ds", end, end, implicit, little)]
    pos = start
    while stack:
        kind, limit, bound, imp, le = stack[-1]
        if limit is not None and pos == limit:
            stack.pop()
            continue
        if pos + 8 > bound:
            raise Truncated("header past the end of its container")
        tag_len, tag_vr_len, u32, _ = _STRUCTS[le]
        group, elem, length = tag_len.unpack_from(buf, pos)
        tag = group << 16 | elem
        if kind != "ds":
            if tag == _ITEM:
                pos += 8
                if kind == "frags" or length != _UNDEFINED:
                    if length == _UNDEFINED or pos + length > bound:
                        raise Truncated("item past the end of its container")
                    if kind == "frags":
                        pos += length
                    else:
                        _push(stack, ("ds", pos + length, pos + length, imp, le))
                else:
                    _push(stack, ("ds", None, bound, imp, le))
            elif tag == _SEQ_END and limit is None:
                pos += 8
                stack.pop()
            else:
                raise Truncated("no item where one was expected")
            continue
        if tag == _ITEM_END and limit is None:
            pos += 8
            stack.pop()
            continue
        if group == 0xFFFE:
            raise Truncated("delimiter outside its sequence")
        vr = None
        head = 8
        if not imp:
            group, elem, vr_bytes, short = tag_vr_len.unpack_from(buf, pos)
            if vr_bytes.isalpha() and vr_bytes.isupper():
                vr = vr_bytes
                if vr in _LONG_VRS:
                    if pos + 12 > bound:
                        raise Truncated("header past the end of its container")
                    (length,) = u32.unpack_from(buf, pos + 8)
                    head = 12
                else:
                    length = short
        pos += head
        if length == _UNDEFINED:
            if vr in _FRAGMENT_VRS or (vr is None and tag == _PIXEL_DATA):
                _push(stack, ("frags", None, bound, imp, le))
            elif vr == b"UN":
                _push(stack, ("seq", None, bound, True, True))
            else:
                _push(stack, ("seq", None, bound, imp, le))
            continue
        if pos + length > bound:
            raise Truncated("value past the end of its container")
        if vr == b"SQ" or (vr is None and length and _is_sequence(tag)):
            _push(stack, ("seq", pos + length, pos + length, imp, le))
        else:
            pos += length


def _push(stack: list, frame: tuple) -> None:
    if len(stack) > 2 * MAX_DEPTH:  # a sequence level is two frames (items and their data sets)
        raise TooDeep(f"sequences nested deeper than {MAX_DEPTH}")
    stack.append(frame)
