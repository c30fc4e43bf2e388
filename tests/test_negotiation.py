"""Issue 10 items 16 and 20: which transfer syntax the SCP accepts, and who the node says it is on the wire.

Item 16: the sender's compressed syntax when we take it, else Explicit before Implicit VR Little Endian (as
dcmtk ``storescp`` and Orthanc choose), checked with dcmtk ``dcmsend`` and ``storescu +C``. Item 20: deidnode's
own implementation class UID and version name in the A-ASSOCIATE-AC, the A-ASSOCIATE-RQ of the forwarder and
the spool's file meta; SCP/SCU role selection is answered.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from deidnode import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from deidnode.config import Destination, NodeSettings
from deidnode.engine import encode_dataset
from deidnode.engine.convert import to_native_little_endian
from deidnode.forward import DicomForwarder, Outcome, Outgoing
from deidnode.receive import StorageSCP
from deidnode.spool import Spool

sys.path.insert(0, str(Path(__file__).parent))
import attackers as atk  # noqa: E402
from dicom_factory import make_study, write_study  # noqa: E402
from netpeers import RecordingSCP  # noqa: E402

DCMSEND, STORESCU = "/usr/bin/dcmsend", "/usr/bin/storescu"
NODELAY = {**os.environ, "TCP_NODELAY": "1"}
COMPRESSED = {
    "SC_rgb_jpeg_dcmtk.dcm": "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "MR_small_jpeg_ls_lossless.dcm": "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "MR_small_RLE.dcm": "1.2.840.10008.1.2.5",  # RLE lossless
    "image_dfl.dcm": "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "JPEG2000.dcm": "1.2.840.10008.1.2.4.91",  # JPEG 2000
}
STORESCU_PROPOSE = {  # storescu's option proposing each file's syntax (with all uncompressed ones)
    "SC_rgb_jpeg_dcmtk.dcm": "-xy",
    "MR_small_jpeg_ls_lossless.dcm": "-xt",
    "MR_small_RLE.dcm": "-xr",
    "image_dfl.dcm": "-xd",
    "JPEG2000.dcm": "-xw",
}


@pytest.fixture
def scp(tmp_path):
    spool = Spool(tmp_path / "spool")
    server = StorageSCP(NodeSettings(host="127.0.0.1", port=0), spool)
    _, port = server.start()
    yield port, spool
    server.stop(0)


@pytest.fixture
def fast_scp(tmp_path):
    """The fast acceptor whatever the default: role selection is its own (pynetdicom's reference answers it
    by pynetdicom's rules)."""
    spool = Spool(tmp_path / "spool")
    server = StorageSCP(NodeSettings(host="127.0.0.1", port=0, dimse="fast"), spool)
    _, port = server.start()
    yield port, spool
    server.stop(0)


def _spooled(spool: Spool) -> list[tuple[str, str, bytes]]:
    """(SOP Instance UID, transfer syntax of the spooled file, its pixel data) for each spooled instance."""
    out = []
    for item in spool.claim_many("t", 100):
        ds = dcmread(spool.file_path(item))
        assert str(ds.file_meta.TransferSyntaxUID) == item.transfer_syntax
        out.append((str(ds.SOPInstanceUID), item.transfer_syntax, ds.PixelData if "PixelData" in ds else b""))
    return out


def _files(tmp_path: Path) -> list[Path]:
    out = []
    for name in COMPRESSED:
        dst = tmp_path / "in" / name
        dst.parent.mkdir(exist_ok=True)
        shutil.copy(get_testdata_file(name), dst)
        out.append(dst)
    return out


# -- item 16 --------------------------------------------------------------------------------------------------------
def test_the_senders_compressed_syntax_is_preferred_then_explicit_before_implicit():
    from deidnode.dimse.acse import choose_transfer_syntax

    supported = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.4.50"}
    assert choose_transfer_syntax(["1.2.840.10008.1.2", "1.2.840.10008.1.2.4.50"], supported) == (
        "1.2.840.10008.1.2.4.50"
    )
    assert choose_transfer_syntax(["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"], supported) == "1.2.840.10008.1.2.1"
    assert choose_transfer_syntax(["1.2.840.10008.1.2.2", "1.2.840.10008.1.2"], supported) == "1.2.840.10008.1.2"
    assert choose_transfer_syntax(["1.2.840.10008.1.2.4.70"], supported) is None


@pytest.mark.skipif(not Path(DCMSEND).exists(), reason="dcmtk not installed")
def test_dcmsend_sends_compressed_instances_as_they_are(scp, tmp_path):
    """dcmsend decompressed JPEG, JPEG-LS, RLE and Deflate to send them Implicit: we accepted Implicit first."""
    port, spool = scp
    files = _files(tmp_path)
    r = subprocess.run(
        [DCMSEND, "-aet", "CT1", "-aec", "DEIDNODE", "127.0.0.1", str(port), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        env=NODELAY,
    )
    assert r.returncode == 0, r.stderr[-800:]
    got = sorted(_spooled(spool))
    sent = sorted((str(ds.SOPInstanceUID), COMPRESSED[f.name], ds.PixelData) for f in files if (ds := dcmread(f)))
    assert [ts for _, ts, _ in got] == [ts for _, ts, _ in sent]
    assert got == sent


@pytest.mark.skipif(not Path(STORESCU).exists(), reason="dcmtk not installed")
def test_storescu_combined_proposals_get_the_compressed_syntax(scp, tmp_path):
    """storescu -R +C proposes one context holding the file's syntax and every uncompressed one: the file's own
    must be the one taken (storescu cannot convert it; with Implicit accepted first the store failed)."""
    port, spool = scp
    for f in _files(tmp_path):
        r = subprocess.run(
            [
                STORESCU,
                "-R",
                "+C",
                STORESCU_PROPOSE[f.name],
                "-aet",
                "CT1",
                "-aec",
                "DEIDNODE",
                "127.0.0.1",
                str(port),
                str(f),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=NODELAY,
        )
        assert r.returncode == 0, f"{f.name}: {r.stderr[-600:]}"
    assert sorted(ts for _, ts, _ in _spooled(spool)) == sorted(COMPRESSED.values())


@pytest.mark.skipif(not Path(STORESCU).exists(), reason="dcmtk not installed")
def test_uncompressed_instances_arrive_explicit_not_implicit(scp, tmp_path):
    port, spool = scp
    files = write_study(tmp_path / "ct", make_study(2, 1))
    r = subprocess.run(
        [STORESCU, "-aet", "CT1", "-aec", "DEIDNODE", "127.0.0.1", str(port), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        env=NODELAY,
    )
    assert r.returncode == 0, r.stderr[-800:]
    assert {ts for _, ts, _ in _spooled(spool)} == {"1.2.840.10008.1.2.1"}


def test_implicit_first_in_a_proposal_still_gets_explicit(scp):
    port, _ = scp
    s, contexts = atk.associate(port, contexts=[(atk.CT, [atk.IMPLICIT, atk.EXPLICIT])])
    s.close()
    assert contexts == {1: atk.EXPLICIT}


# -- item 20 --------------------------------------------------------------------------------------------------------
def test_the_scp_announces_deidnodes_implementation(scp):
    port, _ = scp
    s = atk.connect(port)
    s.sendall(atk.rq())
    pdu_type, body = atk.read_pdu(s)
    s.close()
    assert pdu_type == atk.A_ASSOCIATE_AC
    items = atk.user_items(body)
    assert items[0x52] == [IMPLEMENTATION_CLASS_UID.encode()]
    assert items[0x55] == [IMPLEMENTATION_VERSION_NAME.encode()]


def test_the_forwarder_announces_deidnodes_implementation():
    recorder = RecordingSCP()
    try:
        dest = Destination(name="r", type="dicom", ae_title="RECORDER", host="127.0.0.1", port=recorder.port, timeout=5)
        fwd = DicomForwarder(dest)
        out = Outgoing(make_study(1, 1)[0], encode=encode_dataset, convert=to_native_little_endian)
        assert fwd.send(out).outcome is Outcome.OK
        fwd.close()
    finally:
        recorder.stop()
    assert recorder.implementations == [(IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME)]


def test_the_spool_file_meta_names_deidnode(scp):
    port, spool = scp
    ds = make_study(1, 1)[0]
    s, _ = atk.associate(port)
    s.sendall(atk.store(1, atk.dataset_of(_part10(ds)), atk.CT, ds.SOPInstanceUID))
    assert atk.response_status(s) == 0x0000
    s.close()
    stored = dcmread(spool.file_path(spool.claim("t")))
    assert stored.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert stored.file_meta.ImplementationVersionName == IMPLEMENTATION_VERSION_NAME


def test_the_implementation_class_uid_is_a_valid_uuid_derived_uid():
    """PS3.5 B.2: 2.25 followed by the decimal form of a 128-bit UUID."""
    root, _, number = IMPLEMENTATION_CLASS_UID.partition("2.25.")
    assert root == "" and number.isdigit() and int(number) < 2**128 and len(IMPLEMENTATION_CLASS_UID) <= 64


def _role(sop_class: str, scu: int, scp: int) -> bytes:
    uid = sop_class.encode()
    return atk.item(0x54, struct.pack(">H", len(uid)) + uid + bytes((scu, scp)))


def test_role_selection_is_answered_for_the_requestor_as_scu(fast_scp):
    port, _ = fast_scp
    s = atk.connect(port)
    s.sendall(atk.rq(extra_user_items=_role(atk.CT, 1, 0)))
    pdu_type, body = atk.read_pdu(s)
    s.close()
    assert pdu_type == atk.A_ASSOCIATE_AC
    assert atk.accepted_contexts(body) == {1: atk.EXPLICIT, 3: atk.IMPLICIT}
    uid = atk.CT.encode()
    assert atk.user_items(body)[0x54] == [struct.pack(">H", len(uid)) + uid + b"\x01\x00"]


def test_a_requestor_that_only_wants_the_scp_role_gets_no_context(fast_scp):
    """We never act as a storage SCU towards a sender (no C-GET): the context cannot work and is refused."""
    port, _ = fast_scp
    s = atk.connect(port)
    s.sendall(atk.rq(extra_user_items=_role(atk.CT, 0, 1)))
    pdu_type, body = atk.read_pdu(s)
    s.close()
    assert pdu_type == atk.A_ASSOCIATE_AC
    assert atk.accepted_contexts(body) == {3: atk.IMPLICIT}
    assert 0x54 not in atk.user_items(body)


def _part10(ds) -> bytes:  # noqa: ANN001
    from dicom_factory import to_bytes

    return to_bytes(ds)
