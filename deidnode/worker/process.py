"""The worker process body: claim, process, repeat; exit after ``max_tasks`` (the supervisor recycles it).

Signals only set a flag (habit 9): on SIGTERM the current instance is finished, then the process exits.
"""

from __future__ import annotations

import signal
from typing import Any

from ..config import Settings
from ..logging import get_logger, setup_logging
from ..spool import Spool

EXIT_RECYCLE = 0


def worker_main(settings: Settings, keys: Any, owner: str, stop_event: Any) -> None:
    """Entry point of a worker process (spawned)."""
    setup_logging(settings.log_level)
    log = get_logger("worker")
    stopping = False

    def _on_term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the node, which stops us in order

    from .pipeline import Pipeline

    spool = Spool(settings.spool.path, lease_seconds=settings.spool.lease_seconds, receiver=False)
    pipeline = Pipeline(settings, keys, spool, owner)
    tasks = 0
    log.info("worker_started", extra={"owner": owner})
    try:
        while not stopping and not stop_event.is_set() and tasks < settings.workers.max_tasks:
            items = spool.claim_many(owner, settings.workers.claim_batch)
            if not items:
                pipeline.idle()
                stop_event.wait(settings.workers.poll_seconds)
                continue
            for item in items:
                if stopping or stop_event.is_set():
                    spool.release(item, owner)  # back to the spool untouched
                    continue
                pipeline.process(item)
                tasks += 1
    finally:
        pipeline.close()
        spool.close()
        log.info("worker_stopped", extra={"owner": owner, "tasks": tasks})
