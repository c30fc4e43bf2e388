"""The SOP Class and Instance UIDs at the head of a received data set, found without decoding it.

A C-STORE-RQ names the instance it carries (Affected SOP Class and Instance UID, PS3.7 9.1.1.1); the
receive path builds the spool file's meta and routing facts from the command, so the command must not be
trusted alone (issue 12): the data set's own (0008,0016) and (0008,0018) are read from its first bytes and
compared, as dcmtk ``storescp`` does (mismatch: 0xA900). Only element headers are walked, up to
(0008,0018); elements are in ascending tag order (PS3.5 7.1), so both UIDs sit in the first few hundred bytes.
"""

from __future__ import annotations

import struct
import zlib

HEAD_BYTES = 8 * 1024
"""How much of a data set's start is kept for the check: the elements before (0008,0018) are a few short
ones of group 0008 (private groups 0001-0007 are not allowed, PS3.5 7.8.1)."""

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_SOP_CLASS, _SOP_INSTANCE = 0x00080016, 0x00080018


class HeadKeeper:
    """A sink wrapper: passes every fragment on and keeps a copy of the first ``HEAD_BYTES``."""

    def __init__(self, sink) -> None:  # noqa: ANN001 - any callable taking a buffer
        self.sink = sink
        self.head = bytearray()

    def __call__(self, fragment: memoryview) -> None:
        if len(self.head) < HEAD_BYTES:
            self.head += fragment[: HEAD_BYTES - len(self.head)]
        self.sink(fragment)


def sop_uids(head: bytes | bytearray | memoryview, transfer_syntax: str) -> tuple[str, str] | None:
    """(SOP Class UID, SOP Instance UID) of the data set starting with ``head`` in ``transfer_syntax``;
    None when they cannot be found there (missing, or behind an element of undefined length)."""
    data = head
    if transfer_syntax == DEFLATED_LE:
        try:
            data = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data, HEAD_BYTES)
        except zlib.error:
            return None
    implicit = transfer_syntax == IMPLICIT_LE
    order = ">" if transfer_syntax == EXPLICIT_BE else "<"
    tag_len = struct.Struct(order + "HHI")
    tag_vr_len = struct.Struct(order + "HH2sH")
    long_len = struct.Struct(order + "I")
    found: dict[int, str] = {}
    pos, end = 0, len(data)
    while pos + 8 <= end and len(found) < 2:
        if implicit:
            group, elem, length = tag_len.unpack_from(data, pos)
            pos += 8
        else:
            group, elem, vr, length = tag_vr_len.unpack_from(data, pos)
            pos += 8
            if vr in _LONG_VRS:
                if pos + 4 > end:
                    return None
                (length,) = long_len.unpack_from(data, pos)
                pos += 4
        tag = group << 16 | elem
        if tag > _SOP_INSTANCE or length == 0xFFFFFFFF or pos + length > end:
            return None
        if tag in (_SOP_CLASS, _SOP_INSTANCE):
            found[tag] = bytes(data[pos : pos + length]).rstrip(b"\x00 ").decode("latin-1")
        pos += length
    if len(found) < 2:
        return None
    return found[_SOP_CLASS], found[_SOP_INSTANCE]
