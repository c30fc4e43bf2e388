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


def test_quarantine_stage_label_is_bounded():
    assert metrics.quarantine_stage_label("pixels") == "pixels"
    assert metrics.quarantine_stage_label("some new stage") == "other"
