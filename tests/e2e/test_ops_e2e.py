"""The metrics port's pages against a running node (a subprocess) fed by dcmtk's storescu: /healthz, /readyz,
/status, /api/v1/, 404 elsewhere; sd_notify READY/STOPPING/WATCHDOG on a real datagram socket; a stuck main
loop and a hung shutdown seen as unhealthy; the audit trail of ``serve``."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from opsnode import folder_config, get, get_json, send_traffic  # noqa: E402  (sys.path set by conftest)
from peers import storescu, wait_for  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dicom_factory import PLANTED_PHI  # noqa: E402

from deidnode.engine.header.table import load_table  # noqa: E402

pytestmark = pytest.mark.e2e


class NotifyListener:
    """$NOTIFY_SOCKET for the node: records (time, message) of every datagram."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self.on_ready: list = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            except OSError:
                return
            if msg.startswith("READY=1"):
                for f in self.on_ready:
                    f()
            self.messages.append((time.monotonic(), msg))

    def count(self, prefix: str, since: float = 0.0) -> int:
        return sum(1 for t, m in list(self.messages) if m.startswith(prefix) and t >= since)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def notify(tmp_path, monkeypatch):
    listener = NotifyListener(tmp_path / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", str(listener.path))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # systemd's WatchdogSec=1: a ping every 0.5 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield listener
    listener.close()


def test_probes_status_and_metrics_answer_and_every_other_path_is_404(tmp_path, make_node):
    node = make_node(folder_config(tmp_path)).start()
    wait_for(lambda: get(node, "/readyz")[0] == 200, 30, "ready")
    code, health = get_json(node, "/healthz")
    assert code == 200 and health["status"] == "ok" and health["checks"]["main_loop"]["step"] == "running"
    code, ready = get_json(node, "/readyz")
    assert code == 200 and set(ready["checks"]) == {
        "alive",
        "running",
        "spool_writable",
        "spool_space",
        "workers",
        "scp_listening",
    }
    assert ready["checks"]["workers"] == {"ok": True, "alive": 2, "configured": 2}
    assert [d["name"] for d in ready["destinations"]] == ["out"]
    code, body, headers = get(node, "/metrics")
    assert code == 200 and b"deidnode_build_info{" in body and b"deidnode_spool_free_bytes" in body
    code, body, headers = get(node, "/status")
    assert code == 200 and headers["Content-Type"].startswith("text/html") and b"<script" not in body
    assert "script-src" not in headers["Content-Security-Policy"]  # no script may run
    assert get_json(node, "/api/v1/status")[0] == 200
    assert get(node, "/api/v1/quarantine")[0] == 200
    for path in ("/", "/index.html", "/metrics/x", "/status/", "/api/v1", "/api/v1/nope", "/healthz/x", "/.env"):
        assert get(node, path)[0] == 404, path
    assert get(node, "/api/v1/quarantine/retry", method="POST")[0] == 404  # admin actions are off
    assert get(node, "/healthz", method="HEAD")[0] == 200


def test_ready_is_notified_after_the_scp_listens_then_watchdog_pings_and_stopping(tmp_path, make_node, notify):
    cfg = folder_config(tmp_path)
    node = make_node(cfg)
    at_ready: dict = {}

    def probe() -> None:  # runs the moment READY=1 arrives
        with socket.socket() as s:
            s.settimeout(2)
            at_ready["scp"] = s.connect_ex(("127.0.0.1", node.port))
        at_ready["readyz"] = get(node, "/readyz")[0]

    notify.on_ready.append(probe)
    node.start()
    wait_for(lambda: "readyz" in at_ready, 30, "READY=1")
    assert at_ready == {"scp": 0, "readyz": 200}
    assert notify.count("READY=1") == 1
    t = time.monotonic()
    wait_for(lambda: notify.count("WATCHDOG=1", since=t) >= 3, 10, "watchdog pings")
    node.stop()
    assert notify.count("STOPPING=1") == 1
    stopping = [ts for ts, m in notify.messages if m.startswith("STOPPING=1")][0]
    ready = [ts for ts, m in notify.messages if m.startswith("READY=1")][0]
    assert ready < stopping


def test_a_stuck_main_loop_fails_healthz_and_starves_the_watchdog_until_it_recovers(tmp_path, make_node, notify):
    node = make_node(folder_config(tmp_path)).start()
    wait_for(lambda: get(node, "/readyz")[0] == 200, 30, "ready")
    # A hung disk, as the node sees it: its spool database is locked by someone else. The main loop blocks
    # in its next write (busy timeout 30 s); the probes read with a connection of their own.
    db = sqlite3.connect(tmp_path / "spool" / "spool.sqlite3", isolation_level=None, timeout=5)
    db.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        wait_for(lambda: get(node, "/healthz")[0] == 503, 10, "/healthz 503")
        assert time.monotonic() - t0 >= 1.5  # not before stall_seconds (2 s)
        code, health = get_json(node, "/healthz")
        assert health["checks"]["main_loop"]["ok"] is False and health["checks"]["main_loop"]["age_s"] > 2
        assert get(node, "/readyz")[0] == 503
        t1 = time.monotonic()
        time.sleep(1.5)
        assert notify.count("WATCHDOG=1", since=t1 + 0.6) == 0  # systemd would now restart the node
    finally:
        db.execute("ROLLBACK")
        db.close()
    wait_for(lambda: get(node, "/healthz")[0] == 200, 10, "/healthz 200 again")
    t2 = time.monotonic()
    wait_for(lambda: notify.count("WATCHDOG=1", since=t2) >= 1, 5, "watchdog pings again")


@pytest.mark.slow
def test_a_hung_shutdown_fails_healthz(tmp_path, make_node):
    node = make_node(folder_config(tmp_path)).start()
    wait_for(lambda: get(node, "/readyz")[0] == 200, 30, "ready")
    _, status = get_json(node, "/api/v1/status")
    stuck = status["workers"]["processes"][0]["pid"]
    os.kill(stuck, signal.SIGSTOP)  # a worker that no longer answers the stop request...
    db = sqlite3.connect(tmp_path / "spool" / "spool.sqlite3", isolation_level=None, timeout=10)
    try:
        node.proc.send_signal(signal.SIGTERM)
        wait_for(
            lambda: get_json(node, "/healthz")[1]["checks"]["main_loop"]["step"] == "stopping_workers",
            10,
            "the stopping_workers step",
        )
        db.execute("BEGIN EXCLUSIVE")  # ...and a spool that hangs (the claims of a killed worker are put back)
        assert get(node, "/healthz")[0] == 200  # stopping workers may take a while...
        assert get(node, "/readyz")[0] == 503  # ...but a stopping node takes no new work
        t0 = time.monotonic()
        wait_for(lambda: get(node, "/healthz")[0] == 503, 25, "/healthz 503 in the hung step")
        code, health = get_json(node, "/healthz")
        assert health["checks"]["main_loop"]["step"] == "stopping_workers"
        assert health["checks"]["main_loop"]["age_s"] > health["checks"]["main_loop"]["allowance_s"]
        assert time.monotonic() - t0 > 2
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")
        db.close()
        try:
            os.kill(stuck, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert node.proc.wait(60) == 0  # released, the shutdown completes


def test_status_api_reports_what_the_node_did_without_phi(tmp_path, make_node, study_dir):
    node = make_node(folder_config(tmp_path)).start()
    send_traffic(node, study_dir)
    wait_for(
        lambda: (
            get_json(node, "/api/v1/status")[1]["spool"]["waiting"] == 0
            and get_json(node, "/api/v1/status")[1]["spool"]["states"]["forwarded"] == 12
        ),
        60,
        "all processed",
    )
    _, s = get_json(node, "/api/v1/status")
    assert s["spool"]["states"] == {"received": 0, "claimed": 0, "retry_wait": 0, "forwarded": 12, "quarantined": 1}
    assert s["spool"]["oldest_waiting_seconds"] is None and s["spool"]["free_bytes"] > 0
    wait_for(
        lambda: get_json(node, "/api/v1/status")[1]["throughput"]["windows"]["last_1m"]["out"] == 12,
        10,
        "the last minute's throughput",
    )
    _, s = get_json(node, "/api/v1/status")
    assert s["throughput"]["windows"]["last_1m"] | {"seconds": 0} == {
        "seconds": 0,
        "in": 13,
        "out": 12,
        "quarantined": 1,
    }
    assert s["throughput"]["per_minute"][0]["in"] + s["throughput"]["per_minute"][1]["in"] == 13
    (q,) = s["quarantine"]["recent"]
    assert set(q) == {"id", "stage", "code", "time"} and (q["stage"], q["code"]) == ("route", "no_route")
    assert s["quarantine"]["total"] == 1
    assert s["destinations"] == [
        {
            "name": "out",
            "type": "folder",
            "target": str(tmp_path / "out"),
            "state": "ok",
            "backoff_until": None,
            "down_since": None,
            "failures": 0,
            "last_error": None,
            "last_ok": None,
        }
    ]
    assert s["versions"]["table_edition"] == load_table().edition and s["node"]["ready"] is True
    assert s["workers"]["alive"] == 2 and s["workers"]["restarts"] == 0
    _, entries = get_json(node, "/api/v1/quarantine")
    assert entries == [q]
    pages = get(node, "/api/v1/status")[1] + get(node, "/status")[1] + get(node, "/api/v1/quarantine")[1]
    for value in PLANTED_PHI.planted():
        assert value.lower().encode() not in pages.lower(), value

    # A worker killed: replaced, and the restart is on the page.
    os.kill(s["workers"]["processes"][1]["pid"], signal.SIGKILL)
    wait_for(lambda: get_json(node, "/api/v1/status")[1]["workers"]["restarts"] == 1, 20, "a worker restart")
    _, s = get_json(node, "/api/v1/status")
    assert s["workers"]["recent_restarts"][0]["reason"] == "died" and s["workers"]["recent_restarts"][0]["slot"] == 1
    assert s["workers"]["processes"][1]["restarts"] == 1


def test_serve_writes_one_audit_record_per_instance_without_phi(tmp_path, make_node, study_dir):
    node = make_node(folder_config(tmp_path)).start()
    send_traffic(node, study_dir)
    path = tmp_path / "audit" / "audit.jsonl"
    wait_for(lambda: path.exists() and len(path.read_text().splitlines()) == 13, 60, "13 audit records")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    assert sorted(r["outcome"] for r in recs) == ["forwarded"] * 12 + ["quarantined"]
    for r in recs:
        assert r["command"] == "serve" and len(r["input_sha256"]) == 64 and r["attempt"] == 1
        assert r["versions"]["table_edition"] == load_table().edition
    fwd = [r for r in recs if r["outcome"] == "forwarded"]
    assert all(r["destinations"] == [{"name": "out", "outcome": "ok", "code": ""}] for r in fwd)
    out_names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {r["engine"]["sop_instance_uid"] + ".dcm" for r in fwd} == out_names
    (q,) = [r for r in recs if r["outcome"] == "quarantined"]
    assert q["quarantine"]["code"] == "no_route" and q["engine"] is None and q["calling_aet"] == "OTHER"
    text = path.read_text().lower()
    for value in PLANTED_PHI.planted():
        assert value.lower() not in text, value


def test_quarantine_retry_and_purge_from_the_page_need_the_admin_token(tmp_path, make_node, study_dir):
    token = tmp_path / "admin.token"
    token.write_text("a-long-enough-admin-token\n")
    node = make_node(folder_config(tmp_path, web={"stall_seconds": 2, "admin_token_file": str(token)})).start()
    files = sorted(study_dir.iterdir())
    assert storescu(node.port, files[:2], aet="OTHER").returncode == 0
    wait_for(lambda: len(get_json(node, "/api/v1/quarantine")[1]) == 2, 60, "two quarantined")
    a, b = (e["id"] for e in get_json(node, "/api/v1/quarantine")[1])
    assert b"name=token" in get(node, "/status")[1]

    def post(path: str, body: bytes, headers: dict) -> int:
        req = urllib.request.Request(
            f"http://127.0.0.1:{node.metrics_port}{path}", data=body, headers=headers, method="POST"
        )
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert post("/api/v1/quarantine/purge", f"id={a}&token=wrong-token-xxxxxxxx".encode(), form) == 403
    assert post("/api/v1/quarantine/purge", f"id={a}".encode(), form) == 403
    assert len(get_json(node, "/api/v1/quarantine")[1]) == 2
    assert post("/api/v1/quarantine/purge", f"id={a}&token=a-long-enough-admin-token".encode(), form) == 303
    assert [e["id"] for e in get_json(node, "/api/v1/quarantine")[1]] == [b]
    # Retry through the JSON API: back into the spool, and quarantined again (still no route for OTHER).
    bearer = {"Authorization": "Bearer a-long-enough-admin-token", "Content-Type": "application/json"}
    assert post("/api/v1/quarantine/retry", json.dumps({"ids": [b]}).encode(), bearer) == 200
    wait_for(
        lambda: get_json(node, "/api/v1/status")[1]["spool"]["states"]["quarantined"] == 3,
        30,
        "the retried instance quarantined again",
    )
    assert len(get_json(node, "/api/v1/quarantine")[1]) == 1


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return None
