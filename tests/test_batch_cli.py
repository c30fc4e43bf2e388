"""`deidnode deid`: files and folders in, outputs named by new SOP Instance UID, audit.jsonl, quarantine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import phi_dataset as P
import pydicom
from pydicom.data import get_testdata_file


def deid(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deidnode.cli", "deid", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_folder_batch_writes_outputs_audit_and_quarantine(tmp_path):
    src = tmp_path / "in" / "PATIENT_QUIXLEY"
    (src / "sub").mkdir(parents=True)
    P.planted_ct().save_as(src / "a.dcm", enforce_file_format=True)
    shutil.copy(get_testdata_file("MR_small.dcm"), src / "sub" / "b.dcm")
    (src / "sub" / "notes.txt").write_text("not dicom")
    key = tmp_path / "deid.key"
    key.write_bytes(os.urandom(32))
    out = tmp_path / "out"
    proc = deid(str(tmp_path / "in"), "--out", str(out), "--key-file", str(key))
    assert proc.returncode == 1, proc.stderr
    assert "3 inputs, 2 de-identified, 1 quarantined" in proc.stdout
    outputs = sorted(out.glob("*.dcm"))
    assert len(outputs) == 2
    for f in outputs:
        ds = pydicom.dcmread(f)
        assert f.name == f"{ds.SOPInstanceUID}.dcm" and ds.SOPInstanceUID.startswith("2.25.")
        assert ds.PatientIdentityRemoved == "YES"
    reasons = list((out / "quarantine").glob("*.reason.json"))
    assert len(reasons) == 1
    reason = json.loads(reasons[0].read_text())
    assert reason["stage"] == "parse" and reason["code"] == "unparseable"
    lines = [json.loads(x) for x in (out / "audit.jsonl").read_text().splitlines()]
    assert sorted(x["status"] for x in lines) == ["deidentified", "deidentified", "quarantined"]
    text = (out / "audit.jsonl").read_text() + reasons[0].read_text()
    assert "QUIXLEY" not in text.upper() and P.PATIENT_ID not in text


def test_all_clean_batch_exits_zero_and_same_key_gives_same_names(tmp_path):
    key = tmp_path / "deid.key"
    key.write_bytes(b"q" * 32)
    f = get_testdata_file("CT_small.dcm")
    a = deid(f, "--out", str(tmp_path / "a"), "--key-file", str(key))
    b = deid(f, "--out", str(tmp_path / "b"), env={"DEIDNODE_KEY_FILE": str(key)})
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    names_a = {p.name for p in (tmp_path / "a").glob("*.dcm")}
    assert names_a == {p.name for p in (tmp_path / "b").glob("*.dcm")} and len(names_a) == 1


def test_refuses_to_run_without_a_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DEIDNODE_KEY_FILE"}
    proc = subprocess.run([sys.executable, "-m", "deidnode.cli", "deid", get_testdata_file("CT_small.dcm"), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2 and "no de-identification key" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_bad_config_value_is_reported_with_its_key(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("profiles:\n  default:\n    unlisted_standard: sometimes\n")
    proc = deid(get_testdata_file("CT_small.dcm"), "--out", str(tmp_path / "o"), "--config", str(cfg),
                "--ephemeral-key")
    assert proc.returncode == 2 and "profiles.default.unlisted_standard" in proc.stderr


def test_missing_input_is_a_clear_error(tmp_path):
    proc = deid(str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--ephemeral-key")
    assert proc.returncode == 2 and "input not found" in proc.stderr
    assert Path(tmp_path / "nope").name not in proc.stdout
