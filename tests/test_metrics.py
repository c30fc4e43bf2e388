"""Metric names and labels follow the convention; labels are bounded and pre-initialised."""

from __future__ import annotations

import re

from prometheus_client import REGISTRY, generate_latest

from deidnode import metrics

# deidnode_build_info follows Prometheus' info-metric convention (value 1, versions as labels); *_up is 0/1.
NAME = re.compile(r"^deidnode_([a-z]+_[a-z_]+_(total|seconds|bytes|instances|processes|up)|build_info)$")
ALLOWED_LABELS = {"outcome", "stage", "destination", "state", "reason"}
BUILD_INFO_LABELS = {"version", "table_edition", "pydicom", "ocr"}


def _ours():
    return [m for m in vars(metrics).values() if hasattr(m, "_name") and hasattr(m, "_labelnames")]


def test_names_follow_convention():
    names = []
    for m in _ours():
        full = m._name + ("_total" if m._type == "counter" else "")
        names.append(full)
        assert NAME.match(full), full
        if m._type == "counter":
            assert full.endswith("_total")
    assert len(names) == len(set(names)) >= 10


def test_labels_are_low_cardinality_kinds():
    for m in _ours():
        allowed = BUILD_INFO_LABELS if m is metrics.BUILD_INFO else ALLOWED_LABELS
        assert set(m._labelnames) <= allowed, m._name


def test_preinit_exports_zero_series_for_every_label():
    metrics.preinit(["preinit-only"])
    text = generate_latest(REGISTRY).decode()
    assert 'deidnode_forward_instances_total{destination="preinit-only",outcome="retry"} 0.0' in text
    assert 'deidnode_forward_retries_total{destination="preinit-only"} 0.0' in text
    for stage in metrics.QUARANTINE_STAGES:
        assert re.search(r'deidnode_quarantine_instances_total\{stage="' + stage + r'"\} \d', text)
    assert 'deidnode_spool_depth_instances{state="retry_wait"} 0.0' in text


def test_quarantine_stage_labels_are_the_stages_of_the_reason_type():
    from deidnode.reasons import Stage

    assert set(metrics.QUARANTINE_STAGES) == {s.value for s in Stage}


def test_dashboard_selects_nodes_by_instance_and_marks_restarts():
    import json
    from pathlib import Path

    dash = json.loads((Path(__file__).resolve().parents[1] / "grafana" / "deidnode.json").read_text())
    assert "instance" in {v["name"] for v in dash["templating"]["list"]}
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    for expr in exprs:  # every selector of every panel honours the node variable
        for m in re.finditer(r"\b(deidnode_[a-z_]+)(\{[^}]*\})?", expr):
            assert m.group(2) and 'instance=~"$instance"' in m.group(2), expr
    used = " ".join(exprs)
    for name in (
        "deidnode_build_info",
        "deidnode_spool_free_bytes",
        "deidnode_spool_oldest_waiting_seconds",
        "deidnode_forward_destination_up",
    ):
        assert name in used, name
    names = {a["name"] for a in dash["annotations"]["list"]}
    assert {"Node restarts", "Worker restarts"} <= names
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
