"""`deidnode deid`: files and folders in, outputs named by new SOP Instance UID, audit.jsonl, quarantine."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import phi_dataset as P
import pydicom
from pydicom.data import get_testdata_file


def deid(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deidnode.cli", "deid", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


BROKEN_PART10 = b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage"
"""A Part 10 preamble and magic, then nothing a parser can read."""


def _key(tmp_path: Path) -> Path:
    key = tmp_path / "deid.key"
    key.write_bytes(os.urandom(32))
    return key


def test_folder_batch_writes_outputs_audit_and_a_private_quarantine_beside_the_output(tmp_path):
    """Issue 10 items 4 and 12: raw originals were written 0644 into OUT/quarantine, and README/JSON/DICOMDIR
    files were counted as quarantined."""
    src = tmp_path / "in" / "PATIENT_QUIXLEY"
    (src / "sub").mkdir(parents=True)
    P.planted_ct().save_as(src / "a.dcm", enforce_file_format=True)
    shutil.copy(get_testdata_file("MR_small.dcm"), src / "sub" / "b.dcm")
    shutil.copy(get_testdata_file("DICOMDIR"), src / "DICOMDIR")
    (src / "sub" / "bad.dcm").write_bytes(BROKEN_PART10)
    (src / "sub" / "notes.txt").write_text("not dicom")
    (src / "README.md").write_text("# study export\n")
    (src / "index.json").write_text("{}")
    out = tmp_path / "out"
    proc = deid(str(tmp_path / "in"), "--out", str(out), "--key-file", str(_key(tmp_path)))
    assert proc.returncode == 1, proc.stderr
    qdir = tmp_path / "out.quarantine"
    last = proc.stdout.strip().splitlines()[-1]
    assert last == (
        f"deid: 3 DICOM inputs, 2 de-identified, 1 quarantined (in {qdir}), 1 skipped (DICOMDIR), 3 skipped (not DICOM)"
    )
    outputs = sorted(out.glob("*.dcm"))
    assert len(outputs) == 2 and not (out / "quarantine").exists()
    for f in outputs:
        ds = pydicom.dcmread(f)
        assert f.name == f"{ds.SOPInstanceUID}.dcm" and ds.SOPInstanceUID.startswith("2.25.")
        assert ds.PatientIdentityRemoved == "YES"
    (entry,) = list(qdir.iterdir())
    assert stat.S_IMODE(qdir.stat().st_mode) == 0o700 and stat.S_IMODE(entry.stat().st_mode) == 0o700
    for f in entry.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    reason = json.loads((entry / "reason.json").read_text())
    assert reason["stage"] == "parse" and reason["code"] == "unparseable"
    assert reason["input_path"] == str(src / "sub" / "bad.dcm")  # only here, in the private quarantine
    listed = subprocess.run(
        [sys.executable, "-m", "deidnode.cli", "quarantine", "list", "--json", "--path", str(qdir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0 and json.loads(listed.stdout)["id"] == entry.name
    lines = [json.loads(x) for x in (out / "audit.jsonl").read_text().splitlines()]
    assert sorted(x["outcome"] for x in lines) == ["deidentified", "deidentified", "quarantined"]
    text = (out / "audit.jsonl").read_text()
    assert "QUIXLEY" not in text.upper() and P.PATIENT_ID not in text and "bad.dcm" not in text


def test_an_output_folder_inside_the_input_is_not_read_back(tmp_path):
    """Issue 10 item 5: 3 -> 7 -> 13 inputs over three runs."""
    src = tmp_path / "in"
    src.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(get_testdata_file(name), src / name)
    key = _key(tmp_path)
    for _ in range(3):
        proc = deid(str(src), "--out", str(src / "deid"), "--key-file", str(key))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().endswith("deid: 2 DICOM inputs, 2 de-identified, 0 quarantined")
    assert len(list((src / "deid").glob("*.dcm"))) == 2


def test_dry_run_writes_nothing(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "a.dcm")
    (src / "b.dcm").write_bytes(BROKEN_PART10)
    proc = deid(str(src), "--out", str(tmp_path / "o"), "--ephemeral-key", "--dry-run")
    assert proc.returncode == 1
    assert "dry run, nothing written" in proc.stdout and "1 de-identified, 1 quarantined" in proc.stdout
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.quarantine").exists()


def test_verbose_names_each_input_and_quiet_prints_only_the_summary(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "a.dcm")
    (src / "b.dcm").write_bytes(BROKEN_PART10)
    (src / "c.txt").write_text("x")
    v = deid(str(src), "--out", str(tmp_path / "v"), "--ephemeral-key", "-v")
    assert f"{src / 'a.dcm'}: de-identified -> " in v.stderr and f"{src / 'c.txt'}: skipped (not DICOM)" in v.stderr
    assert f"{src / 'b.dcm'}: quarantined (parse/unparseable) -> " in v.stderr
    q = deid(str(src), "--out", str(tmp_path / "q"), "--ephemeral-key", "-q")
    assert q.stderr == "" and q.stdout.count("\n") == 1


def test_progress_is_reported_for_batches_that_take_a_while(tmp_path, monkeypatch, capsys):
    import argparse

    from deidnode import batch
    from deidnode.config import Settings

    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        P.planted_ct().save_as(src / f"{i}.dcm", enforce_file_format=True)
    monkeypatch.setattr(batch, "PROGRESS_AFTER_S", 0.0)
    monkeypatch.setattr(batch, "PROGRESS_EVERY_S", 0.0)
    args = argparse.Namespace(
        inputs=[str(src)],
        out=str(tmp_path / "o"),
        quarantine=None,
        profile="default",
        preview=None,
        dry_run=False,
        quiet=False,
        verbose=False,
        key_file=None,
        ephemeral_key=True,
    )
    assert batch.run_batch(args, Settings()) == 0
    err = capsys.readouterr().err
    assert "deid: 3/3 inputs, " in err and "/s, 3 de-identified, 0 quarantined, 0 skipped" in err


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
    proc = subprocess.run(
        [sys.executable, "-m", "deidnode.cli", "deid", get_testdata_file("CT_small.dcm"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2 and "no de-identification key" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_bad_config_value_is_reported_with_its_key(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("profiles:\n  default:\n    unlisted_standard: sometimes\n")
    proc = deid(
        get_testdata_file("CT_small.dcm"), "--out", str(tmp_path / "o"), "--config", str(cfg), "--ephemeral-key"
    )
    assert proc.returncode == 2 and "profiles.default.unlisted_standard" in proc.stderr


def test_missing_input_is_a_clear_error_and_nothing_is_written(tmp_path):
    proc = deid(
        get_testdata_file("CT_small.dcm"), str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--ephemeral-key"
    )
    assert proc.returncode == 2 and "input not found" in proc.stderr
    assert Path(tmp_path / "nope").name not in proc.stdout
    assert not (tmp_path / "o").exists()


def test_deid_takes_the_key_in_the_documented_order(tmp_path):
    """Issue 10 item 14: command line, then $DEIDNODE_KEY_FILE, then keys.key_file."""
    from deidnode.engine.keys import Keys

    env_key, cfg_key = tmp_path / "env.key", tmp_path / "cfg.key"
    env_key.write_bytes(b"e" * 32)
    cfg_key.write_bytes(b"c" * 32)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"keys: {{key_file: {cfg_key}}}\n")
    src = get_testdata_file("CT_small.dcm")
    uid = str(pydicom.dcmread(src).SOPInstanceUID)
    for env, want in (({"DEIDNODE_KEY_FILE": str(env_key)}, b"e"), ({"DEIDNODE_KEY_FILE": ""}, b"c")):
        out = tmp_path / f"o-{want.decode()}"
        proc = deid(src, "--out", str(out), "--config", str(cfg), env=env)
        assert proc.returncode == 0, proc.stderr
        assert [p.name for p in out.glob("*.dcm")] == [f"{Keys(want * 32).uid(uid)}.dcm"]


def test_preview_images_are_written_by_the_command_private_and_outside_the_output(tmp_path):
    """The engine writes no files (issue 14): the before/after PNGs come back in its result, deid writes them."""
    from pixels_helpers import make_ds

    src = tmp_path / "in"
    src.mkdir()
    make_ds("MONOCHROME2", [("SMITH^JOHN", (12, 10)), ("W 400 L 40", (12, 285))]).save_as(
        src / "us.dcm", enforce_file_format=True
    )
    out, preview = tmp_path / "out", tmp_path / "qa"
    r = deid(str(src), "--out", str(out), "--preview", str(preview), "--ephemeral-key")
    assert r.returncode == 0, r.stderr[-2000:]
    (png,) = preview.iterdir()
    assert png.suffix == ".png" and png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_mode & 0o777 == 0o600
    assert sorted(p.suffix for p in out.iterdir() if not p.name.startswith("audit")) == [".dcm"]
