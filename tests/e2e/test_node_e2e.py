"""The node end to end with real peers on 127.0.0.1: dcmtk storescu/echoscu -> deidnode -> Orthanc."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
from conftest import node_config  # noqa: E402  (sys.path set by conftest)
from peers import acknowledged_files, echoscu, storescu, wait_for  # noqa: E402
from pydicom import dcmread

from deidnode.engine import Keys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dicom_factory import PLANTED_PHI, make_study, to_bytes  # noqa: E402

pytestmark = pytest.mark.e2e


def _originals(study_dir: Path) -> dict[str, str]:
    """file path -> original SOP Instance UID."""
    return {str(p): str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in sorted(study_dir.iterdir())}


def _orthanc_sop_uids(orthanc) -> list[str]:
    return [orthanc.get(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"] for i in orthanc.get("/instances")]


def _assert_no_planted_phi(orthanc) -> None:
    planted = [s.lower() for s in PLANTED_PHI.planted()]
    for iid in orthanc.get("/instances"):
        blob = orthanc.get(f"/instances/{iid}/file", raw=True).decode("latin-1").lower()
        found = [s for s in planted if s in blob]
        assert not found, f"planted PHI {found} in instance {iid}"


def test_study_is_deidentified_and_forwarded_to_orthanc(tmp_path, orthanc, make_node, study_dir, key_file):
    node = make_node(node_config(tmp_path, orthanc)).start()
    originals = _originals(study_dir)
    r = storescu(node.port, study_dir)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(acknowledged_files(r.stdout + r.stderr)) == len(originals)

    wait_for(lambda: orthanc.count() >= len(originals), 120, "all instances in Orthanc")
    stats = orthanc.get("/statistics")
    assert stats["CountInstances"] == len(originals) == 60
    assert stats["CountStudies"] == 1 and stats["CountSeries"] == 3
    uids = _orthanc_sop_uids(orthanc)
    keys = Keys.from_file(key_file)
    assert sorted(uids) == sorted(keys.uid(u) for u in originals.values())
    assert not set(uids) & set(originals.values())
    (study,) = orthanc.get("/studies")
    assert orthanc.get(f"/studies/{study}")["MainDicomTags"]["StudyInstanceUID"] not in {
        str(dcmread(p, stop_before_pixels=True).StudyInstanceUID) for p in list(study_dir.iterdir())[:1]
    }
    _assert_no_planted_phi(orthanc)
    assert orthanc.received().__len__() == len(originals)  # each delivered once

    wait_for(
        lambda: node.metric("deidnode_forward_instances_total", destination="research", outcome="forwarded") == 60,
        30,
        "forwarded metric",
    )
    assert node.metric("deidnode_receive_instances_total", outcome="stored") == 60
    assert node.metric("deidnode_engine_instances_total", outcome="deidentified") == 60
    assert node.stop() == 0
    assert not list((tmp_path / "spool" / "data").iterdir())
    log = node.log_path.read_text().lower()
    for s in PLANTED_PHI.planted():
        assert s.lower() not in log


def test_echo_succeeds_and_unknown_ae_title_is_rejected(tmp_path, orthanc, make_node):
    node = make_node(node_config(tmp_path, orthanc)).start()
    ok = echoscu(node.port, aet="CT1")
    assert ok.returncode == 0, ok.stderr
    bad = echoscu(node.port, aet="INTRUDER")
    assert bad.returncode != 0
    assert "Calling AE Title Not Recognized" in bad.stdout + bad.stderr
    assert node.metric("deidnode_receive_associations_total", outcome="rejected") == 1


def test_destination_down_during_send_every_instance_arrives_once(tmp_path, orthanc, make_node, big_study_dir):
    study_dir = big_study_dir
    cfg = node_config(tmp_path, orthanc, workers={"lanes": 2})
    node = make_node(cfg).start()
    n = len(list(study_dir.iterdir()))
    in_flight = cfg["workers"]["count"] * cfg["workers"]["lanes"]
    import subprocess

    from peers import NODELAY_ENV, STORESCU

    sender = subprocess.Popen(
        [STORESCU, "-aet", "CT1", "-aec", "DEIDNODE", "+sd", "127.0.0.1", str(node.port), str(study_dir)],
        env=NODELAY_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: orthanc.count() >= 5, 60, "first instances in Orthanc", interval=0.02)
        # A hard stop: Orthanc on SIGTERM would serve open associations to the end.
        orthanc.stop(signal.SIGKILL)
        assert sender.wait(120) == 0  # the node keeps receiving while the destination is down
        wait_for(
            lambda: node.metric("deidnode_forward_retries_total", destination="research") > 0,
            60,
            "retries counted",
        )
        orthanc.start()
        wait_for(lambda: orthanc.count() >= n, 120, "every instance after the restart")
    finally:
        if sender.poll() is None:
            sender.kill()
    assert orthanc.count() == n
    received = orthanc.received()
    assert len(set(received)) == n
    # Redelivery is possible only for instances in flight when Orthanc went down: one per lane of each worker
    # (CI once saw 3 of the 4 lanes mid-send at the kill; this said "one per worker" and allowed 2).
    assert len(received) - n <= in_flight, f"{len(received) - n} instances delivered twice"
    wait_for(lambda: not list((tmp_path / "spool" / "data").iterdir()), 30, "spool drained")


def test_sigkill_mid_send_every_acknowledged_instance_arrives_once(
    tmp_path, orthanc, make_node, big_study_dir, key_file
):
    # Header only: a worker's first CT slice loads the OCR models of the text check (a second under load), long
    # enough for storescu to finish before the kill; this test is about what a kill mid-send loses.
    cfg = node_config(tmp_path, orthanc, pixels={"policy": "off"})
    node = make_node(cfg).start()
    wait_for(lambda: sum(e.get("event") == "worker_started" for e in node.events()) == 2, 60, "workers up")
    originals = _originals(big_study_dir)
    import shlex
    import subprocess

    from peers import NODELAY_ENV, STORESCU

    # One association per 10 files, 50 ms apart: the send lasts a few seconds however fast this host receives
    # (one association for all 240 was acknowledged whole before the 5th forward once, on a loaded CI host)
    files = list(originals)
    runs = [
        " ".join([STORESCU, "-v", "-aet", "CT1", "-aec", "DEIDNODE", "127.0.0.1", str(node.port)])
        + " "
        + " ".join(shlex.quote(f) for f in files[i : i + 10])
        + "; sleep 0.05"
        for i in range(0, len(files), 10)
    ]
    sender = subprocess.Popen(
        ["bash", "-c", "; ".join(runs)],
        env=NODELAY_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Kill while instances are being received *and* forwarded.
    wait_for(
        lambda: (
            node.metric("deidnode_receive_instances_total", outcome="stored") >= 20
            and node.metric("deidnode_forward_instances_total", destination="research", outcome="forwarded") >= 5
        ),
        60,
        "20 instances received and 5 forwarded",
        interval=0.01,
    )
    workers = _children(node.proc.pid)
    assert len(workers) >= 2
    node.stop(signal.SIGKILL)
    # The workers die with the node: no orphan keeps working the spool beside the restarted node.
    wait_for(lambda: all(_state(p) in ("gone", "Z") for p in workers), 30, "worker processes gone")
    out, _ = sender.communicate(timeout=60)
    acked = acknowledged_files(out)
    assert 20 <= len(acked) < len(originals), "the kill should land mid-send"

    node.start()
    keys = Keys.from_file(key_file)
    expected = {keys.uid(originals[f]) for f in acked}
    wait_for(lambda: expected <= set(_orthanc_sop_uids(orthanc)), 120, "acknowledged instances in Orthanc")
    uids = _orthanc_sop_uids(orthanc)
    assert len(uids) == len(set(uids))
    assert set(uids) <= {keys.uid(u) for u in originals.values()}

    # The modality sends again what was not acknowledged: the study ends complete, nothing twice.
    r = storescu(node.port, [Path(f) for f in originals if f not in acked])
    assert r.returncode == 0
    wait_for(lambda: orthanc.count() >= len(originals), 120, "complete study")
    assert orthanc.count() == len(originals)


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _raw_scu_send(port: int, raw: bytes, tmp_path: Path):
    """Send Part 10 bytes as they are (no re-encoding) with pynetdicom; returns the status or None."""
    from pynetdicom import AE, _config
    from pynetdicom.sop_class import CTImageStorage

    p = tmp_path / "raw.dcm"
    p.write_bytes(raw)
    ae = AE(ae_title="BADSCU")
    ae.add_requested_context(CTImageStorage, ["1.2.840.10008.1.2.1"])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    old = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        assoc = ae.associate("127.0.0.1", port, ae_title="DEIDNODE")
        assert assoc.is_established
        status = assoc.send_c_store(p)
        assoc.release()
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = old
    return status.Status if status else None


def test_bad_input_is_refused_or_quarantined_never_forwarded(tmp_path, orthanc, make_node):
    node = make_node(node_config(tmp_path, orthanc)).start()
    good, mismatch, trunc, junk = make_study(4, 1, seed="bad-input")
    mismatch.Rows = 256  # pixel data no longer matches Rows x Columns
    trunc_raw = to_bytes(trunc)
    trunc_raw = trunc_raw[: len(trunc_raw) - 3000]  # cut inside Pixel Data
    junk_raw = to_bytes(junk)
    meta_end = junk_raw.index(b"\x08\x00\x05\x00")  # first dataset element after the file meta
    junk_raw = junk_raw[:meta_end] + bytes(range(256)) * 8

    statuses = [_raw_scu_send(node.port, raw, tmp_path) for raw in (to_bytes(mismatch), trunc_raw, junk_raw)]
    for s in statuses:
        assert s is not None and (s == 0x0000 or s >= 0xA000), statuses
    # The node keeps serving: a good instance on the next association arrives.
    assert _raw_scu_send(node.port, to_bytes(good), tmp_path) == 0x0000
    wait_for(lambda: orthanc.count() == 1, 60, "the good instance in Orthanc")

    spooled_ok = sum(1 for s in statuses if s == 0x0000)
    qdir = tmp_path / "quarantine"
    wait_for(lambda: qdir.exists() and len(list(qdir.iterdir())) >= spooled_ok, 60, "quarantine entries")
    import json

    reasons = [json.loads((d / "reason.json").read_text()) for d in qdir.iterdir()]
    assert len(reasons) == spooled_ok
    for r in reasons:
        assert r["stage"] and r["code"]
        text = json.dumps(r).lower()
        assert not any(s.lower() in text for s in PLANTED_PHI.planted())
    assert orthanc.count() == 1  # nothing raw was forwarded
    assert len(orthanc.received()) == 1


def test_sigterm_keeps_unsent_work_in_spool_and_restart_delivers_it(tmp_path, orthanc, make_node, study_dir):
    orthanc.stop()  # destination down: everything stays in the spool
    node = make_node(node_config(tmp_path, orthanc)).start()
    files = sorted(study_dir.iterdir())[:20]
    assert storescu(node.port, files).returncode == 0
    assert node.stop(signal.SIGTERM, timeout=30) == 0
    stopped = [e for e in node.events() if e.get("event") == "stopped"]
    assert stopped and stopped[-1]["left_in_spool"] == 20
    orthanc.start()
    node.start()
    wait_for(lambda: orthanc.count() == 20, 120, "spooled instances delivered after restart")
    assert len(orthanc.received()) == 20


def test_quarantine_cli_lists_and_retries_entries(tmp_path, orthanc, make_node):
    import json
    import os
    import subprocess

    from peers import ROOT

    node = make_node(node_config(tmp_path, orthanc)).start()
    ds = make_study(1, 1, seed="cli")[0]
    ds.Rows = 256
    assert _raw_scu_send(node.port, to_bytes(ds), tmp_path) == 0x0000
    qdir = tmp_path / "quarantine"
    wait_for(lambda: qdir.exists() and any(qdir.iterdir()), 60, "a quarantine entry")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "deidnode.cli", "quarantine", "--config", str(node.config_path), *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    listed = cli("list")
    assert listed.returncode == 0
    (line,) = listed.stdout.splitlines()
    qid, _, stage, code = line.split()[:4]
    assert (stage, code) == ("pixels", "pixel_data_mismatch")
    shown = json.loads(cli("show", qid).stdout)
    assert shown["id"] == qid and shown["calling_aet"] == "BADSCU"
    assert cli("retry", qid).returncode == 0
    # Retried through the live node: the engine refuses it again, a new entry appears; nothing forwarded.
    wait_for(
        lambda: [p.name for p in qdir.iterdir() if not p.name.startswith(".")] not in ([], [qid]),
        60,
        "the retried instance quarantined again",
    )
    assert orthanc.count() == 0
    assert cli("purge", "--all").returncode == 0
    assert cli("list").stdout == ""
