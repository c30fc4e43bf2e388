"""The lean upper layer: command sets against pynetdicom's codec, PDV framing, and protocol errors on a live SCP."""

from __future__ import annotations

import io
import socket
import struct
import sys
import threading
from pathlib import Path

import pytest
from pynetdicom.dimse_messages import C_ECHO_RSP, C_STORE_RQ, C_STORE_RSP
from pynetdicom.dimse_primitives import C_ECHO, C_STORE
from pynetdicom.dsutils import decode, encode
from pynetdicom.sop_class import CTImageStorage, Verification

from deidnode.config import NodeSettings
from deidnode.dimse import Link, ProtocolError, acse
from deidnode.dimse import commands as cmds
from deidnode.dimse.link import A_ABORT, P_DATA_TF
from deidnode.receive import StorageSCP
from deidnode.spool import Spool, State

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import make_study, to_bytes  # noqa: E402

EXPLICIT = "1.2.840.10008.1.2.1"


def _pynetdicom_command(message_cls, primitive) -> bytes:
    msg = message_cls()
    msg.primitive_to_message(primitive)
    return encode(msg.command_set, True, True)


# -- command sets -------------------------------------------------------------------------------------------
def test_store_rq_is_what_pynetdicom_encodes():
    p = C_STORE()
    p.MessageID, p.AffectedSOPClassUID, p.AffectedSOPInstanceUID, p.Priority = 7, CTImageStorage, "1.2.3.45", 0
    p.DataSet = io.BytesIO(b"\x08\x00\x16\x00\x02\x00\x00\x00ab")
    assert cmds.store_rq(7, CTImageStorage, "1.2.3.45") == _pynetdicom_command(C_STORE_RQ, p)


def test_store_rsp_and_echo_rsp_are_what_pynetdicom_encodes():
    rq = cmds.Command(field=cmds.C_STORE_RQ, message_id=9, sop_class=CTImageStorage, sop_instance="1.2.3")
    p = C_STORE()
    p.MessageIDBeingRespondedTo, p.AffectedSOPClassUID, p.AffectedSOPInstanceUID = 9, CTImageStorage, "1.2.3"
    p.Status = 0xA701
    assert cmds.store_rsp(rq, 0xA701) == _pynetdicom_command(C_STORE_RSP, p)
    e = C_ECHO()
    e.MessageIDBeingRespondedTo, e.AffectedSOPClassUID, e.Status = 3, Verification, 0
    echo_rq = cmds.Command(field=cmds.C_ECHO_RQ, message_id=3, sop_class=Verification)
    assert cmds.echo_rsp(echo_rq) == _pynetdicom_command(C_ECHO_RSP, e)


def test_decode_reads_pynetdicom_commands():
    p = C_STORE()
    p.MessageID, p.AffectedSOPClassUID, p.AffectedSOPInstanceUID, p.Priority = 65535, CTImageStorage, "1.2.3.4", 2
    p.MoveOriginatorApplicationEntityTitle, p.MoveOriginatorMessageID = "MOVER", 12
    p.DataSet = io.BytesIO(b"\x08\x00\x16\x00\x02\x00\x00\x00ab")
    cmd = cmds.decode_command(_pynetdicom_command(C_STORE_RQ, p))
    assert (cmd.field, cmd.message_id, cmd.sop_class, cmd.sop_instance, cmd.priority) == (
        cmds.C_STORE_RQ,
        65535,
        CTImageStorage,
        "1.2.3.4",
        2,
    )
    assert cmd.has_dataset
    back = decode(io.BytesIO(cmds.refuse_rsp(cmd)), True, True)
    assert back.CommandField == 0x8001 and back.Status == cmds.STATUS_UNRECOGNIZED_OPERATION


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\x00\x00\x01\x02\x00", b"\x00\x00\x00\x01\xff\x00\x00\x00ab", b"\x08\x00\x10\x00\x02\x00\x00\x00ab"],
)
def test_malformed_commands_are_refused(data):
    with pytest.raises(ValueError):
        cmds.decode_command(data)


# -- framing ------------------------------------------------------------------------------------------------
def _pdv(cx: int, ctrl: int, value: bytes) -> bytes:
    return struct.pack(">IBB", len(value) + 2, cx, ctrl) + value


def _pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BBI", pdu_type, 0, len(body)) + body


def _pair() -> tuple[Link, socket.socket]:
    a, b = socket.socketpair()
    a.settimeout(3)  # a check that is missing shows as a timeout (PeerClosed), not a hang
    b.settimeout(3)
    return Link(a, max_receive=1 << 16), b


def test_fragments_split_across_and_within_pdus_are_reassembled():
    link, peer = _pair()
    command = cmds.store_rq(1, CTImageStorage, "1.2.3")
    peer.sendall(_pdu(P_DATA_TF, _pdv(1, 0x01, command[:10])))
    peer.sendall(_pdu(P_DATA_TF, _pdv(1, 0x03, command[10:]) + _pdv(1, 0x00, b"abc")))
    peer.sendall(_pdu(P_DATA_TF, _pdv(1, 0x02, b"defg")))
    cx, cmd = link.read_command()
    assert cx == 1 and cmd.sop_instance == "1.2.3"
    got: list[bytes] = []
    assert link.read_dataset(1, lambda v: got.append(bytes(v))) == 7
    assert b"".join(got) == b"abcdefg"


def test_sent_messages_respect_the_peer_maximum():
    link, peer = _pair()
    link.peer_max = 1000
    data = bytes(range(256)) * 20
    link.send_message(3, cmds.store_rq(1, CTImageStorage, "1.2"), data)
    reader = Link(peer, max_receive=1000)
    cx, _ = reader.read_command()
    got = bytearray()
    reader.read_dataset(cx, got.extend)
    assert bytes(got) == data
    # every P-DATA-TF variable field fits the announced maximum
    link.send_message(3, cmds.store_rq(2, CTImageStorage, "1.2"), data)
    for _ in range(7):
        pdu_type, body = reader.read_pdu()
        assert pdu_type == P_DATA_TF and len(body) <= 1000


@pytest.mark.parametrize(
    "wire",
    [
        _pdu(P_DATA_TF, _pdv(1, 0x00, b"data first")),  # a data set before its command
        _pdu(P_DATA_TF, b"\x00\x00\x00\x01\x01"),  # truncated PDV item
        _pdu(P_DATA_TF, b""),  # no PDV at all
        _pdu(0x09, b"\x00" * 4),  # unknown PDU type
        _pdu(P_DATA_TF, _pdv(1, 0x03, b"x" * (1 << 16))),  # longer than we announced
        _pdu(P_DATA_TF, _pdv(1, 0x01, b"x" * 60000)) * 2,  # a command set that never ends
    ],
)
def test_protocol_violations_are_reported(wire):
    link, peer = _pair()
    peer.sendall(wire)
    with pytest.raises(ProtocolError):
        link.read_command()


def test_an_oversized_association_request_is_refused_before_it_is_read():
    """Before any association, a peer must not make us buffer 64 MiB (CONTROL_MAX_PDU is 1 MiB)."""
    link, peer = _pair()  # without the check, read_pdu would wait for the body and time out (PeerClosed)
    peer.sendall(struct.pack(">BBI", 0x01, 0, 64 << 20))
    with pytest.raises(ProtocolError):
        link.read_pdu()


# -- a live SCP against a raw requestor ---------------------------------------------------------------------
@pytest.fixture
def scp(tmp_path):
    spool = Spool(tmp_path / "spool")
    server = StorageSCP(NodeSettings(host="127.0.0.1", port=0, max_pdu=16384, dimse="fast"), spool)
    _, port = server.start()
    yield port, spool
    server.stop(0)


def _associate(port: int, contexts=((CTImageStorage, [EXPLICIT]),)) -> tuple[Link, acse.Accepted]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    link = Link(sock)
    accepted = acse.request(link, calling_ae="RAW", called_ae="DEIDNODE", contexts=contexts, max_pdu=0)
    return link, accepted


def test_raw_requestor_stores_with_tiny_fragments_and_releases(scp):
    port, spool = scp
    link, accepted = _associate(port)
    assert accepted.contexts == {1: (CTImageStorage, EXPLICIT)} and accepted.peer_max_pdu == 16384
    ds = make_study(1, 1)[0]
    body = to_bytes(ds)[132:]
    meta_len = struct.unpack("<I", body[8:12])[0] + 12
    link.peer_max = 64  # 58-byte fragments
    link.send_message(1, cmds.store_rq(1, CTImageStorage, ds.SOPInstanceUID), body[meta_len:])
    _, rsp = link.read_command()
    assert rsp.field == cmds.C_STORE_RSP and rsp.status == 0x0000 and rsp.responded_to == 1
    assert spool.depth()[State.RECEIVED] == 1
    link.send_release_rq()
    assert link.read_pdu()[0] == 0x06  # A-RELEASE-RP
    link.close()


def test_unsupported_operation_is_answered_and_the_association_goes_on(scp):
    port, _ = scp
    link, _ = _associate(port)
    find = cmds.Command(field=0x0020, message_id=5, sop_class=CTImageStorage, data_set_type=0x0000)
    rq = cmds._group(
        cmds._el(0x0002, cmds._ui(CTImageStorage)),
        cmds._el(0x0100, cmds._us(find.field)),
        cmds._el(0x0110, cmds._us(5)),
        cmds._el(0x0800, cmds._us(0x0000)),
    )
    link.send_message(1, rq, b"\x08\x00\x52\x00\x06\x00\x00\x00STUDY ")
    _, rsp = link.read_command()
    assert rsp.field == 0x8020 and rsp.status == cmds.STATUS_UNRECOGNIZED_OPERATION and rsp.responded_to == 5
    link.send_message(1, cmds.echo_rq(6, CTImageStorage))
    _, echo = link.read_command()
    assert echo.field == cmds.C_ECHO_RSP and echo.responded_to == 6
    link.close()


def test_a_message_on_an_unaccepted_context_is_aborted(scp):
    port, _ = scp
    link, _ = _associate(port)
    link.send_message(3, cmds.echo_rq(1))
    pdu_type, body = link.read_pdu()
    assert pdu_type == A_ABORT and body[2] == 0x02  # source: service provider
    link.close()


def test_garbage_instead_of_an_association_request_is_aborted_and_the_scp_keeps_serving(scp):
    port, spool = scp
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(_pdu(P_DATA_TF, _pdv(1, 0x03, b"hello")))
        assert s.recv(16)[:1] == bytes([A_ABORT])
    link, accepted = _associate(port)
    assert accepted.contexts
    link.close()


def test_proposed_syntaxes_we_do_not_read_are_refused_per_context(scp):
    port, _ = scp
    link, accepted = _associate(port, ((CTImageStorage, ["1.2.3.4.5.6"]), ("1.2.3.999", [EXPLICIT])))
    assert accepted.contexts == {}
    link.close()


def test_extended_negotiation_items_from_pynetdicom_are_answered_and_storage_works(scp):
    """Async window, role selection and user identity: replied to (or ignored) as PS3.7 D.3.3 allows."""
    from pynetdicom import AE, build_role
    from pynetdicom.pdu_primitives import AsynchronousOperationsWindowNegotiation, UserIdentityNegotiation

    port, spool = scp
    ae = AE(ae_title="EXTNEG")
    ae.add_requested_context(CTImageStorage)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    window = AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_invoked = 5
    window.maximum_number_operations_performed = 5
    user = UserIdentityNegotiation()
    user.user_identity_type = 1
    user.primary_field = b"someone"
    assoc = ae.associate(
        "127.0.0.1", port, ae_title="DEIDNODE", ext_neg=[window, build_role(CTImageStorage, scu_role=True), user]
    )
    assert assoc.is_established
    assert assoc.send_c_store(make_study(1, 1)[0]).Status == 0x0000
    assoc.release()
    assert spool.depth()[State.RECEIVED] == 1


def test_a_data_set_in_several_buffers_is_fragmented_across_their_boundaries():
    link, peer = _pair()
    link.peer_max = 100
    buffers = [b"a" * 10, b"", b"b" * 250, memoryview(b"c" * 7), b"d" * 94]
    link.send_message(1, cmds.store_rq(1, CTImageStorage, "1.2"), buffers)
    reader = Link(peer, max_receive=100)
    reader.read_command()
    pieces: list[bytes] = []
    for _ in range(10):  # the fragments as sent, one PDV per P-DATA-TF
        _, pdu = reader.read_pdu()
        pieces.append(bytes(pdu[6:]))
        if pdu[5] & 0x02:
            break
    assert b"".join(pieces) == b"".join(bytes(b) for b in buffers)
    assert [len(p) for p in pieces] == [94, 94, 94, 79]


# -- issue 12: what a peer can make a Link spend -------------------------------------------------------------
def test_small_data_set_fragments_reach_the_sink_coalesced():
    """Each held fragment costs a ~200-byte view: small ones are copied into 64 KiB chunks first."""
    link, peer = _pair()
    data = bytes(range(256)) * 1200  # 300 KiB in 300-byte fragments: legal, but 1,000 views
    sender = threading.Thread(
        target=lambda: peer.sendall(
            b"".join(
                _pdu(P_DATA_TF, _pdv(1, 0x02 if i + 300 >= len(data) else 0x00, data[i : i + 300]))
                for i in range(0, len(data), 300)
            )
        )
    )
    sender.start()
    pieces: list[bytes] = []
    assert link.read_dataset(1, lambda v: pieces.append(bytes(v))) == len(data)
    sender.join()
    assert b"".join(pieces) == data
    assert len(pieces) <= len(data) // (64 * 1024) + 1


def test_a_data_set_of_one_byte_fragments_is_refused_early():
    link, peer = _pair()
    peer.sendall(_pdu(P_DATA_TF, _pdv(1, 0x00, b"x") * 5000))
    with pytest.raises(ProtocolError):
        link.read_dataset(1, lambda v: None)


def test_a_pdu_of_empty_fragments_is_split_one_at_a_time():
    """A 64 KiB P-DATA-TF of 10,000 empty PDVs used to become 10,000 views at once."""
    import tracemalloc

    link, peer = _pair()
    peer.sendall(_pdu(P_DATA_TF, _pdv(1, 0x01, b"") * 10000))
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError):  # and the command is cut off after MAX_COMMAND_FRAGMENTS
            link.read_command()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 512 * 1024


def test_gathered_writes_are_linear_in_the_number_of_buffers():
    """500,000 one-byte buffers: the remaining list was re-sliced after every writev (11 s of CPU; 1.7 s now)."""
    import os
    import time

    from deidnode.iovec import write_all

    fd = os.open(os.devnull, os.O_WRONLY)
    buffers = [b"x"] * 500_000
    t0 = time.process_time()
    try:
        write_all(lambda batch: os.writev(fd, batch), buffers)
    finally:
        os.close(fd)
    assert time.process_time() - t0 < 5


def test_a_message_to_a_small_maximum_is_sent_in_bounded_batches():
    """PDU headers and views for a whole data set were built before the first byte was sent."""
    import tracemalloc

    link, peer = _pair()
    link.peer_max = 64
    data = b"d" * (2 << 20)  # 36,000 PDUs
    received: list[int] = []
    reader = threading.Thread(target=lambda: _drain(peer, received))
    reader.start()
    tracemalloc.start()
    try:
        link.send_message(1, cmds.store_rq(1, CTImageStorage, "1.2"), data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        link.close()
        reader.join(30)
    assert peak < 2 << 20, f"{peak} bytes held while sending"
    assert sum(received) > len(data)


def _drain(sock: socket.socket, sizes: list[int]) -> None:
    buf = bytearray(1 << 16)
    while n := sock.recv_into(buf):
        sizes.append(n)


def _fake_acceptor(reply: bytes, *, drip: float = 0.0) -> tuple[int, threading.Thread]:
    """A one-shot acceptor on 127.0.0.1 that reads an A-ASSOCIATE-RQ and sends ``reply`` (byte by byte every
    ``drip`` seconds if set)."""
    import time

    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)

    def run() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(10)
                conn.recv(65536)
                try:
                    if drip:
                        for b in reply:
                            conn.sendall(bytes((b,)))
                            time.sleep(drip)
                    else:
                        conn.sendall(reply)
                        conn.recv(65536)
                except OSError:
                    pass

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return server.getsockname()[1], t


def _ac(max_pdu: int) -> bytes:
    """An A-ASSOCIATE-AC accepting context 1 (CT, Explicit VR LE) with ``max_pdu`` as Maximum Length Received."""
    from pynetdicom.pdu import A_ASSOCIATE_AC
    from pynetdicom.pdu_primitives import A_ASSOCIATE, MaximumLengthNotification
    from pynetdicom.presentation import PresentationContext

    cx = PresentationContext()
    cx.context_id, cx.abstract_syntax, cx.transfer_syntax, cx.result = 1, CTImageStorage, [EXPLICIT], 0
    ml = MaximumLengthNotification()
    ml.maximum_length_received = max_pdu
    prim = A_ASSOCIATE()
    prim.application_context_name = acse.APPLICATION_CONTEXT
    prim.calling_ae_title, prim.called_ae_title = "DEIDNODE", "PACS"
    prim.result, prim.result_source = 0, 1
    prim.presentation_context_definition_results_list = [cx]
    prim.user_information = [ml]
    pdu = A_ASSOCIATE_AC()
    pdu.from_primitive(prim)
    return pdu.encode()


@pytest.mark.parametrize("max_pdu", [4, 6, 100])
def test_a_destination_maximum_too_small_to_fragment_is_refused(max_pdu):
    """The same value in a destination's A-ASSOCIATE-AC made a worker spin on its first send; the forwarder
    now treats the destination as unavailable (retried later)."""
    from deidnode.config import Destination
    from deidnode.engine import encode_dataset
    from deidnode.engine.convert import to_native_little_endian
    from deidnode.forward import DicomForwarder, Outcome, Outgoing

    port, t = _fake_acceptor(_ac(max_pdu))
    link = Link(socket.create_connection(("127.0.0.1", port), timeout=5))
    with pytest.raises(ProtocolError):
        acse.request(link, calling_ae="DEIDNODE", called_ae="PACS", contexts=[(CTImageStorage, [EXPLICIT])], max_pdu=0)
    link.close()
    t.join(10)

    port, t = _fake_acceptor(_ac(max_pdu))
    dest = Destination(name="tiny", type="dicom", ae_title="PACS", host="127.0.0.1", port=port, timeout=5, dimse="fast")
    fwd = DicomForwarder(dest)
    result = fwd.send(Outgoing(make_study(1, 1)[0], encode=encode_dataset, convert=to_native_little_endian))
    assert result.outcome is Outcome.RETRY and result.code == "association_failed"
    fwd.close()
    t.join(10)


def test_a_destination_dripping_its_answer_is_cut_at_the_timeout():
    import time

    from deidnode.dimse import PeerClosed

    port, t = _fake_acceptor(_ac(16384), drip=0.2)
    link = Link(socket.create_connection(("127.0.0.1", port), timeout=1.0))
    t0 = time.monotonic()
    with pytest.raises(PeerClosed):
        acse.request(link, calling_ae="DEIDNODE", called_ae="PACS", contexts=[(CTImageStorage, [EXPLICIT])], max_pdu=0)
    assert time.monotonic() - t0 < 3
    link.close()
    t.join(10)
