"""Metrics end to end: /metrics from a running node passes promtool's lint, and every query of the Grafana
dashboard evaluates to data in a real Prometheus scraping that node."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import node_config  # noqa: E402
from peers import ROOT, free_port, storescu, wait_for  # noqa: E402

pytestmark = pytest.mark.e2e
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"


def _metrics_text(node) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/metrics", timeout=10) as r:
        return r.read().decode()


@pytest.fixture
def traffic_node(tmp_path, orthanc, make_node, study_dir):
    node = make_node(node_config(tmp_path, orthanc)).start()
    files = sorted(study_dir.iterdir())[:12]
    assert storescu(node.port, files).returncode == 0
    wait_for(lambda: orthanc.count() == 12, 60, "instances in Orthanc")
    return node


@pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool not installed")
def test_metrics_pass_promtool_lint_and_hold_no_identifiers(traffic_node, study_dir):
    text = _metrics_text(traffic_node)
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'deidnode_receive_instances_total{outcome="stored"} 12.0' in text
    assert "1.2.840." not in text.replace("1.2.840.10008", "")  # no instance UIDs anywhere
    assert "CT1" not in text  # no AE titles either: labels are bounded enums and configured names


@pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="prometheus not installed")
def test_every_dashboard_query_returns_data_in_prometheus(tmp_path, traffic_node, orthanc, study_dir):
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: deidnode\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{traffic_node.metrics_port}']}}]\n"
    )
    log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()

    def query(expr: str) -> list:
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def scraped_samples() -> int:
        try:
            res = query('count_over_time(deidnode_receive_instances_total{outcome="stored"}[1m])')
        except OSError:
            return 0
        return int(float(res[0]["value"][1])) if res else 0

    try:
        wait_for(lambda: scraped_samples() >= 3, 60, "three scrapes of the node")
        # More traffic after the first scrapes, so that rates are above zero.
        assert storescu(traffic_node.port, sorted(study_dir.iterdir())[12:24]).returncode == 0
        wait_for(lambda: orthanc.count() == 24, 60, "second batch in Orthanc")
        stored_rate = 'sum(rate(deidnode_forward_instances_total{outcome="forwarded"}[1m]))'
        wait_for(lambda: (r := query(stored_rate)) and float(r[0]["value"][1]) > 0, 30, "a forwarded rate > 0")
        dash = json.loads((ROOT / "grafana" / "deidnode.json").read_text())
        exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
        assert len(exprs) >= 12

        def concrete(expr: str) -> str:  # Grafana's variables, as Grafana would fill them in
            return expr.replace("$__rate_interval", "1m").replace("$instance", ".*")

        empty = []
        for expr in exprs:
            if not query(concrete(expr)):
                empty.append(expr)
        assert not empty, f"dashboard queries without data: {empty}"
        (var,) = [v for v in dash["templating"]["list"] if v["name"] == "instance"]
        node = f"127.0.0.1:{traffic_node.metrics_port}"
        assert [r["metric"]["instance"] for r in query("group by (instance) (deidnode_build_info)")] == [node]
        assert "deidnode_build_info" in var["definition"]
        for a in dash["annotations"]["list"]:
            if "expr" in a:
                query(concrete(a["expr"]))  # a valid query (empty until a restart happens)
    finally:
        prom.terminate()
        try:
            prom.wait(20)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait(10)
