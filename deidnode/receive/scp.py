"""The Storage SCP: raw bytes to the spool, fsynced, before Success (PS3.4 B.2.3, statuses in Table B.2-1).

The receive path never decodes the dataset: the bytes as sent, behind a preamble and file meta built from
the request and presentation context (what ``event.encoded_dataset()`` gives, packed by hand in
:mod:`.filemeta` because pydicom's writer cost ~15% of the receive CPU), go straight to :meth:`Spool.store`.
The workers decode once.
"""

from __future__ import annotations

import copy
import socket
import ssl
import time
from typing import Any

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from .. import metrics
from ..config import TLS, NodeSettings
from ..errors import STATUS_CANNOT_UNDERSTAND_PARSE, STATUS_OUT_OF_RESOURCES, STATUS_SUCCESS
from ..logging import get_logger
from ..spool import Spool, SpoolFullError
from .filemeta import part10_header
from .policy import AssociationPolicy

log = get_logger("receive")

# 0xA7xx: Refused: Out of Resources (PS3.4 Table B.2-1). The sender may try again later.
STATUS_OUT_OF_RESOURCES_DISK = STATUS_OUT_OF_RESOURCES + 0x01


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


class _Contexts(list[PresentationContext]):
    """The supported contexts, with a cheap ``deepcopy``.

    pynetdicom deep-copies the server's contexts for every association it accepts; for ~170 SOP classes with
    ~45 transfer syntaxes each that costs ~33 ms of CPU per association (mostly re-validating immutable UIDs).
    A fresh object per context with its own transfer syntax list is just as independent: UIDs are immutable.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> list[PresentationContext]:
        out = []
        for cx in self:
            new = copy.copy(cx)
            new._transfer_syntax = list(cx._transfer_syntax)
            out.append(new)
        return out


class StorageSCP:
    """Accepts Storage and Verification; applies :class:`AssociationPolicy`; spools every instance."""

    def __init__(self, settings: NodeSettings, spool: Spool) -> None:
        self.settings = settings
        self.spool = spool
        self.policy = AssociationPolicy(settings)
        self.server: ThreadedAssociationServer | None = None
        ae = AE(ae_title=settings.ae_title)
        ts = accepted_transfer_syntaxes()
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, ts)
        ae.add_supported_context(Verification)
        ae.maximum_associations = settings.max_associations
        ae.maximum_pdu_size = settings.max_pdu
        ae.acse_timeout = settings.acse_timeout
        ae.dimse_timeout = settings.dimse_timeout
        ae.network_timeout = settings.network_timeout
        self.ae = ae

    # -- handlers -------------------------------------------------------------------------------------
    def _on_conn_open(self, event: evt.Event) -> None:
        sock = getattr(event.assoc.dul.socket, "socket", None)
        if sock is not None:
            set_nodelay(sock)

    def _on_requested(self, event: evt.Event) -> None:
        assoc = event.assoc
        rq = assoc.requestor.primitive
        calling = rq.calling_ae_title if rq is not None else ""
        called = rq.called_ae_title if rq is not None else ""
        rej = self.policy.check(calling, called, assoc.requestor.address)
        if rej is not None:
            metrics.RECEIVE_ASSOCIATIONS.labels("rejected").inc()
            log.warning("association_rejected", extra={"code": rej.code, "calling_aet": calling.strip()})
            assoc.acse.send_reject(rej.result, rej.source, rej.diagnostic)
            evt.trigger(assoc, evt.EVT_REJECTED, {})
            assoc.kill()  # waits until the DUL has sent the A-ASSOCIATE-RJ, as pynetdicom's own rejections do

    def _on_accepted(self, event: evt.Event) -> None:
        metrics.RECEIVE_ASSOCIATIONS.labels("accepted").inc()

    def _on_echo(self, event: evt.Event) -> int:
        metrics.RECEIVE_ECHOES.inc()
        return STATUS_SUCCESS

    def _on_store(self, event: evt.Event) -> int:
        t0 = time.perf_counter()
        cx = event.context
        calling = event.assoc.requestor.ae_title.strip()
        try:
            req = event.request
            stream = req.DataSet.getvalue()  # the dataset as sent: never decoded here
            sop_class = str(req.AffectedSOPClassUID or cx.abstract_syntax)
            sop_instance = str(req.AffectedSOPInstanceUID)
            if not stream or not sop_instance:
                raise ValueError("empty dataset or no Affected SOP Instance UID")
            raw = part10_header(sop_class, sop_instance, str(cx.transfer_syntax), calling) + stream
        except Exception:  # noqa: BLE001 - malformed request: answer, keep serving
            metrics.RECEIVE_INSTANCES.labels("refused").inc()
            log.warning("store_refused", extra={"code": "unreadable_request"})
            return STATUS_CANNOT_UNDERSTAND_PARSE
        try:
            row = self.spool.store(
                raw,
                calling_aet=calling,
                sop_class=sop_class,
                transfer_syntax=str(cx.transfer_syntax),
            )
        except SpoolFullError:
            metrics.RECEIVE_INSTANCES.labels("refused").inc()
            log.error("store_refused", extra={"code": "spool_full"})
            return STATUS_OUT_OF_RESOURCES_DISK
        except OSError as e:
            metrics.RECEIVE_INSTANCES.labels("refused").inc()
            log.error("store_refused", extra={"code": "spool_io_error", "errno": e.errno})
            return STATUS_OUT_OF_RESOURCES
        metrics.RECEIVE_INSTANCES.labels("stored").inc()
        metrics.RECEIVE_BYTES.inc(len(raw))
        metrics.STAGE_DURATION.labels("receive").observe(time.perf_counter() - t0)
        log.debug("stored", extra={"row": row, "size": len(raw)})
        return STATUS_SUCCESS

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> tuple[str, int]:
        """Listen (non-blocking); returns the bound address."""
        handlers = [
            (evt.EVT_CONN_OPEN, self._on_conn_open),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, self._on_echo),
        ]
        ctx = server_ssl_context(self.settings.tls) if self.settings.tls else None
        self.server = self.ae.start_server(
            (self.settings.host, self.settings.port),
            block=False,
            evt_handlers=handlers,
            ssl_context=ctx,
            contexts=_Contexts(self.ae.supported_contexts),
        )
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def active_associations(self) -> int:
        return len(self.server.active_associations) if self.server else 0

    def stop(self, grace_seconds: float) -> int:
        """Stop accepting, let open associations finish for up to ``grace_seconds``, abort the rest.

        Returns how many associations were aborted (their unacknowledged instances will be sent again).
        """
        if self.server is None:
            return 0
        server = self.server
        server.shutdown()  # stops accepting and closes the listening socket; live associations go on
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline and server.active_associations:
            time.sleep(0.05)
        left = server.active_associations
        for assoc in left:
            assoc.abort()
        self.server = None
        return len(left)
