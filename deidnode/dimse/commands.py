"""DIMSE command sets (PS3.7 9.3 and Annex E), always Implicit VR Little Endian (PS3.7 6.3.1).

Only what a Storage SCP and SCU exchange is packed: C-STORE-RQ/RSP and C-ECHO-RSP, plus a generic response
for requests we do not serve. Decoding reads every element of group 0000 into a small record.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# (0000,0100) Command Field values (PS3.7 Table E.1-1 and 9.3)
C_STORE_RQ = 0x0001
C_STORE_RSP = 0x8001
C_ECHO_RQ = 0x0030
C_ECHO_RSP = 0x8030
C_CANCEL_RQ = 0x0FFF
NO_DATASET = 0x0101
"""(0000,0800) Command Data Set Type: no data set follows; any other value means one does."""
STATUS_UNRECOGNIZED_OPERATION = 0x0211

_HEAD = struct.Struct("<HHI")
_US = struct.Struct("<H")
_UL = struct.Struct("<I")

# Group 0000 elements with an unsigned short value -> the Command field they fill (None: read, not kept)
_US_FIELDS: dict[int, str | None] = {
    0x0100: "field",
    0x0110: "message_id",
    0x0120: "responded_to",
    0x0700: "priority",
    0x0800: "data_set_type",
    0x0900: "status",
    0x1031: None,  # Move Originator Message ID
}


@dataclass
class Command:
    """A decoded command set: the fields a Storage SCP/SCU acts on."""

    field: int = 0
    message_id: int = 0
    responded_to: int = 0
    sop_class: str = ""
    sop_instance: str = ""
    data_set_type: int = NO_DATASET
    status: int | None = None
    priority: int = 0

    @property
    def has_dataset(self) -> bool:
        return self.data_set_type != NO_DATASET


class CommandError(ValueError):
    """The command set is not valid Implicit VR Little Endian group 0000."""


def is_uid(value: str) -> bool:
    """A UID as PS3.5 9.1 spells it: digit components separated by dots, 64 characters at most. Components
    with leading zeros, which the standard forbids, are accepted: real instances carry them."""
    return (
        0 < len(value) <= 64
        and value.isascii()
        and value.replace(".", "").isdigit()
        and value[0] != "."
        and value[-1] != "."
        and ".." not in value
    )


def _text(value: bytes | memoryview) -> str:
    # Latin-1 maps every byte to one character, so a response echoes exactly the bytes the request carried,
    # even when they are not a valid UID (:func:`is_uid` is the check).
    return bytes(value).rstrip(b"\x00 ").decode("latin-1")


def decode_command(data: bytes | bytearray | memoryview) -> Command:
    """Decode a command set (group 0000 elements, Implicit VR LE)."""
    mv = memoryview(data)
    cmd = Command()
    pos, end = 0, len(mv)
    while pos < end:
        if end - pos < 8:
            raise CommandError("truncated element header")
        group, elem, length = _HEAD.unpack_from(mv, pos)
        pos += 8
        if group != 0x0000 or length > end - pos:
            raise CommandError("not a command set element")
        value = mv[pos : pos + length]
        pos += length
        if elem in _US_FIELDS:
            if length != 2:
                raise CommandError("bad US length")
            name = _US_FIELDS[elem]
            if name is not None:
                setattr(cmd, name, _US.unpack(value)[0])
        elif elem in (0x0002, 0x0003):  # Affected / Requested SOP Class UID
            cmd.sop_class = cmd.sop_class or _text(value)
        elif elem in (0x1000, 0x1001):  # Affected / Requested SOP Instance UID
            cmd.sop_instance = cmd.sop_instance or _text(value)
    if not cmd.field:
        raise CommandError("no Command Field")
    return cmd


def _el(elem: int, value: bytes) -> bytes:
    return _HEAD.pack(0x0000, elem, len(value)) + value


def _ui(uid: str) -> bytes:
    b = uid.encode("latin-1")
    return b + b"\x00" if len(b) % 2 else b


def _us(v: int) -> bytes:
    return _US.pack(v)


def _group(*elements: bytes) -> bytes:
    body = b"".join(elements)
    return _el(0x0000, _UL.pack(len(body))) + body


def store_rq(message_id: int, sop_class: str, sop_instance: str, priority: int = 0) -> bytes:
    """C-STORE-RQ (PS3.7 Table 9.3-1)."""
    return _group(
        _el(0x0002, _ui(sop_class)),
        _el(0x0100, _us(C_STORE_RQ)),
        _el(0x0110, _us(message_id)),
        _el(0x0700, _us(priority)),
        _el(0x0800, _us(0x0001)),  # any value but 0x0101: a data set follows (as pynetdicom sends)
        _el(0x1000, _ui(sop_instance)),
    )


def store_rsp(rq: Command, status: int) -> bytes:
    """C-STORE-RSP (PS3.7 Table 9.3-2) answering ``rq``."""
    return _group(
        _el(0x0002, _ui(rq.sop_class)),
        _el(0x0100, _us(C_STORE_RSP)),
        _el(0x0120, _us(rq.message_id)),
        _el(0x0800, _us(NO_DATASET)),
        _el(0x0900, _us(status)),
        _el(0x1000, _ui(rq.sop_instance)),
    )


def echo_rsp(rq: Command, status: int = 0x0000) -> bytes:
    """C-ECHO-RSP (PS3.7 Table 9.3-13)."""
    return _group(
        _el(0x0002, _ui(rq.sop_class)),
        _el(0x0100, _us(C_ECHO_RSP)),
        _el(0x0120, _us(rq.message_id)),
        _el(0x0800, _us(NO_DATASET)),
        _el(0x0900, _us(status)),
    )


def echo_rq(message_id: int, sop_class: str = "1.2.840.10008.1.1") -> bytes:
    """C-ECHO-RQ (PS3.7 Table 9.3-12)."""
    return _group(
        _el(0x0002, _ui(sop_class)),
        _el(0x0100, _us(C_ECHO_RQ)),
        _el(0x0110, _us(message_id)),
        _el(0x0800, _us(NO_DATASET)),
    )


def refuse_rsp(rq: Command, status: int = STATUS_UNRECOGNIZED_OPERATION) -> bytes:
    """The response to a request this node does not perform (e.g. C-FIND on a storage context)."""
    elements = [_el(0x0002, _ui(rq.sop_class))] if rq.sop_class else []
    elements += [
        _el(0x0100, _us(rq.field | 0x8000)),
        _el(0x0120, _us(rq.message_id)),
        _el(0x0800, _us(NO_DATASET)),
        _el(0x0900, _us(status)),
    ]
    return _group(*elements)
