"""Every Prometheus metric of the node, in one place.

Names follow ``deidnode_<subsystem>_<name>_<unit>``; counters end in ``_total``. Labels are of low cardinality
(outcome, stage, destination name from the config, spool state) and pre-initialised; never an identifier.
Worker processes share the metrics through prometheus-client's multiprocess mode: the node sets
``PROMETHEUS_MULTIPROC_DIR`` (a folder it cleans at start) *before* this module is first imported.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

STAGES = ("receive", "route", "deidentify", "forward")
QUARANTINE_STAGES = ("parse", "header", "pixels", "engine", "route", "forward", "worker", "other")
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
WORKER_PROCESSES = Gauge(
    "deidnode_worker_alive_processes", "Worker processes alive.", multiprocess_mode="mostrecent"
)
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


def quarantine_stage_label(stage: str) -> str:
    """Map a stage name to the bounded label set."""
    return stage if stage in QUARANTINE_STAGES else "other"


def preinit(destinations: Iterable[str]) -> None:
    """Create every label combination so that series exist (at 0) before the first event."""
    for o in ("accepted", "rejected"):
        RECEIVE_ASSOCIATIONS.labels(o)
    for o in ("stored", "refused"):
        RECEIVE_INSTANCES.labels(o)
    for o in ("deidentified", "quarantined"):
        ENGINE_INSTANCES.labels(o)
    for d in destinations:
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


def start_server(host: str, port: int) -> int:
    """Serve ``/metrics`` (all processes aggregated in multiprocess mode); returns the bound port."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return int(server.server_port)


def mark_process_dead(pid: int) -> None:
    """Tell the multiprocess collector that a worker is gone (drops its live gauges)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
