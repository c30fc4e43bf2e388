"""The Storage SCP: raw bytes to the spool, fsynced, before Success (PS3.4 B.2.3, statuses in Table B.2-1).

One thread per association reads PDUs with :mod:`deidnode.dimse` (blocking, no polling). A C-STORE data set
is never decoded or assembled here: each PDV fragment goes straight into a :class:`~deidnode.spool.SpoolWriter`
behind a preamble and file meta packed from the request (:mod:`.filemeta`); Success is answered only after
the file and its row are durable. The workers decode once.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections import Counter
from typing import Any

from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts
from pynetdicom.sop_class import Verification

from .. import metrics
from ..config import NodeSettings
from ..dicomio.filemeta import part10_header
from ..dimse import Link, PeerAborted, PeerClosed, ProtocolError, acse
from ..dimse import commands as cmds
from ..dimse.link import A_ASSOCIATE_RQ, ABORT_SOURCE_PROVIDER, ReleaseRequested
from ..dimse.transport import server_ssl_context, set_nodelay
from ..errors import (
    STATUS_CANNOT_UNDERSTAND_PARSE,
    STATUS_DATASET_DOES_NOT_MATCH_SOP_CLASS,
    STATUS_OUT_OF_RESOURCES,
    STATUS_SUCCESS,
    os_error_name,
)
from ..logging import get_logger
from ..spool import Spool, SpoolFullError
from .policy import CALLED_AE_INVALID, CALLING_AE_INVALID, NETWORK_NOT_ALLOWED, AssociationPolicy
from .sniff import HeadKeeper, sop_uids

log = get_logger("receive")

# 0xA7xx: Refused: Out of Resources (PS3.4 Table B.2-1). The sender may try again later.
STATUS_OUT_OF_RESOURCES_DISK = STATUS_OUT_OF_RESOURCES + 0x01
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


def accepted_transfer_syntaxes() -> frozenset[str]:
    """The transfer syntaxes taken from senders: every one pydicom parses. The worker quarantines what the
    engine cannot clean (e.g. video) with a reason; which one is chosen per context is
    :func:`deidnode.dimse.acse.choose_transfer_syntax` (the sender's compressed syntax, else Explicit VR LE)."""
    return frozenset(ALL_TRANSFER_SYNTAXES)


def supported_contexts() -> dict[str, frozenset[str]]:
    """Abstract syntax -> transfer syntaxes: every Storage SOP class in every syntax we take, plus
    Verification; built once per SCP."""
    ts = accepted_transfer_syntaxes()
    out = {str(cx.abstract_syntax): ts for cx in AllStoragePresentationContexts}
    out[str(Verification)] = frozenset({acse.IMPLICIT_LE, acse.EXPLICIT_LE})
    return out


class StorageSCP:
    """Accepts Storage and Verification; applies :class:`AssociationPolicy`; spools every instance.

    What one peer can hold is bounded: connections from networks not allowed are refused at accept (nothing
    is read from them); each source address may hold ``max_connections_per_address`` connections of the
    ``2 x max_associations + 8`` held at once; association setup must finish within ``acse_timeout`` and
    each message within ``dimse_timeout`` plus its bytes at ``min_transfer_rate`` (absolute deadlines, see
    :class:`~deidnode.dimse.Link`).
    """

    def __init__(self, settings: NodeSettings, spool: Spool) -> None:
        self.settings = settings
        self.spool = spool
        self.policy = AssociationPolicy(settings)
        self.contexts = supported_contexts()
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
        """Listen; associations are served on background threads. Returns the bound address."""
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
            if not self.policy.network_allowed(address):
                self._refuse_network(conn, address)
                continue
            key = self._reserve(address)
            if key is None:  # e.g. a flood of connections that never send an A-ASSOCIATE-RQ
                metrics.RECEIVE_ASSOCIATIONS.labels("rejected").inc()
                log.warning("connection_refused", extra={"code": "too_many_connections", "peer": address})
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

    def _refuse_network(self, conn: socket.socket, address: str) -> None:
        """A source outside ``allowed_networks``: decided before a byte is read. Plain DICOM gets an
        A-ASSOCIATE-RJ (rejected-permanent, no reason) once it has sent its request, which is discarded
        unread (:class:`_Refusals`); a TLS port just closes."""
        metrics.RECEIVE_ASSOCIATIONS.labels("rejected").inc()
        log.warning("association_rejected", extra={"code": NETWORK_NOT_ALLOWED.code, "peer": address})
        if self._ssl is not None:
            conn.close()
            return
        rej = NETWORK_NOT_ALLOWED
        self._refusals.add(conn, acse.reject_pdu(rej.result, rej.source, rej.diagnostic))

    @property
    def listening(self) -> bool:
        """The listening socket is open and its accept loop alive (for /healthz and /readyz)."""
        return self._running.is_set() and self._acceptor is not None and self._acceptor.is_alive()

    def active_associations(self) -> int:
        with self._lock:
            return len(self._established)

    def stop(self, grace_seconds: float) -> int:
        """Stop accepting, let open associations finish for up to ``grace_seconds``, abort the rest.

        Returns how many associations were aborted (their unacknowledged instances will be sent again).
        """
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
            acc = self._associate(link, address, key)
            link.deadline = None
            if acc is not None:
                link.sock.settimeout(self.settings.network_timeout)
                self._messages(link, acc)
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

    def _associate(self, link: Link, address: str, key: int) -> acse.Accepted | None:
        pdu_type, body = link.read_pdu()
        if pdu_type != A_ASSOCIATE_RQ:
            raise ProtocolError(f"PDU type 0x{pdu_type:02X} before A-ASSOCIATE-RQ")
        # The fixed fields decide first: a refused peer costs no decoding of the variable items.
        head = acse.read_request_head(body)
        calling, called = head.calling_ae or "", head.called_ae or ""
        problem: tuple[int, int, int] | None = None
        code = "unsupported_request"
        if not head.protocol_version_ok:
            problem = (acse.RJ_PERMANENT, acse.RJ_SOURCE_ACSE, acse.RJ_ACSE_PROTOCOL_VERSION)
        else:
            rej = (
                CALLING_AE_INVALID
                if head.calling_ae is None
                else CALLED_AE_INVALID
                if head.called_ae is None
                else self.policy.check(calling, called, address)
            )
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
            metrics.RECEIVE_ASSOCIATIONS.labels("rejected").inc()
            log.warning("association_rejected", extra={"code": code, "calling_aet": calling, "peer": address})
            link.send_raw([acse.reject_pdu(*problem)])
            return None
        ac, accepted = acse.accept(rq, self.contexts, self.settings.max_pdu)
        accepted = acse.Accepted(calling, called, accepted.peer_max_pdu, accepted.contexts)
        link.peer_max = accepted.peer_max_pdu
        link.send_raw([ac])
        metrics.RECEIVE_ASSOCIATIONS.labels("accepted").inc()
        log.debug("association_accepted", extra={"calling_aet": calling, "contexts": len(accepted.contexts)})
        return accepted

    def _messages(self, link: Link, acc: acse.Accepted) -> None:
        while True:
            try:
                cx_id, cmd = link.read_command()
            except ReleaseRequested:
                link.send_release_rp()
                return
            if cx_id not in acc.contexts:
                raise ProtocolError("message on a presentation context that was not accepted", 0x06)
            if cmd.field == cmds.C_STORE_RQ:
                self._store(link, acc, cx_id, cmd)
            elif cmd.field == cmds.C_ECHO_RQ:
                metrics.RECEIVE_ECHOES.inc()
                if cmd.has_dataset:
                    link.read_dataset(cx_id)
                link.send_message(cx_id, cmds.echo_rsp(cmd, STATUS_SUCCESS))
            elif cmd.field == cmds.C_CANCEL_RQ:
                continue  # nothing of ours is cancellable: every operation is answered before the next
            else:
                if cmd.has_dataset:
                    link.read_dataset(cx_id)
                link.send_message(cx_id, cmds.refuse_rsp(cmd))

    def _store(self, link: Link, acc: acse.Accepted, cx_id: int, cmd: cmds.Command) -> None:
        t0 = time.perf_counter()
        abstract, ts = acc.contexts[cx_id]
        status = self._spool_dataset(link, acc.calling_ae, cx_id, cmd, abstract, ts)
        link.send_message(cx_id, cmds.store_rsp(cmd, status))
        if status == STATUS_SUCCESS:
            metrics.STAGE_DURATION.labels("receive").observe(time.perf_counter() - t0)

    def _spool_dataset(
        self, link: Link, calling: str, cx_id: int, cmd: cmds.Command, abstract: str, ts: str
    ) -> int:
        """Read the data set into the spool; the status to answer. Network errors propagate.

        The command must agree with its presentation context and with the data set's own SOP Class and
        Instance UIDs (0xA900 otherwise, as dcmtk answers): the spool row and file meta come from the
        command, and routing reads them.
        """
        sop_class = cmd.sop_class or abstract
        if not cmd.has_dataset or not cmds.is_uid(cmd.sop_instance) or not cmds.is_uid(sop_class):
            if cmd.has_dataset:
                link.read_dataset(cx_id)
            return self._refused("unreadable_request", STATUS_CANNOT_UNDERSTAND_PARSE)
        if sop_class != abstract:
            link.read_dataset(cx_id)
            return self._refused("sop_class_not_context", STATUS_DATASET_DOES_NOT_MATCH_SOP_CLASS)
        try:
            writer = self.spool.open_writer(calling_aet=calling, sop_class=sop_class, transfer_syntax=ts)
        except SpoolFullError:
            link.read_dataset(cx_id)
            return self._refused("spool_full", STATUS_OUT_OF_RESOURCES_DISK)
        except OSError as e:
            link.read_dataset(cx_id)
            return self._refused("spool_io_error", STATUS_OUT_OF_RESOURCES, e)
        keeper = HeadKeeper(writer.write)
        try:
            writer.write(part10_header(sop_class, cmd.sop_instance, ts, calling))
            size = link.read_dataset(cx_id, keeper)
        except BaseException:
            writer.discard()
            raise
        if size == 0:
            writer.discard()
            return self._refused("unreadable_request", STATUS_CANNOT_UNDERSTAND_PARSE)
        if sop_uids(keeper.head, ts) != (sop_class, cmd.sop_instance):
            writer.discard()
            return self._refused("dataset_does_not_match", STATUS_DATASET_DOES_NOT_MATCH_SOP_CLASS)
        try:
            row = writer.commit()
        except SpoolFullError:
            return self._refused("spool_full", STATUS_OUT_OF_RESOURCES_DISK)
        except OSError as e:
            return self._refused("spool_io_error", STATUS_OUT_OF_RESOURCES, e)
        metrics.RECEIVE_INSTANCES.labels("stored").inc()
        metrics.RECEIVE_BYTES.inc(writer.size)
        log.debug("stored", extra={"row": row, "size": writer.size})
        return STATUS_SUCCESS

    def _refused(self, code: str, status: int, error: OSError | None = None) -> int:
        """Count and log a refused C-STORE; an I/O error is named by its errno and the spool's path."""
        metrics.RECEIVE_INSTANCES.labels("refused").inc()
        extra: dict[str, Any] = {"code": code, "status": f"0x{status:04X}"}
        if error is not None:
            extra.update(errno=os_error_name(error), path=str(self.spool.data_dir))
        log.warning("store_refused", extra=extra)
        return status
