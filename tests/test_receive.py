"""Storage SCP: spooled before Success, association policy, failure statuses, TCP_NODELAY."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

from deidnode.config import NodeSettings
from deidnode.receive import AssociationPolicy, StorageSCP
from deidnode.spool import Spool, State

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import make_study  # noqa: E402


@pytest.fixture
def node(tmp_path):
    started: list[StorageSCP] = []

    def start(spool: Spool | None = None, **kw) -> tuple[StorageSCP, Spool]:
        spool = spool or Spool(tmp_path / "spool")
        scp = StorageSCP(NodeSettings(host="127.0.0.1", port=0, **kw), spool)
        scp.start()
        started.append(scp)
        return scp, spool

    yield start
    for s in started:
        s.stop(0)


def _assoc(port: int, calling: str = "MODALITY", contexts=(CTImageStorage, Verification)):
    ae = AE(ae_title=calling)
    for c in contexts:
        ae.add_requested_context(c)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    return ae.associate("127.0.0.1", port, ae_title="DEIDNODE")


EXPLICIT = "1.2.840.10008.1.2.1"


def _port(scp: StorageSCP) -> int:
    return scp.address[1]


def test_store_is_spooled_as_received_before_success(node):
    scp, spool = node()
    ds = make_study(1, 1)[0]
    assoc = _assoc(_port(scp))
    status = assoc.send_c_store(ds)
    assoc.release()
    assert status.Status == 0x0000
    item = spool.claim("t")
    assert item.calling_aet == "MODALITY" and item.sop_class == CTImageStorage
    stored = dcmread(spool.file_path(item))
    assert stored.SOPInstanceUID == ds.SOPInstanceUID
    assert stored.file_meta.TransferSyntaxUID == item.transfer_syntax
    assert stored.PixelData == ds.PixelData


def test_echo_succeeds(node):
    scp, _ = node()
    assoc = _assoc(_port(scp))
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()


def _rejection(port: int, calling: str) -> tuple[int, int, int]:
    """(result, source, diagnostic) of the A-ASSOCIATE-RJ the node answers ``calling`` with, read by the node's
    own requestor: pynetdicom's loses a rejection now and then (its DUL thread decodes the RJ, then the
    association reports an abort: 1 in ~300 on this machine under load, with or without the node's linger)."""
    from deidnode.dimse import acse
    from deidnode.dimse.link import Link

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            acse.request(
                Link(sock), calling_ae=calling, called_ae="DEIDNODE", contexts=[(CTImageStorage, [EXPLICIT])], max_pdu=0
            )
        except acse.AssociationRejected as rj:
            return rj.result, rj.source, rj.diagnostic
    raise AssertionError("the association was not rejected")


def test_calling_aet_not_on_allow_list_is_rejected_with_reason(node):
    scp, _ = node(allowed_calling_aets=("CT1",))
    assert _rejection(_port(scp), "INTRUDER") == (0x01, 0x01, 0x03)
    ok = _assoc(_port(scp), calling="CT1")
    assert ok.is_established
    ok.release()


def test_source_network_not_allowed_is_rejected(node):
    scp, _ = node(allowed_networks=("10.0.0.0/8",))
    assert _rejection(_port(scp), "MODALITY")[2] == 0x01


def test_policy_checks_networks_and_called_aet():
    p = AssociationPolicy(NodeSettings(allowed_networks=("127.0.0.0/8",), check_called_aet=True))
    assert p.check("ANY", "DEIDNODE", "127.0.0.1") is None
    assert p.check("ANY", "DEIDNODE", "192.168.1.1").code == "network_not_allowed"
    assert p.check("ANY", "OTHER", "127.0.0.1").code == "called_aet_not_recognised"


def test_spool_full_answers_out_of_resources_and_keeps_serving(node, tmp_path):
    full = Spool(tmp_path / "full", min_free_bytes=1 << 62)
    scp, _ = node(spool=full)
    assoc = _assoc(_port(scp))
    status = assoc.send_c_store(make_study(1, 1)[0])
    assert 0xA700 <= status.Status <= 0xA7FF
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()
    assert full.depth()[State.RECEIVED] == 0


def test_a_spool_io_error_is_logged_with_errno_name_and_path(node, tmp_path, caplog, monkeypatch):
    """Issue 10 item 11: OSError was logged without errno name and path."""
    import errno as errno_mod
    import logging

    scp, spool = node()

    def broken(**kw):
        raise OSError(errno_mod.EIO, "Input/output error")

    monkeypatch.setattr(spool, "open_writer", broken)
    assoc = _assoc(_port(scp))
    with caplog.at_level(logging.WARNING, logger="deidnode.receive"):
        assert assoc.send_c_store(make_study(1, 1)[0]).Status == 0xA700
    assoc.release()
    (rec,) = [r for r in caplog.records if r.getMessage() == "store_refused"]
    assert rec.errno == "EIO" and rec.path == str(spool.data_dir) and rec.code == "spool_io_error"


def test_accepted_sockets_have_nodelay(node):
    scp, _ = node()
    assoc = _assoc(_port(scp))
    assert scp.active_associations() == 1
    (sock,) = scp.port.sockets()
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    assoc.release()


def test_association_limit_rejects_transiently(node):
    scp, _ = node(max_associations=1)
    first = _assoc(_port(scp))
    assert first.is_established
    assert _rejection(_port(scp), "MODALITY")[0] == 0x02  # rejected-transient
    first.release()


def test_stop_aborts_associations_left_after_grace(node):
    scp, _ = node()
    assoc = _assoc(_port(scp))
    assert scp.stop(grace_seconds=0.2) == 1
    assoc.abort()


def test_hand_packed_file_meta_matches_pydicom():
    from io import BytesIO

    from pydicom import dcmread
    from pydicom.dataset import FileMetaDataset
    from pydicom.filewriter import write_file_meta_info

    from deidnode import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
    from deidnode.dicomio.filemeta import part10_header

    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    meta.TransferSyntaxUID = "1.2.840.10008.1.2"
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    meta.SourceApplicationEntityTitle = "CT1"
    buf = BytesIO()
    write_file_meta_info(buf, meta, enforce_standard=True)
    ours = part10_header(CTImageStorage, "1.2.3.4.5", "1.2.840.10008.1.2", "CT1")
    assert ours == b"\x00" * 128 + b"DICM" + buf.getvalue()
    ds = dcmread(BytesIO(ours + b"\x10\x00\x10\x00\x04\x00\x00\x00ANON"))
    assert ds.file_meta.SourceApplicationEntityTitle == "CT1" and ds.PatientName == "ANON"


@pytest.mark.skipif(not Path("/usr/bin/storescu").exists(), reason="dcmtk not installed")
def test_dcmtk_storescu_with_small_pdus_and_a_small_announced_maximum(node, tmp_path):
    """dcmtk fragments each data set to 4 KiB PDUs; we announce 8 KiB: every byte arrives, in order."""
    import os
    import subprocess

    from dicom_factory import write_study

    scp, spool = node(max_pdu=8192)
    files = write_study(tmp_path / "in", make_study(5, 1, size=128))
    r = subprocess.run(
        [
            "/usr/bin/storescu",
            "--max-pdu",
            "4096",
            "-aet",
            "CT1",
            "-aec",
            "DEIDNODE",
            "127.0.0.1",
            str(_port(scp)),
            *map(str, files),
        ],
        env={**os.environ, "TCP_NODELAY": "1"},
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr[-500:]
    items = spool.claim_many("t", 10)
    assert len(items) == 5
    sent = {ds.SOPInstanceUID: ds for ds in map(dcmread, files)}
    for item in items:
        ds = dcmread(spool.file_path(item))
        original = sent.pop(ds.SOPInstanceUID)
        assert ds.PixelData == original.PixelData and ds.PatientName == original.PatientName
        assert ds.file_meta.SourceApplicationEntityTitle == "CT1"


def test_connections_that_never_associate_are_capped(node):
    """A flood of silent connections: past the cap they are closed at once; real senders still get through
    once the flood is gone."""
    scp, _ = node(max_associations=1, acse_timeout=30, max_connections_per_address=100, dimse="fast")  # its caps
    cap = 2 * 1 + 8
    silent = [socket.create_connection(("127.0.0.1", _port(scp)), timeout=5) for _ in range(cap)]
    deadline = time.monotonic() + 5
    while scp.held_connections() < cap and time.monotonic() < deadline:
        time.sleep(0.01)
    extra = socket.create_connection(("127.0.0.1", _port(scp)), timeout=5)
    assert extra.recv(1) == b""  # closed by the SCP, not left waiting for the ACSE timeout
    extra.close()
    for s in silent:
        s.close()
    deadline = time.monotonic() + 5
    while scp.held_connections() and time.monotonic() < deadline:
        time.sleep(0.01)
    assoc = _assoc(_port(scp))
    assert assoc.is_established
    assoc.release()


def test_after_a_rejection_the_node_waits_for_the_requestor_to_close(node):
    # PS3.8 9.2 (Sta13): after A-ASSOCIATE-RJ the requestor closes the transport; the node closing at once
    # raced pynetdicom's state machine, which then reported an abort instead of the rejection (a flaky CI run)
    from deidnode.dimse import acse
    from deidnode.dimse.link import Link

    scp, _ = node(allowed_calling_aets=("CT1",))
    sock = socket.create_connection(("127.0.0.1", _port(scp)), timeout=5)
    try:
        with pytest.raises(acse.AssociationRejected):
            acse.request(
                Link(sock),
                calling_ae="INTRUDER",
                called_ae="DEIDNODE",
                contexts=[(CTImageStorage, [EXPLICIT])],
                max_pdu=0,
            )
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):  # still open: the node has not closed first
            sock.recv(1)
        sock.settimeout(5)
        t0 = time.monotonic()
        assert sock.recv(1) == b""  # ... and closes after a linger when the requestor never does
        assert time.monotonic() - t0 < 3
    finally:
        sock.close()
