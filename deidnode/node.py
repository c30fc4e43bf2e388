"""``deidnode serve``: spool, Storage SCP, worker supervisor and metrics server in one process tree.

Start order: key and routes (refuse to run without them), spool lock and recovery (everything left from the
last run is processed again), metrics, workers, then the SCP. SIGTERM/SIGINT only set a flag; shutdown stops
accepting, lets open associations finish for ``node.shutdown_grace_seconds``, then lets workers finish the
instance in hand. Anything not finished stays in the spool for the next start.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import signal
import threading
import time
from pathlib import Path

from .config import Settings
from .errors import ConfigError
from .logging import get_logger, setup_logging

log = get_logger("node")

DEPTH_INTERVAL_S = 2.0
PRUNE_INTERVAL_S = 3600.0
RETAIN_FINISHED_S = 7 * 86400.0


def _lock_spool(path: Path) -> int:
    """Hold an exclusive lock on the spool for the node's lifetime: one node per spool."""
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / "node.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"config error: spool.path: {path} is in use by another deidnode") from None
    return fd


def _prepare_metrics_dir(spool_path: Path) -> Path:
    """A clean multiprocess folder; must be set in the environment before prometheus_client is imported."""
    d = spool_path / "metrics"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(d)
    return d


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the node until SIGTERM or SIGINT. Returns the exit status."""
    setup_logging(settings.log_level)
    from .engine import Policy
    from .engine.keys import KEY_FILE_ENV, resolve_keys
    from .routing import Router

    key_file = args.key_file or (None if os.environ.get(KEY_FILE_ENV) else settings.keys.key_file)
    keys = resolve_keys(key_file, ephemeral=bool(getattr(args, "ephemeral_key", False)))
    Router(settings)  # validate the routes against destinations and profiles before anything starts
    for name in settings.profiles:
        Policy.from_settings(settings, name)

    lock_fd = _lock_spool(settings.spool.path)
    if settings.metrics.enabled:
        _prepare_metrics_dir(settings.spool.path)
    from . import metrics
    from .receive import StorageSCP
    from .spool import Spool, State
    from .worker import Supervisor

    spool = Spool(
        settings.spool.path,
        min_free_bytes=settings.spool.min_free_bytes,
        lease_seconds=settings.spool.lease_seconds,
    )
    recovered = spool.recover()
    depth = spool.depth()
    log.info(
        "spool_recovered", extra={**recovered, "pending": depth[State.RECEIVED] + depth[State.RETRY_WAIT]}
    )
    metrics.preinit(d.name for d in settings.destinations)

    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    metrics_port = None
    if settings.metrics.enabled:
        metrics_port = metrics.start_server(settings.metrics.host, settings.metrics.port)

    supervisor = Supervisor(settings, keys, spool)
    supervisor.start()
    scp = StorageSCP(settings.node, spool)
    try:
        host, port = scp.start()
    except OSError as e:
        supervisor.stop(timeout=10)
        log.error("listen_failed", extra={"port": settings.node.port, "errno": e.errno})
        return 1
    log.info(
        "ready",
        extra={
            "ae_title": settings.node.ae_title,
            "host": host,
            "port": port,
            "metrics_port": metrics_port,
            "workers": supervisor.count,
        },
    )

    def update_depth() -> None:
        for state, n in spool.depth().items():
            metrics.SPOOL_DEPTH.labels(state.name.lower()).set(n)

    next_depth = 0.0
    next_prune = time.monotonic() + 60
    while not stop.wait(0.25):
        supervisor.tick()
        now = time.monotonic()
        if now >= next_depth:
            update_depth()
            next_depth = now + DEPTH_INTERVAL_S
        if now >= next_prune:
            spool.prune(time.time() - RETAIN_FINISHED_S)
            next_prune = now + PRUNE_INTERVAL_S

    log.info("stopping")
    aborted = scp.stop(settings.node.shutdown_grace_seconds)
    supervisor.stop(timeout=max(10.0, settings.workers.poll_seconds * 2))
    update_depth()
    depth = spool.depth()
    spool.close()
    os.close(lock_fd)
    log.info(
        "stopped",
        extra={
            "aborted_associations": aborted,
            "left_in_spool": depth[State.RECEIVED] + depth[State.RETRY_WAIT],
        },
    )
    return 0
