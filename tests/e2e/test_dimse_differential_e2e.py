"""The two DICOM network implementations give the same bytes at the destination (issue 14 section 4).

The same input goes through the node twice, once with ``dimse: fast`` on both hops and once with
``dimse: pynetdicom``, to the same Orthanc; the files Orthanc stored are compared byte for byte.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import node_config  # noqa: E402  (sys.path set by conftest)
from peers import NODELAY_ENV, acknowledged_files, storescu, wait_for  # noqa: E402
from pydicom import dcmread
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian, RLELossless

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dicom_factory import make_study, write_study  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DCMSEND = "/usr/bin/dcmsend"


def _stored_files(orthanc) -> dict[str, bytes]:
    """SOP Instance UID -> the file Orthanc stored."""
    out = {}
    for iid in orthanc.get("/instances"):
        uid = orthanc.get(f"/instances/{iid}")["MainDicomTags"]["SOPInstanceUID"]
        out[uid] = orthanc.get(f"/instances/{iid}/file", raw=True)
    return out


@pytest.fixture(scope="module")
def mixed_syntaxes(tmp_path_factory) -> list[Path]:
    """A few instances in other transfer syntaxes than the study's: Implicit VR LE, Big Endian, Deflated, RLE.
    dcmsend proposes each file's syntax with the uncompressed ones, so the acceptor's choice decides what the
    node receives."""
    d = tmp_path_factory.mktemp("mixed")
    study = make_study(4, 1, size=64, seed="dimse-differential")
    for ds, ts in zip(
        study, (ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian, RLELossless), strict=True
    ):
        if ts == RLELossless:
            ds.compress(RLELossless, encoding_plugin="pydicom")
        else:
            ds.file_meta.TransferSyntaxUID = ts
    return write_study(d, study)


def _run(tmp_path, orthanc, make_node, study_dir: Path, mixed: list[Path], implementation: str) -> dict[str, bytes]:
    cfg = node_config(tmp_path / implementation, orthanc, node={"dimse": implementation})
    cfg["destinations"][0]["dimse"] = implementation
    node = make_node(cfg).start()
    r = storescu(node.port, study_dir)
    assert r.returncode == 0, r.stderr[-2000:]
    r2 = subprocess.run(
        [DCMSEND, "-aet", "CT1", "-aec", "DEIDNODE", "127.0.0.1", str(node.port), *map(str, mixed)],
        capture_output=True,
        text=True,
        timeout=120,
        env=NODELAY_ENV,
    )
    assert r2.returncode == 0, r2.stderr[-800:]
    expected = len(acknowledged_files(r.stdout + r.stderr)) + len(mixed)
    wait_for(lambda: orthanc.count() >= expected, 180, f"all instances in Orthanc ({implementation})")
    files = _stored_files(orthanc)
    node.stop()
    orthanc.delete_all()
    return files


def test_fast_and_pynetdicom_paths_store_byte_identical_files(tmp_path, orthanc, make_node, study_dir, mixed_syntaxes):
    fast = _run(tmp_path, orthanc, make_node, study_dir, mixed_syntaxes, "fast")
    reference = _run(tmp_path, orthanc, make_node, study_dir, mixed_syntaxes, "pynetdicom")
    assert len(fast) == 64
    assert sorted(fast) == sorted(reference)
    different = [uid for uid in fast if fast[uid] != reference[uid]]
    assert not different, f"{len(different)} of {len(fast)} files differ, e.g. {different[:3]}"
    syntaxes = {str(dcmread(io.BytesIO(b), stop_before_pixels=True).file_meta.TransferSyntaxUID) for b in fast.values()}
    assert len(syntaxes) > 1  # more than one transfer syntax was compared
