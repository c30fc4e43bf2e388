"""C-STORE SCU forwarding: association reuse, transfer-syntax fallback, statuses to outcomes; folders."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from deidnode.config import Destination, RetrySettings
from deidnode.forward import DicomForwarder, FolderForwarder, Outcome

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import make_study, to_bytes  # noqa: E402
from netpeers import RecordingSCP  # noqa: E402

RETRY = RetrySettings(initial_seconds=0.05, max_seconds=0.2, max_age_seconds=10)


def _dest(port: int) -> Destination:
    return Destination(name="pacs", type="dicom", ae_title="RECORDER", host="127.0.0.1", port=port, timeout=5)


@pytest.fixture
def scp():
    peers: list[RecordingSCP] = []

    def make(**kw) -> RecordingSCP:
        p = RecordingSCP(**kw)
        peers.append(p)
        return p

    yield make
    for p in peers:
        p.stop()


def test_forwards_many_instances_on_one_association(scp):
    peer = scp()
    fwd = DicomForwarder(_dest(peer.port), RETRY)
    study = make_study(6, 2)
    for ds in study:
        assert fwd.send(ds).outcome is Outcome.OK
    fwd.close()
    assert [d.SOPInstanceUID for d in peer.received] == [d.SOPInstanceUID for d in study]
    assert peer.associations == 1


def test_scu_socket_has_nodelay(scp):
    peer = scp()
    fwd = DicomForwarder(_dest(peer.port), RETRY)
    fwd.send(make_study(1, 1)[0])
    sock = fwd.link.sock
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    fwd.close()


def test_compressed_instance_falls_back_to_explicit_le_when_not_accepted(scp):
    peer = scp(transfer_syntaxes=[ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    ds = make_study(1, 1)[0]
    original = ds.pixel_array.copy()
    ds.compress(RLELossless)
    fwd = DicomForwarder(_dest(peer.port), RETRY)
    assert fwd.send(ds).outcome is Outcome.OK
    fwd.close()
    assert peer.syntaxes == [ExplicitVRLittleEndian]
    got = peer.received[0]
    assert (got.pixel_array == original).all()


def test_compressed_instance_goes_as_is_when_accepted(scp):
    peer = scp()
    ds = make_study(1, 1)[0]
    ds.compress(RLELossless)
    fwd = DicomForwarder(_dest(peer.port), RETRY)
    assert fwd.send(ds).outcome is Outcome.OK
    fwd.close()
    assert peer.syntaxes == [RLELossless]


def test_unreachable_destination_is_retry_with_backoff():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fwd = DicomForwarder(_dest(port), RETRY)
    first = fwd.send(make_study(1, 1)[0])
    assert first.outcome is Outcome.RETRY and first.code == "destination_unreachable"
    second = fwd.send(make_study(1, 1)[0])
    assert second.outcome is Outcome.RETRY and second.code == "destination_backoff"


@pytest.mark.parametrize(
    ("status", "outcome"), [(0xA700, Outcome.RETRY), (0xC000, Outcome.FAIL), (0xA900, Outcome.FAIL)]
)
def test_destination_status_maps_to_outcome(scp, status, outcome):
    peer = scp()
    peer.status = status
    fwd = DicomForwarder(_dest(peer.port), RETRY)
    r = fwd.send(make_study(1, 1)[0])
    fwd.close()
    assert r.outcome is outcome
    assert f"0x{status:04X}" in r.detail


def test_reconnects_when_the_peer_closed_the_association(scp):
    peer = scp()
    fwd = DicomForwarder(_dest(peer.port), RETRY)
    study = make_study(2, 1)
    assert fwd.send(study[0]).outcome is Outcome.OK
    for a in peer.server.active_associations:
        a.release()
    assert fwd.send(study[1]).outcome is Outcome.OK
    fwd.close()
    assert len(peer.received) == 2


def test_folder_destination_writes_by_sop_instance_uid(tmp_path):
    dest = Destination(name="local", type="folder", path=tmp_path / "out")

    def encode(ds):
        return to_bytes(ds)

    ds = make_study(1, 1)[0]
    assert FolderForwarder(dest, encode).send(ds).outcome is Outcome.OK
    out = tmp_path / "out" / f"{ds.SOPInstanceUID}.dcm"
    assert dcmread(out).SOPInstanceUID == ds.SOPInstanceUID
    assert [p.name for p in (tmp_path / "out").iterdir()] == [out.name]
