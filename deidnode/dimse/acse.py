"""Association establishment (PS3.8 7.1, 9.3.2-9.3.4), as acceptor and as requestor.

The A-ASSOCIATE PDUs are encoded and decoded with pynetdicom's PDU classes and presentation contexts are
negotiated with its ``negotiate_as_acceptor``: this happens once per association, so the well-tested code is
worth its cost. What follows the association (every message) is in :mod:`.link`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    AsynchronousOperationsWindowNegotiation,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.presentation import PresentationContext, negotiate_as_acceptor

from .link import A_ABORT, Link, PeerAborted, ProtocolError
from .link import A_ASSOCIATE_AC as AC_TYPE
from .link import A_ASSOCIATE_RJ as RJ_TYPE
from .link import A_ASSOCIATE_RQ as RQ_TYPE

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
_PDU_HEAD = struct.Struct(">BBI")

# A-ASSOCIATE-RJ (PS3.8 Table 9-21)
RJ_PERMANENT = 0x01
RJ_TRANSIENT = 0x02
RJ_SOURCE_USER = 0x01
RJ_SOURCE_ACSE = 0x02
RJ_SOURCE_PRESENTATION = 0x03
RJ_USER_APP_CONTEXT_NOT_SUPPORTED = 0x02
RJ_ACSE_PROTOCOL_VERSION = 0x02
RJ_PRESENTATION_LOCAL_LIMIT = 0x02


@dataclass(frozen=True)
class Accepted:
    """An established association: the peer, its limits and the accepted presentation contexts."""

    calling_ae: str
    called_ae: str
    peer_max_pdu: int
    contexts: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Context ID -> (abstract syntax, transfer syntax), accepted contexts only."""


class AssociationRejected(ConnectionError):
    """The acceptor answered A-ASSOCIATE-RJ (result, source, diagnostic as in PS3.8 Table 9-21)."""

    def __init__(self, result: int, source: int, diagnostic: int) -> None:
        super().__init__(f"association rejected (result {result}, source {source}, diagnostic {diagnostic})")
        self.result, self.source, self.diagnostic = result, source, diagnostic


def _wrap(pdu_type: int, body: bytes) -> bytes:
    return _PDU_HEAD.pack(pdu_type, 0, len(body)) + body


def _user_info(max_pdu: int, extra: Iterable[object] = ()) -> list:
    ml = MaximumLengthNotification()
    ml.maximum_length_received = max_pdu
    impl = ImplementationClassUIDNotification()
    impl.implementation_class_uid = PYNETDICOM_IMPLEMENTATION_UID
    version = ImplementationVersionNameNotification()
    version.implementation_version_name = PYNETDICOM_IMPLEMENTATION_VERSION
    return [ml, impl, version, *extra]


def _max_length(items: Sequence[object]) -> int:
    for item in items:
        if isinstance(item, MaximumLengthNotification):
            return int(item.maximum_length_received or 0)
    return 0


# -- acceptor ---------------------------------------------------------------------------------------------
def decode_request(body: bytes) -> A_ASSOCIATE:
    """Decode an A-ASSOCIATE-RQ body (the PDU without its 6-byte header)."""
    pdu = A_ASSOCIATE_RQ()
    try:
        pdu.decode(_wrap(RQ_TYPE, body))
        return pdu.to_primitive()
    except Exception as e:  # noqa: BLE001 - any decoding failure is a malformed PDU
        raise ProtocolError(f"malformed A-ASSOCIATE-RQ ({type(e).__name__})", 0x06) from None


def request_problem(rq: A_ASSOCIATE, protocol_version_ok: bool = True) -> tuple[int, int, int] | None:
    """An (result, source, diagnostic) rejection for an RQ this acceptor cannot take, else None."""
    if str(rq.application_context_name) != APPLICATION_CONTEXT:
        return RJ_PERMANENT, RJ_SOURCE_USER, RJ_USER_APP_CONTEXT_NOT_SUPPORTED
    if not protocol_version_ok:
        return RJ_PERMANENT, RJ_SOURCE_ACSE, RJ_ACSE_PROTOCOL_VERSION
    return None


def protocol_version_ok(body: bytes) -> bool:
    """PS3.8 9.3.2: bit 0 of the Protocol-version field must be set."""
    return len(body) >= 2 and bool(body[1] & 0x01)


def reject_pdu(result: int, source: int, diagnostic: int) -> bytes:
    """An encoded A-ASSOCIATE-RJ."""
    prim = A_ASSOCIATE()
    prim.result, prim.result_source, prim.diagnostic = result, source, diagnostic
    pdu = A_ASSOCIATE_RJ()
    pdu.from_primitive(prim)
    return pdu.encode()


def accept(rq: A_ASSOCIATE, supported: list[PresentationContext], max_pdu: int) -> tuple[bytes, Accepted]:
    """Negotiate ``rq`` against ``supported`` contexts; returns the encoded A-ASSOCIATE-AC and the result.

    Reply items (PS3.7 D.3.3): our maximum length and implementation, SCP/SCU role selection for the roles
    asked, and an asynchronous operations window of 1/1 when one was proposed (we work one message at a time).
    User identity and extended negotiation requests are not answered (both optional for the acceptor).
    """
    items = list(rq.user_information or [])
    roles = {
        it.sop_class_uid: (it.scu_role, it.scp_role)
        for it in items
        if isinstance(it, SCP_SCU_RoleSelectionNegotiation)
    }
    results, role_replies = negotiate_as_acceptor(rq.presentation_context_definition_list, supported, roles or None)
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
        int(cx.context_id): (str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
        for cx in results
        if cx.result == 0x00
    }
    return pdu.encode(), Accepted(
        calling_ae=str(rq.calling_ae_title).strip(),
        called_ae=str(rq.called_ae_title).strip(),
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
) -> Accepted:
    """Send an A-ASSOCIATE-RQ proposing ``contexts`` (abstract syntax, transfer syntaxes) and await the answer.

    Context IDs are 1, 3, 5... in the order given. Raises :class:`AssociationRejected`, :class:`PeerAborted`,
    :class:`~.link.PeerClosed` or :class:`ProtocolError`.
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
    link.send_raw([pdu.encode()])

    pdu_type, body = link.read_pdu()
    if pdu_type == RJ_TYPE:
        rj = A_ASSOCIATE_RJ()
        rj.decode(_wrap(RJ_TYPE, body))
        raise AssociationRejected(int(rj.result), int(rj.source), int(rj.reason_diagnostic))
    if pdu_type == A_ABORT:
        raise PeerAborted("A-ABORT during association")
    if pdu_type != AC_TYPE:
        raise ProtocolError(f"unexpected PDU type 0x{pdu_type:02X} awaiting A-ASSOCIATE-AC")
    ac = A_ASSOCIATE_AC()
    try:
        ac.decode(_wrap(AC_TYPE, body))
        reply = ac.to_primitive()
    except Exception as e:  # noqa: BLE001 - malformed AC
        raise ProtocolError(f"malformed A-ASSOCIATE-AC ({type(e).__name__})", 0x06) from None
    asked = {cx.context_id: cx.abstract_syntax for cx in proposed}
    accepted = {
        int(cx.context_id): (str(asked[cx.context_id]), str(cx.transfer_syntax[0]))
        for cx in reply.presentation_context_definition_results_list
        if cx.result == 0x00 and cx.context_id in asked and cx.transfer_syntax
    }
    peer_max = _max_length(list(reply.user_information or []))
    link.peer_max = peer_max
    return Accepted(calling_ae=calling_ae, called_ae=called_ae, peer_max_pdu=peer_max, contexts=accepted)
