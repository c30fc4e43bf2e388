"""Spawns N worker processes, restarts the dead, recycles after ``max_tasks``, requeues orphaned claims."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .. import metrics
from ..config import Settings
from ..logging import get_logger
from ..spool import Spool
from .process import worker_main

log = get_logger("supervisor")


@dataclass
class _Slot:
    index: int
    owner: str = ""
    process: Any = None
    generation: int = 0


class Supervisor:
    """Runs in the node's main process; call :meth:`tick` periodically."""

    def __init__(self, settings: Settings, keys: Any, spool: Spool) -> None:
        self.settings = settings
        self.keys = keys
        self.spool = spool
        self.count = settings.workers.count or os.cpu_count() or 1
        self._ctx = mp.get_context("spawn")
        self._stop = self._ctx.Event()
        self._boot = uuid.uuid4().hex[:8]
        self.slots = [_Slot(i) for i in range(self.count)]
        self.stopping = False

    def _spawn(self, slot: _Slot) -> None:
        slot.generation += 1
        slot.owner = f"{self._boot}-{slot.index}-{slot.generation}"
        p = self._ctx.Process(
            target=worker_main,
            args=(self.settings, self.keys, slot.owner, self._stop, os.getpid()),
            name=f"deidnode-worker-{slot.index}",
            daemon=False,
        )
        p.start()
        slot.process = p

    def start(self) -> None:
        for slot in self.slots:
            self._spawn(slot)
        metrics.WORKER_PROCESSES.set(self.count)
        log.info("workers_started", extra={"count": self.count})

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
                log.error("worker_died", extra={"slot": slot.index, "exitcode": code, "requeued": n})
            if not self.stopping:
                metrics.WORKER_RESTARTS.labels(reason).inc()
                self._spawn(slot)
        self.spool.requeue(expired_before=time.time(), crashed=True)
        metrics.WORKER_PROCESSES.set(
            sum(1 for s in self.slots if s.process is not None and s.process.is_alive())
        )

    def stop(self, timeout: float) -> None:
        """Ask workers to finish their current instance and exit; terminate those that do not in time."""
        self.stopping = True
        self._stop.set()
        deadline = time.monotonic() + timeout
        for slot in self.slots:
            if slot.process is not None:
                slot.process.join(max(0.0, deadline - time.monotonic()))
        for slot in self.slots:
            p = slot.process
            if p is not None and p.is_alive():
                log.warning("worker_terminated", extra={"slot": slot.index})
                p.terminate()
                p.join(5)
                if p.is_alive():
                    p.kill()
                    p.join(5)
            if p is not None:
                self.spool.requeue(owners=[slot.owner])
                metrics.mark_process_dead(p.pid)
        metrics.WORKER_PROCESSES.set(0)
