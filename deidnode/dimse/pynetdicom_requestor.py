"""The requestor port on pynetdicom (the reference implementation): ``AE.associate`` and ``send_c_store``.

The data set goes out as the caller encoded it, byte for byte: it is written behind a file meta header to a
private temporary file that ``send_c_store`` sends in chunks without decoding
(``_config.STORE_SEND_CHUNKED_DATASET``). The TCP connection and TLS handshake are made here (so a failure
names its errno, and the socket gets TCP_NODELAY like the fast path's); pynetdicom runs the association on it.
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

from pynetdicom import AE, _config, evt
from pynetdicom.pdu import A_ABORT_RQ, A_ASSOCIATE_RJ
from pynetdicom.transport import AssociationSocket

from .. import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from ..dicomio.filemeta import part10_header
from ..errors import os_error_name
from .ports import Kind, LinkFailed, Peer, Rejected, TLSFailed, Unreachable
from .transport import set_nodelay

# send_c_store(path) streams the file's data set without decoding it; a path is only ever ours.
_config.STORE_SEND_CHUNKED_DATASET = True
_TIMEOUT_SLACK = 0.05


class _ConnectedSocket(AssociationSocket):
    """An :class:`AssociationSocket` over a connection made before the association (requestor side): its
    ``connect`` only reports the connection as made to pynetdicom's state machine."""

    def __init__(self, assoc: Any, sock: socket.socket, address: Any) -> None:
        self._connected = sock
        super().__init__(assoc, address=address)

    def _create_socket(self, address: Any) -> socket.socket:
        return self._connected

    def connect(self, primitive: Any) -> None:
        """Reports the connection as made (Evt2), or as failed (Evt17) when the peer reset it meanwhile: an
        exception here would end pynetdicom's reactor thread, and ``AE.associate`` would wait for it forever."""
        assert self.socket is not None
        try:
            self.socket.settimeout(None)
            address = self.socket.getpeername()[:2]
        except OSError:
            self._shutdown_socket()
            self.socket = None
            primitive.result = "Evt17"  # transport connection closed (PS3.8 Table 9-10)
            self.provider_queue.put(primitive)
            self._ready.set()
            return
        self._is_connected = True
        evt.trigger(self.assoc, evt.EVT_CONN_OPEN, {"address": address})
        primitive.result = "Evt2"  # transport connection confirmed (PS3.8 Table 9-10)
        self.provider_queue.put(primitive)
        self._ready.set()


class _AE(AE):
    """An AE announcing deidnode's implementation, associating over a connection already made."""

    def __init__(self, calling_ae: str, sock: socket.socket) -> None:
        super().__init__(ae_title=calling_ae)
        self.implementation_class_uid = IMPLEMENTATION_CLASS_UID
        self.implementation_version_name = IMPLEMENTATION_VERSION_NAME
        self._sock = sock

    def _create_socket(self, assoc: Any, address: Any, tls_args: Any) -> AssociationSocket:
        return _ConnectedSocket(assoc, self._sock, address)


class PynetdicomAssociation:
    """An association opened by :class:`PynetdicomRequestor`."""

    def __init__(self, assoc: Any, contexts: dict[int, tuple[str, str]], watch: _Watch) -> None:
        self.assoc = assoc
        self.contexts = contexts
        self._watch = watch

    @property
    def sock(self) -> socket.socket | None:
        return self.assoc.dul.socket.socket if self.assoc.dul.socket is not None else None

    def store(
        self,
        context_id: int,
        message_id: int,
        sop_class: str,
        sop_instance: str,
        body: Sequence[bytes | memoryview],
        timeout: float,
    ) -> int:
        if not self.assoc.is_established:
            raise LinkFailed(self._watch.kind() or "closed", "connection closed", sent=False)
        ts = self.contexts[context_id][1]
        fd, path = tempfile.mkstemp(prefix="deidnode-scu-", suffix=".dcm")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(part10_header(sop_class, sop_instance, ts))
                for piece in body:
                    f.write(piece)
            self.assoc.dimse_timeout = timeout
            t0 = time.monotonic()
            try:
                status = self.assoc.send_c_store(path, msg_id=message_id, priority=0)  # medium, as the fast path
            except RuntimeError:  # no longer established
                raise LinkFailed(self._watch.kind() or "closed", "connection closed", sent=False) from None
            except (OSError, ValueError, AttributeError) as e:
                raise LinkFailed("error", type(e).__name__, sent=False) from None
        finally:
            os.unlink(path)
        if "Status" in status:
            return int(status.Status)
        kind: Kind | None = self._watch.kind()
        if kind is None:
            kind = "timeout" if time.monotonic() - t0 >= timeout - _TIMEOUT_SLACK else "closed"
        cause = {"timeout": "timeout", "aborted": "PeerAborted"}.get(kind, "connection closed")
        raise LinkFailed(kind, cause, sent=True)

    def stale(self) -> bool:
        return not self.assoc.is_established

    def release(self, timeout: float) -> None:
        try:
            if self.assoc.is_established:
                self.assoc.acse_timeout = timeout
                self.assoc.release()
        except Exception:  # noqa: BLE001 - the association is over either way
            self.abort()

    def abort(self) -> None:
        try:
            if self.assoc.is_established:
                self.assoc.abort()
        except Exception:  # noqa: BLE001
            pass

    def close(self) -> None:
        self.abort()


class _Watch:
    """What the peer did, seen from pynetdicom's events (its own aborts are not the peer's).

    The A-ASSOCIATE-RJ is kept as received: pynetdicom's state machine closes the socket on receiving it
    (AE-4), and when that happens before its association thread checks that the socket is connected, the
    association ends aborted instead of rejected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.peer_aborted = False
        self.rejection: tuple[int, int, int] | None = None  # (result, source, diagnostic)

    def handlers(self) -> list[Any]:
        return [(evt.EVT_PDU_RECV, self._pdu)]

    def _pdu(self, event: Any) -> None:
        if isinstance(event.pdu, A_ABORT_RQ):
            with self._lock:
                self.peer_aborted = True
        elif isinstance(event.pdu, A_ASSOCIATE_RJ):
            rj = event.pdu
            with self._lock:
                self.rejection = (int(rj.result or 0), int(rj.source or 0), int(rj.reason_diagnostic or 0))

    def kind(self) -> Kind | None:
        with self._lock:
            return "aborted" if self.peer_aborted else None

    def rejected(self) -> tuple[int, int, int] | None:
        """The A-ASSOCIATE-RJ received, as (result, source, diagnostic), or None (read under the lock the
        reactor thread writes it under)."""
        with self._lock:
            return self.rejection


class PynetdicomRequestor:
    def open(self, peer: Peer, contexts: Sequence[tuple[str, Sequence[str]]]) -> PynetdicomAssociation:
        try:
            sock = socket.create_connection((peer.host, peer.port), timeout=peer.timeout)
        except OSError as e:
            raise Unreachable(os_error_name(e)) from e
        try:
            set_nodelay(sock)
            if peer.tls is not None:
                assert isinstance(peer.tls, ssl.SSLContext)
                sock = peer.tls.wrap_socket(sock, server_hostname=peer.host)
        except ssl.SSLError as e:
            sock.close()
            raise TLSFailed(e.reason or type(e).__name__) from None
        except OSError as e:
            sock.close()
            raise LinkFailed("closed", os_error_name(e)) from e
        ae = _AE(peer.calling_ae, sock)
        ae.acse_timeout = ae.network_timeout = ae.connection_timeout = peer.timeout
        ae.dimse_timeout = peer.timeout
        for abstract, syntaxes in contexts:
            ae.add_requested_context(abstract, list(syntaxes))
        watch = _Watch()
        t0 = time.monotonic()
        assoc = ae.associate(
            peer.host, peer.port, ae_title=peer.called_ae, max_pdu=peer.max_pdu, evt_handlers=watch.handlers()
        )
        if assoc.is_established:
            accepted = {
                int(cx.context_id or 0): (str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
                for cx in assoc.accepted_contexts
            }
            return PynetdicomAssociation(assoc, accepted, watch)
        if assoc.is_rejected:
            rj = assoc.acceptor.primitive
            assert rj is not None
            raise Rejected(int(rj.result or 0), int(rj.result_source or 0), int(rj.diagnostic or 0))
        if (rejection := watch.rejected()) is not None:
            raise Rejected(*rejection)
        if watch.kind() == "aborted":
            raise LinkFailed("aborted", "PeerAborted")
        if time.monotonic() - t0 >= peer.timeout - _TIMEOUT_SLACK:
            raise LinkFailed("timeout", "timeout")
        raise LinkFailed("closed", "connection closed")
