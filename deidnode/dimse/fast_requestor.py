"""The requestor port on this package's own upper layer: one blocking socket, a :class:`~.link.Link`."""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Sequence

from ..errors import os_error_name
from . import acse
from . import commands as cmds
from .link import Link, PeerAborted, PeerClosed, ProtocolError, ReleaseRequested
from .ports import Kind, LinkFailed, Peer, Rejected, TLSFailed, Unreachable
from .transport import set_nodelay

_LINK_ERRORS = (PeerClosed, PeerAborted, ProtocolError, ReleaseRequested, OSError)


def _timed_out(e: BaseException) -> bool:
    return isinstance(e, TimeoutError) or isinstance(e.__cause__, TimeoutError)


def link_cause(e: BaseException) -> str:
    """A PHI-free cause: errno name, timeout, protocol error text (ours), or the exception type."""
    if _timed_out(e):
        return "timeout"
    cause = e.__cause__ if isinstance(e, PeerClosed) and e.__cause__ is not None else e
    if isinstance(cause, OSError) and cause.errno:
        return os_error_name(cause)
    if isinstance(e, ProtocolError):
        return f"protocol error: {e}"
    if isinstance(e, PeerClosed):
        return "connection closed"
    return type(e).__name__


def _kind(e: BaseException) -> Kind:
    if _timed_out(e):
        return "timeout"
    if isinstance(e, PeerAborted):
        return "aborted"
    if isinstance(e, ReleaseRequested):
        return "released"
    if isinstance(e, ProtocolError):
        return "protocol"
    if isinstance(e, PeerClosed | OSError):
        return "closed"
    return "error"


def _failed(e: BaseException, *, sent: bool) -> LinkFailed:
    return LinkFailed(_kind(e), link_cause(e), sent=sent)


class FastAssociation:
    """An association opened by :class:`FastRequestor`."""

    def __init__(self, link: Link, contexts: dict[int, tuple[str, str]]) -> None:
        self.link = link
        self.contexts = contexts

    @property
    def sock(self) -> socket.socket:
        return self.link.sock

    def store(
        self,
        context_id: int,
        message_id: int,
        sop_class: str,
        sop_instance: str,
        body: Sequence[bytes | memoryview],
        timeout: float,
    ) -> int:
        rq = cmds.store_rq(message_id, sop_class, sop_instance)
        try:
            self.link.send_message(context_id, rq, body)
        except _LINK_ERRORS as e:
            raise _failed(e, sent=False) from e
        try:
            self.link.sock.settimeout(timeout)
            rsp_cx, rsp = self.link.read_command()
            if rsp.has_dataset:
                self.link.read_dataset(rsp_cx)
            if rsp.field != cmds.C_STORE_RSP or rsp.responded_to != message_id or rsp.status is None:
                raise ProtocolError("C-STORE-RSP does not answer the request")
        except (*_LINK_ERRORS, ValueError) as e:
            raise _failed(e, sent=True) from e
        return rsp.status

    def stale(self) -> bool:
        """Between our request/response pairs the peer only speaks to release, abort or close the association
        (PS3.8 7.2, 7.3): anything to read means it cannot carry a message any more."""
        sock = self.link.sock
        try:
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                return True
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def release(self, timeout: float) -> None:
        try:
            self.link.sock.settimeout(timeout)
            self.link.send_release_rq()
            self.link.read_pdu()  # A-RELEASE-RP (anything else: we close anyway)
        except (*_LINK_ERRORS, ValueError):
            pass
        finally:
            self.link.close()

    def abort(self) -> None:
        try:
            self.link.send_abort()
        finally:
            self.link.close()

    def close(self) -> None:
        self.link.close()


class FastRequestor:
    """Opens associations with :func:`.acse.request` over a blocking socket (TCP_NODELAY, optional TLS)."""

    def open(self, peer: Peer, contexts: Sequence[tuple[str, Sequence[str]]]) -> FastAssociation:
        try:
            sock = socket.create_connection((peer.host, peer.port), timeout=peer.timeout)
        except OSError as e:
            raise Unreachable(os_error_name(e)) from e
        link: Link | None = None
        try:
            set_nodelay(sock)
            if peer.tls is not None:
                assert isinstance(peer.tls, ssl.SSLContext)
                sock = peer.tls.wrap_socket(sock, server_hostname=peer.host)
            link = Link(sock, max_receive=peer.max_pdu)
            accepted = acse.request(
                link, calling_ae=peer.calling_ae, called_ae=peer.called_ae, contexts=contexts, max_pdu=peer.max_pdu
            )
        except acse.AssociationRejected as e:
            (link or sock).close()
            raise Rejected(e.result, e.source, e.diagnostic) from None
        except ssl.SSLError as e:
            (link or sock).close()
            raise TLSFailed(e.reason or type(e).__name__) from None
        except _LINK_ERRORS as e:
            (link or sock).close()  # a Link closes its reader and socket
            raise _failed(e, sent=False) from e
        return FastAssociation(link, accepted.contexts)
