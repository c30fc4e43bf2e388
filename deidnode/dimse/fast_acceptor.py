"""The acceptor port on this package's own upper layer: one blocking thread per association.

What one peer can hold is bounded: connections the service refuses at accept get an A-ASSOCIATE-RJ without a
thread and without a byte being read (:class:`_Refusals`); each source address may hold
``max_connections_per_address`` connections of the ``2 x max_associations + 8`` held at once; association
setup must finish within ``acse_timeout`` and each message within ``dimse_timeout`` plus its bytes at
``min_transfer_rate`` (absolute deadlines, see :class:`~.link.Link`).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections import Counter

from ..config import NodeSettings
from ..logging import get_logger
from . import acse
from . import commands as cmds
from .link import A_ASSOCIATE_RQ, ABORT_SOURCE_PROVIDER, Link, PeerAborted, PeerClosed, ProtocolError, ReleaseRequested
from .ports import AcceptorService, Association, AssociationRequest, Context, Sink
from .transport import server_ssl_context, set_nodelay

log = get_logger("receive")  # the receiving hop's transport: its events read with the SCP's

ACCEPT_POLL_S = 0.5
REFUSE_WAIT_S = 2.0
LINGER_S = 1.0
MAX_REFUSING = 256


class _Refusals:
    """Connections refused at accept, answered without a thread: once the peer has sent its first bytes (its
    A-ASSOCIATE-RQ; they are never read, only seen to be there) it gets the A-ASSOCIATE-RJ and a half-close,
    then what it still sends is discarded until it closes or ``LINGER_S`` pass, so that closing does not reset
    the connection and lose the answer. A peer that sends nothing for ``REFUSE_WAIT_S`` is closed. Answering
    before the peer has sent its request raced its state machine (pynetdicom then aborted instead of seeing
    the rejection). Polled by the accept loop; at most ``MAX_REFUSING`` are held."""

    def __init__(self) -> None:
        self._socks: list[tuple[socket.socket, bytes | None, float]] = []  # (socket, answer to send, until)

    def __len__(self) -> int:
        return len(self._socks)

    def add(self, sock: socket.socket, answer: bytes | None) -> None:
        if len(self._socks) >= MAX_REFUSING:
            sock.close()
            return
        sock.setblocking(False)
        self._socks.append((sock, answer, time.monotonic() + REFUSE_WAIT_S))

    def poll(self) -> None:
        now = time.monotonic()
        keep: list[tuple[socket.socket, bytes | None, float]] = []
        for sock, answer, until in self._socks:
            try:
                if answer is not None:  # waiting for the request to start
                    if not sock.recv(1, socket.MSG_PEEK):
                        raise ConnectionError("closed")
                    sock.send(answer)
                    sock.shutdown(socket.SHUT_WR)
                    keep.append((sock, None, now + LINGER_S))
                    continue
                while sock.recv(65536):  # answered: discard until the peer closes
                    pass
                sock.close()
            except BlockingIOError:
                if now < until:
                    keep.append((sock, answer, until))
                else:
                    sock.close()
            except OSError:
                sock.close()
        self._socks = keep

    def close_all(self) -> None:
        for sock, _, _ in self._socks:
            sock.close()
        self._socks.clear()


class _IncomingDataSet:
    """The data set after a C-STORE-RQ on a :class:`Link`: read once, into a sink or dropped."""

    def __init__(self, link: Link, cx_id: int, present: bool) -> None:
        self._link, self._cx_id = link, cx_id
        self.pending = present

    def read(self, sink: Sink | None = None) -> int:
        if not self.pending:
            return 0
        self.pending = False
        return self._link.read_dataset(self._cx_id, sink)


class FastAcceptor:
    """Accepts Storage and Verification associations for an :class:`~.ports.AcceptorService`."""

    def __init__(self, settings: NodeSettings, contexts: dict[str, frozenset[str]], service: AcceptorService) -> None:
        self.settings = settings
        self.contexts = contexts
        self.service = service
        self._ssl = server_ssl_context(settings.tls) if settings.tls else None
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._running = threading.Event()
        self._lock = threading.Lock()
        self._active: dict[int, Link | None] = {}
        """Connections held (reserved at accept; the Link once the thread has made it)."""
        self._addresses: dict[int, str] = {}
        self._per_address: Counter[str] = Counter()
        self._established: set[int] = set()
        self._next_key = 0
        self._refusals = _Refusals()
        # Connections held at once, associated or still negotiating; beyond max_associations the extra ones
        # only live long enough to be sent an A-ASSOCIATE-RJ.
        self._max_connections = 2 * settings.max_associations + 8
        self._max_per_address = settings.connections_per_address()
        self.address: tuple[str, int] = ("", 0)

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> tuple[str, int]:
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.settings.host, self.settings.port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        sock.settimeout(ACCEPT_POLL_S)
        self._listener = sock
        host, port = sock.getsockname()[:2]
        self.address = (str(host), int(port))
        self._running.set()
        self._acceptor = threading.Thread(target=self._accept_loop, name="scp-accept", daemon=True)
        self._acceptor.start()
        return self.address

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while self._running.is_set():
            self._refusals.poll()
            self._listener.settimeout(0.05 if self._refusals else ACCEPT_POLL_S)
            try:
                conn, addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._running.is_set():
                    time.sleep(0.05)  # e.g. out of file descriptors: keep serving
                continue
            accepted_at = time.monotonic()
            address = str(addr[0])
            refusal = self.service.on_connect(address)
            if refusal is not None:
                self.service.on_rejected(refusal.code, "", address)
                if self._ssl is not None:
                    conn.close()  # a TLS port just closes
                else:
                    self._refusals.add(conn, acse.reject_pdu(refusal.result, refusal.source, refusal.diagnostic))
                continue
            key = self._reserve(address)
            if key is None:  # e.g. a flood of connections that never send an A-ASSOCIATE-RQ
                self.service.on_rejected("too_many_connections", "", address)
                conn.close()
                continue
            try:
                threading.Thread(
                    target=self._serve, args=(conn, address, key, accepted_at), name="scp-assoc", daemon=True
                ).start()
            except RuntimeError:  # cannot start a thread: give the slot back
                self._release(key)
                conn.close()
        self._refusals.close_all()

    def _reserve(self, address: str) -> int | None:
        """Take a connection slot for ``address`` (under the lock, before the thread starts, so the caps hold
        exactly); None when the node or this address is at its cap."""
        with self._lock:
            if len(self._active) >= self._max_connections or self._per_address[address] >= self._max_per_address:
                return None
            self._next_key += 1
            key = self._next_key
            self._active[key] = None
            self._addresses[key] = address
            self._per_address[address] += 1
            return key

    def _release(self, key: int) -> None:
        with self._lock:
            self._active.pop(key, None)
            self._established.discard(key)
            address = self._addresses.pop(key, None)
            if address is not None:
                self._per_address[address] -= 1
                if self._per_address[address] <= 0:
                    del self._per_address[address]

    @property
    def listening(self) -> bool:
        return self._running.is_set() and self._acceptor is not None and self._acceptor.is_alive()

    def active_associations(self) -> int:
        with self._lock:
            return len(self._established)

    def held_connections(self) -> int:
        with self._lock:
            return len(self._active)

    def sockets(self) -> list[socket.socket]:
        with self._lock:
            return [link.sock for k in self._established if (link := self._active.get(k)) is not None]

    def stop(self, grace_seconds: float) -> int:
        if self._listener is None:
            return 0
        self._running.clear()
        if self._acceptor is not None:
            self._acceptor.join(ACCEPT_POLL_S * 4)
        self._listener.close()
        self._listener = None
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline and self.active_associations():
            time.sleep(0.05)
        with self._lock:
            left = [link for k in self._established if (link := self._active.get(k)) is not None]
        for link in left:
            link.send_abort()
            link.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._active:
            time.sleep(0.01)
        return len(left)

    # -- one association ------------------------------------------------------------------------------
    def _serve(self, conn: socket.socket, address: str, key: int, accepted_at: float) -> None:
        settings = self.settings
        deadline = accepted_at + settings.acse_timeout
        link: Link | None = None
        try:
            set_nodelay(conn)
            conn.settimeout(max(0.001, deadline - time.monotonic()))
            if self._ssl is not None:
                try:
                    conn = self._ssl.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError) as e:
                    log.warning("tls_handshake_failed", extra={"exc_type": type(e).__name__, "peer": address})
                    conn.close()
                    return
            link = Link(
                conn,
                max_receive=settings.max_pdu,
                message_timeout=settings.dimse_timeout,
                min_rate=settings.min_transfer_rate,
            )
            with self._lock:
                self._active[key] = link
            self._association(link, address, key, deadline)
        finally:
            if link is not None:
                link.close()
            else:
                conn.close()
            self._release(key)

    def _association(self, link: Link, address: str, key: int, deadline: float) -> None:
        try:
            link.deadline = deadline  # ARTIM (PS3.8 9.1.5): the whole A-ASSOCIATE-RQ, however it is paced
            assoc = self._associate(link, address, key)
            link.deadline = None
            if assoc is not None:
                link.sock.settimeout(self.settings.network_timeout)
                self._messages(link, assoc)
        except ProtocolError as e:
            log.warning("association_aborted", extra={"code": "protocol_error", "detail": str(e)[:80], "peer": address})
            link.send_abort(ABORT_SOURCE_PROVIDER, e.reason)
        except PeerClosed as e:
            timed_out = isinstance(e.__cause__, TimeoutError)
            if timed_out:  # ARTIM / idle timeout / message deadline (PS3.8 9.1.5): tell the peer
                link.send_abort(ABORT_SOURCE_PROVIDER, 0x00)
            log.info("association_ended", extra={"code": "timeout" if timed_out else "closed", "peer": address})
        except PeerAborted:
            log.info("association_ended", extra={"code": "aborted_by_peer", "peer": address})
        except Exception as e:  # noqa: BLE001 - never let one association take the server down
            log.error("association_error", extra={"exc_type": type(e).__name__, "peer": address})
            link.send_abort(ABORT_SOURCE_PROVIDER, 0x00)

    def _associate(self, link: Link, address: str, key: int) -> Association | None:
        pdu_type, body = link.read_pdu()
        if pdu_type != A_ASSOCIATE_RQ:
            raise ProtocolError(f"PDU type 0x{pdu_type:02X} before A-ASSOCIATE-RQ")
        # The fixed fields decide first: a refused peer costs no decoding of the variable items.
        head = acse.read_request_head(body)
        calling = head.calling_ae or ""
        problem: tuple[int, int, int] | None = None
        code = "unsupported_request"
        if not head.protocol_version_ok:
            problem = (acse.RJ_PERMANENT, acse.RJ_SOURCE_ACSE, acse.RJ_ACSE_PROTOCOL_VERSION)
        else:
            rej = self.service.on_associate(AssociationRequest(head.calling_ae, head.called_ae, address))
            if rej is not None:
                problem, code = (rej.result, rej.source, rej.diagnostic), rej.code
        rq = None
        if problem is None:
            rq = acse.decode_request(body)
            problem = acse.request_problem(rq)
        if problem is None:
            with self._lock:
                if len(self._established) >= self.settings.max_associations:
                    problem = (acse.RJ_TRANSIENT, acse.RJ_SOURCE_PRESENTATION, acse.RJ_PRESENTATION_LOCAL_LIMIT)
                    code = "association_limit"
                else:
                    self._established.add(key)
        if problem is not None or rq is None:
            assert problem is not None
            self.service.on_rejected(code, calling, address)
            link.send_raw([acse.reject_pdu(*problem)])
            link.await_peer_close(LINGER_S)  # the requestor closes first (PS3.8 Sta13)
            return None
        ac, accepted = acse.accept(rq, self.contexts, self.settings.max_pdu)
        link.peer_max = accepted.peer_max_pdu
        link.send_raw([ac])
        assoc = Association(
            calling,
            head.called_ae or "",
            address,
            {cx: Context(cx, a, ts) for cx, (a, ts) in accepted.contexts.items()},
        )
        self.service.on_accepted(assoc)
        return assoc

    def _messages(self, link: Link, assoc: Association) -> None:
        while True:
            try:
                cx_id, cmd = link.read_command()
            except ReleaseRequested:
                link.send_release_rp()
                return
            cx = assoc.contexts.get(cx_id)
            if cx is None:
                raise ProtocolError("message on a presentation context that was not accepted", 0x06)
            if cmd.field == cmds.C_STORE_RQ:
                data = _IncomingDataSet(link, cx_id, cmd.has_dataset)
                status = self.service.on_store(assoc, cx, cmd, data)
                data.read(None)  # what the service left unread
                link.send_message(cx_id, cmds.store_rsp(cmd, status))
            elif cmd.field == cmds.C_ECHO_RQ:
                if cmd.has_dataset:
                    link.read_dataset(cx_id)
                link.send_message(cx_id, cmds.echo_rsp(cmd, self.service.on_echo(assoc)))
            elif cmd.field == cmds.C_CANCEL_RQ:
                continue  # nothing of ours is cancellable: every operation is answered before the next
            else:
                if cmd.has_dataset:
                    link.read_dataset(cx_id)
                link.send_message(cx_id, cmds.refuse_rsp(cmd))
