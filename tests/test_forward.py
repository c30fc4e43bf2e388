"""C-STORE SCU forwarding: association reuse, transfer-syntax fallback, statuses to outcomes; folders."""

from __future__ import annotations

import itertools
import os
import socket
import sys
import zlib
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
)
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt

from deidnode.config import Destination
from deidnode.engine import encode_dataset
from deidnode.engine.convert import to_native_little_endian
from deidnode.engine.pixels.codec import decode_frames
from deidnode.forward import DicomForwarder, FolderForwarder, Outcome, Outgoing
from deidnode.forward.scu import encode_body

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import make_study, to_bytes  # noqa: E402
from netpeers import RecordingSCP  # noqa: E402


def _dest(port: int, **kw) -> Destination:
    return Destination(
        name="pacs", type="dicom", ae_title="RECORDER", host="127.0.0.1", port=port, **{"timeout": 5, **kw}
    )


def ybr_full_422_jpeg(frames: int = 2):
    """pydicom's YBR_FULL_422 JPEG Baseline ultrasound, cut to its first frames."""
    from pydicom.encaps import encapsulate, generate_frames

    ds = dcmread(get_testdata_file("color3d_jpeg_baseline.dcm"))
    assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit and ds.PhotometricInterpretation == "YBR_FULL_422"
    kept = list(itertools.islice(generate_frames(ds.PixelData, number_of_frames=ds.NumberOfFrames), frames))
    ds.PixelData = encapsulate(kept)
    ds.NumberOfFrames = frames
    return ds


def _out(ds) -> Outgoing:
    return Outgoing(ds, encode=encode_dataset, convert=to_native_little_endian)


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_forwards_many_instances_on_one_association(scp):
    peer = scp()
    fwd = DicomForwarder(_dest(peer.port))
    study = make_study(6, 2)
    for ds in study:
        assert fwd.send(_out(ds)).outcome is Outcome.OK
    fwd.close()
    assert [d.SOPInstanceUID for d in peer.received] == [d.SOPInstanceUID for d in study]
    assert peer.associations == 1


def test_scu_socket_has_nodelay(scp):
    peer = scp()
    fwd = DicomForwarder(_dest(peer.port))
    fwd.send(_out(make_study(1, 1)[0]))
    sock = fwd.link.sock
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    fwd.close()


def test_compressed_instance_falls_back_to_explicit_le_when_not_accepted(scp):
    peer = scp(transfer_syntaxes=[ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    ds = make_study(1, 1)[0]
    original = ds.pixel_array.copy()
    ds.compress(RLELossless, generate_instance_uid=False)
    fwd = DicomForwarder(_dest(peer.port))
    assert fwd.send(_out(ds)).outcome is Outcome.OK
    fwd.close()
    assert peer.syntaxes == [ExplicitVRLittleEndian]
    got = peer.received[0]
    assert (got.pixel_array == original).all()


def test_fallback_keeps_every_uid_and_never_changes_the_dataset_other_destinations_send(scp):
    """Issue 10 item 1: pydicom's decompress() gave the instance a random UID (a new one per retry)."""
    only_le = scp(transfer_syntaxes=[ExplicitVRLittleEndian])
    as_is = scp()
    ds = dcmread(get_testdata_file("MR_small_RLE.dcm"))
    before = to_bytes(ds)
    out = _out(ds)
    for peer in (only_le, as_is, only_le):
        fwd = DicomForwarder(_dest(peer.port))
        assert fwd.send(out).outcome is Outcome.OK
        fwd.close()
    assert to_bytes(ds) == before  # the engine's dataset is untouched
    assert {str(d.SOPInstanceUID) for d in only_le.received + as_is.received} == {str(ds.SOPInstanceUID)}
    assert {str(d.StudyInstanceUID) for d in only_le.received} == {str(ds.StudyInstanceUID)}
    assert only_le.syntaxes == [ExplicitVRLittleEndian] * 2 and as_is.syntaxes == [RLELossless]
    assert np.array_equal(only_le.received[0].pixel_array, ds.pixel_array)


def test_ybr_full_422_jpeg_falls_back_in_ycbcr_not_rgb(scp):
    peer = scp(transfer_syntaxes=[ExplicitVRLittleEndian])
    ds = ybr_full_422_jpeg()
    fwd = DicomForwarder(_dest(peer.port))
    assert fwd.send(_out(ds)).outcome is Outcome.OK
    fwd.close()
    got = peer.received[0]
    assert got.PhotometricInterpretation in ("YBR_FULL", "YBR_FULL_422")  # still YCbCr, as stored
    assert got.SOPInstanceUID == ds.SOPInstanceUID
    sent, back = decode_frames(ds).astype(int), decode_frames(got).astype(int)
    assert np.array_equal(back[..., 0], sent[..., 0])  # luminance exactly
    # chroma is stored subsampled, and up-sampled by decoding: equal but for edges (never a conversion to RGB)
    assert np.abs(back[..., 1:] - sent[..., 1:]).mean() < 0.5


def test_big_endian_instance_is_converted_to_little_endian(scp):
    """Issue 10 item 18: quarantined with 'no lossless conversion' before."""
    peer = scp(transfer_syntaxes=[ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    ds = dcmread(get_testdata_file("MR_small_bigendian.dcm"))
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRBigEndian
    fwd = DicomForwarder(_dest(peer.port))
    assert fwd.send(_out(ds)).outcome is Outcome.OK
    fwd.close()
    got = peer.received[0]
    assert peer.syntaxes == [ExplicitVRLittleEndian]
    assert np.array_equal(got.pixel_array, ds.pixel_array)
    assert got.SOPInstanceUID == ds.SOPInstanceUID and got.Rows == ds.Rows
    assert list(got.ImagePositionPatient) == list(ds.ImagePositionPatient)


def test_deflated_data_set_is_padded_to_even_length():
    """Issue 10 item 15: PS3.5 A.5; dcmtk refuses an odd deflated stream ('Odd Fragment Length')."""
    odd = None
    for i in range(64):
        ds = make_study(1, 1, seed=f"deflate-{i}")[0]
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        (plain,) = encode_body(ds, ExplicitVRLittleEndian)
        z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        if len(z.compress(plain) + z.flush()) % 2:
            odd = ds
            break
    assert odd is not None
    (body,) = encode_body(odd, DeflatedExplicitVRLittleEndian)
    assert len(body) % 2 == 0
    assert zlib.decompress(bytes(body), -zlib.MAX_WBITS) == bytes(encode_body(odd, ExplicitVRLittleEndian)[0])


def test_compressed_instance_goes_as_is_when_accepted(scp):
    peer = scp()
    ds = make_study(1, 1)[0]
    ds.compress(RLELossless, generate_instance_uid=False)
    fwd = DicomForwarder(_dest(peer.port))
    assert fwd.send(_out(ds)).outcome is Outcome.OK
    fwd.close()
    assert peer.syntaxes == [RLELossless]


def test_unreachable_destination_is_retry_naming_host_port_and_cause():
    port = _free_port()
    fwd = DicomForwarder(_dest(port))
    r = fwd.send(_out(make_study(1, 1)[0]))
    assert r.outcome is Outcome.RETRY and r.code == "destination_unreachable"
    assert r.detail == f"127.0.0.1:{port}: ECONNREFUSED"


def test_permanent_association_rejection_fails_at_once():
    """Issue 10 item 19: retried for a day before."""
    ae = AE(ae_title="RECORDER")
    ae.require_calling_aet = ["SOMEONE_ELSE"]
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    server = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        fwd = DicomForwarder(_dest(server.server_address[1]))
        r = fwd.send(_out(make_study(1, 1)[0]))
        assert r.outcome is Outcome.FAIL and r.code == "association_rejected_permanent"
        assert "calling AE title not recognized" in r.detail
    finally:
        server.shutdown()


def test_a_peer_abort_in_answer_to_an_instance_fails_it_instead_of_retrying():
    ae = AE(ae_title="RECORDER")
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    stores: list[int] = []

    def abort(event):
        stores.append(1)
        event.assoc.abort()
        return 0x0000

    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, abort)])
    try:
        fwd = DicomForwarder(_dest(server.server_address[1]))
        r = fwd.send(_out(make_study(1, 1)[0]))
        assert r.outcome is Outcome.FAIL and r.code == "destination_aborted"
        assert stores == [1]  # sent once, not again on a new association
    finally:
        server.shutdown()


def test_a_response_timeout_is_told_apart_not_resent_at_once_and_the_next_attempt_waits_longer(scp):
    """Issue 10 item 19: a receiver slower than the DIMSE timeout got four copies of one instance."""
    import time

    peer = scp(delay=3.0)
    fwd = DicomForwarder(_dest(peer.port, timeout=2.0))
    ds = make_study(1, 1)[0]
    r = fwd.send(_out(ds))
    assert r.outcome is Outcome.RETRY and r.code == "response_timeout" and "next attempt waits 4 s" in r.detail
    time.sleep(1.5)
    assert len(peer.received) == 1 and peer.associations == 1  # not sent again on its own
    assert fwd.send(_out(ds)).outcome is Outcome.OK  # the retry waits 4 s, longer than the receiver takes
    fwd.close()
    assert len(peer.received) == 2


def test_classes_past_the_128_context_cap_are_negotiated_again_when_needed(scp):
    """Issue 10 item 17: a SOP class that fell off the capped proposal was never proposed again."""
    peer = scp()
    fwd = DicomForwarder(_dest(peer.port))
    classes = [cx.abstract_syntax for cx in AllStoragePresentationContexts][:65]
    for sop in classes:  # met before: 65 classes x (native + RLE) = 130 contexts, two more than PS3.8 allows
        fwd._want(sop, RLELossless)
    base = make_study(1, 1)[0]
    base.compress(RLELossless, generate_instance_uid=False)
    sent = []
    for i, sop in enumerate([classes[0], classes[64], classes[1], classes[0]]):
        ds = base.copy()
        ds.SOPClassUID = sop
        ds.SOPInstanceUID = f"1.2.3.{i}"
        ds.file_meta = base.file_meta.copy()
        ds.file_meta.MediaStorageSOPClassUID = sop
        r = fwd.send(_out(ds))
        assert r.outcome is Outcome.OK, (i, r)
        sent.append(sop)
    fwd.close()
    assert [str(d.SOPClassUID) for d in peer.received] == sent
    assert peer.associations == 2  # one more for classes[1], which had fallen off the first proposal


@pytest.mark.parametrize(
    ("status", "outcome"), [(0xA700, Outcome.RETRY), (0xC000, Outcome.FAIL), (0xA900, Outcome.FAIL)]
)
def test_destination_status_maps_to_outcome(scp, status, outcome):
    peer = scp()
    peer.status = status
    fwd = DicomForwarder(_dest(peer.port))
    r = fwd.send(_out(make_study(1, 1)[0]))
    fwd.close()
    assert r.outcome is outcome
    assert f"0x{status:04X}" in r.detail


@pytest.mark.parametrize("how", ["release", "abort"])
def test_reconnects_when_the_peer_ended_the_idle_association(scp, how):
    """A PACS that releases or aborts idle associations: the next instance goes on a new one, not refused."""
    import threading
    import time

    peer = scp()
    fwd = DicomForwarder(_dest(peer.port))
    study = make_study(2, 1)
    assert fwd.send(_out(study[0])).outcome is Outcome.OK
    (assoc,) = peer.server.active_associations
    ender = threading.Thread(target=getattr(assoc, how), daemon=True)
    ender.start()
    time.sleep(0.3)
    assert fwd.send(_out(study[1])).outcome is Outcome.OK
    ender.join(5)
    fwd.close()
    assert len(peer.received) == 2 and peer.associations == 2


def test_folder_destination_writes_by_sop_instance_uid(tmp_path):
    dest = Destination(name="local", type="folder", path=tmp_path / "out")
    ds = make_study(1, 1)[0]
    assert FolderForwarder(dest).send(_out(ds)).outcome is Outcome.OK
    out = tmp_path / "out" / f"{ds.SOPInstanceUID}.dcm"
    assert dcmread(out).SOPInstanceUID == ds.SOPInstanceUID
    assert [p.name for p in (tmp_path / "out").iterdir()] == [out.name]


def test_folder_destination_never_delivers_a_short_write(tmp_path, monkeypatch):
    """Issue 12 item 3: os.write's short count was ignored and the truncated file renamed into place."""
    dest = Destination(name="local", type="folder", path=tmp_path / "out")
    ds = make_study(1, 1)[0]
    real_write = os.write
    calls = []

    def filling_volume(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(memoryview(data)[:100]))  # the volume had room for 100 bytes
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", filling_volume)
    r = FolderForwarder(dest).send(_out(ds))
    monkeypatch.undo()
    assert r.outcome is Outcome.RETRY and r.code == "folder_io_error" and "ENOSPC" in r.detail
    assert list((tmp_path / "out").iterdir()) == []  # no truncated file, no temp file


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_folder_destination_on_a_full_volume_is_a_retry_not_a_delivery(tmp_path):
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        dest = Destination(name="local", type="folder", path=mnt)
        results = [FolderForwarder(dest).send(_out(ds)) for ds in make_study(4, 1, size=128)]
        assert [r.outcome for r in results[:1]] == [Outcome.OK]
        assert Outcome.RETRY in [r.outcome for r in results]
        delivered = sorted(p.name for p in mnt.iterdir())
        ok = sorted(
            f"{ds.SOPInstanceUID}.dcm"
            for ds, r in zip(make_study(4, 1, size=128), results, strict=True)
            if r.outcome is Outcome.OK
        )
        assert delivered == ok  # every file there is whole; nothing else
        for name in delivered:
            assert dcmread(BytesIO((mnt / name).read_bytes())).PixelData
    finally:
        subprocess.run(["umount", str(mnt)])


def test_a_probe_of_a_destination_never_sent_to_proposes_verification(scp):
    """The probe of a lane that had sent nothing proposed no context at all; Orthanc never answered that."""
    peer = scp()
    fwd = DicomForwarder(_dest(peer.port, timeout=3))
    assert fwd.probe().outcome is Outcome.OK
    assert fwd.link is not None and fwd.proposed == {"1.2.840.10008.1.1"}
    fwd.close()
    assert peer.associations == 1
