"""The honest broker's mapping store: every pseudonym maps back to its original with the mapping key; without it
the file is unreadable; the file is 0600; the commands export and look up; nothing reaches a log."""

from __future__ import annotations

import copy
import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import phi_dataset as P
import pydicom
import pytest

from deidnode.config import settings_from_dict
from deidnode.engine import Keys, Policy, deidentify
from deidnode.errors import ConfigError
from deidnode.mapping.store import MappingKeyError, MappingStore, load_mapping_key, new_mapping_key

KEY = Keys(b"m" * 32)
ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deidnode.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture
def mapping_key(tmp_path) -> Path:
    path = tmp_path / "mapping.key"
    new_mapping_key(path)
    return path


def test_engine_reports_each_replaced_identity_with_its_pseudonym():
    ds = P.planted_ct()
    originals = {
        "patient_id": ds.PatientID,
        "accession_number": ds.AccessionNumber,
        "study_instance_uid": ds.StudyInstanceUID,
        "sop_instance_uid": ds.SOPInstanceUID,
    }
    r = deidentify(ds, Policy(), KEY, collect_mapping=True)
    got = {kind: (orig, new) for kind, orig, new in r.mapping}
    out = r.dataset
    assert got["patient_id"] == (originals["patient_id"], out.PatientID)
    assert got["accession_number"] == (originals["accession_number"], out.AccessionNumber)
    assert got["study_instance_uid"] == (originals["study_instance_uid"], out.StudyInstanceUID)
    assert got["sop_instance_uid"] == (originals["sop_instance_uid"], out.SOPInstanceUID)
    assert got["patient_name"][1] == str(out.PatientName)
    assert got["date_shift_days"] == ("id:" + P.PATIENT_ID + "|", str(KEY.day_offset("id:" + P.PATIENT_ID + "|", 3650)))
    assert "mapping" not in repr(r) and P.PATIENT_ID not in repr(r) and P.PATIENT_ID not in str(r.audit)
    assert deidentify(P.planted_ct(), Policy(), KEY).mapping == ()  # only when asked


def test_store_round_trip_lookup_and_dedup(tmp_path, mapping_key):
    store = MappingStore(tmp_path / "m" / "mapping.sqlite", load_mapping_key(mapping_key))
    r = deidentify(P.planted_ct(), Policy(), KEY, collect_mapping=True)
    assert store.add(r.mapping) == len(r.mapping)
    assert store.add(r.mapping) == 0  # the same pairs again: stored once
    entries = list(store.entries())
    assert {(e.kind, e.original, e.pseudonym) for e in entries} == set(r.mapping)
    (hit,) = store.lookup(r.dataset.PatientID)
    assert (hit.kind, hit.original) == ("patient_id", P.PATIENT_ID)
    assert oct((tmp_path / "m" / "mapping.sqlite").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "m").stat().st_mode & 0o777) == "0o700"


def test_without_the_key_the_store_is_unreadable(tmp_path, mapping_key):
    path = tmp_path / "mapping.sqlite"
    store = MappingStore(path, load_mapping_key(mapping_key))
    r = deidentify(P.planted_ct(), Policy(), KEY, collect_mapping=True)
    store.add(r.mapping)
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("mapping.sqlite"))
    for _kind, original, pseudonym in r.mapping:
        assert original.encode() not in raw and pseudonym.encode() not in raw
    other = tmp_path / "other.key"
    new_mapping_key(other)
    with pytest.raises(MappingKeyError):
        MappingStore(path, load_mapping_key(other))


def test_the_mapping_key_must_not_be_the_deid_key(tmp_path):
    deid = tmp_path / "deid.key"
    deid.write_bytes(os.urandom(32))
    with pytest.raises(ConfigError, match="not a mapping key"):
        load_mapping_key(deid)
    with pytest.raises(ConfigError, match="needs 'key_file'"):
        settings_from_dict({"mapping": {"enabled": True}})


def test_cli_new_key_export_and_lookup(tmp_path):
    key = tmp_path / "mapping.key"
    assert _cli("mapping", "new-key", str(key)).returncode == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert _cli("mapping", "new-key", str(key)).returncode == 2  # never overwritten
    store = MappingStore(tmp_path / "mapping.sqlite", load_mapping_key(key))
    r = deidentify(P.planted_ct(), Policy(), KEY, collect_mapping=True)
    store.add(r.mapping)
    out = tmp_path / "mapping.csv"
    res = _cli(
        "mapping",
        "export",
        "--store",
        str(tmp_path / "mapping.sqlite"),
        "--key-file",
        str(key),
        "--since",
        "2000-01-01",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(out.open()))
    assert {(x["kind"], x["original"], x["pseudonym"]) for x in rows} == set(r.mapping)
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    future = _cli(
        "mapping",
        "export",
        "--store",
        str(tmp_path / "mapping.sqlite"),
        "--key-file",
        str(key),
        "--since",
        "2999-01-01",
        "--out",
        str(tmp_path / "none.csv"),
    )
    assert future.returncode == 0 and len(list(csv.reader((tmp_path / "none.csv").open()))) == 1
    hit = _cli(
        "mapping",
        "lookup",
        r.dataset.AccessionNumber,
        "--store",
        str(tmp_path / "mapping.sqlite"),
        "--key-file",
        str(key),
    )
    assert hit.returncode == 0 and hit.stdout.split("\t")[:2] == ["accession_number", P.ACCESSION]
    wrong = tmp_path / "wrong.key"
    new_mapping_key(wrong)
    bad = _cli(
        "mapping",
        "lookup",
        r.dataset.AccessionNumber,
        "--store",
        str(tmp_path / "mapping.sqlite"),
        "--key-file",
        str(wrong),
    )
    assert bad.returncode == 2 and "does not open" in bad.stderr and P.ACCESSION not in bad.stderr


@pytest.mark.slow
def test_deid_writes_the_mapping_and_every_output_maps_back(tmp_path, mapping_key):
    src = tmp_path / "in"
    src.mkdir()
    originals = {}
    for i in range(3):
        ds = P.planted_ct(sop_uid=f"1.2.3.{i}", study_uid="1.2.3", series_uid="1.2.3.9", frame_uid="1.2.3.8")
        buf = io.BytesIO()
        copy.deepcopy(ds).save_as(buf, enforce_file_format=True)
        (src / f"{i}.dcm").write_bytes(buf.getvalue())
        originals[ds.SOPInstanceUID] = ds
    deid_key = tmp_path / "deid.key"
    deid_key.write_bytes(b"d" * 32)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"mapping: {{enabled: true, path: {tmp_path / 'map' / 'mapping.sqlite'}, key_file: {mapping_key}}}\n"
    )
    r = _cli("deid", str(src), "--out", str(tmp_path / "out"), "--config", str(cfg), "--key-file", str(deid_key))
    assert r.returncode == 0, r.stderr
    store = MappingStore(tmp_path / "map" / "mapping.sqlite", load_mapping_key(mapping_key))
    back = {(e.kind, e.pseudonym): e.original for e in store.entries()}
    for f in (tmp_path / "out").glob("*.dcm"):
        out = pydicom.dcmread(f)
        orig = originals[back[("sop_instance_uid", out.SOPInstanceUID)]]
        assert back[("patient_id", out.PatientID)] == orig.PatientID
        assert back[("accession_number", out.AccessionNumber)] == orig.AccessionNumber
        assert back[("study_instance_uid", out.StudyInstanceUID)] == orig.StudyInstanceUID
        assert back[("series_instance_uid", out.SeriesInstanceUID)] == orig.SeriesInstanceUID
        assert back[("patient_name", str(out.PatientName))] == str(orig.PatientName)
    assert P.PATIENT_ID not in r.stdout + r.stderr
    assert P.PATIENT_ID not in (tmp_path / "out" / "audit.jsonl").read_text()


def test_preflight_refuses_a_mapping_key_that_does_not_open_the_store(tmp_path, mapping_key):
    from deidnode import preflight

    store = tmp_path / "broker" / "mapping.sqlite"
    MappingStore(store, load_mapping_key(mapping_key)).close()
    other = tmp_path / "other.key"
    new_mapping_key(other)
    base = {
        "spool": {"path": str(tmp_path / "spool")},
        "quarantine_path": str(tmp_path / "q"),
        "destinations": [{"name": "out", "type": "folder", "path": str(tmp_path / "out")}],
    }
    ok = settings_from_dict({**base, "mapping": {"enabled": True, "path": str(store), "key_file": str(mapping_key)}})
    assert not [p for p in preflight.check(ok, probe_ocr=False) if p.what == "mapping key"]
    bad = settings_from_dict({**base, "mapping": {"enabled": True, "path": str(store), "key_file": str(other)}})
    (problem,) = [p for p in preflight.check(bad, probe_ocr=False) if p.what == "mapping key"]
    assert problem.fatal and "does not open" in str(problem)
