"""The worker process body: lanes (threads) that claim, process, repeat; exit after ``max_tasks``.

The supervisor recycles a process that exits. Each lane has its own pipeline (one association per
destination), so a process has ``workers.lanes`` instances in flight.

Signals only set a flag (habit 9): on SIGTERM the current instance is finished, then the process exits.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from typing import Any

from ..audit import AuditSink
from ..config import Settings
from ..errors import error_code
from ..logging import get_logger, json_stderr
from ..routing import Router
from ..spool import Spool

EXIT_RECYCLE = 0


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the node dies, so that a crashed node leaves no orphan working its spool."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux: the parent check below remains
        pass


def worker_main(settings: Settings, keys: Any, owner: str, parent: int, router: Router | None = None) -> None:
    """Entry point of a worker process (spawned by the node, whose pid is ``parent``).

    SIGTERM (from the supervisor: shutdown, recycling, reload) finishes the instances in hand, then exits.
    """
    _die_with_parent()
    if os.getppid() != parent:  # the node died before prctl took effect (e.g. killed during our start-up)
        return
    json_stderr(settings.log_level)
    log = get_logger("worker")
    stop = threading.Event()

    def _on_term(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the node, which stops us in order
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the node reloads and recycles us

    from .pipeline import Pipeline

    spool = Spool(settings.spool.path, lease_seconds=settings.spool.lease_seconds, receiver=False)
    audit = AuditSink.from_settings(settings.audit)
    budget = _TaskBudget(settings.workers.max_tasks)

    def running() -> bool:
        return not stop.is_set() and not budget.spent() and os.getppid() == parent

    def lane(index: int) -> None:
        pipeline = None
        try:
            pipeline = Pipeline(settings, keys, spool, owner, router=router, audit=audit)
            while running():
                items = spool.claim_many(owner, settings.workers.claim_batch)
                if not items:
                    pipeline.idle()
                    stop.wait(settings.workers.poll_seconds)
                    continue
                for item in items:
                    if stop.is_set():
                        spool.release(item, owner)  # back to the spool untouched
                        continue
                    pipeline.process(item)
                    budget.take()
        except Exception as e:  # noqa: BLE001 - a dead lane: the process exits, the supervisor restarts it
            log.error(
                "lane_failed",
                extra={"owner": owner, "lane": index, "exc_type": type(e).__name__, "error_code": error_code(e)},
            )
            budget.exhaust()
        finally:
            if pipeline is not None:
                pipeline.close()

    log.info(
        "worker_started",
        extra={"owner": owner, "pid": os.getpid(), "node_pid": parent, "lanes": settings.workers.lanes},
    )
    threads = [
        threading.Thread(target=lane, args=(i,), name=f"lane-{i}", daemon=True) for i in range(settings.workers.lanes)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    finally:
        spool.close()
        if audit is not None:
            audit.close()
        log.info("worker_stopped", extra={"owner": owner, "tasks": budget.taken, "reason": budget.reason()})


class _TaskBudget:
    """Instances this process may still take before it is recycled (shared by its lanes); a failed lane ends
    the budget without counting as instances taken."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0
        self.failed = False
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            self.taken += 1

    def spent(self) -> bool:
        return self.failed or self.taken >= self.limit

    def exhaust(self) -> None:
        self.failed = True

    def reason(self) -> str:
        """Why the process ends: ``lane_failed``, ``max_tasks`` (recycled), or ``stopped`` (signal, node gone)."""
        if self.failed:
            return "lane_failed"
        return "max_tasks" if self.taken >= self.limit else "stopped"
