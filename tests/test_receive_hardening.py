"""Issue 12: the Storage SCP against hostile and broken peers on 127.0.0.1, each attack bounded in time and bytes.

Where the cost of an attack is the point (memory, CPU), the SCP runs alone in a child process
(``netpeers.ScpProcess``) and /proc says what the attack cost it.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from pathlib import Path

import pytest

from deidnode.config import NodeSettings
from deidnode.receive import StorageSCP
from deidnode.spool import Spool, State

sys.path.insert(0, str(Path(__file__).parent))
import attackers as atk  # noqa: E402
from dicom_factory import make_study, to_bytes  # noqa: E402
from netpeers import ScpProcess  # noqa: E402


@pytest.fixture
def node(tmp_path):
    started: list[StorageSCP] = []

    def start(**kw) -> tuple[StorageSCP, Spool]:
        spool = Spool(tmp_path / f"spool{len(started)}")
        scp = StorageSCP(NodeSettings(host="127.0.0.1", port=0, **kw), spool)
        scp.start()
        started.append(scp)
        return scp, spool

    yield start
    for s in started:
        s.stop(0)


def _instance() -> tuple[bytes, str]:
    ds = make_study(1, 1)[0]
    return atk.dataset_of(to_bytes(ds)), str(ds.SOPInstanceUID)


def _wait(pred, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return bool(pred())


# -- 1. a peer's Maximum Length Received -------------------------------------------------------------------------
@pytest.mark.parametrize("max_pdu", [1, 4, 6, 12, 1023])
def test_a_peer_maximum_length_too_small_to_fragment_is_rejected(node, max_pdu):
    """A maximum of 4-6 made the send loop spin forever on the first response (fragment size 0)."""
    scp, _ = node()
    with atk.connect(scp.address[1]) as s:
        s.sendall(atk.rq(max_pdu=max_pdu))
        pdu_type, body = atk.read_pdu(s)
        assert pdu_type == atk.A_ASSOCIATE_RJ, "associated with a peer we cannot fragment for"
        assert body[1:4] == bytes((0x01, 0x02, 0x01))  # permanent, ACSE, no reason given
    ok, _ = atk.associate(scp.address[1], max_pdu=1024)
    ok.sendall(atk.echo(3))
    assert atk.response_status(ok) == 0x0000
    ok.close()


# -- 2. tiny PDV fragments ---------------------------------------------------------------------------------------
def test_empty_command_fragments_are_cut_off_without_memory_growth(tmp_path):
    """4 MiB of empty command fragments grew the SCP by 100+ MiB and never ended; now aborted after a few."""
    with ScpProcess(tmp_path / "spool") as scp:
        s, _ = atk.associate(scp.port)
        before = scp.rss_mb()
        sent, closed = atk.sent_until_closed(s, atk.tiny_fragments(1, 4 << 20, ctrl=0x01, size=0))
        closed = closed or atk.closed_by_peer(s, 5)
        grown = scp.peak_rss_mb() - before
        s.close()
    assert closed, "the SCP kept reading empty command fragments"
    assert grown < 20, f"SCP memory grew {grown:.0f} MB"


def test_one_byte_data_fragments_are_cut_off_without_memory_growth(tmp_path):
    """A data set in 1-byte fragments cost ~200 bytes of memory per byte and a quadratic first flush."""
    data, uid = _instance()
    with ScpProcess(tmp_path / "spool") as scp:
        s, _ = atk.associate(scp.port)
        s.sendall(atk.pdu(atk.P_DATA_TF, atk.pdv(1, 0x03, atk.command(0x0001, 1, atk.CT, uid, True))))
        before = scp.rss_mb()
        sent, closed = atk.sent_until_closed(s, atk.tiny_fragments(1, 8 << 20))
        closed = closed or atk.closed_by_peer(s, 10)
        grown = scp.peak_rss_mb() - before
        s.close()
    assert closed, "the SCP accepted a data set of a million 1-byte fragments"
    assert grown < 20, f"SCP memory grew {grown:.0f} MB"


def test_small_but_legal_fragments_are_stored(node):
    """Fragments of 300 bytes (a legal, odd sender) still store: the bound is per byte, not a flat count."""
    scp, spool = node(max_pdu=0)
    data, uid = _instance()
    s, _ = atk.associate(scp.address[1])
    s.sendall(atk.store(1, data, atk.CT, uid, fragment=300))
    assert atk.response_status(s) == 0x0000
    s.close()
    item = spool.claim("t")
    assert spool.file_path(item).read_bytes().endswith(data)


# -- 4. connection slots -----------------------------------------------------------------------------------------
def test_an_association_request_dripped_byte_by_byte_is_cut_at_the_acse_deadline(node):
    """Timeouts were per recv: a request dripped at 1 byte/s was accepted after 160 s with a 30 s ACSE timeout."""
    scp, _ = node(acse_timeout=1.5)
    s = atk.connect(scp.address[1])
    t0 = time.monotonic()
    sent = atk.drip(s, atk.rq(), interval=0.25, until=t0 + 8)
    elapsed = time.monotonic() - t0
    s.close()
    assert elapsed < 4, f"still reading the dripped request after {elapsed:.1f} s ({sent} bytes)"


def test_a_message_dripped_byte_by_byte_is_cut_at_its_deadline(node):
    scp, spool = node(dimse_timeout=1.5, network_timeout=30)
    data, uid = _instance()
    s, _ = atk.associate(scp.address[1])
    t0 = time.monotonic()
    atk.drip(s, atk.store(1, data, atk.CT, uid), interval=0.2, until=t0 + 8)
    elapsed = time.monotonic() - t0
    s.close()
    assert elapsed < 4, f"still reading the dripped message after {elapsed:.1f} s"
    assert spool.depth()[State.RECEIVED] == 0


def test_connections_from_a_refused_network_hold_no_slots(node):
    """The connection cap applied before any policy: silent connections from a refused address locked senders
    out. Now they are refused at accept, before a byte is read."""
    scp, _ = node(max_associations=1, allowed_networks=("127.0.0.1/32",), acse_timeout=30)
    silent = [atk.connect(scp.address[1], source="127.0.0.2") for _ in range(15)]
    try:
        assert not _wait(lambda: scp._active, 1)  # none of them holds a slot (cap: 10)
        ok, _ = atk.associate(scp.address[1], source="127.0.0.1")
        ok.sendall(atk.echo(3))
        assert atk.response_status(ok) == 0x0000
        ok.close()
        with atk.connect(scp.address[1], source="127.0.0.2") as s:  # one that asks gets the rejection
            s.sendall(atk.rq())
            pdu_type, body = atk.read_pdu(s)
            assert pdu_type == atk.A_ASSOCIATE_RJ and body[1:4] == bytes((0x01, 0x01, 0x01))
        t0 = time.monotonic()
        for s in silent:  # and the silent ones are closed within 2 s, never read
            assert atk.read_pdu(s) == (0, b"")
        assert time.monotonic() - t0 < 4
    finally:
        for s in silent:
            s.close()


def test_one_address_cannot_take_every_connection_slot(node):
    """Per-source capacity: an allowed host holding silent connections leaves room for the others."""
    scp, _ = node(max_associations=2, acse_timeout=30)  # 12 connections in all, 2 per address
    silent = [atk.connect(scp.address[1], source="127.0.0.2") for _ in range(12)]
    try:
        _wait(lambda: len(scp._active) >= 2)
        assert len(scp._active) <= 2
        ok, _ = atk.associate(scp.address[1], source="127.0.0.1")
        ok.sendall(atk.echo(3))
        assert atk.response_status(ok) == 0x0000
        ok.close()
    finally:
        for s in silent:
            s.close()


def test_the_connection_cap_holds_under_a_burst(node):
    """Slots are taken under the lock before the serving thread starts (the cap was overshot by one)."""
    scp, _ = node(max_associations=1, max_connections_per_address=100, acse_timeout=30)
    cap = 2 * 1 + 8
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(len(scp._active))
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    socks = []
    try:
        for _ in range(40):
            socks.append(atk.connect(scp.address[1]))
        _wait(lambda: len(scp._active) >= cap)
    finally:
        stop.set()
        watcher.join()
        for s in socks:
            s.close()
    assert max(seen) == cap


# -- 5. CPU before the allow-list ---------------------------------------------------------------------------------
def test_a_refused_calling_aet_costs_no_decoding(tmp_path):
    """A 685 KB request took 0.54 s of CPU to decode before the allow-list looked at its AE title."""
    big = atk.big_request(b"INTRUDER")
    assert len(big) > 600_000
    with ScpProcess(tmp_path / "spool", allowed_calling_aets=["CT1"]) as scp:
        cpu0 = scp.cpu_seconds()
        for _ in range(4):
            with atk.connect(scp.port) as s:
                s.sendall(big)
                pdu_type, body = atk.read_pdu(s)
                assert pdu_type == atk.A_ASSOCIATE_RJ and body[3] == 0x03  # calling AE title not recognised
        used = scp.cpu_seconds() - cpu0
    assert used < 0.5, f"{used:.2f} s of CPU for four refused requests"


def test_a_request_larger_than_real_peers_send_is_not_decoded(node):
    scp, _ = node(allowed_calling_aets=("CT1",))
    with atk.connect(scp.address[1]) as s:
        s.sendall(atk.big_request(b"CT1"))
        pdu_type, _ = atk.read_pdu(s)
    assert pdu_type == atk.A_ABORT


def test_the_largest_proposal_a_real_peer_sends_is_decoded(node):
    """pynetdicom's largest request (128 contexts of all 45 syntaxes, 158 KB) stays under the cap."""
    from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts

    scp, _ = node()
    ae = AE(ae_title="CT1")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    for cx in AllStoragePresentationContexts[:128]:
        ae.add_requested_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    assoc = ae.associate("127.0.0.1", scp.address[1], ae_title="DEIDNODE")
    assert assoc.is_established
    assoc.release()


# -- 7. unknown items ----------------------------------------------------------------------------------------------
def test_unknown_items_and_sub_items_are_ignored(node):
    """PS3.8 9.3.2.3 / 9.3.3.3: unknown variable items and user information sub-items shall be ignored."""
    scp, _ = node()
    s, contexts = atk.associate(
        scp.address[1],
        extra_items=atk.item(0x99, b"future item"),
        extra_user_items=atk.item(0x5F, b"future sub-item"),
        extra_context_items=atk.item(0x3F, b"?"),
    )
    assert contexts == {1: atk.EXPLICIT, 3: atk.IMPLICIT}
    s.sendall(atk.echo(3))
    assert atk.response_status(s) == 0x0000
    s.close()


def test_peer_text_in_uid_items_reaches_no_warning_or_log(node, recwarn, caplog):
    """pynetdicom's decoder warned with the peer's bytes (``Invalid value for VR UI: '...'``): a UID item that
    is not a UID is emptied or dropped before decoding, and its context refused."""
    scp, _ = node()
    s, contexts = atk.associate(
        scp.address[1],
        contexts=[("1.2.\nPATIENT^NAME", [atk.EXPLICIT]), (atk.CT, ["PATIENT^NAME", atk.EXPLICIT])],
    )
    s.close()
    assert contexts == {3: atk.EXPLICIT}
    assert not [w for w in recwarn if "PATIENT" in str(w.message)]
    assert "PATIENT" not in caplog.text


# -- 8. AE titles with control characters ---------------------------------------------------------------------------
@pytest.mark.parametrize("calling", [b"ALLOWED\t", b"\nALLOWED", b"ALLOWED\x1c", b"ALL\\OWED", b" ALLOWED\x00"])
def test_calling_aet_with_control_characters_is_rejected(node, calling):
    """Only leading and trailing spaces are insignificant (PS3.5 6.2); strip() let ALLOWED\\t pass as ALLOWED."""
    scp, _ = node(allowed_calling_aets=("ALLOWED",))
    with atk.connect(scp.address[1]) as s:
        s.sendall(atk.rq(calling=calling))
        pdu_type, body = atk.read_pdu(s)
    assert pdu_type == atk.A_ASSOCIATE_RJ and body[3] == 0x03
    s, _ = atk.associate(scp.address[1], calling=b"  ALLOWED ")
    s.close()


def test_called_aet_with_control_characters_is_rejected(node):
    scp, _ = node()
    with atk.connect(scp.address[1]) as s:
        s.sendall(atk.rq(called=b"DEIDNODE\r"))
        pdu_type, body = atk.read_pdu(s)
    assert pdu_type == atk.A_ASSOCIATE_RJ and body[3] == 0x07


# -- 9. the command against its context and data set ------------------------------------------------------------------
@pytest.mark.parametrize(
    "case", ["ct_on_verification", "mr_class_on_ct_context", "other_instance_uid", "other_class_in_data_set"]
)
def test_a_command_that_disagrees_with_its_context_or_data_set_is_refused(node, case):
    """0xA900 (as dcmtk storescp answers) and nothing spooled: routing reads the command's class."""
    scp, spool = node()
    data, uid = _instance()
    cx, sop_class, instance = 1, atk.CT, uid
    if case == "ct_on_verification":
        cx = 3
    elif case == "mr_class_on_ct_context":
        sop_class = atk.MR
    elif case == "other_instance_uid":
        instance = "1.2.3.4.5"
    else:
        data = data.replace(atk.CT.encode(), atk.MR.encode(), 1)  # (0008,0016) says MR, the command CT
    s, _ = atk.associate(scp.address[1])
    s.sendall(atk.store(cx, data, sop_class, instance))
    assert atk.response_status(s) == 0xA900
    s.sendall(atk.echo(3, 2))
    assert atk.response_status(s) == 0x0000
    s.close()
    assert spool.depth()[State.RECEIVED] == 0


# -- 12. small protocol oddities ---------------------------------------------------------------------------------------
def test_release_request_inside_a_command_is_aborted(node):
    scp, spool = node()
    s, _ = atk.associate(scp.address[1])
    cmd = atk.command(0x0030, 1, atk.VERIFICATION)
    s.sendall(atk.pdu(atk.P_DATA_TF, atk.pdv(3, 0x01, cmd[:10])) + atk.pdu(atk.A_RELEASE_RQ, b"\x00" * 4))
    assert atk.read_pdu(s)[0] == atk.A_ABORT
    s.close()


def test_release_request_inside_a_data_set_is_aborted(node):
    scp, spool = node()
    data, uid = _instance()
    s, _ = atk.associate(scp.address[1])
    s.sendall(atk.pdu(atk.P_DATA_TF, atk.pdv(1, 0x03, atk.command(0x0001, 1, atk.CT, uid, True))))
    s.sendall(atk.pdu(atk.P_DATA_TF, atk.pdv(1, 0x00, data[:1000])) + atk.pdu(atk.A_RELEASE_RQ, b"\x00" * 4))
    assert atk.read_pdu(s)[0] == atk.A_ABORT
    s.close()
    assert spool.depth()[State.RECEIVED] == 0


def test_a_non_ascii_sop_instance_uid_gets_a_failure_status(node):
    scp, spool = node()
    data, _ = _instance()
    s, _ = atk.associate(scp.address[1])
    s.sendall(atk.store(1, data, atk.CT, "1.2.\u00e9".encode("latin-1")))
    assert atk.response_status(s) == 0xC210
    s.sendall(atk.echo(3, 2))
    assert atk.response_status(s) == 0x0000
    s.close()


def test_uids_with_leading_zero_components_are_still_stored(node):
    """PS3.5 forbids them, real instances carry them: the UID check is digits and dots, not the full grammar."""
    scp, spool = node()
    ds = make_study(1, 1)[0]
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.840.113619.2.55.3.0969.01"
    s, _ = atk.associate(scp.address[1])
    s.sendall(atk.store(1, atk.dataset_of(to_bytes(ds)), atk.CT, ds.SOPInstanceUID))
    assert atk.response_status(s) == 0x0000
    s.close()
    assert spool.depth()[State.RECEIVED] == 1


@pytest.mark.parametrize("context", [("", [atk.EXPLICIT]), (atk.CT, [])])
def test_an_empty_abstract_syntax_or_no_transfer_syntax_rejects_only_that_context(node, context):
    scp, _ = node()
    s, contexts = atk.associate(scp.address[1], contexts=[context, (atk.VERIFICATION, [atk.IMPLICIT])])
    assert contexts == {3: atk.IMPLICIT}
    s.sendall(atk.echo(3))
    assert atk.response_status(s) == 0x0000
    s.close()


def test_the_scp_serves_on_after_every_attack_above(node):
    """A sanity check that nothing leaks: after hostile connections end, no connection is held."""
    scp, _ = node(acse_timeout=1)
    for payload in (b"\x01\x00\x00\x00\x00\x05abc", atk.rq(max_pdu=4), struct.pack(">BBI", 9, 0, 0)):
        with atk.connect(scp.address[1]) as s:
            s.sendall(payload)
            atk.closed_by_peer(s, 3)
    assert _wait(lambda: not scp._active)
    with socket.create_connection(("127.0.0.1", scp.address[1]), timeout=5):
        pass
