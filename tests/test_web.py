"""The pieces of the metrics port's pages: heartbeat, throughput windows, the page's escaping, sd_notify."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deidnode import sdnotify
from deidnode.web import Heartbeat, Throughput
from deidnode.web.page import render


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_heartbeat_is_ok_while_the_loop_beats_and_fails_once_it_stalls():
    clock = Clock()
    hb = Heartbeat(5, clock=clock)
    hb.beat()
    clock.t += 4.9
    assert hb.state()["ok"]
    clock.t += 0.2
    state = hb.state()
    assert not state["ok"] and state["age_s"] == pytest.approx(5.1)
    hb.beat()
    assert hb.state()["ok"]


def test_a_shutdown_step_gets_its_own_allowance_and_fails_when_it_overruns():
    clock = Clock()
    hb = Heartbeat(5, clock=clock)
    hb.step("stopping_workers", 30)
    assert hb.stopping
    clock.t += 29
    assert hb.state() == {"ok": True, "step": "stopping_workers", "age_s": 29.0, "allowance_s": 30}
    clock.t += 2
    assert not hb.state()["ok"]


def test_throughput_counts_each_window_from_the_samples_before_it():
    clock = Clock(0)
    counters = {"in": 0.0, "out": 0.0, "quarantined": 0.0}
    tp = Throughput(lambda: counters, every=10, keep=960, clock=clock)
    for _ in range(100):  # 1000 s: 3 in, 2 out and a quarantine every 10 s
        tp.sample()
        clock.t += 10
        counters = {"in": counters["in"] + 3, "out": counters["out"] + 2, "quarantined": counters["quarantined"] + 1}
    r = tp.report(minutes=3)
    assert r["windows"]["last_1m"] == {"seconds": 60.0, "in": 18, "out": 12, "quarantined": 6}
    assert r["windows"]["last_15m"] == {"seconds": 900.0, "in": 270, "out": 180, "quarantined": 90}
    assert [m["in"] for m in r["per_minute"]] == [18, 18, 18]


def test_frequent_reports_do_not_push_the_history_out():
    clock = Clock(0)
    n = {"in": 0.0}
    tp = Throughput(lambda: n, every=10, keep=960, clock=clock)
    tp.sample()
    clock.t = 600
    n = {"in": 50.0}
    for _ in range(500):
        tp.report()
    assert tp.report()["windows"]["last_15m"]["in"] == 50


def _snapshot(**over) -> dict:
    d = {
        "generated": "2026-01-02T03:04:05+00:00",
        "node": {
            "ae_title": "NODE<1>",
            "port": 104,
            "started": "2026-01-02T03:00:00+00:00",
            "uptime_seconds": 245.0,
            "step": "running",
            "healthy": True,
            "ready": False,
            "active_associations": 0,
        },
        "versions": {"deidnode": "0.1.0"},
        "spool": {
            "states": {"received": 1, "claimed": 0, "retry_wait": 2, "forwarded": 3, "quarantined": 4},
            "waiting": 3,
            "oldest_waiting_seconds": 61.0,
            "oldest_waiting_since": "x",
            "free_bytes": 10**9,
            "min_free_bytes": 10**6,
        },
        "throughput": {
            "windows": {"last_1m": {"seconds": 60, "in": 1, "out": 2, "quarantined": 0}},
            "per_minute": [{"minute": 0, "in": 1, "out": 2, "quarantined": 0}],
        },
        "destinations": [
            {
                "name": "pacs",
                "type": "dicom",
                "target": "PACS@10.0.0.1:104",
                "state": "backing_off",
                "backoff_until": "2026-01-02T03:05:00+00:00",
                "failures": 2,
                "last_error": {"host": "10.0.0.1:104", "code": "connection_refused", "detail": "<script>"},
            }
        ],
        "workers": {
            "configured": 1,
            "alive": 1,
            "lanes": 2,
            "restarts": 0,
            "processes": [{"slot": 0, "pid": 7, "alive": True, "started": None, "restarts": 0}],
            "recent_restarts": [],
        },
        "quarantine": {
            "total": 1,
            "recent": [{"id": "a" * 32, "stage": "route", "code": "no_route", "time": "2026-01-02T03:01:00+00:00"}],
        },
    }
    d.update(over)
    return d


def test_the_page_escapes_every_value_and_carries_no_script():
    html = render(_snapshot())
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "NODE&lt;1&gt;" in html
    assert "backing off until 03:05:00" in html and "connection_refused (10.0.0.1:104: &lt;script&gt;)" in html
    assert 'data-k="spool.states.retry_wait" data-v="2"' in html


def test_the_page_offers_quarantine_actions_only_when_admin_is_configured():
    assert "admin token" not in render(_snapshot())
    html = render(_snapshot(), admin=True)
    assert 'action="/api/v1/quarantine/retry"' in html and 'name=id value="' + "a" * 32 in html


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = str(tmp_path / "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield s
    s.close()


def test_notify_sends_a_datagram_to_notify_socket(notify_socket):
    assert sdnotify.notify("READY=1")
    assert notify_socket.recv(4096) == b"READY=1"


def test_notify_is_a_no_op_outside_systemd(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False


def test_watchdog_pings_only_while_healthy(notify_socket):
    healthy = {"ok": True}
    dog = sdnotify.Watchdog(0.2, lambda: healthy["ok"]).start()
    try:
        assert notify_socket.recv(100) == b"WATCHDOG=1"
        healthy["ok"] = False
        notify_socket.settimeout(0.5)
        while True:  # drain a ping that was already under way
            try:
                notify_socket.recv(100)
            except TimeoutError:
                break
        with pytest.raises(TimeoutError):
            notify_socket.recv(100)
        healthy["ok"] = True
        notify_socket.settimeout(5)
        assert notify_socket.recv(100) == b"WATCHDOG=1"
    finally:
        dog.stop()


def test_watchdog_interval_comes_from_systemd_for_this_process_only(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert sdnotify.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert sdnotify.watchdog_interval() is None


def test_destination_states_come_from_the_spools_shared_retry_clock(tmp_path):
    from deidnode.config import settings_from_dict
    from deidnode.spool import Spool
    from deidnode.web import NodeStatus

    settings = settings_from_dict(
        {
            "spool": {"path": str(tmp_path / "spool")},
            "destinations": [
                {"name": "pacs", "type": "dicom", "ae_title": "PACS", "host": "10.0.0.1", "port": 104},
                {"name": "out", "type": "folder", "path": str(tmp_path / "out")},
            ],
        }
    )
    spool = Spool(settings.spool.path)
    clock = Clock(1000.0)
    status = NodeStatus(
        settings,
        heartbeat=Heartbeat(5),
        spool=spool,
        supervisor=None,
        scp=None,
        throughput=None,
        versions={},
        clock=clock,
    )
    assert [d["state"] for d in status.destinations()] == ["ok", "ok"]
    spool.destinations.failed("pacs", "connection_refused", "ECONNREFUSED", initial=5, maximum=600, now=1000.0)
    clock.t = 1002.0
    pacs, out = status.destinations()
    assert pacs["state"] == "backing_off" and pacs["backoff_until"] == "1970-01-01T00:16:45+00:00"
    assert pacs["last_error"] == {
        "time": "1970-01-01T00:16:40+00:00",
        "host": "10.0.0.1:104",
        "code": "connection_refused",
        "detail": "ECONNREFUSED",
    }
    assert out["state"] == "ok" and pacs["target"] == "PACS@10.0.0.1:104"
    clock.t = 1010.0
    assert status.destinations()[0]["state"] == "retrying"
    spool.destinations.succeeded("pacs", now=1011.0)
    assert status.destinations()[0]["state"] == "ok"
    spool.close()


def _serve(tmp_path, config: str) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parents[1]
    cfg = tmp_path / "node.yaml"
    cfg.write_text(config)
    return subprocess.run(
        [sys.executable, "-m", "deidnode.cli", "serve", "--config", str(cfg), "--ephemeral-key"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )


def test_a_busy_metrics_port_is_one_line_naming_the_port_not_a_traceback(tmp_path):
    import json

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = _serve(
            tmp_path,
            f"node: {{host: 127.0.0.1, port: 0}}\nspool: {{path: {tmp_path / 'spool'}}}\n"
            f"quarantine_path: {tmp_path / 'q'}\naudit: {{path: {tmp_path / 'audit.jsonl'}}}\n"
            f"destinations: [{{name: out, type: folder, path: {tmp_path / 'out'}}}]\n"
            f"metrics: {{port: {port}}}\n",
        )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    (line,) = [json.loads(x) for x in r.stderr.splitlines() if "startup_failed" in x]
    assert line["detail"] == f"error: metrics port: 127.0.0.1:{port}: EADDRINUSE"


def test_serve_refuses_to_start_when_the_audit_folder_cannot_be_made(tmp_path):
    import json

    (tmp_path / "a-file").write_text("")
    audit = tmp_path / "a-file" / "audit.jsonl"
    r = _serve(
        tmp_path,
        f"spool: {{path: {tmp_path / 'spool'}}}\nquarantine_path: {tmp_path / 'q'}\n"
        f"destinations: [{{name: out, type: folder, path: {tmp_path / 'out'}}}]\n"
        f"audit: {{path: {audit}}}\n",
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    details = [json.loads(x)["detail"] for x in r.stderr.splitlines() if "startup_failed" in x]
    assert details == [f"error: audit folder: {tmp_path / 'a-file'}: exists and is not a folder"]


def test_an_admin_token_too_short_stops_the_start(tmp_path):
    import json

    token = tmp_path / "admin.token"
    token.write_text("short\n")
    r = _serve(
        tmp_path,
        f"spool: {{path: {tmp_path / 'spool'}}}\nquarantine_path: {tmp_path / 'q'}\n"
        f"destinations: [{{name: out, type: folder, path: {tmp_path / 'out'}}}]\n"
        f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\nweb: {{admin_token_file: {token}}}\n",
    )
    assert r.returncode == 2
    (line,) = [json.loads(x) for x in r.stderr.splitlines() if "startup_failed" in x]
    assert "web.admin_token_file" in line["detail"] and "short" not in line["detail"]


class _Proc:
    def __init__(self, alive: bool) -> None:
        self.alive = alive

    def is_alive(self) -> bool:
        return self.alive


class _Slot:
    def __init__(self, alive: bool) -> None:
        self.process = _Proc(alive)


class _Supervisor:
    def __init__(self, alive: int, count: int = 2) -> None:
        self.slots = [_Slot(i < alive) for i in range(count)]
        self.count = count


class _Scp:
    listening = True


def test_readyz_fails_for_each_reason_a_node_cannot_take_instances_and_not_for_a_down_destination(tmp_path):
    from deidnode.config import settings_from_dict
    from deidnode.spool import Spool
    from deidnode.web import NodeStatus

    settings = settings_from_dict(
        {
            "spool": {"path": str(tmp_path / "spool"), "min_free_bytes": 0},
            "destinations": [{"name": "pacs", "type": "dicom", "ae_title": "PACS", "host": "10.0.0.1", "port": 104}],
        }
    )
    spool = Spool(settings.spool.path)
    hb = Heartbeat(5)
    hb.beat()
    scp, supervisor = _Scp(), _Supervisor(alive=2)

    def ready(**kw: object) -> tuple[bool, dict]:
        st = NodeStatus(
            kw.get("settings", settings),
            heartbeat=hb,
            spool=spool,
            supervisor=kw.get("sup", supervisor),
            scp=kw.get("scp", scp),
            throughput=None,
            versions={},
        )
        return st.readiness()

    ok, body = ready()
    assert ok and body["status"] == "ok"
    # a destination that is down is reported, never a reason to be unready (the spool holds the instances)
    spool.destinations.failed("pacs", "connection_refused", "ECONNREFUSED", initial=5, maximum=600)
    ok, body = ready()
    assert ok and body["destinations"][0]["state"] == "backing_off"
    # no worker process alive
    ok, body = ready(sup=_Supervisor(alive=0))
    assert not ok and not body["checks"]["workers"]["ok"]
    # the SCP stopped listening
    dead = _Scp()
    dead.listening = False
    ok, body = ready(scp=dead)
    assert not ok and not body["checks"]["scp_listening"]["ok"]
    # the spool below its free-space floor
    full = settings.model_copy(update={"spool": settings.spool.model_copy(update={"min_free_bytes": 1 << 62})})
    ok, body = ready(settings=full)
    assert not ok and not body["checks"]["spool_space"]["ok"]
    # the spool cannot be written (its tmp/ is gone: a vanished or remounted file system; root ignores modes)
    (tmp_path / "spool" / "tmp").rename(tmp_path / "spool" / "tmp.moved")
    ok, body = ready()
    assert not ok and not body["checks"]["spool_writable"]["ok"]
    spool.close()
