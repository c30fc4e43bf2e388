"""``deidnode serve``: spool, Storage SCP, worker supervisor and metrics server in one process tree.

Start order: key, routes and the environment (``preflight``: folders writable, TLS files, OCR engine; refuse to
run on an error, each a one-line JSON ``startup_failed`` event whose ``detail`` is
``error: <what>: <where>: <reason>``, exit status 2), spool lock and recovery
(everything left from the last run is processed again), metrics, workers, then the SCP. Signals only set flags:
SIGTERM/SIGINT stop (stop accepting, let open associations finish for ``node.shutdown_grace_seconds``, let
workers finish the instance in hand for a few seconds, then kill them: their claims go back to the spool);
SIGHUP re-reads the routes file and the log level and recycles the workers onto the new routes (a routes file
that does not validate is refused with a log line, and the old routes stay).

The metrics port serves /metrics, /healthz, /readyz, /status and /api/v1/ (``web``); systemd hears READY=1 once
the SCP listens and the workers run. The main loop beats a heartbeat that /healthz and the systemd watchdog
check, so a node stuck in its loop or in a shutdown step is seen as unhealthy.
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
from typing import Any

from . import sdnotify
from .config import Settings, load_settings
from .errors import ConfigError, os_error_name
from .logging import get_logger, json_stderr, setup_logging

log = get_logger("node")

DEPTH_INTERVAL_S = 2.0
PRUNE_INTERVAL_S = 3600.0
RETAIN_FINISHED_S = 7 * 86400.0
WORKER_STOP_S = 5.0
"""After the associations' grace period, how long workers may finish the instance in hand before SIGKILL."""


class StartupError(Exception):
    """An environment problem at start: ``error: <what>: <where>: <reason>``."""


def _lock_spool(path: Path) -> int:
    """Hold an exclusive lock on the spool for the node's lifetime: one node per spool."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / "node.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise StartupError(f"error: spool folder: {path}: {os_error_name(e)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StartupError(f"error: spool folder: {path}: in use by another deidnode") from None
    return fd


def _prepare_metrics_dir(spool_path: Path) -> Path:
    """A clean multiprocess folder; must be set in the environment before prometheus_client is imported."""
    d = spool_path / "metrics"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(d)
    return d


def _fail(message: str) -> int:
    log.error("startup_failed", extra={"detail": message})
    return 2


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the node until SIGTERM or SIGINT. Returns the exit status."""
    json_stderr(settings.log_level)
    from . import preflight
    from .keysource import key_source, load_keys

    ephemeral = bool(getattr(args, "ephemeral_key", False))
    source = key_source(getattr(args, "key_file", None), settings.keys.key_file)
    problems = preflight.check(
        settings,
        key_file=source[1] if source else None,
        key_named_by=source[0] if source else "",
        ephemeral_key=ephemeral,
        key_required=True,
    )
    for p in problems:
        if p.fatal:
            log.error("startup_failed", extra={"detail": str(p)})
        else:
            log.warning("startup_warning", extra={"detail": str(p)})
    if any(p.fatal for p in problems):
        return 2
    try:
        keys, key_from = load_keys(getattr(args, "key_file", None), settings.keys.key_file, ephemeral=ephemeral)
    except ConfigError as e:
        return _fail(str(e))
    from .routing import Router

    router = Router(settings)
    admin_token = None
    if settings.web.admin_token_file is not None:
        from .web import read_admin_token

        try:
            admin_token = read_admin_token(settings.web.admin_token_file)
        except ConfigError as e:
            return _fail(str(e))
    try:
        lock_fd = _lock_spool(settings.spool.path)
    except StartupError as e:
        return _fail(str(e))
    try:
        return _run(args, settings, keys, key_from, router, lock_fd, admin_token)
    finally:
        os.close(lock_fd)


def _run(  # noqa: ANN001
    args: argparse.Namespace, settings: Settings, keys, key_from: str, router, lock_fd: int, admin_token: str | None
) -> int:
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
    log.info("spool_recovered", extra={**recovered, "pending": depth[State.RECEIVED] + depth[State.RETRY_WAIT]})
    metrics.preinit(d.name for d in settings.destinations)
    from .buildinfo import versions

    started_at = time.time()
    metrics.set_build_info(versions(settings.pixels.ocr.engine), started_at)
    metrics.SPOOL_MIN_FREE_BYTES.set(settings.spool.min_free_bytes)
    metrics.RETRY_MAX_AGE.set(settings.retry.max_age_seconds)

    stop = threading.Event()
    reload_requested = threading.Event()

    def _on_stop(signum: int, frame: object) -> None:
        stop.set()

    def _on_hup(signum: int, frame: object) -> None:
        reload_requested.set()

    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGINT, _on_stop)
    signal.signal(signal.SIGHUP, _on_hup)

    from .web import Heartbeat, liveness, overall

    heartbeat = Heartbeat(settings.web.stall_seconds)
    supervisor = Supervisor(settings, keys, spool, router)
    scp = StorageSCP(settings.node, spool)
    web = None
    metrics_port = None
    if settings.metrics.enabled:
        web = _web_server(settings, spool, supervisor, scp, heartbeat, started_at, admin_token)
        try:
            metrics_port = web.start()
        except OSError as e:
            spool.close()
            return _fail(f"error: metrics port: {settings.metrics.host}:{settings.metrics.port}: {os_error_name(e)}")

    supervisor.start()
    try:
        host, port = scp.start()
    except OSError as e:
        supervisor.stop(timeout=WORKER_STOP_S)
        if web is not None:
            web.stop()
        spool.close()
        return _fail(f"error: DICOM port: {settings.node.host}:{settings.node.port}: {os_error_name(e)}")
    log.info(
        "ready",
        extra={
            "ae_title": settings.node.ae_title,
            "host": host,
            "port": port,
            "metrics_port": metrics_port,
            "workers": supervisor.count,
            "key_source": key_from,
        },
    )

    heartbeat.beat()  # step "running": /readyz may now say ready
    sdnotify.notify(f"READY=1\nSTATUS=listening on port {port}, {supervisor.count} workers")
    watchdog = None
    interval = sdnotify.watchdog_interval()
    if interval is not None:
        watchdog = sdnotify.Watchdog(interval, lambda: overall(liveness(heartbeat, scp))[0]).start()

    def update_depth() -> None:
        for state, n in spool.depth().items():
            metrics.SPOOL_DEPTH.labels(state.name.lower()).set(n)
        down = {st.name for st in spool.destination_states() if st.down}
        for d in settings.destinations:
            metrics.DESTINATION_UP.labels(d.name).set(0 if d.name in down else 1)
        oldest = spool.oldest_waiting()
        metrics.SPOOL_OLDEST_WAITING.set(0 if oldest is None else max(0.0, time.time() - oldest))
        try:
            st = os.statvfs(settings.spool.path)
            metrics.SPOOL_FREE_BYTES.set(st.f_bavail * st.f_frsize)
        except OSError:
            metrics.SPOOL_FREE_BYTES.set(0)

    next_depth = 0.0
    next_prune = time.monotonic() + 60
    while not stop.wait(0.25):
        heartbeat.beat()
        if reload_requested.is_set():
            reload_requested.clear()
            _reload(args, supervisor)
        supervisor.tick()
        now = time.monotonic()
        if now >= next_depth:
            update_depth()
            next_depth = now + DEPTH_INTERVAL_S
        if now >= next_prune:
            spool.prune(time.time() - RETAIN_FINISHED_S)
            next_prune = now + PRUNE_INTERVAL_S

    log.info("stopping", extra={"grace_s": settings.node.shutdown_grace_seconds})
    sdnotify.notify("STOPPING=1")
    # Each step may take what it is designed to take plus web.stall_seconds; one that overruns makes /healthz
    # fail and starves the watchdog (a hung shutdown: a worker that cannot be stopped, a hung disk).
    stall = settings.web.stall_seconds
    heartbeat.step("stopping_scp", settings.node.shutdown_grace_seconds + 5 + stall)
    aborted = scp.stop(settings.node.shutdown_grace_seconds)
    heartbeat.step("stopping_workers", WORKER_STOP_S + stall)
    supervisor.stop(timeout=WORKER_STOP_S)
    heartbeat.step("closing", stall)
    update_depth()
    depth = spool.depth()
    spool.close()
    if watchdog is not None:
        watchdog.stop()
    if web is not None:
        web.stop()
    log.info(
        "stopped",
        extra={
            "aborted_associations": aborted,
            "left_in_spool": depth[State.RECEIVED] + depth[State.RETRY_WAIT],
        },
    )
    return 0


def _web_server(
    settings: Settings,
    spool: Any,
    supervisor: Any,
    scp: Any,
    heartbeat: Any,
    started_at: float,
    admin_token: str | None,
) -> Any:
    """The metrics port's server (``web.WebServer``), with a spool connection of its own for the status
    queries; ``spool`` (the node's) is used only by the optional quarantine retry."""
    from . import metrics
    from .buildinfo import versions
    from .spool import Spool
    from .web import Admin, NodeStatus, Throughput, WebServer, counter_totals

    registry = metrics.exposition_registry()
    status = NodeStatus(
        settings,
        heartbeat=heartbeat,
        spool=Spool(settings.spool.path, receiver=False),
        supervisor=supervisor,
        scp=scp,
        throughput=Throughput(lambda: counter_totals(registry)),
        versions=versions(settings.pixels.ocr.engine),
        started_at=started_at,
    )
    admin = Admin(admin_token, settings.quarantine_path, spool) if admin_token else None
    return WebServer(
        settings.metrics.host, settings.metrics.port, status, lambda accept: metrics.exposition(registry, accept), admin
    )


def _reload(args: argparse.Namespace, supervisor) -> None:  # noqa: ANN001
    """SIGHUP: re-read the config file for what can change while running (the routes file's rules, the log
    level); other changed settings are named in the log and need a restart."""
    from .routing import Router

    old: Settings = supervisor.settings
    try:
        new = load_settings(getattr(args, "config", None))
        router = Router(old.model_copy(update={"routes_file": new.routes_file}))
    except ConfigError as e:
        log.error("reload_failed", extra={"detail": str(e)})
        return
    live = ("routes_file", "log_level")
    restart_needed = sorted(k for k in type(old).model_fields if k not in live and getattr(old, k) != getattr(new, k))
    supervisor.settings = old.model_copy(update={"routes_file": new.routes_file, "log_level": new.log_level})
    setup_logging(new.log_level)
    supervisor.recycle(router)
    log.info(
        "reloaded",
        extra={
            "routes": [r.name for r in router.routes],
            "log_level": new.log_level,
            "changed_needing_restart": restart_needed,
        },
    )
