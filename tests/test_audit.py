"""The audit sink: PHI-free JSON lines, mode 0600, size-based rotation, whole lines from many processes; one
record layout for ``serve`` and ``deid``."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import stat
import sys
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from deidnode import audit
from deidnode.audit import AuditSink, Trail
from deidnode.config import settings_from_dict
from deidnode.spool import Spool
from deidnode.worker import Pipeline

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import PLANTED_PHI, make_study, to_bytes  # noqa: E402

VERSIONS = {"deidnode": "0", "table_edition": "2024c", "pydicom": "3", "ocr": "rapidocr 1"}


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_records_are_json_lines_in_a_file_only_the_owner_can_read(tmp_path):
    path = tmp_path / "audit" / "audit.jsonl"
    old_umask = os.umask(0o022)
    try:
        with AuditSink(path) as sink:
            sink.write(
                audit.record(
                    "deid",
                    "deidentified",
                    input_sha256="ab",
                    input_bytes=2,
                    engine={},
                    versions=VERSIONS,
                    output="x.dcm",
                )
            )
            sink.write(
                audit.record(
                    "deid",
                    "quarantined",
                    input_sha256="cd",
                    input_bytes=3,
                    engine=None,
                    versions=VERSIONS,
                    quarantine={"stage": "parse", "code": "unparseable"},
                )
            )
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    recs = _lines(path)
    assert [r["outcome"] for r in recs] == ["deidentified", "quarantined"]
    assert recs[1]["quarantine"]["code"] == "unparseable" and recs[0]["output"] == "x.dcm"


def test_an_existing_wider_file_is_narrowed_to_0600(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text("")
    path.chmod(0o644)
    with AuditSink(path) as sink:
        sink.write({"schema": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rotates_by_size_and_keeps_only_the_newest_backups(tmp_path):
    path = tmp_path / "audit.jsonl"
    rec = {"pad": "x" * 900}  # ~912 bytes a line: 4 lines per 4096-byte file
    with AuditSink(path, max_bytes=4096, backups=2) as sink:
        for i in range(20):
            sink.write({**rec, "n": i})
    files = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    for name in files:
        assert (tmp_path / name).stat().st_size <= 4096
    kept = [r["n"] for name in ("audit.jsonl.2", "audit.jsonl.1", "audit.jsonl") for r in _lines(tmp_path / name)]
    assert kept == list(range(20 - len(kept), 20)) and len(kept) >= 8  # newest records, in order, none lost


def _writer(path: str, n: int, tag: int) -> None:
    with AuditSink(Path(path), max_bytes=64 * 1024, backups=1000) as sink:
        for i in range(n):
            sink.write({"writer": tag, "n": i, "pad": "y" * 200})


def test_worker_processes_append_whole_lines_and_rotate_once_per_limit(tmp_path):
    path = tmp_path / "audit.jsonl"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), 400, t)) for t in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    files = [p for p in tmp_path.iterdir() if p.name.startswith("audit.jsonl") and not p.name.endswith(".lock")]
    assert len(files) > 3  # rotated several times while four processes wrote
    seen: dict[int, list[int]] = {t: [] for t in range(4)}
    for f in files:
        assert f.stat().st_size <= 64 * 1024
        for rec in _lines(f):  # every line parses: no interleaved or torn writes
            seen[rec["writer"]].append(rec["n"])
    assert all(sorted(v) == list(range(400)) for v in seen.values())  # nothing lost, nothing twice


def test_a_record_outside_the_schema_is_refused():
    with pytest.raises(ValueError):
        audit.record("serve", "maybe", input_sha256=None, input_bytes=None, engine=None, versions=VERSIONS)


def test_deid_and_serve_write_the_same_record_layout(tmp_path, monkeypatch):
    """The batch command and the node's pipeline write records with the same keys (serve adds three)."""
    import subprocess

    key = tmp_path / "k"
    key.write_bytes(b"k" * 32)
    out = tmp_path / "out"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "deidnode.cli",
            "deid",
            get_testdata_file("CT_small.dcm"),
            "--out",
            str(out),
            "--key-file",
            str(key),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    (deid_rec,) = _lines(out / "audit.jsonl")

    settings = settings_from_dict(
        {
            "spool": {"path": str(tmp_path / "spool")},
            "quarantine_path": str(tmp_path / "q"),
            "destinations": [{"name": "folder", "type": "folder", "path": str(tmp_path / "fwd")}],
        }
    )
    from deidnode.engine import Keys

    spool = Spool(settings.spool.path)
    raw = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    spool.store(raw, calling_aet="CT1", sop_class="1.2.840.10008.5.1.4.1.1.2", transfer_syntax="1.2.840.10008.1.2.1")
    sink = AuditSink(tmp_path / "serve" / "audit.jsonl")
    pipe = Pipeline(settings, Keys.from_file(key), spool, "w1", audit=sink)
    try:
        assert pipe.process(spool.claim("w1")) == "forwarded"
    finally:
        pipe.close()
        sink.close()
    (serve_rec,) = _lines(tmp_path / "serve" / "audit.jsonl")
    assert set(serve_rec) - set(deid_rec) == {"spool_row", "calling_aet", "attempt"}
    assert set(deid_rec) - set(serve_rec) == {"output"}
    # Same key, same input: the same engine record and input hash on both paths, but for timings and the
    # names a study lexicon already held (deid gathers the batch's lexicon first; this pipeline has none).
    for rec in (serve_rec, deid_rec):
        rec["engine"].get("pixels", {}).pop("seconds", None)
        rec["engine"].pop("lexicon_known", None)
    assert serve_rec["engine"] == deid_rec["engine"] and serve_rec["input_sha256"] == deid_rec["input_sha256"]
    assert serve_rec["destinations"] == [{"name": "folder", "outcome": "ok", "code": ""}]
    assert serve_rec["engine"]["sop_instance_uid"].startswith("2.25.")


def test_serve_records_hold_no_planted_phi(tmp_path):
    settings = settings_from_dict(
        {
            "spool": {"path": str(tmp_path / "spool")},
            "quarantine_path": str(tmp_path / "q"),
            "destinations": [{"name": "folder", "type": "folder", "path": str(tmp_path / "fwd")}],
        }
    )
    from deidnode.engine import Keys

    spool = Spool(settings.spool.path)
    study = make_study(6, 2, size=32, seed="audit-phi")
    for ds in study:
        spool.store(
            to_bytes(ds),
            calling_aet="CT1",
            sop_class=str(ds.SOPClassUID),
            transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        )
    spool.store(b"not dicom at all", calling_aet="CT1", sop_class="1.2.3", transfer_syntax="1.2.840.10008.1.2.1")
    sink = AuditSink(tmp_path / "audit.jsonl")
    pipe = Pipeline(settings, Keys.ephemeral(), spool, "w1", audit=sink)
    outcomes = []
    try:
        while (item := spool.claim("w1")) is not None:
            outcomes.append(pipe.process(item))
    finally:
        pipe.close()
        sink.close()
    assert sorted(outcomes) == ["forwarded"] * 6 + ["quarantined"]
    text = (tmp_path / "audit.jsonl").read_text()
    recs = _lines(tmp_path / "audit.jsonl")
    assert [r["outcome"] for r in recs].count("quarantined") == 1
    for value in PLANTED_PHI.planted():
        assert str(value).upper() not in text.upper(), value
    for ds in study:  # the original UIDs appear nowhere; only the pseudonymous new ones
        assert str(ds.SOPInstanceUID) not in text and str(ds.StudyInstanceUID) not in text


def test_trail_hashes_the_bytes_as_received():
    t = Trail()
    t.input(memoryview(b"abc"))
    assert t.input_sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert t.input_bytes == 3
