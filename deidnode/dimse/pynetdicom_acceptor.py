"""The acceptor port on pynetdicom (the reference implementation): ``AE.start_server``.

Policy runs in ``EVT_REQUESTED`` (network, AE titles, the association limit: rejected there with the
service's A-ASSOCIATE-RJ); a C-STORE's data set is received undecoded into pynetdicom's temporary file
(``_config.STORE_RECV_CHUNKED_DATASET``) and streamed from there to the service's sink in chunks.

Unlike the fast acceptor it reads a refused network's A-ASSOCIATE-RQ before rejecting it, and it has no
per-address connection cap nor per-message deadlines (pynetdicom's ``dimse_timeout`` and
``network_timeout`` apply): it is the reference the fast path is compared with, not the hardened edge.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from pynetdicom import AE, _config, evt
from pynetdicom.dsutils import split_dataset

from .. import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from ..config import NodeSettings
from ..logging import get_logger
from . import commands as cmds
from .acse import choose_transfer_syntax
from .ports import AcceptorService, Association, AssociationRequest, Context, Sink
from .transport import server_ssl_context, set_nodelay

log = get_logger("receive")

CHUNK = 1024 * 1024
_RJ_LIMIT = (0x02, 0x03, 0x02)  # rejected-transient, presentation related, local limit exceeded
_UNLIMITED = 10_000
REJECT_SEND_S = 2.0


def _title(value: Any) -> str | None:
    """An AE title without its leading and trailing spaces; None if it is not valid (PS3.5 6.2)."""
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value or "")
    if any(c < " " or c > "~" or c == "\\" for c in text):
        return None
    return text.strip(" ") or None


class _StoredDataSet:
    """A C-STORE data set in pynetdicom's temporary file (file meta first, written by pynetdicom)."""

    def __init__(self, path: Any) -> None:
        self._path = path
        self.pending = path is not None

    def read(self, sink: Sink | None = None) -> int:
        if not self.pending:
            return 0
        self.pending = False
        _meta, offset = split_dataset(self._path)
        total = 0
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        with open(self._path, "rb") as f:
            f.seek(offset)
            while n := f.readinto(buf):
                total += n
                if sink is not None:
                    sink(view[:n])
        return total


class PynetdicomAcceptor:
    """Accepts Storage and Verification associations for an :class:`~.ports.AcceptorService`."""

    def __init__(self, settings: NodeSettings, contexts: dict[str, frozenset[str]], service: AcceptorService) -> None:
        self.settings = settings
        self.contexts = contexts
        self.service = service
        ae = AE(ae_title=settings.ae_title)
        ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
        ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
        ae.maximum_associations = _UNLIMITED  # the limit is applied in EVT_REQUESTED, with the service told
        ae.maximum_pdu_size = settings.max_pdu
        ae.acse_timeout = settings.acse_timeout
        ae.dimse_timeout = settings.dimse_timeout
        ae.network_timeout = settings.network_timeout
        ae.require_called_aet = False
        ae.require_calling_aet = []
        for abstract, syntaxes in contexts.items():
            ae.add_supported_context(abstract, sorted(syntaxes))
        self.ae = ae
        self._server: Any = None
        self._lock = threading.Lock()
        self._established = 0
        self.address: tuple[str, int] = ("", 0)

    def start(self) -> tuple[str, int]:
        _config.STORE_RECV_CHUNKED_DATASET = True
        handlers: list[Any] = [
            (evt.EVT_CONN_OPEN, self._conn_open),
            (evt.EVT_REQUESTED, self._requested),
            (evt.EVT_ESTABLISHED, self._established_evt),
            (evt.EVT_CONN_CLOSE, self._ended),
            (evt.EVT_C_ECHO, self._echo),
            (evt.EVT_C_STORE, self._store),
        ]
        ssl_context = server_ssl_context(self.settings.tls) if self.settings.tls else None
        self._server = self.ae.start_server(
            (self.settings.host, self.settings.port), block=False, evt_handlers=handlers, ssl_context=ssl_context
        )
        host, port = self._server.server_address[:2]
        self.address = (str(host), int(port))
        return self.address

    # -- events ---------------------------------------------------------------------------------------
    def _conn_open(self, event: Any) -> None:
        sock = event.assoc.dul.socket.socket if event.assoc.dul.socket is not None else None
        if sock is not None:
            set_nodelay(sock)

    def _requested(self, event: Any) -> None:
        assoc = event.assoc
        rq = assoc.requestor.primitive
        peer = str(assoc.requestor.address)
        calling = _title(rq.calling_ae_title)
        refusal = self.service.on_connect(peer)
        if refusal is None:
            refusal = self.service.on_associate(AssociationRequest(calling, _title(rq.called_ae_title), peer))
        if refusal is not None:
            self.service.on_rejected(refusal.code, calling or "", peer)
            self._reject(assoc, (refusal.result, refusal.source, refusal.diagnostic))
            return
        self._prefer(rq)
        with self._lock:
            if self._established >= self.settings.max_associations:
                full = True
            else:
                self._established += 1
                assoc._deidnode_counted = True
                full = False
        if full:
            self.service.on_rejected("association_limit", calling or "", peer)
            self._reject(assoc, _RJ_LIMIT)

    def _prefer(self, rq: Any) -> None:
        """Leave in each proposed context only the transfer syntax the fast acceptor would choose
        (:func:`.acse.choose_transfer_syntax`), so both paths spool (and forward) the same bytes."""
        for cx in rq.presentation_context_definition_list:
            supported = self.contexts.get(str(cx.abstract_syntax))
            if supported is None:
                continue
            chosen = choose_transfer_syntax([str(t) for t in cx.transfer_syntax], supported)
            if chosen is not None:
                cx.transfer_syntax = [chosen]

    @staticmethod
    def _reject(assoc: Any, rj: tuple[int, int, int]) -> None:
        """Send the A-ASSOCIATE-RJ and wait (briefly) until it is out: pynetdicom closes the connection as soon
        as this handler returns, which lost the answer still queued for its DUL thread."""
        assoc.acse.send_reject(*rj)
        deadline = time.monotonic() + REJECT_SEND_S
        while assoc.dul.state_machine.current_state != "Sta13" and time.monotonic() < deadline:
            time.sleep(0.001)

    def _established_evt(self, event: Any) -> None:
        self.service.on_accepted(self._association(event.assoc))

    def _ended(self, event: Any) -> None:
        with self._lock:
            if getattr(event.assoc, "_deidnode_counted", False):
                event.assoc._deidnode_counted = False
                self._established -= 1

    def _association(self, assoc: Any) -> Association:
        contexts = {
            int(cx.context_id): Context(int(cx.context_id), str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
            for cx in assoc.accepted_contexts
        }
        rq = assoc.requestor.primitive
        return Association(
            _title(rq.calling_ae_title) or "", _title(rq.called_ae_title) or "", str(assoc.requestor.address), contexts
        )

    def _echo(self, event: Any) -> int:
        return self.service.on_echo(self._association(event.assoc))

    def _store(self, event: Any) -> int:
        req = event.request
        cx = event.context
        path = getattr(req, "_dataset_path", None)
        command = cmds.Command(
            field=cmds.C_STORE_RQ,
            message_id=int(req.MessageID or 0),
            sop_class=str(req.AffectedSOPClassUID or ""),
            sop_instance=str(req.AffectedSOPInstanceUID or ""),
            data_set_type=0x0001 if path is not None else cmds.NO_DATASET,
            priority=int(req.Priority or 0),
        )
        context = Context(int(cx.context_id), str(cx.abstract_syntax), str(cx.transfer_syntax))
        try:
            return self.service.on_store(self._association(event.assoc), context, command, _StoredDataSet(path))
        except Exception as e:
            peer = str(event.assoc.requestor.address)
            log.error("association_error", extra={"exc_type": type(e).__name__, "peer": peer})
            raise

    # -- lifecycle ------------------------------------------------------------------------------------
    @property
    def listening(self) -> bool:
        return self._server is not None

    def _associations(self) -> list[Any]:
        return [a for a in self._server.active_associations if a.is_established] if self._server else []

    def active_associations(self) -> int:
        return len(self._associations())

    def held_connections(self) -> int:
        return len(self._server.active_associations) if self._server else 0

    def sockets(self) -> list[socket.socket]:
        return [a.dul.socket.socket for a in self._associations() if a.dul.socket and a.dul.socket.socket]

    def stop(self, grace_seconds: float) -> int:
        server, self._server = self._server, None
        if server is None:
            return 0
        left = server.active_associations
        server.shutdown()  # no new connections
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline and any(a.is_established for a in left):
            time.sleep(0.05)
        aborted = [a for a in left if a.is_established]
        for a in aborted:
            a.abort()
        return len(aborted)
