"""Encapsulated pixel data (PS3.5 A.4): frames as fragment lists, and the way back with offset tables."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragmented_frames

from ....reasons import Code
from ._errors import PixelCodecError

_ITEM = b"\xfe\xff\x00\xe0"


def split_frames(ds: Dataset, number_of_frames: int) -> list[tuple[bytes, ...]]:
    """The fragments of each frame, using the Extended Offset Table (7FE0,0001) or the Basic Offset Table, or
    one fragment per frame / all fragments in one frame when there is neither (PS3.5 A.4)."""
    eot = None
    if "ExtendedOffsetTable" in ds:
        eot = (ds.ExtendedOffsetTable, ds.get("ExtendedOffsetTableLengths", b""))
    try:
        frames = list(generate_fragmented_frames(ds.PixelData, number_of_frames=number_of_frames, extended_offsets=eot))
    except Exception as e:  # pydicom raises ValueError/KeyError on broken item structure
        raise PixelCodecError(Code.PIXEL_DATA_MISMATCH, "(7FE0,0010) encapsulation is invalid") from e
    if len(frames) != number_of_frames:
        raise PixelCodecError(Code.PIXEL_DATA_MISMATCH, "(7FE0,0010) fragments do not match (0028,0008)")
    return frames


def build(frames: Sequence[Sequence[bytes]], extended: bool) -> tuple[bytes, bytes | None, bytes | None]:
    """Encapsulate frames, each a list of fragments (padded to even length); pydicom writes the delimiter.

    Returns (pixel data, extended offset table, extended offset table lengths). With ``extended`` the Basic
    Offset Table is left empty and the offsets go to (7FE0,0001)/(7FE0,0002) (PS3.5 A.4, Table A.4-1 note);
    otherwise the Basic Offset Table holds the offset of each frame's first item, which needs < 4 GiB.
    """
    body = bytearray()
    offsets: list[int] = []
    lengths: list[int] = []
    for fragments in frames:
        offsets.append(len(body))
        size = 0
        for frag in fragments:
            data = bytes(frag)
            if len(data) % 2:
                data += b"\x00"
            body += _ITEM + struct.pack("<I", len(data)) + data
            size += len(data)
        lengths.append(size)
    if not extended and offsets and offsets[-1] > 0xFFFFFFFF:
        extended = True
    if extended:
        bot = _ITEM + b"\x00\x00\x00\x00"
        eot = struct.pack(f"<{len(offsets)}Q", *offsets)
        eot_lengths = struct.pack(f"<{len(lengths)}Q", *lengths)
        return bot + bytes(body), eot, eot_lengths
    bot = _ITEM + struct.pack("<I", 4 * len(offsets)) + struct.pack(f"<{len(offsets)}I", *offsets)
    return bot + bytes(body), None, None
