"""A lean DICOM upper layer (PS3.8) and DIMSE command codec (PS3.7) for the node's two hops, behind two ports.

pynetdicom's association machinery (two polling threads per association, a full DIMSE dataset codec per
message) cost ~2 ms of CPU per C-STORE on each hop; on a 2-core node that was most of the budget. This
package keeps pynetdicom for what it does once per association (A-ASSOCIATE PDU codec and presentation
context negotiation) and does the per-message work itself: PDUs are read from a buffered socket by one
blocking thread, PDV fragments are handed on as memory views (written to the spool or sent without
assembling a copy), and the handful of command sets a Storage SCP/SCU needs are packed by hand.

The services use it only through :mod:`.ports` (an acceptor for receive, a requestor for forward); the
``pynetdicom`` implementation of the same ports is the reference the fast one is tested against.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .acse import Accepted, AssociationRejected, accept, request
from .commands import Command, decode_command, echo_rsp, store_rq, store_rsp
from .link import Link, PeerAborted, PeerClosed, ProtocolError
from .ports import (
    Acceptor,
    AcceptorService,
    Association,
    AssociationRequest,
    Context,
    DataSet,
    DimseFailure,
    LinkFailed,
    Peer,
    Reject,
    Rejected,
    Requestor,
    RequestorAssociation,
    TLSFailed,
    Unreachable,
)

if TYPE_CHECKING:
    from ..config import NodeSettings

__all__ = [
    "Accepted",
    "Acceptor",
    "AcceptorService",
    "Association",
    "AssociationRejected",
    "AssociationRequest",
    "Command",
    "Context",
    "DataSet",
    "DimseFailure",
    "Link",
    "LinkFailed",
    "Peer",
    "PeerAborted",
    "PeerClosed",
    "ProtocolError",
    "Reject",
    "Rejected",
    "Requestor",
    "RequestorAssociation",
    "TLSFailed",
    "Unreachable",
    "accept",
    "acceptor",
    "decode_command",
    "echo_rsp",
    "request",
    "requestor",
    "store_rq",
    "store_rsp",
]


def acceptor(settings: NodeSettings, contexts: dict[str, frozenset[str]], service: AcceptorService) -> Acceptor:
    """The acceptor port for ``settings.dimse`` serving ``contexts`` (abstract syntax -> transfer syntaxes)."""
    if settings.dimse == "pynetdicom":
        from .pynetdicom_acceptor import PynetdicomAcceptor

        return PynetdicomAcceptor(settings, contexts, service)
    from .fast_acceptor import FastAcceptor

    return FastAcceptor(settings, contexts, service)


def requestor(implementation: str = "fast") -> Requestor:
    """The requestor port of an implementation (``fast`` or ``pynetdicom``)."""
    if implementation == "pynetdicom":
        from .pynetdicom_requestor import PynetdicomRequestor

        return PynetdicomRequestor()
    from .fast_requestor import FastRequestor

    return FastRequestor()
