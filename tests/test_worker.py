"""The worker pipeline with a stand-in engine: forwarded, quarantined (never forwarded raw), retried."""

from __future__ import annotations

import hashlib
import json
import sys
from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread

from deidnode.config import settings_from_dict
from deidnode.engine.result import EngineResult, Quarantine
from deidnode.spool import Spool, State
from deidnode.worker import Pipeline

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import PLANTED_PHI, make_study, to_bytes  # noqa: E402
from netpeers import RecordingSCP  # noqa: E402

CT = "1.2.840.10008.5.1.4.1.1.2"


def fake_deidentify(raw: bytes, policy, keys) -> EngineResult:
    """A stand-in for the engine (its contract only): parse, blank the name, new UIDs; refuse bad input."""
    try:
        ds = dcmread(BytesIO(raw))
        ds.PixelData  # noqa: B018 - force parsing to the end
    except Exception:  # noqa: BLE001
        return EngineResult(None, Quarantine("parse", "unparseable"))
    if "PixelData" in ds and len(ds.PixelData) != ds.Rows * ds.Columns * ds.BitsAllocated // 8:
        return EngineResult(None, Quarantine("pixels", "pixel_data_mismatch", "expected by attributes"))
    ds.PatientName = "ANON"
    ds.PatientID = "DN000"
    new = "2.25." + str(int.from_bytes(hashlib.sha256(ds.SOPInstanceUID.encode()).digest()[:16], "big"))
    ds.SOPInstanceUID = new
    ds.file_meta.MediaStorageSOPInstanceUID = new
    return EngineResult(ds, audit={"ok": True})


def raising_deidentify(raw, policy, keys):
    raise RuntimeError("boom")


@pytest.fixture
def peer():
    p = RecordingSCP()
    yield p
    p.stop()


def _pipeline(tmp_path, port: int, deid=fake_deidentify, routes: str | None = None, **retry):
    data = {
        "spool": {"path": str(tmp_path / "spool")},
        "quarantine_path": str(tmp_path / "q"),
        "destinations": [
            {
                "name": "pacs",
                "type": "dicom",
                "ae_title": "RECORDER",
                "host": "127.0.0.1",
                "port": port,
                "timeout": 5,
            }
        ],
        "retry": {"initial_seconds": 0.01, "max_seconds": 0.05, "max_age_seconds": 60, **retry},
    }
    if routes:
        (tmp_path / "routes.yaml").write_text(routes)
        data["routes_file"] = str(tmp_path / "routes.yaml")
    s = settings_from_dict(data)
    spool = Spool(s.spool.path)
    pipe = Pipeline(
        s,
        keys=None,
        spool=spool,
        owner="w1",
        deidentify=deid,
        encode=to_bytes,
        policy_factory=lambda settings, name: name,
    )
    return pipe, spool


def _run_one(pipe: Pipeline, spool: Spool, raw: bytes, calling: str = "CT1") -> str:
    spool.store(raw, calling_aet=calling, sop_class=CT, transfer_syntax="1.2.840.10008.1.2.1")
    item = spool.claim("w1")
    return pipe.process(item)


def _reasons(tmp_path) -> list[dict]:
    return [json.loads((d / "reason.json").read_text()) for d in (tmp_path / "q").iterdir()]


def test_good_instance_is_forwarded_deidentified_and_removed(tmp_path, peer):
    pipe, spool = _pipeline(tmp_path, peer.port)
    ds = make_study(1, 1)[0]
    assert _run_one(pipe, spool, to_bytes(ds)) == "forwarded"
    pipe.close()
    (got,) = peer.received
    assert got.PatientName == "ANON" and got.SOPInstanceUID != ds.SOPInstanceUID
    assert spool.depth()[State.FORWARDED] == 1
    assert list((tmp_path / "spool" / "data").iterdir()) == []


@pytest.mark.parametrize(
    ("raw", "stage", "code"),
    [
        (b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage", "parse", "unparseable"),
        (b"not dicom at all", "parse", "unparseable"),
    ],
)
def test_unparseable_input_is_quarantined_with_reason_never_forwarded(tmp_path, peer, raw, stage, code):
    pipe, spool = _pipeline(tmp_path, peer.port)
    assert _run_one(pipe, spool, raw) == "quarantined"
    assert peer.received == []
    (reason,) = _reasons(tmp_path)
    assert (reason["stage"], reason["code"]) == (stage, code)
    assert spool.depth()[State.QUARANTINED] == 1


def test_pixel_mismatch_is_quarantined_and_reason_has_no_phi(tmp_path, peer):
    pipe, spool = _pipeline(tmp_path, peer.port)
    ds = make_study(1, 1)[0]
    ds.Rows = 128
    assert _run_one(pipe, spool, to_bytes(ds)) == "quarantined"
    assert peer.received == []
    qdir = next((tmp_path / "q").iterdir())
    reason_text = (qdir / "reason.json").read_text()
    assert json.loads(reason_text)["code"] == "pixel_data_mismatch"
    for s in PLANTED_PHI.planted():
        assert s.lower() not in reason_text.lower()
    assert dcmread(qdir / "instance.dcm").SOPInstanceUID == ds.SOPInstanceUID  # kept as received


def test_engine_exception_fails_closed(tmp_path, peer):
    pipe, spool = _pipeline(tmp_path, peer.port, deid=raising_deidentify)
    assert _run_one(pipe, spool, to_bytes(make_study(1, 1)[0])) == "quarantined"
    assert peer.received == []
    assert _reasons(tmp_path)[0]["code"] == "internal_error"


def test_destination_down_schedules_retry_then_delivers(tmp_path, peer):
    port = peer.port
    peer.stop()
    pipe, spool = _pipeline(tmp_path, port, initial_seconds=30, max_seconds=60)
    assert _run_one(pipe, spool, to_bytes(make_study(1, 1)[0])) == "retry"
    row = spool._db.execute("SELECT state, attempts, pending FROM items").fetchone()
    assert row == (State.RETRY_WAIT, 1, '["pacs"]')
    back = RecordingSCP()
    try:
        pipe.forwarders["pacs"].dest = pipe.forwarders["pacs"].dest.model_copy(update={"port": back.port})
        assert spool.destinations.state("pacs").down
        assert spool.destinations.retry_now("pacs") == 1
        item = spool.claim("w1")
        assert pipe.process(item) == "forwarded"
        pipe.close()
        assert len(back.received) == 1
        assert not spool.destinations.state("pacs").down
    finally:
        back.stop()


def test_retries_end_in_quarantine_after_max_age(tmp_path, peer):
    port = peer.port
    peer.stop()
    pipe, spool = _pipeline(tmp_path, port, max_age_seconds=0.001)
    assert _run_one(pipe, spool, to_bytes(make_study(1, 1)[0])) == "quarantined"
    assert _reasons(tmp_path)[0]["code"] == "retry_exhausted"


def test_unrouted_instance_is_quarantined(tmp_path, peer):
    routes = "routes:\n  - name: ct1\n    match: {calling_aet: [CT1]}\n    destinations: [pacs]\n"
    pipe, spool = _pipeline(tmp_path, peer.port, routes=routes)
    assert _run_one(pipe, spool, to_bytes(make_study(1, 1)[0]), calling="OTHER") == "quarantined"
    assert _reasons(tmp_path)[0]["stage"] == "route"
    assert peer.received == []


def test_item_that_killed_workers_is_quarantined_not_retried_forever(tmp_path, peer):
    pipe, spool = _pipeline(tmp_path, peer.port)
    spool.store(to_bytes(make_study(1, 1)[0]), calling_aet="CT1", sop_class=CT, transfer_syntax="1.2.840.10008.1.2.1")
    for n in range(3):
        spool.claim(f"dead{n}")
        spool.requeue(owners=[f"dead{n}"], crashed=True)
    item = spool.claim("w1")
    assert item.crashes == 3
    assert pipe.process(item) == "quarantined"
    assert _reasons(tmp_path)[0]["code"] == "worker_crashed"
    assert peer.received == []


def test_unexpected_error_quarantines_and_worker_goes_on(tmp_path, peer):
    pipe, spool = _pipeline(tmp_path, peer.port)

    class Broken:
        name = "pacs"

        def send(self, ds):
            raise OSError("disk gone")

        def release_if_idle(self, now):
            pass

        def close(self):
            pass

    pipe.forwarders["pacs"] = Broken()
    assert _run_one(pipe, spool, to_bytes(make_study(1, 1)[0])) == "quarantined"
    assert _reasons(tmp_path)[0] | {"stage": "worker", "code": "internal_error"} == _reasons(tmp_path)[0]


def test_a_worker_process_keeps_one_instance_in_flight_per_lane(tmp_path):
    """workers.lanes: while one lane waits on a slow destination, the other sends on its own association."""
    import time

    from deidnode.engine.keys import Keys
    from deidnode.worker import Supervisor

    slow = RecordingSCP(delay=0.3)
    try:
        s = settings_from_dict(
            {
                "spool": {"path": str(tmp_path / "spool")},
                "quarantine_path": str(tmp_path / "q"),
                "workers": {"count": 1, "lanes": 2, "claim_batch": 1, "poll_seconds": 0.05},
                "pixels": {"policy": "off"},
                "destinations": [
                    {
                        "name": "pacs",
                        "type": "dicom",
                        "ae_title": "RECORDER",
                        "host": "127.0.0.1",
                        "port": slow.port,
                        "timeout": 10,
                    }
                ],
            }
        )
        spool = Spool(s.spool.path)
        for ds in make_study(6, 1):
            spool.store(to_bytes(ds), calling_aet="CT1", sop_class=CT, transfer_syntax="1.2.840.10008.1.2.1")
        sup = Supervisor(s, Keys(b"l" * 32), spool)
        sup.start()
        try:
            deadline = time.monotonic() + 60
            while len(slow.received) < 6 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            sup.stop(timeout=10)
        assert len(slow.received) == 6
        assert slow.max_in_flight == 2 and slow.associations == 2
    finally:
        slow.stop()


def test_a_down_destination_is_probed_and_its_waiting_instances_go_at_once(tmp_path):
    """Issue 10 item 8: instances waited out a long back-off after the destination had come back."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pipe, spool = _pipeline(tmp_path, port, initial_seconds=300, max_seconds=600, probe_seconds=0.01)
    assert _run_one(pipe, spool, to_bytes(make_study(1, 1)[0])) == "retry"
    assert spool.claim("w1") is None  # due in 300 s
    back = RecordingSCP()
    try:
        pipe.forwarders["pacs"].dest = pipe.forwarders["pacs"].dest.model_copy(update={"port": back.port})
        pipe.idle()  # the lane's idle turn: the probe finds it up
        item = spool.claim("w1")
        assert item is not None and pipe.process(item) == "forwarded"
        pipe.close()
        assert len(back.received) == 1 and not spool.destinations.state("pacs").down
    finally:
        back.stop()


def test_a_lane_that_fails_to_start_ends_its_process_for_the_supervisor_to_restart(tmp_path):
    """A lane whose pipeline cannot start logs ``lane_failed`` and its process exits (the supervisor starts a new
    one) instead of going on silently with fewer lanes: before be8fd46 the other lane kept the process alive."""
    import subprocess

    config = {
        "spool": {"path": str(tmp_path / "spool")},
        "quarantine_path": str(tmp_path / "q"),
        "workers": {"count": 1, "lanes": 2, "poll_seconds": 0.05},
        "pixels": {"policy": "off"},
        "destinations": [{"name": "pacs", "type": "dicom", "ae_title": "PACS", "host": "127.0.0.1", "port": 9}],
    }
    Spool(Path(config["spool"]["path"])).close()
    # the worker body runs in a child of its own (as the supervisor runs it), its second lane's pipeline failing
    script = f"""
import os, threading
from deidnode.config import settings_from_dict
from deidnode.engine.keys import Keys
from deidnode.worker import pipeline
from deidnode.worker.process import worker_main

class SecondLaneFails(pipeline.Pipeline):
    def __init__(self, *args, **kwargs):
        if threading.current_thread().name == "lane-1":
            raise OSError(13, "cannot start")
        super().__init__(*args, **kwargs)

pipeline.Pipeline = SecondLaneFails
worker_main(settings_from_dict({config!r}), Keys(b"l" * 32), "lanes-0-1", os.getppid())
"""
    try:
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("the worker process went on with one lane")
    assert r.returncode == 0, r.stderr[-2000:]
    events = [json.loads(x) for x in r.stderr.splitlines() if x.startswith("{")]
    failed = [e for e in events if e["event"] == "lane_failed"]
    assert [(e["lane"], e["exc_type"], e["error_code"]) for e in failed] == [(1, "PermissionError", "EACCES")]
    # its stop names why, and counts the instances it processed (none), not the budget it gave up
    stopped = [e for e in events if e["event"] == "worker_stopped"]
    assert [(e["tasks"], e["reason"]) for e in stopped] == [(0, "lane_failed")]


def test_an_error_code_names_sqlite_and_os_errors_without_their_messages(tmp_path):
    import sqlite3

    from deidnode.errors import error_code

    with pytest.raises(sqlite3.OperationalError) as e:
        sqlite3.connect(tmp_path / "missing" / "x.db")
    assert error_code(e.value) == "SQLITE_CANTOPEN"
    assert error_code(FileNotFoundError(2, "No such file", "/a/patient/path")) == "ENOENT"
    assert error_code(ValueError("SMITH^JOHN")) is None
