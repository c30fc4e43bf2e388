"""Spawns N worker processes, restarts the dead, recycles after ``max_tasks``, requeues orphaned claims.

Workers are told to stop by a signal (SIGTERM: finish the instance in hand, then exit), never through a shared
lock: a worker killed while waiting on a multiprocessing Event would leave every later ``set()`` waiting for it
forever (issue 10 item 6: SIGTERM hung the node after a worker had been SIGKILLed and replaced).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .. import metrics
from ..config import Settings
from ..logging import get_logger
from ..routing import Router
from ..spool import Spool
from .process import worker_main

log = get_logger("supervisor")

RESTART_HISTORY = 20


@dataclass
class _Slot:
    index: int
    owner: str = ""
    process: Any = None
    generation: int = 0
    started_at: float = 0.0
    restarts: list[tuple[float, str, int | None]] = field(default_factory=list)
    """Recent restarts: (time, reason, exit code), newest last."""


class Supervisor:
    """Runs in the node's main process; call :meth:`tick` periodically."""

    def __init__(self, settings: Settings, keys: Any, spool: Spool, router: Router | None = None) -> None:
        self.settings = settings
        self.keys = keys
        self.spool = spool
        self.router = router or Router(settings)
        self.count = settings.workers.count or os.cpu_count() or 1
        self._ctx = mp.get_context("spawn")
        self._boot = uuid.uuid4().hex[:8]
        self.slots = [_Slot(i) for i in range(self.count)]
        self.stopping = False

    def _spawn(self, slot: _Slot) -> None:
        slot.generation += 1
        slot.owner = f"{self._boot}-{slot.index}-{slot.generation}"
        p = self._ctx.Process(
            target=worker_main,
            args=(self.settings, self.keys, slot.owner, os.getpid(), self.router),
            name=f"deidnode-worker-{slot.index}",
            daemon=False,
        )
        p.start()
        slot.process = p
        slot.started_at = time.time()

    def start(self) -> None:
        for slot in self.slots:
            self._spawn(slot)
        metrics.WORKER_PROCESSES.set(self.count)
        log.info("workers_started", extra={"count": self.count})

    def alive(self) -> int:
        return sum(1 for s in self.slots if s.process is not None and s.process.is_alive())

    def tick(self) -> None:
        """Restart exited workers (requeueing what they held) and requeue expired leases."""
        for slot in self.slots:
            p = slot.process
            if p is None or p.is_alive():
                continue
            code = p.exitcode
            n = self.spool.requeue(owners=[slot.owner], crashed=code != 0)
            metrics.mark_process_dead(p.pid)
            reason = "recycled" if code == 0 else "died"
            if reason == "died":
                log.error("worker_died", extra={"slot": slot.index, "pid": p.pid, "exitcode": code, "requeued": n})
            if not self.stopping:
                metrics.WORKER_RESTARTS.labels(reason).inc()
                slot.restarts = [*slot.restarts[-(RESTART_HISTORY - 1) :], (time.time(), reason, code)]
                self._spawn(slot)
        self.spool.requeue(expired_before=time.time(), crashed=True)
        metrics.WORKER_PROCESSES.set(self.alive())

    def recycle(self, router: Router | None = None) -> None:
        """Have every worker finish its instance in hand and exit; :meth:`tick` starts new ones (with
        ``router`` when given: SIGHUP reloads the routes this way)."""
        if router is not None:
            self.router = router
        for slot in self.slots:
            self._signal(slot, signal.SIGTERM)

    @staticmethod
    def _signal(slot: _Slot, sig: int) -> None:
        p = slot.process
        if p is not None and p.is_alive() and p.pid:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float) -> None:
        """Ask workers to finish their current instance and exit; kill those that do not in time."""
        self.stopping = True
        for slot in self.slots:
            self._signal(slot, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for slot in self.slots:
            if slot.process is not None:
                slot.process.join(max(0.0, deadline - time.monotonic()))
        for slot in self.slots:
            p = slot.process
            if p is not None and p.is_alive():
                log.warning("worker_killed", extra={"slot": slot.index, "pid": p.pid})
                p.kill()
                p.join(5)
            if p is not None:
                self.spool.requeue(owners=[slot.owner])
                metrics.mark_process_dead(p.pid)
        metrics.WORKER_PROCESSES.set(0)
