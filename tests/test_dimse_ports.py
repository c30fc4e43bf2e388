"""The two DICOM network ports, on both implementations (``fast`` and ``pynetdicom``) in one run.

The acceptor hands its service the policy questions and each data set as a stream; the requestor reports
failures as typed errors with PHI-free causes. Both announce deidnode's implementation on the wire.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage, Verification

from deidnode import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from deidnode.config import NodeSettings
from deidnode.dimse import (
    Association,
    AssociationRequest,
    Context,
    DataSet,
    LinkFailed,
    Peer,
    Reject,
    Rejected,
    Unreachable,
    acceptor,
    requestor,
)
from deidnode.dimse.commands import Command

IMPLEMENTATIONS = ["fast", "pynetdicom"]
CONTEXTS = {
    CTImageStorage: frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian}),
    Verification: frozenset({ImplicitVRLittleEndian}),
}
BODY = bytes(range(256)) * 1000  # 256,000 bytes: several PDUs at a 16 KiB maximum


class Recorder:
    """An acceptor service that records what the port asked and answers as told."""

    def __init__(self, status: int = 0x0000, refuse: Reject | None = None) -> None:
        self.status, self.refuse = status, refuse
        self.requests: list[AssociationRequest] = []
        self.rejected: list[str] = []
        self.stored: list[tuple[Context, Command, bytes, set[type]]] = []
        self.lock = threading.Lock()

    def on_connect(self, peer: str) -> Reject | None:
        return None

    def on_associate(self, request: AssociationRequest) -> Reject | None:
        with self.lock:
            self.requests.append(request)
        return self.refuse

    def on_rejected(self, code: str, calling_ae: str, peer: str) -> None:
        with self.lock:
            self.rejected.append(code)

    def on_accepted(self, association: Association) -> None:
        pass

    def on_echo(self, association: Association) -> int:
        return 0x0000

    def on_store(self, association: Association, context: Context, command: Command, data: DataSet) -> int:
        chunks: list[bytes] = []
        kinds: set[type] = set()

        def sink(view: memoryview) -> None:
            kinds.add(type(view))
            chunks.append(bytes(view))

        size = data.read(sink)
        assert size == sum(map(len, chunks))
        with self.lock:
            self.stored.append((context, command, b"".join(chunks), kinds))
        return self.status


@pytest.fixture
def serve():
    ports = []

    def start(implementation: str, service: Recorder, **kw):
        port = acceptor(
            NodeSettings(host="127.0.0.1", port=0, max_pdu=16384, dimse=implementation, **kw), CONTEXTS, service
        )
        ports.append(port)
        return port.start()[1]

    yield start
    for p in ports:
        p.stop(0)


def _peer(port: int, **kw) -> Peer:
    return Peer("127.0.0.1", port, called_ae="DEIDNODE", calling_ae="CT1", timeout=5, **kw)


@pytest.mark.parametrize("sender", IMPLEMENTATIONS)
@pytest.mark.parametrize("receiver", IMPLEMENTATIONS)
def test_a_data_set_reaches_the_service_as_memory_views_and_its_status_the_sender(serve, receiver, sender):
    service = Recorder(status=0xB000)
    port = serve(receiver, service)
    assoc = requestor(sender).open(_peer(port), [(CTImageStorage, [ExplicitVRLittleEndian])])
    (cx_id,) = assoc.contexts
    assert assoc.contexts[cx_id] == (CTImageStorage, ExplicitVRLittleEndian)
    status = assoc.store(cx_id, 7, CTImageStorage, "1.2.3.4", [BODY[:1000], memoryview(BODY)[1000:]], 5)
    assoc.release(5)
    assert status == 0xB000
    (request,) = service.requests
    assert (request.calling_ae, request.called_ae, request.peer) == ("CT1", "DEIDNODE", "127.0.0.1")
    ((context, command, data, kinds),) = service.stored
    assert (context.abstract_syntax, context.transfer_syntax) == (CTImageStorage, ExplicitVRLittleEndian)
    assert (command.message_id, command.sop_class, command.sop_instance) == (7, CTImageStorage, "1.2.3.4")
    assert data == BODY and kinds == {memoryview}


@pytest.mark.parametrize("sender", IMPLEMENTATIONS)
@pytest.mark.parametrize("receiver", IMPLEMENTATIONS)
def test_the_services_rejection_reaches_the_requestor_typed(serve, receiver, sender):
    service = Recorder(refuse=Reject(0x01, 0x01, 0x03, "calling_aet_not_allowed"))
    port = serve(receiver, service)
    with pytest.raises(Rejected) as e:
        requestor(sender).open(_peer(port), [(CTImageStorage, [ExplicitVRLittleEndian])])
    assert (e.value.result, e.value.source, e.value.diagnostic, e.value.permanent) == (1, 1, 3, True)
    assert service.rejected == ["calling_aet_not_allowed"]


@pytest.mark.parametrize("sender", IMPLEMENTATIONS)
def test_an_unreachable_peer_is_named_by_its_errno(sender):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unreachable) as e:
        requestor(sender).open(_peer(port), [(CTImageStorage, [ExplicitVRLittleEndian])])
    assert e.value.cause == "ECONNREFUSED"


@pytest.mark.parametrize("sender", IMPLEMENTATIONS)
def test_a_peer_abort_in_answer_is_told_apart_from_a_lost_connection(sender):
    ae = AE(ae_title="PACS")
    ae.add_supported_context(CTImageStorage, ExplicitVRLittleEndian)

    def abort(event):
        event.assoc.abort()
        return 0x0000

    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, abort)])
    try:
        assoc = requestor(sender).open(_peer(server.server_address[1]), [(CTImageStorage, [ExplicitVRLittleEndian])])
        with pytest.raises(LinkFailed) as e:
            assoc.store(1, 1, CTImageStorage, "1.2.3.4", [BODY], 5)
        assert (e.value.kind, e.value.sent) == ("aborted", True)
        assoc.close()
    finally:
        server.shutdown()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_both_sides_announce_deidnodes_implementation(serve, implementation):
    seen = []
    ae = AE(ae_title="PACS")
    ae.add_supported_context(CTImageStorage, ExplicitVRLittleEndian)

    def requested(event):
        rq = event.assoc.requestor
        seen.append((str(rq.implementation_class_uid), rq.implementation_version_name))

    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_REQUESTED, requested)])
    try:
        assoc = requestor(implementation).open(
            _peer(server.server_address[1]), [(CTImageStorage, [ExplicitVRLittleEndian])]
        )
        assoc.release(5)
    finally:
        server.shutdown()
    port = serve(implementation, Recorder())
    sender = AE(ae_title="CT1")
    sender.add_requested_context(Verification)
    assoc = sender.associate("127.0.0.1", port, ae_title="DEIDNODE")
    assert assoc.is_established
    answered = (str(assoc.acceptor.implementation_class_uid), assoc.acceptor.implementation_version_name)
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()
    assert seen == [(IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME)]
    assert answered == (IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME)


@pytest.mark.parametrize("receiver", IMPLEMENTATIONS)
def test_a_rejection_answered_before_pynetdicom_looks_is_still_a_rejection(serve, receiver, monkeypatch):
    """pynetdicom's requestor checks that its socket is connected only after sending the request; an acceptor
    that answers A-ASSOCIATE-RJ at once has its socket closed by pynetdicom's own state machine (AE-4) before
    that check, and pynetdicom reports an abort. Delaying its association thread provokes that order every
    time (seen once in CI as "connection closed")."""
    from pynetdicom.acse import ACSE

    send_request = ACSE.send_request

    def slow_send_request(self):
        send_request(self)
        time.sleep(0.3)  # the state machine receives the RJ and closes the socket meanwhile

    monkeypatch.setattr(ACSE, "send_request", slow_send_request)
    service = Recorder(refuse=Reject(0x01, 0x01, 0x03, "calling_aet_not_allowed"))
    port = serve(receiver, service)
    with pytest.raises(Rejected) as e:
        requestor("pynetdicom").open(_peer(port), [(CTImageStorage, [ExplicitVRLittleEndian])])
    assert (e.value.result, e.value.source, e.value.diagnostic) == (1, 1, 3)


def test_a_connection_reset_before_the_association_starts_fails_it_instead_of_hanging(monkeypatch):
    """Seen in CI: the destination was killed just after the requestor's TCP connect. Reporting the connection
    to pynetdicom asked the dead socket for its peer's address; the OSError ended pynetdicom's reactor thread and
    ``AE.associate`` waited for it forever: a worker hung and its instances stayed in the spool."""
    from deidnode.dimse import pynetdicom_requestor

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    real = socket.create_connection

    class Reset(socket.socket):
        def getpeername(self):
            raise ConnectionResetError(104, "reset by peer")

    def connect_then_reset(address, timeout=None):
        return Reset(fileno=real(address, timeout=timeout).detach())

    monkeypatch.setattr(pynetdicom_requestor.socket, "create_connection", connect_then_reset)
    outcome: list[BaseException] = []

    def open_():
        try:
            requestor("pynetdicom").open(_peer(port), [(CTImageStorage, [ExplicitVRLittleEndian])])
        except BaseException as e:  # noqa: BLE001 - what it raised is the result
            outcome.append(e)

    t = threading.Thread(target=open_, daemon=True)
    try:
        t.start()
        t.join(15)
        assert not t.is_alive(), "open() hung"
    finally:
        listener.close()
    assert len(outcome) == 1 and isinstance(outcome[0], LinkFailed)
