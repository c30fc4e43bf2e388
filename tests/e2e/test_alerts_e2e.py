"""Every alert of deploy/prometheus/alerts.yml against a real Prometheus scraping real nodes made to trigger it.

Prometheus loads the rule file unmodified and scrapes two nodes every second. Each alert's expression is
evaluated through the query API: empty while the nodes run normally, then, once its fault is produced,
non-empty for the node at fault. (``for`` durations and thresholds are covered by ``promtool test rules``
in tests/test_alerts.py.) Faults: the destination (Orthanc) stopped while instances keep arriving; an
unroutable sender; a worker killed; the spool's file system filled (a 64 MiB tmpfs in a private mount
namespace of node B, filled through /proc/<pid>/root); the audit file made unwritable; node B stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import node_config  # noqa: E402  (sys.path set by conftest)
from opsnode import ROUTES, get_json  # noqa: E402
from peers import ROOT, Node, free_port, storescu, wait_for  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
MIB = 1024 * 1024

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="prometheus not installed"),
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("unshare"), reason="a private tmpfs for the spool needs root and unshare"
    ),
]


def _alerts() -> dict[str, str]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"]}


class Prometheus:
    def __init__(self, workdir: Path, targets: list[str]) -> None:
        self.port = free_port()
        cfg = workdir / "prometheus.yml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(RULES)],
                    "scrape_configs": [{"job_name": "deidnode", "static_configs": [{"targets": targets}]}],
                }
            )
        )
        log = open(workdir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def query(self, expr: str) -> list[dict]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.loads(r.read())
        except OSError:
            return []
        assert body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def instances(self, expr: str) -> set[str]:
        return {r["metric"].get("instance", "") for r in self.query(expr)}

    def rules_loaded(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/rules", timeout=10) as r:
                groups = json.loads(r.read())["data"]["groups"]
        except OSError:
            return 0
        return sum(len(g["rules"]) for g in groups)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _settled(instance: str, forwarded: int) -> str:
    """True at the instance's latest scrape when it has forwarded ``forwarded`` instances and none waits."""
    sel = f'instance="{instance}"'
    return (
        f'sum by (instance) (deidnode_forward_instances_total{{{sel},outcome="forwarded"}}) == {forwarded}'
        f" and on (instance) sum by (instance) "
        f'(deidnode_spool_depth_instances{{{sel},state=~"received|claimed|retry_wait"}}) == 0'
    )


def test_every_alert_fires_for_the_node_at_fault(tmp_path, orthanc, key_file, study_dir):
    files = sorted(study_dir.iterdir())
    (tmp_path / "routes.yaml").write_text(ROUTES.replace("[out]", "[research]"))
    # Node A: forwards to Orthanc; retry.max_age_seconds 30, so "too old" means older than 7.5 s.
    cfg_a = node_config(
        tmp_path / "a", orthanc, retry={"initial_seconds": 0.5, "max_seconds": 2, "max_age_seconds": 30}
    )
    cfg_a["routes_file"] = str(tmp_path / "routes.yaml")
    cfg_a["node"]["allowed_calling_aets"] = []
    cfg_a["audit"] = {"path": str(tmp_path / "a" / "audit" / "audit.jsonl")}
    # Node B: its spool on a 64 MiB tmpfs of its own; below 20 MiB free it refuses instances.
    spool_b = tmp_path / "b" / "spool"
    spool_b.mkdir(parents=True)
    cfg_b = {
        "spool": {"path": str(spool_b), "min_free_bytes": 20 * MIB},
        "quarantine_path": str(tmp_path / "b" / "quarantine"),
        "workers": {"count": 1, "poll_seconds": 0.05},
        "destinations": [{"name": "out", "type": "folder", "path": str(tmp_path / "b" / "out")}],
        "audit": {"path": str(tmp_path / "b" / "audit.jsonl")},
    }
    wrapper = [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -t tmpfs -o size=64m,mode=0700 deidnode-spool "$0" && exec "$@"',
        str(spool_b),
    ]
    node_a = Node(tmp_path / "a", cfg_a, key_file).start()
    node_b = Node(tmp_path / "b", cfg_b, key_file, wrapper=wrapper).start()
    a, b = f"127.0.0.1:{node_a.metrics_port}", f"127.0.0.1:{node_b.metrics_port}"
    prom = Prometheus(tmp_path, [a, b])
    alerts = _alerts()
    try:
        wait_for(lambda: prom.rules_loaded() == len(alerts), 60, "the rules loaded")
        wait_for(
            lambda: prom.instances('count_over_time(up{job="deidnode"}[1m]) >= 3') == {a, b},
            60,
            "three scrapes of both nodes",
        )
        assert storescu(node_a.port, files[:12], aet="CT1").returncode == 0
        assert storescu(node_b.port, files[:4], aet="CT1").returncode == 0
        wait_for(lambda: orthanc.count() == 12, 60, "node A's first instances in Orthanc")
        wait_for(
            lambda: get_json(node_b, "/api/v1/status")[1]["spool"]["states"]["forwarded"] == 4,
            60,
            "node B's instances forwarded",
        )
        # Judged on one scrape that postdates the work: its forwarded count is complete and its spool empty. (A
        # latest sample showing an empty spool alone may have been scraped before the instances arrived; a scrape
        # taken mid-work then lands after the wait and the backlog expression holds.)
        wait_for(
            lambda: prom.instances(_settled(a, 12)) == {a} and prom.instances(_settled(b, 4)) == {b},
            30,
            "Prometheus seeing both nodes' work forwarded and their spools empty",
        )
        for name, expr in alerts.items():  # a healthy pair of nodes: no alert expression holds
            assert prom.query(expr) == [], name

        # Faults on node A.
        orthanc.stop(signal.SIGKILL)
        assert storescu(node_a.port, files[12:18], aet="CT1").returncode == 0
        assert storescu(node_a.port, files[18:24], aet="CT1").returncode == 0  # the backlog keeps growing
        wait_for(lambda: prom.instances(alerts["DeidnodeBacklogGrowing"]) == {a}, 60, "backlog growing")
        wait_for(lambda: prom.instances(alerts["DeidnodeOldestInstanceTooOld"]) == {a}, 60, "oldest too old")
        assert storescu(node_a.port, files[24:28], aet="OTHER").returncode == 0  # no route: 4 of 28 quarantined
        wait_for(lambda: prom.instances(alerts["DeidnodeQuarantineRateHigh"]) == {a}, 60, "quarantine rate")
        _, status = get_json(node_a, "/api/v1/status")
        os.kill(status["workers"]["processes"][0]["pid"], signal.SIGKILL)
        wait_for(lambda: prom.instances(alerts["DeidnodeWorkerRestarts"]) == {a}, 60, "worker restarts")
        audit = tmp_path / "a" / "audit" / "audit.jsonl"
        audit.rename(audit.with_name("audit.jsonl.moved"))
        audit.mkdir()  # the audit file can no longer be opened for writing
        assert storescu(node_a.port, files[28:29], aet="OTHER").returncode == 0
        wait_for(lambda: prom.instances(alerts["DeidnodeAuditWriteFailing"]) == {a}, 60, "audit failing")

        # Node B's spool file system fills up.
        assert prom.query(alerts["DeidnodeSpoolFreeSpaceLow"]) == []
        inside = Path(f"/proc/{node_b.proc.pid}/root") / spool_b.relative_to("/")
        (inside / "filler-1").write_bytes(b"\0" * (26 * MIB))  # ~38 MiB left: below 2 x 20 MiB
        wait_for(lambda: prom.instances(alerts["DeidnodeSpoolFreeSpaceLow"]) == {b}, 60, "spool space low")
        assert prom.query(alerts["DeidnodeSpoolFull"]) == []
        (inside / "filler-2").write_bytes(b"\0" * (20 * MIB))  # ~18 MiB left: below 20 MiB
        wait_for(lambda: prom.instances(alerts["DeidnodeSpoolFull"]) == {b}, 60, "spool full")
        refused = storescu(node_b.port, files[:1], aet="CT1")
        assert "Refused: OutOfResources" in refused.stderr  # 0xA701: the sender keeps the instance
        assert not (spool_b / "filler-1").exists()  # the tmpfs is the node's alone

        node_b.stop()
        wait_for(lambda: prom.instances(alerts["DeidnodeDown"]) == {b}, 60, "node down")
        # The shared retry clock of node A's workers (Spool.destination_states) has Orthanc down.
        wait_for(lambda: prom.instances(alerts["DeidnodeDestinationDown"]) == {a}, 60, "destination down")
    finally:
        prom.stop()
        node_a.stop()
        node_b.stop()
