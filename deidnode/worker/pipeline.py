"""One instance through the node: route -> engine -> every destination -> spool state.

Three outcomes (CONVENTIONS habit 3): delivered everywhere (FORWARDED, file removed); a destination is
unavailable (RETRY_WAIT with exponential backoff, only the pending destinations again, until
``retry.max_age_seconds``, then quarantine); refused by a stage (quarantine with stage and code). A raw
instance is never forwarded: only the engine's dataset reaches a forwarder.
"""

from __future__ import annotations

import functools
import mmap
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import metrics
from ..config import Settings
from ..forward import Outcome, make_forwarder
from ..forward.base import Forwarder
from ..logging import get_logger
from ..quarantine import Reason, quarantine_item
from ..routing import Router, peek_modality
from ..spool import Item, Spool

log = get_logger("worker")

MAX_CRASHES = 3
"""An item whose worker died this many times is quarantined instead of killing the next one."""

DeidentifyFn = Callable[[bytes, Any, Any], Any]
"""``engine.deidentify_bytes(raw, policy, keys) -> EngineResult``."""


class Pipeline:
    """Holds the per-process state: router, policies, and one forwarder (association) per destination."""

    def __init__(
        self,
        settings: Settings,
        keys: Any,
        spool: Spool,
        owner: str,
        *,
        deidentify: DeidentifyFn | None = None,
        encode: Callable[[Any], bytes] | None = None,
        policy_factory: Callable[[Settings, str], Any] | None = None,
    ) -> None:
        if deidentify is None or encode is None or policy_factory is None:
            from ..engine import Policy, deidentify_bytes, encode_dataset
            from ..engine.pixels.series import SeriesMemo

            # one text-presence decision per CT/MR series, kept by this lane (engine: pixels/series.py)
            px = settings.pixels
            memo = SeriesMemo(time.monotonic, ttl_seconds=px.series_memo_seconds, max_uses=px.series_memo_slices)
            deidentify = deidentify or functools.partial(deidentify_bytes, series_memo=memo)
            encode = encode or encode_dataset
            policy_factory = policy_factory or Policy.from_settings
        self.settings = settings
        self.keys = keys
        self.spool = spool
        self.owner = owner
        self.router = Router(settings)
        self._deidentify = deidentify
        self._policies = {name: policy_factory(settings, name) for name in settings.profiles}
        self.forwarders: dict[str, Forwarder] = {
            d.name: make_forwarder(d, settings.retry, encode) for d in settings.destinations
        }
        # Removing a delivered file costs ~1 ms of journal work: do it off the instance's path.
        self._unlinks: queue.SimpleQueue[Path | None] = queue.SimpleQueue()
        self._unlinker = threading.Thread(target=self._unlink_loop, name="unlinker", daemon=True)
        self._unlinker.start()
        # Folders first: a DICOM fallback may decompress the dataset in place.
        self._order = {
            d.name: (0 if d.type == "folder" else 1, i) for i, d in enumerate(settings.destinations)
        }

    def _unlink_loop(self) -> None:
        while (p := self._unlinks.get()) is not None:
            p.unlink(missing_ok=True)

    def _quarantine(self, item: Item, stage: str, code: str, detail: str = "") -> str:
        qid = quarantine_item(
            self.spool,
            item,
            self.owner,
            self.settings.quarantine_path,
            Reason(stage=stage, code=code, detail=detail),
        )
        metrics.QUARANTINE_INSTANCES.labels(metrics.quarantine_stage_label(stage)).inc()
        log.warning("quarantined", extra={"row": item.id, "stage": stage, "code": code, "quarantine_id": qid})
        return "quarantined"

    def process(self, item: Item) -> str:
        """Take one claimed item to its next state; returns ``forwarded``, ``retry`` or ``quarantined``.

        Never raises for one instance's sake: an unexpected error quarantines the item (stage ``worker``);
        if even that fails the item is put back for a later attempt.
        """
        try:
            return self._process(item)
        except Exception as e:  # noqa: BLE001 - keep the worker alive; fail closed for this instance
            log.error("worker_error", extra={"row": item.id, "exc_type": type(e).__name__})
            try:
                return self._quarantine(item, "worker", "internal_error", type(e).__name__)
            except Exception as e2:  # noqa: BLE001 - e.g. quarantine folder not writable
                log.error("quarantine_failed", extra={"row": item.id, "exc_type": type(e2).__name__})
                self.spool.mark_retry(
                    item,
                    self.owner,
                    delay=self.settings.retry.max_seconds,
                    pending=item.pending,
                    code="worker_error",
                )
                return "retry"

    def _process(self, item: Item) -> str:
        if item.crashes >= MAX_CRASHES:
            return self._quarantine(item, "worker", "worker_crashed", f"{item.crashes} workers died on it")
        try:
            with self.spool.mapped(item) as raw:
                step = self._route_and_deidentify(item, raw)
        except FileNotFoundError:
            self.spool.mark_quarantined(item, self.owner, quarantine_id="", code="spool_file_missing")
            log.error("spool_file_missing", extra={"row": item.id})
            return "quarantined"
        if isinstance(step, str):
            return step
        decision, result, t2 = step
        metrics.ENGINE_INSTANCES.labels("deidentified").inc()

        pending = list(item.pending if item.pending is not None else decision.destinations)
        pending.sort(key=lambda n: self._order.get(n, (2, 0)))
        still: list[str] = []
        retry_code = ""
        for name in pending:
            fwd = self.forwarders.get(name)
            if fwd is None:  # destination removed from the config since the item was routed
                return self._quarantine(item, "forward", "unknown_destination")
            r = fwd.send(result.dataset)
            if r.outcome is Outcome.OK:
                metrics.FORWARD_INSTANCES.labels(name, "forwarded").inc()
            elif r.outcome is Outcome.RETRY:
                metrics.FORWARD_INSTANCES.labels(name, "retry").inc()
                still.append(name)
                retry_code = r.code
            else:
                metrics.FORWARD_INSTANCES.labels(name, "failed").inc()
                return self._quarantine(item, "forward", r.code, r.detail)
        t3 = time.perf_counter()
        metrics.STAGE_DURATION.labels("forward").observe(t3 - t2)

        if not still:
            if self.spool.mark_forwarded(item, self.owner, unlink=False):
                self._unlinks.put(self.spool.file_path(item))
            metrics.PIPELINE_LATENCY.observe(max(0.0, time.time() - item.received_at))
            return "forwarded"
        age = time.time() - item.received_at
        retry = self.settings.retry
        if age >= retry.max_age_seconds:
            return self._quarantine(item, "forward", "retry_exhausted", f"last: {retry_code}")
        delay = min(retry.initial_seconds * 2**item.attempts, retry.max_seconds, retry.max_age_seconds - age)
        for name in still:
            metrics.FORWARD_RETRIES.labels(name).inc()
        self.spool.mark_retry(item, self.owner, delay=delay, pending=still, code=retry_code)
        log.info(
            "retry_scheduled",
            extra={
                "row": item.id,
                "code": retry_code,
                "delay_s": round(delay, 3),
                "attempt": item.attempts + 1,
            },
        )
        return "retry"

    def _route_and_deidentify(self, item: Item, raw: bytes | mmap.mmap) -> str | tuple[Any, Any, float]:
        """Route and run the engine: (decision, engine result, end time), or the outcome if it stops here."""
        t0 = time.perf_counter()
        modality = peek_modality(raw) if self.router.needs_modality else None
        decision = self.router.route(
            calling_aet=item.calling_aet, sop_class=item.sop_class, modality=modality
        )
        t1 = time.perf_counter()
        metrics.STAGE_DURATION.labels("route").observe(t1 - t0)
        if decision is None:
            return self._quarantine(item, "route", "no_route")

        try:
            result = self._deidentify(raw, self._policies[decision.profile], self.keys)
        except Exception as e:  # noqa: BLE001 - the engine promises not to raise; fail closed if it does
            metrics.ENGINE_INSTANCES.labels("quarantined").inc()
            return self._quarantine(item, "engine", "internal_error", type(e).__name__)
        t2 = time.perf_counter()
        metrics.STAGE_DURATION.labels("deidentify").observe(t2 - t1)
        if not result.ok:
            metrics.ENGINE_INSTANCES.labels("quarantined").inc()
            q = result.quarantine
            return self._quarantine(
                item, q.stage if q else "engine", q.code if q else "no_dataset", q.detail if q else ""
            )
        return decision, result, t2

    def idle(self) -> None:
        now = time.monotonic()
        for f in self.forwarders.values():
            f.release_if_idle(now)

    def close(self) -> None:
        for f in self.forwarders.values():
            f.close()
        self._unlinks.put(None)
        self._unlinker.join(10)
