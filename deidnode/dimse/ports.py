"""The two ports the node's services use DICOM networking through (PS3.7, PS3.8), and their typed outcomes.

- **Acceptor** (the receiving side): it listens, applies limits and deadlines, negotiates associations, frames
  PDUs, answers C-ECHO and releases and aborts. The service user (the Storage SCP) decides who may associate
  (:meth:`AcceptorService.on_connect`, :meth:`AcceptorService.on_associate`) and what a C-STORE's status is
  (:meth:`AcceptorService.on_store`, given the data set as a stream of memory views, never assembled).
- **Requestor** (the sending side): :meth:`Requestor.open` an association to a destination proposing
  presentation contexts, :meth:`RequestorAssociation.store` encoded data sets on it, release or abort it.
  Failures are exceptions of the types below, each with a PHI-free ``cause``.

Two implementations stand behind both ports: ``fast`` (this package's own upper layer, the default) and
``pynetdicom`` (the reference, on pynetdicom's association machinery); :func:`deidnode.dimse.acceptor` and
:func:`deidnode.dimse.requestor` choose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .commands import Command

Implementation = Literal["fast", "pynetdicom"]
IMPLEMENTATIONS: tuple[str, ...] = ("fast", "pynetdicom")

Sink = Callable[[memoryview], object]
"""Receives a data set's bytes in order, as memory views valid only during the call."""


# -- acceptor ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reject:
    """An A-ASSOCIATE-RJ to send (PS3.8 Table 9-21: result, source, diagnostic) and a reason code for logs."""

    result: int
    source: int
    diagnostic: int
    code: str


@dataclass(frozen=True)
class AssociationRequest:
    """What the policy decides on, read from the A-ASSOCIATE-RQ's fixed fields before anything else is
    decoded (so a refused peer costs no decoding). An AE title is None when it is not a valid one."""

    calling_ae: str | None
    called_ae: str | None
    peer: str
    """The peer's IP address."""


@dataclass(frozen=True)
class Context:
    """An accepted presentation context."""

    id: int
    abstract_syntax: str
    transfer_syntax: str


@dataclass(frozen=True)
class Association:
    """An association the acceptor has accepted."""

    calling_ae: str
    called_ae: str
    peer: str
    contexts: dict[int, Context] = field(default_factory=dict)


class DataSet(Protocol):
    """The data set following a C-STORE-RQ: read it once into a sink, or drop it (``sink=None``). The port
    drops what the service did not read."""

    def read(self, sink: Sink | None = None) -> int:
        """Feed the data set to ``sink`` in order; returns its length in bytes."""
        ...


class AcceptorService(Protocol):
    """What the acceptor port calls: the policy, the store sink, and notifications for metrics and logs."""

    def on_connect(self, peer: str) -> Reject | None:
        """A connection from ``peer`` (IP address), before a byte is read from it: None to go on."""
        ...

    def on_associate(self, request: AssociationRequest) -> Reject | None:
        """The A-ASSOCIATE-RQ's AE titles and peer: None to negotiate, else the rejection to send."""
        ...

    def on_rejected(self, code: str, calling_ae: str, peer: str) -> None:
        """An association was refused (by the policy, a limit, or an unsupported request)."""
        ...

    def on_accepted(self, association: Association) -> None: ...

    def on_echo(self, association: Association) -> int:
        """A C-ECHO-RQ: the status to answer."""
        ...

    def on_store(self, association: Association, context: Context, command: Command, data: DataSet) -> int:
        """A C-STORE-RQ: read (or drop) ``data`` and return the status to answer (PS3.4 Table B.2-1)."""
        ...


class Acceptor(Protocol):
    """A listening Storage/Verification SCP endpoint."""

    address: tuple[str, int]

    def start(self) -> tuple[str, int]:
        """Listen; returns the bound (host, port). Raises ``OSError`` when it cannot bind."""
        ...

    @property
    def listening(self) -> bool: ...

    def active_associations(self) -> int: ...

    def held_connections(self) -> int:
        """Connections held, associated or still negotiating."""
        ...

    def sockets(self) -> list[Any]:
        """The sockets of the established associations (to check their options)."""
        ...

    def stop(self, grace_seconds: float) -> int:
        """Stop accepting, let associations finish for ``grace_seconds``, abort the rest; returns how many
        were aborted."""
        ...


# -- requestor -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Peer:
    """Where a requestor associates to, and how."""

    host: str
    port: int
    called_ae: str
    calling_ae: str
    max_pdu: int = 0
    """Our Maximum Length Received (0: unlimited)."""
    timeout: float = 30.0
    """Connect and association setup timeout, seconds."""
    tls: object | None = None
    """An ``ssl.SSLContext`` (client side) or None."""


class DimseFailure(Exception):
    """A requestor operation failed. ``cause`` is PHI-free: an errno name, ``timeout``, a protocol error of
    ours, or an exception type."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class Unreachable(DimseFailure):
    """No TCP connection to the peer."""


class TLSFailed(DimseFailure):
    """The TLS handshake failed."""


class Rejected(DimseFailure):
    """The acceptor answered A-ASSOCIATE-RJ (PS3.8 Table 9-21)."""

    def __init__(self, result: int, source: int, diagnostic: int) -> None:
        super().__init__(f"result {result} source {source} diagnostic {diagnostic}")
        self.result, self.source, self.diagnostic = result, source, diagnostic

    @property
    def permanent(self) -> bool:
        return self.result == 0x01


Kind = Literal["timeout", "closed", "aborted", "released", "protocol", "error"]


class LinkFailed(DimseFailure):
    """The association failed: while it was set up, while a request was sent (``sent`` False: the peer has
    not got the whole request), or while its response was awaited (``sent`` True).

    ``kind``: ``timeout`` (a deadline passed), ``closed`` (the connection ended), ``aborted`` (the peer sent
    A-ABORT), ``released`` (the peer asked to release), ``protocol`` (the peer broke PS3.8), ``error``.
    """

    def __init__(self, kind: Kind, cause: str, *, sent: bool = False) -> None:
        super().__init__(cause)
        self.kind: Kind = kind
        self.sent = sent


class RequestorAssociation(Protocol):
    """An open association; one thread uses it at a time."""

    contexts: dict[int, tuple[str, str]]
    """Accepted contexts: ID -> (abstract syntax, transfer syntax)."""

    def store(
        self,
        context_id: int,
        message_id: int,
        sop_class: str,
        sop_instance: str,
        body: Sequence[bytes | memoryview],
        timeout: float,
    ) -> int:
        """Send a C-STORE-RQ with ``body`` (the data set encoded in the context's syntax, in pieces sent in
        order) and wait up to ``timeout`` seconds for its response; returns the status. Raises
        :class:`LinkFailed`."""
        ...

    def stale(self) -> bool:
        """Whether the idle association can no longer carry a message (the peer released, aborted or
        closed it)."""
        ...

    def release(self, timeout: float) -> None:
        """A-RELEASE and close; never raises."""
        ...

    def abort(self) -> None:
        """A-ABORT and close; never raises."""
        ...

    def close(self) -> None:
        """Close without a word (the peer has gone); never raises."""
        ...


class Requestor(Protocol):
    def open(self, peer: Peer, contexts: Sequence[tuple[str, Sequence[str]]]) -> RequestorAssociation:
        """Associate proposing ``contexts`` (abstract syntax, transfer syntaxes; IDs 1, 3, 5... in order).
        Raises :class:`Unreachable`, :class:`TLSFailed`, :class:`Rejected` or :class:`LinkFailed`."""
        ...
