"""deploy/prometheus: the alert rules and scrape config pass promtool, every alert has a unit test of its
thresholds and ``for`` (alerts.test.yml) and is explained in docs/operations.md."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROM = ROOT / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
needs_promtool = pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool not installed")


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, cwd=PROM)


def alerts() -> list[dict]:
    doc = yaml.safe_load((PROM / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


@needs_promtool
def test_promtool_check_rules_passes():
    r = promtool("check", "rules", "alerts.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in r.stdout


@needs_promtool
def test_promtool_check_config_passes_with_the_rules():
    r = promtool("check", "config", "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 rule files found" in r.stdout


@needs_promtool
def test_promtool_unit_tests_of_every_alert_pass():
    r = promtool("test", "rules", "alerts.test.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    tested = {
        t["alertname"]
        for case in yaml.safe_load((PROM / "alerts.test.yml").read_text())["tests"]
        for t in case["alert_rule_test"]
        if t.get("exp_alerts")
    }
    assert tested == {a["alert"] for a in alerts()}


def test_the_issue_s_alert_set_is_there_and_documented():
    names = {a["alert"] for a in alerts()}
    assert {
        "DeidnodeDown",
        "DeidnodeBacklogGrowing",
        "DeidnodeOldestInstanceTooOld",
        "DeidnodeDestinationDown",
        "DeidnodeQuarantineRateHigh",
        "DeidnodeSpoolFreeSpaceLow",
        "DeidnodeWorkerRestarts",
    } <= names
    doc = (ROOT / "docs" / "operations.md").read_text()
    for a in alerts():
        assert f"`{a['alert']}`" in doc, a["alert"]
        assert a["labels"]["severity"] in ("warning", "critical")
        assert a["annotations"]["runbook"] == "docs/operations.md#alerts"


def test_alerts_use_only_metrics_the_node_exports():
    import re

    from deidnode import metrics

    exported = set()
    for m in vars(metrics).values():
        if hasattr(m, "_name") and hasattr(m, "_type"):
            exported.add(m._name + ("_total" if m._type == "counter" else ""))
    for a in alerts():
        for name in re.findall(r"\b(deidnode_[a-z_]+)", a["expr"]):
            assert name in exported, (a["alert"], name)
