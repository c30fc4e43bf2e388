"""Association establishment (PS3.8 7.1, 9.3.2-9.3.4), as acceptor and as requestor.

The A-ASSOCIATE PDUs are encoded and decoded with pynetdicom's PDU classes: this happens once per
association, so the well-tested code is worth its cost. Before any of it runs on a peer's bytes, the fixed
fields of an A-ASSOCIATE-RQ (protocol version, AE titles) are read by hand, so a peer the policy refuses
costs no decoding, and variable items we do not know are dropped (PS3.8 9.3.2.3, 9.3.3.3: they shall be
ignored). Presentation contexts are negotiated here: the sender's compressed syntax when we take it, else
Explicit before Implicit VR Little Endian (as dcmtk ``storescp`` and Orthanc choose). What follows the
association (every message) is in :mod:`.link`.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    AsynchronousOperationsWindowNegotiation,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.presentation import PresentationContext

from .. import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from .link import A_ABORT, REASON_INVALID_PARAMETER, Link, PeerAborted, ProtocolError
from .link import A_ASSOCIATE_AC as AC_TYPE
from .link import A_ASSOCIATE_RJ as RJ_TYPE
from .link import A_ASSOCIATE_RQ as RQ_TYPE

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
_NATIVE_PREFERENCE = (EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE)
_PDU_HEAD = struct.Struct(">BBI")
_ITEM_HEAD = struct.Struct(">BBH")

MIN_PEER_MAX_PDU = 1024
"""A peer announcing a Maximum Length Received below this (other than 0, unlimited) is refused on both hops.
A maximum of 6 or less leaves no room for a fragment (the send loop never advanced); no real peer announces
under 4 KiB (dcmtk's smallest is 4096)."""
MAX_RQ_BYTES = 256 * 1024
"""Largest A-ASSOCIATE-RQ decoded (a 685 KB one cost 0.54 s of CPU). Measured from real peers: pynetdicom
proposing 128 storage contexts of all its 45 syntaxes, 157,694 bytes (the most it can send); with 4 syntaxes,
17,278; dcmtk storescu (every storage class), 9,615; dcmsend, 265."""
RQ_FIXED_BYTES = 68
"""Protocol version, reserved, called and calling AE titles, reserved (PS3.8 Table 9-11), after the PDU
header."""

# A-ASSOCIATE-RJ (PS3.8 Table 9-21)
RJ_PERMANENT = 0x01
RJ_TRANSIENT = 0x02
RJ_SOURCE_USER = 0x01
RJ_SOURCE_ACSE = 0x02
RJ_SOURCE_PRESENTATION = 0x03
RJ_USER_NO_REASON = 0x01
RJ_USER_APP_CONTEXT_NOT_SUPPORTED = 0x02
RJ_USER_CALLING_AE = 0x03
RJ_USER_CALLED_AE = 0x07
RJ_ACSE_NO_REASON = 0x01
RJ_ACSE_PROTOCOL_VERSION = 0x02
RJ_PRESENTATION_LOCAL_LIMIT = 0x02

# Presentation context results (PS3.8 Table 9-18)
CX_ACCEPTANCE = 0x00
CX_USER_REJECTION = 0x01
CX_ABSTRACT_SYNTAX_NOT_SUPPORTED = 0x03
CX_TRANSFER_SYNTAXES_NOT_SUPPORTED = 0x04

# Items and sub-items we read (PS3.8 9.3.2-9.3.3, PS3.7 D.3.3); any other is skipped. SOP class extended and
# common extended negotiation (0x56, 0x57) and user identity (0x58, 0x59) are neither used nor answered.
_RQ_ITEMS = {0x10: None, 0x20: frozenset({0x30, 0x40}), 0x50: frozenset({0x51, 0x52, 0x53, 0x54, 0x55})}
_AC_ITEMS = {0x10: None, 0x21: frozenset({0x40}), 0x50: frozenset({0x51, 0x52, 0x53, 0x54, 0x55})}
_CX_SUB_ITEMS_AT = {0x20: 4, 0x21: 4}  # context ID and three reserved/result bytes precede the sub-items
_UID_ITEMS = frozenset({0x10, 0x30, 0x40, 0x52})
"""Items whose whole value is a UID: one that is not valid is emptied (0x10, 0x30: the request or context is
then refused) or dropped (0x40, 0x52), so no peer-chosen text reaches pynetdicom's warnings and our logs."""
_UID_BYTES = re.compile(rb"[0-9]+(\.[0-9]+)*")


@dataclass(frozen=True)
class Accepted:
    """An established association: the peer, its limits and the accepted presentation contexts."""

    calling_ae: str
    called_ae: str
    peer_max_pdu: int
    contexts: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Context ID -> (abstract syntax, transfer syntax), accepted contexts only."""


@dataclass(frozen=True)
class RequestHead:
    """The fixed fields of an A-ASSOCIATE-RQ, read without decoding anything else.

    An AE title is None when it is not valid (PS3.5 6.2: up to 16 characters of the default repertoire
    without control characters or backslash; only leading and trailing spaces are insignificant).
    """

    protocol_version_ok: bool
    called_ae: str | None
    calling_ae: str | None


class AssociationRejected(ConnectionError):
    """The acceptor answered A-ASSOCIATE-RJ (result, source, diagnostic as in PS3.8 Table 9-21)."""

    def __init__(self, result: int, source: int, diagnostic: int) -> None:
        super().__init__(f"association rejected (result {result}, source {source}, diagnostic {diagnostic})")
        self.result, self.source, self.diagnostic = result, source, diagnostic


def _wrap(pdu_type: int, body: bytes | bytearray) -> bytes:
    return _PDU_HEAD.pack(pdu_type, 0, len(body)) + body


def ae_title(raw: bytes | bytearray | memoryview) -> str | None:
    """The AE title in a 16-byte field, without its leading and trailing spaces; None if it is not valid."""
    data = bytes(raw)
    if any(b < 0x20 or b > 0x7E or b == 0x5C for b in data):
        return None
    text = data.decode("ascii").strip(" ")
    return text or None


def read_request_head(body: bytes | bytearray | memoryview) -> RequestHead:
    """The fixed fields of an A-ASSOCIATE-RQ body (the PDU without its 6-byte header)."""
    if len(body) < RQ_FIXED_BYTES:
        raise ProtocolError("A-ASSOCIATE-RQ shorter than its fixed fields", REASON_INVALID_PARAMETER)
    return RequestHead(
        protocol_version_ok=bool(body[1] & 0x01),  # PS3.8 9.3.2: bit 0 of the Protocol-version field
        called_ae=ae_title(body[4:20]),
        calling_ae=ae_title(body[20:36]),
    )


def known_items(body: bytes | bytearray | memoryview, pdu_type: int) -> bytes:
    """``body`` (an A-ASSOCIATE-RQ or -AC without its PDU header) with unknown items and sub-items removed.

    PS3.8 9.3.2.3 / 9.3.3.3 and PS3.7 D.3.3: items of a type the receiver does not know shall be ignored.
    Raises :class:`ProtocolError` when an item's length runs past its container.
    """
    items = _RQ_ITEMS if pdu_type == RQ_TYPE else _AC_ITEMS
    mv = memoryview(body)
    out = [bytes(mv[:RQ_FIXED_BYTES])]
    for item_type, value in _items(mv, RQ_FIXED_BYTES, len(mv)):
        if item_type not in items:
            continue
        subs = items[item_type]
        if subs is None:
            out.append(_sub_item(item_type, value))
            continue
        start = _CX_SUB_ITEMS_AT.get(item_type, 0)
        if len(value) < start:
            raise ProtocolError("presentation context item too short", REASON_INVALID_PARAMETER)
        kept = [bytes(value[:start])] + [_sub_item(t, v) for t, v in _items(value, start, len(value)) if t in subs]
        inner = b"".join(kept)
        out.append(_ITEM_HEAD.pack(item_type, 0, len(inner)) + inner)
    return b"".join(out)


def _sub_item(item_type: int, value: bytes) -> bytes:
    if item_type in _UID_ITEMS:
        uid = value.rstrip(b"\x00 ")
        if len(uid) > 64 or not _UID_BYTES.fullmatch(uid):
            if item_type in (0x40, 0x52):
                return b""
            value = b""
    elif item_type == 0x55 and not all(0x20 < b < 0x7F for b in value):  # Implementation Version Name
        return b""
    return _ITEM_HEAD.pack(item_type, 0, len(value)) + value


def _items(mv: memoryview | bytes, pos: int, end: int) -> Iterable[tuple[int, bytes]]:
    while pos < end:
        if end - pos < 4:
            raise ProtocolError("truncated item header", REASON_INVALID_PARAMETER)
        item_type, _, length = _ITEM_HEAD.unpack_from(mv, pos)
        if pos + 4 + length > end:
            raise ProtocolError("item length past the end of its PDU", REASON_INVALID_PARAMETER)
        yield item_type, bytes(mv[pos + 4 : pos + 4 + length])
        pos += 4 + length


def _user_info(max_pdu: int, extra: Iterable[object] = ()) -> list:
    ml = MaximumLengthNotification()
    ml.maximum_length_received = max_pdu
    impl = ImplementationClassUIDNotification()
    impl.implementation_class_uid = IMPLEMENTATION_CLASS_UID
    version = ImplementationVersionNameNotification()
    version.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    return [ml, impl, version, *extra]


def _max_length(items: Sequence[object]) -> int:
    for item in items:
        if isinstance(item, MaximumLengthNotification):
            return int(item.maximum_length_received or 0)
    return 0


def peer_max_ok(value: int) -> bool:
    """Whether a peer's Maximum Length Received is one we send to (0: unlimited)."""
    return value == 0 or value >= MIN_PEER_MAX_PDU


# -- acceptor ---------------------------------------------------------------------------------------------
def decode_request(body: bytes | bytearray) -> A_ASSOCIATE:
    """Decode an A-ASSOCIATE-RQ body (the PDU without its 6-byte header), unknown items skipped."""
    if len(body) > MAX_RQ_BYTES:
        raise ProtocolError("A-ASSOCIATE-RQ larger than any real peer sends", REASON_INVALID_PARAMETER)
    clean = known_items(body, RQ_TYPE)
    pdu = A_ASSOCIATE_RQ()
    try:
        pdu.decode(_wrap(RQ_TYPE, clean))
        return pdu.to_primitive()
    except Exception as e:  # noqa: BLE001 - any decoding failure is a malformed PDU
        raise ProtocolError(f"malformed A-ASSOCIATE-RQ ({type(e).__name__})", REASON_INVALID_PARAMETER) from None


def request_problem(rq: A_ASSOCIATE, protocol_version_ok: bool = True) -> tuple[int, int, int] | None:
    """An (result, source, diagnostic) rejection for an RQ this acceptor cannot take, else None."""
    if str(rq.application_context_name) != APPLICATION_CONTEXT:
        return RJ_PERMANENT, RJ_SOURCE_USER, RJ_USER_APP_CONTEXT_NOT_SUPPORTED
    if not protocol_version_ok:
        return RJ_PERMANENT, RJ_SOURCE_ACSE, RJ_ACSE_PROTOCOL_VERSION
    if not peer_max_ok(_max_length(list(rq.user_information or []))):
        return RJ_PERMANENT, RJ_SOURCE_ACSE, RJ_ACSE_NO_REASON
    return None


def protocol_version_ok(body: bytes | bytearray) -> bool:
    """PS3.8 9.3.2: bit 0 of the Protocol-version field must be set."""
    return len(body) >= 2 and bool(body[1] & 0x01)


def reject_pdu(result: int, source: int, diagnostic: int) -> bytes:
    """An encoded A-ASSOCIATE-RJ."""
    prim = A_ASSOCIATE()
    prim.result, prim.result_source, prim.diagnostic = result, source, diagnostic
    pdu = A_ASSOCIATE_RJ()
    pdu.from_primitive(prim)
    return pdu.encode()


def choose_transfer_syntax(proposed: Sequence[str], supported: Collection[str]) -> str | None:
    """The syntax to accept for one context: the first proposed compressed (or deflated) syntax we support,
    else Explicit VR Little Endian, Implicit VR Little Endian, Explicit VR Big Endian, as proposed."""
    for ts in proposed:
        if ts in supported and ts not in _NATIVE_PREFERENCE:
            return ts
    for ts in _NATIVE_PREFERENCE:
        if ts in proposed and ts in supported:
            return ts
    return None


def negotiate(
    proposed: Sequence[PresentationContext],
    supported: Mapping[str, Collection[str]],
    roles: Mapping[str, tuple[bool | None, bool | None]],
) -> tuple[list[PresentationContext], list[SCP_SCU_RoleSelectionNegotiation]]:
    """Results for each proposed context (PS3.8 9.3.3.2) and the role selection replies (PS3.7 D.3.3.4).

    We only act as SCP (the requestor is the SCU): where the requestor proposed roles for a SOP class we
    accept, the reply grants the SCU role it asked for and refuses the SCP role; a context whose requestor
    only wants the SCP role cannot work and is rejected (user rejection).
    """
    results: list[PresentationContext] = []
    replies: dict[str, SCP_SCU_RoleSelectionNegotiation] = {}
    for rq in proposed:
        cx = PresentationContext()
        cx.context_id = rq.context_id
        abstract = str(rq.abstract_syntax or "")
        offered = [str(t) for t in rq.transfer_syntax or []]
        chosen = None
        if abstract in supported:
            chosen = choose_transfer_syntax(offered, supported[abstract])
            cx.result = CX_TRANSFER_SYNTAXES_NOT_SUPPORTED if chosen is None else CX_ACCEPTANCE
        else:
            cx.result = CX_ABSTRACT_SYNTAX_NOT_SUPPORTED
        if cx.result == CX_ACCEPTANCE and abstract in roles:
            scu, _scp = roles[abstract]
            if scu is False:
                cx.result = CX_USER_REJECTION
            else:
                reply = SCP_SCU_RoleSelectionNegotiation()
                reply.sop_class_uid = abstract
                reply.scu_role, reply.scp_role = True, False
                replies[abstract] = reply
        if abstract:
            cx.abstract_syntax = abstract
        # PS3.8 9.3.3.2: the transfer syntax of a context not accepted is not significant
        cx.transfer_syntax = [chosen or (offered[0] if offered else IMPLICIT_LE)]
        results.append(cx)
    return results, list(replies.values())


def accept(rq: A_ASSOCIATE, supported: Mapping[str, Collection[str]], max_pdu: int) -> tuple[bytes, Accepted]:
    """Negotiate ``rq`` against ``supported`` (abstract syntax -> transfer syntaxes); returns the encoded
    A-ASSOCIATE-AC and the result.

    Reply items (PS3.7 D.3.3): our maximum length, implementation class UID and version name, SCP/SCU role
    selection for the SOP classes it was asked for, and an asynchronous operations window of 1/1 when one
    was proposed (we work one message at a time). User identity and extended negotiation requests are not
    answered (both optional for the acceptor).
    """
    items = list(rq.user_information or [])
    roles = {
        str(it.sop_class_uid): (it.scu_role, it.scp_role)
        for it in items
        if isinstance(it, SCP_SCU_RoleSelectionNegotiation) and it.sop_class_uid
    }
    results, role_replies = negotiate(rq.presentation_context_definition_list, supported, roles)
    extra: list[object] = list(role_replies)
    if any(isinstance(it, AsynchronousOperationsWindowNegotiation) for it in items):
        window = AsynchronousOperationsWindowNegotiation()
        window.maximum_number_operations_invoked = 1
        window.maximum_number_operations_performed = 1
        extra.append(window)
    prim = A_ASSOCIATE()
    prim.application_context_name = APPLICATION_CONTEXT
    prim.calling_ae_title = rq.calling_ae_title
    prim.called_ae_title = rq.called_ae_title
    prim.result, prim.result_source = 0x00, 0x01
    prim.presentation_context_definition_results_list = results
    prim.user_information = _user_info(max_pdu, extra)
    pdu = A_ASSOCIATE_AC()
    pdu.from_primitive(prim)
    contexts = {
        int(cx.context_id or 0): (str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
        for cx in results
        if cx.result == CX_ACCEPTANCE
    }
    return pdu.encode(), Accepted(
        calling_ae=str(rq.calling_ae_title).strip(" "),
        called_ae=str(rq.called_ae_title).strip(" "),
        peer_max_pdu=_max_length(items),
        contexts=contexts,
    )


# -- requestor --------------------------------------------------------------------------------------------
def request(
    link: Link,
    *,
    calling_ae: str,
    called_ae: str,
    contexts: Sequence[tuple[str, Sequence[str]]],
    max_pdu: int,
    timeout: float | None = None,
) -> Accepted:
    """Send an A-ASSOCIATE-RQ proposing ``contexts`` (abstract syntax, transfer syntaxes) and await the answer.

    Context IDs are 1, 3, 5... in the order given. The answer must arrive within ``timeout`` seconds (default:
    the socket's timeout), however the peer paces its bytes. Raises :class:`AssociationRejected`,
    :class:`PeerAborted`, :class:`~.link.PeerClosed` or :class:`ProtocolError` (also for an acceptor whose
    Maximum Length Received is below :data:`MIN_PEER_MAX_PDU`).
    """
    proposed = []
    for i, (abstract, syntaxes) in enumerate(contexts):
        cx = PresentationContext()
        cx.context_id = 2 * i + 1
        cx.abstract_syntax = abstract
        cx.transfer_syntax = list(syntaxes)
        proposed.append(cx)
    prim = A_ASSOCIATE()
    prim.application_context_name = APPLICATION_CONTEXT
    prim.calling_ae_title = calling_ae
    prim.called_ae_title = called_ae
    prim.presentation_context_definition_list = proposed
    prim.user_information = _user_info(max_pdu)
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(prim)

    timeout = timeout if timeout is not None else link.sock.gettimeout()
    saved, link.deadline = link.deadline, (time.monotonic() + timeout if timeout is not None else None)
    try:
        link.send_raw([pdu.encode()])
        pdu_type, body = link.read_pdu()
    finally:
        link.deadline = saved
    if pdu_type == RJ_TYPE:
        rj = A_ASSOCIATE_RJ()
        try:
            rj.decode(_wrap(RJ_TYPE, body))
        except Exception as e:  # noqa: BLE001 - malformed RJ
            raise ProtocolError(f"malformed A-ASSOCIATE-RJ ({type(e).__name__})", REASON_INVALID_PARAMETER) from None
        raise AssociationRejected(int(rj.result or 0), int(rj.source or 0), int(rj.reason_diagnostic or 0))
    if pdu_type == A_ABORT:
        raise PeerAborted("A-ABORT during association")
    if pdu_type != AC_TYPE:
        raise ProtocolError(f"unexpected PDU type 0x{pdu_type:02X} awaiting A-ASSOCIATE-AC")
    if len(body) < RQ_FIXED_BYTES:
        raise ProtocolError("A-ASSOCIATE-AC shorter than its fixed fields", REASON_INVALID_PARAMETER)
    ac = A_ASSOCIATE_AC()
    try:
        ac.decode(_wrap(AC_TYPE, known_items(body, AC_TYPE)))
        reply = ac.to_primitive()
    except ProtocolError:
        raise
    except Exception as e:  # noqa: BLE001 - malformed AC
        raise ProtocolError(f"malformed A-ASSOCIATE-AC ({type(e).__name__})", REASON_INVALID_PARAMETER) from None
    peer_max = _max_length(list(reply.user_information or []))
    if not peer_max_ok(peer_max):
        raise ProtocolError(
            f"acceptor's maximum length {peer_max} is below {MIN_PEER_MAX_PDU}", REASON_INVALID_PARAMETER
        )
    asked = {cx.context_id: cx.abstract_syntax for cx in proposed}
    accepted = {
        int(cx.context_id or 0): (str(asked[cx.context_id]), str(cx.transfer_syntax[0]))
        for cx in reply.presentation_context_definition_results_list
        if cx.result == 0x00 and cx.context_id in asked and cx.transfer_syntax
    }
    link.peer_max = peer_max
    return Accepted(calling_ae=calling_ae, called_ae=called_ae, peer_max_pdu=peer_max, contexts=accepted)
