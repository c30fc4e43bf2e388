"""Every Prometheus metric of the node, in one place.

Names follow ``deidnode_<subsystem>_<name>_<unit>``; counters end in ``_total``. Labels are of low cardinality
(outcome, stage, destination name from the config, spool state) and pre-initialised; never an identifier.
Worker processes share the metrics through prometheus-client's multiprocess mode: the node sets
``PROMETHEUS_MULTIPROC_DIR`` (a folder it cleans at start) *before* this module is first imported.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from .reasons import Stage

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

STAGES = ("receive", "route", "deidentify", "forward")
QUARANTINE_STAGES = tuple(s.value for s in Stage)  # one series per stage (reasons.Stage)
SPOOL_STATES = ("received", "claimed", "retry_wait", "forwarded", "quarantined")

RECEIVE_ASSOCIATIONS = Counter(
    "deidnode_receive_associations_total",
    "Association requests, by outcome (accepted, rejected).",
    ["outcome"],
)
RECEIVE_INSTANCES = Counter(
    "deidnode_receive_instances_total",
    "C-STORE requests answered, by outcome (stored: durable and Success; refused: a failure status).",
    ["outcome"],
)
RECEIVE_BYTES = Counter("deidnode_receive_bytes_total", "Bytes of instances written to the spool.")
RECEIVE_ECHOES = Counter("deidnode_receive_echoes_total", "C-ECHO requests answered.")
ENGINE_INSTANCES = Counter(
    "deidnode_engine_instances_total",
    "Instances through the engine, by outcome (deidentified, quarantined).",
    ["outcome"],
)
FORWARD_INSTANCES = Counter(
    "deidnode_forward_instances_total",
    "Deliveries to a destination, by outcome (forwarded, retry, failed).",
    ["destination", "outcome"],
)
FORWARD_RETRIES = Counter(
    "deidnode_forward_retries_total",
    "Instances put back for a later attempt (destination unavailable).",
    ["destination"],
)
QUARANTINE_INSTANCES = Counter(
    "deidnode_quarantine_instances_total", "Instances quarantined, by the stage that refused them.", ["stage"]
)
SPOOL_DEPTH = Gauge(
    "deidnode_spool_depth_instances",
    "Spool rows by state (forwarded/quarantined: retained history).",
    ["state"],
    multiprocess_mode="mostrecent",
)
WORKER_PROCESSES = Gauge("deidnode_worker_alive_processes", "Worker processes alive.", multiprocess_mode="mostrecent")
WORKER_RESTARTS = Counter(
    "deidnode_worker_restarts_total",
    "Worker processes started again, by reason (died, recycled).",
    ["reason"],
)
STAGE_DURATION = Histogram(
    "deidnode_pipeline_stage_duration_seconds",
    "Time spent per instance in each stage.",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
)
PIPELINE_LATENCY = Histogram(
    "deidnode_pipeline_latency_seconds",
    "From durable receipt to delivery at every destination.",
    buckets=_LATENCY_BUCKETS,
)
# What an operator needs besides the flow (set by the node's main process; see node.py).
BUILD_INFO = Gauge(
    "deidnode_build_info",
    "Always 1; the labels name the versions doing the work (deidnode, PS3.15 table edition, pydicom, OCR).",
    ["version", "table_edition", "pydicom", "ocr"],
    multiprocess_mode="mostrecent",
)
NODE_START_TIME = Gauge(
    "deidnode_node_start_time_seconds", "When the node started (Unix time).", multiprocess_mode="mostrecent"
)
SPOOL_FREE_BYTES = Gauge(
    "deidnode_spool_free_bytes",
    "Free bytes on the spool's file system (as an unprivileged user sees them).",
    multiprocess_mode="mostrecent",
)
SPOOL_MIN_FREE_BYTES = Gauge(
    "deidnode_spool_min_free_bytes",
    "spool.min_free_bytes: below it C-STORE is refused (0xA701).",
    multiprocess_mode="mostrecent",
)
SPOOL_OLDEST_WAITING = Gauge(
    "deidnode_spool_oldest_waiting_seconds",
    "Age of the oldest instance not yet delivered or quarantined (0 when none waits).",
    multiprocess_mode="mostrecent",
)
RETRY_MAX_AGE = Gauge(
    "deidnode_retry_max_age_seconds",
    "retry.max_age_seconds: an instance still undelivered at this age is quarantined.",
    multiprocess_mode="mostrecent",
)
DESTINATION_UP = Gauge(
    "deidnode_forward_destination_up",
    "0 from a failed delivery until the next successful one (the spool's shared retry clock), else 1.",
    ["destination"],
    multiprocess_mode="mostrecent",
)
AUDIT_WRITE_ERRORS = Counter(
    "deidnode_audit_write_errors_total", "Audit records that could not be written (the instance went on)."
)


def preinit(destinations: Iterable[str]) -> None:
    """Create every label combination so that series exist (at 0) before the first event."""
    destinations_list = list(destinations)
    for o in ("accepted", "rejected"):
        RECEIVE_ASSOCIATIONS.labels(o)
    for o in ("stored", "refused"):
        RECEIVE_INSTANCES.labels(o)
    for o in ("deidentified", "quarantined"):
        ENGINE_INSTANCES.labels(o)
    for d in destinations_list:
        for o in ("forwarded", "retry", "failed"):
            FORWARD_INSTANCES.labels(d, o)
        FORWARD_RETRIES.labels(d)
    for s in QUARANTINE_STAGES:
        QUARANTINE_INSTANCES.labels(s)
    for s in STAGES:
        STAGE_DURATION.labels(s)
    for r in ("died", "recycled"):
        WORKER_RESTARTS.labels(r)
    for s in SPOOL_STATES:
        SPOOL_DEPTH.labels(s).set(0)
    for d in destinations_list:
        DESTINATION_UP.labels(d).set(1)
    AUDIT_WRITE_ERRORS.inc(0)


def set_build_info(versions: dict[str, str], start_time: float) -> None:
    """Export the versions (``buildinfo.versions()``) and the start time; called once by the node."""
    BUILD_INFO.labels(versions["deidnode"], versions["table_edition"], versions["pydicom"], versions["ocr"]).set(1)
    NODE_START_TIME.set(start_time)


def exposition_registry() -> CollectorRegistry:
    """The registry ``/metrics`` serves: every process aggregated in multiprocess mode, else this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def exposition(registry: CollectorRegistry, accept: str = "") -> tuple[bytes, str]:
    """``registry`` in the format the scraper's Accept header asks for (text 0.0.4 by default; OpenMetrics
    when asked), and its content type."""
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


def mark_process_dead(pid: int) -> None:
    """Tell the multiprocess collector that a worker is gone (drops its live gauges)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
