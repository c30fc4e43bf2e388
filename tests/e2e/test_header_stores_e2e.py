"""The node's header stores end to end (storescu -> deidnode -> folder): a study goes through, the mapping is
exported with its key and every pseudonym maps back to its original; without the key the store is unreadable;
nothing from it reaches the log; a name learned from one instance's header is removed from a later instance's
comment (the study lexicon shared by the workers)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from peers import acknowledged_files, storescu, wait_for  # noqa: E402  (sys.path set by conftest)
from pydicom import dcmread

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dicom_factory import PLANTED_PHI, make_study, write_study  # noqa: E402

from deidnode.mapping.store import new_mapping_key  # noqa: E402

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, mapping_key: Path) -> dict:
    return {
        "node": {"ae_title": "DEIDNODE", "allowed_calling_aets": ["CT1"]},
        "spool": {"path": str(tmp_path / "spool"), "min_free_bytes": 0},
        "quarantine_path": str(tmp_path / "quarantine"),
        "workers": {"count": 2, "lanes": 1, "poll_seconds": 0.05},
        "destinations": [{"name": "out", "type": "folder", "path": str(tmp_path / "out")}],
        "mapping": {"enabled": True, "path": str(tmp_path / "broker" / "mapping.sqlite"), "key_file": str(mapping_key)},
        "log_level": "DEBUG",
    }


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deidnode.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_study_through_the_node_maps_back_and_siblings_names_are_learned(tmp_path, make_node):
    mapping_key = tmp_path / "mapping.key"
    new_mapping_key(mapping_key)
    study = make_study(12, 2, size=64, seed="e2e-mapping")
    study[0].OperatorsName = "THORNLEIGH^ISOLDE"  # the operator, in the first instance's header only
    for ds in study[1:]:
        ds.ImageComments = "Thornleigh happy with positioning; no pleural effusion"
    src = tmp_path / "study"
    paths = write_study(src, study)
    originals = {str(ds.SOPInstanceUID): ds for ds in study}

    node = make_node(_config(tmp_path, mapping_key)).start()
    first = storescu(node.port, [paths[0]])  # the instance holding the name arrives first
    assert first.returncode == 0, first.stderr[-2000:]
    wait_for(lambda: len(list((tmp_path / "out").rglob("*.dcm"))) >= 1, 60, "first instance delivered")
    rest = storescu(node.port, paths[1:])
    assert len(acknowledged_files(rest.stdout + rest.stderr)) == len(paths) - 1
    wait_for(lambda: len(list((tmp_path / "out").rglob("*.dcm"))) >= len(paths), 120, "all instances delivered")
    assert node.stop() == 0

    export = tmp_path / "mapping.csv"
    r = _cli("mapping", "--config", str(node.config_path), "export", "--out", str(export))
    assert r.returncode == 0, r.stderr
    back = {(row["kind"], row["pseudonym"]): row["original"] for row in csv.DictReader(export.open())}
    outputs = [dcmread(p) for p in (tmp_path / "out").rglob("*.dcm")]
    assert len(outputs) == len(paths)
    for out in outputs:
        orig = originals[back[("sop_instance_uid", out.SOPInstanceUID)]]
        assert back[("patient_id", out.PatientID)] == orig.PatientID
        assert back[("patient_name", str(out.PatientName))] == str(orig.PatientName)
        assert back[("accession_number", out.AccessionNumber)] == orig.AccessionNumber
        assert back[("study_instance_uid", out.StudyInstanceUID)] == orig.StudyInstanceUID
        assert back[("series_instance_uid", out.SeriesInstanceUID)] == orig.SeriesInstanceUID
        if "ImageComments" in out:
            assert out.ImageComments == "happy with positioning; no pleural effusion"
    assert sum("ImageComments" in o for o in outputs) == len(paths) - 1

    store_bytes = b"".join(p.read_bytes() for p in (tmp_path / "broker").iterdir())
    secrets = [PLANTED_PHI.patient_id, PLANTED_PHI.accession, *originals]
    for s in secrets:
        assert s.encode() not in store_bytes
    assert oct((tmp_path / "broker" / "mapping.sqlite").stat().st_mode & 0o777) == "0o600"
    wrong = tmp_path / "wrong.key"
    new_mapping_key(wrong)
    denied = _cli(
        "mapping", "--config", str(node.config_path), "lookup", outputs[0].PatientID, "--key-file", str(wrong)
    )
    assert denied.returncode == 2 and "does not open" in denied.stderr
    log = node.log_path.read_text()
    for s in [*secrets, "THORNLEIGH", "Thornleigh", *(str(o.PatientID) for o in outputs[:1])]:
        assert s not in log
    lexicon = (tmp_path / "spool" / "lexicon.sqlite").read_bytes()
    assert b"THORNLEIGH" not in lexicon and b"Thornleigh" not in lexicon
