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
from typing import Any

from pynetdicom import AllStoragePresentationContexts
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification

from .. import metrics
from ..config import TLS, NodeSettings
from ..dimse import Link, PeerAborted, PeerClosed, ProtocolError, acse
from ..dimse import commands as cmds
from ..dimse.link import A_ASSOCIATE_RQ, ABORT_SOURCE_PROVIDER, ReleaseRequested
from ..errors import STATUS_CANNOT_UNDERSTAND_PARSE, STATUS_OUT_OF_RESOURCES, STATUS_SUCCESS
from ..logging import get_logger
from ..spool import Spool, SpoolFullError
from .filemeta import part10_header
from .policy import AssociationPolicy

log = get_logger("receive")

# 0xA7xx: Refused: Out of Resources (PS3.4 Table B.2-1). The sender may try again later.
STATUS_OUT_OF_RESOURCES_DISK = STATUS_OUT_OF_RESOURCES + 0x01
ACCEPT_POLL_S = 0.5


def accepted_transfer_syntaxes() -> list[str]:
    """The transfer syntaxes offered to senders: those the engine handles, else every one pydicom parses."""
    try:
        from ..engine import SUPPORTED_TRANSFER_SYNTAXES  # type: ignore[attr-defined]

        return list(SUPPORTED_TRANSFER_SYNTAXES)
    except ImportError:
        from pynetdicom import ALL_TRANSFER_SYNTAXES

        return list(ALL_TRANSFER_SYNTAXES)


def set_nodelay(sock: Any) -> None:
    """Disable Nagle: DIMSE is request/response, and a 40 ms delayed ACK per C-STORE kills throughput."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # pragma: no cover - not a TCP socket
        pass


def server_ssl_context(tls: TLS) -> ssl.SSLContext:
    """A TLS server context from the configured certificate, key and optional client CA."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls.cert, tls.key)
    if tls.ca is not None:
        ctx.load_verify_locations(tls.ca)
    if tls.require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def supported_contexts() -> list[PresentationContext]:
    """Every Storage SOP class in the syntaxes the engine reads, plus Verification; built once per SCP."""
    ts = accepted_transfer_syntaxes()
    out = []
    for sop in [cx.abstract_syntax for cx in AllStoragePresentationContexts] + [Verification]:
        cx = PresentationContext()
        cx.abstract_syntax = sop
        cx.transfer_syntax = ts if sop != Verification else ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]
        out.append(cx)
    return out


class StorageSCP:
    """Accepts Storage and Verification; applies :class:`AssociationPolicy`; spools every instance."""

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
        self._active: dict[int, Link] = {}
        self._established: set[int] = set()
        # Connections held at once, associated or still negotiating; beyond max_associations the extra ones
        # only live long enough to be sent an A-ASSOCIATE-RJ.
        self._max_connections = 2 * settings.max_associations + 8
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
            try:
                conn, addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._running.is_set():
                    time.sleep(0.05)  # e.g. out of file descriptors: keep serving
                continue
            with self._lock:
                crowded = len(self._active) >= self._max_connections
            if crowded:  # e.g. a flood of connections that never send an A-ASSOCIATE-RQ
                metrics.RECEIVE_ASSOCIATIONS.labels("rejected").inc()
                log.warning("connection_refused", extra={"code": "too_many_connections"})
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn, addr[0]), name="scp-assoc", daemon=True).start()

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
            left = [self._active[k] for k in self._established if k in self._active]
        for link in left:
            link.send_abort()
            link.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._active:
            time.sleep(0.01)
        return len(left)

    # -- one association ------------------------------------------------------------------------------
    def _serve(self, conn: socket.socket, address: str) -> None:
        set_nodelay(conn)
        conn.settimeout(self.settings.acse_timeout)
        key = id(conn)
        if self._ssl is not None:
            try:
                conn = self._ssl.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError) as e:
                log.warning("tls_handshake_failed", extra={"exc_type": type(e).__name__})
                conn.close()
                return
        link = Link(conn, max_receive=self.settings.max_pdu)
        with self._lock:
            self._active[key] = link
        try:
            acc = self._associate(link, address, key)
            if acc is not None:
                conn.settimeout(self.settings.network_timeout)
                self._messages(link, acc)
        except ProtocolError as e:
            log.warning("association_aborted", extra={"code": "protocol_error", "detail": str(e)[:80]})
            link.send_abort(ABORT_SOURCE_PROVIDER, e.reason)
        except PeerClosed as e:
            timed_out = isinstance(e.__cause__, TimeoutError)
            if timed_out:  # ARTIM / idle timeout (PS3.8 9.1.5): tell the peer
                link.send_abort(ABORT_SOURCE_PROVIDER, 0x00)
            log.info("association_ended", extra={"code": "timeout" if timed_out else "closed"})
        except PeerAborted:
            log.info("association_ended", extra={"code": "aborted_by_peer"})
        except Exception as e:  # noqa: BLE001 - never let one association take the server down
            log.error("association_error", extra={"exc_type": type(e).__name__})
            link.send_abort(ABORT_SOURCE_PROVIDER, 0x00)
        finally:
            link.close()
            with self._lock:
                self._active.pop(key, None)
                self._established.discard(key)

    def _associate(self, link: Link, address: str, key: int) -> acse.Accepted | None:
        pdu_type, body = link.read_pdu()
        if pdu_type != A_ASSOCIATE_RQ:
            raise ProtocolError(f"PDU type 0x{pdu_type:02X} before A-ASSOCIATE-RQ")
        rq = acse.decode_request(body)
        calling, called = str(rq.calling_ae_title).strip(), str(rq.called_ae_title).strip()
        problem = acse.request_problem(rq, acse.protocol_version_ok(body))
        code = "unsupported_request"
        if problem is None:
            rej = self.policy.check(calling, called, address)
            if rej is not None:
                problem, code = (rej.result, rej.source, rej.diagnostic), rej.code
        if problem is None:
            with self._lock:
                if len(self._established) >= self.settings.max_associations:
                    problem = (acse.RJ_TRANSIENT, acse.RJ_SOURCE_PRESENTATION, acse.RJ_PRESENTATION_LOCAL_LIMIT)
                    code = "association_limit"
                else:
                    self._established.add(key)
        if problem is not None:
            metrics.RECEIVE_ASSOCIATIONS.labels("rejected").inc()
            log.warning("association_rejected", extra={"code": code, "calling_aet": calling})
            link.send_raw([acse.reject_pdu(*problem)])
            return None
        ac, accepted = acse.accept(rq, self.contexts, self.settings.max_pdu)
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
        sop_class = cmd.sop_class or abstract
        status = self._spool_dataset(link, acc.calling_ae, cx_id, cmd, sop_class, ts)
        link.send_message(cx_id, cmds.store_rsp(cmd, status))
        if status == STATUS_SUCCESS:
            metrics.STAGE_DURATION.labels("receive").observe(time.perf_counter() - t0)

    def _spool_dataset(
        self, link: Link, calling: str, cx_id: int, cmd: cmds.Command, sop_class: str, ts: str
    ) -> int:
        """Read the data set into the spool; the status to answer. Network errors propagate."""
        if not cmd.has_dataset or not cmd.sop_instance:
            if cmd.has_dataset:
                link.read_dataset(cx_id)
            return self._refused("unreadable_request", STATUS_CANNOT_UNDERSTAND_PARSE)
        try:
            writer = self.spool.open_writer(calling_aet=calling, sop_class=sop_class, transfer_syntax=ts)
        except SpoolFullError:
            link.read_dataset(cx_id)
            return self._refused("spool_full", STATUS_OUT_OF_RESOURCES_DISK)
        except OSError as e:
            link.read_dataset(cx_id)
            return self._refused("spool_io_error", STATUS_OUT_OF_RESOURCES, e.errno)
        try:
            writer.write(part10_header(sop_class, cmd.sop_instance, ts, calling))
            size = link.read_dataset(cx_id, writer.write)
        except BaseException:
            writer.discard()
            raise
        if size == 0:
            writer.discard()
            return self._refused("unreadable_request", STATUS_CANNOT_UNDERSTAND_PARSE)
        try:
            row = writer.commit()
        except SpoolFullError:
            return self._refused("spool_full", STATUS_OUT_OF_RESOURCES_DISK)
        except OSError as e:
            return self._refused("spool_io_error", STATUS_OUT_OF_RESOURCES, e.errno)
        metrics.RECEIVE_INSTANCES.labels("stored").inc()
        metrics.RECEIVE_BYTES.inc(writer.size)
        log.debug("stored", extra={"row": row, "size": writer.size})
        return STATUS_SUCCESS

    @staticmethod
    def _refused(code: str, status: int, errno: int | None = None) -> int:
        metrics.RECEIVE_INSTANCES.labels("refused").inc()
        extra: dict[str, Any] = {"code": code, "status": f"0x{status:04X}"}
        if errno is not None:
            extra["errno"] = errno
        log.warning("store_refused", extra=extra)
        return status
