"""One instance through the node: route -> engine -> every destination -> spool state.

Three outcomes: delivered everywhere (FORWARDED, file removed); a destination is
unavailable (RETRY_WAIT until the destination's shared retry clock says it may be tried again, only the
pending destinations again, until ``retry.max_age_seconds``, then quarantine); refused by a stage
(quarantine with stage and code). A raw instance is never forwarded: only the engine's dataset reaches a
forwarder, wrapped read-only in an :class:`~deidnode.forward.Outgoing`.
"""

from __future__ import annotations

import functools
import mmap
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import metrics
from ..audit import AuditSink, Trail
from ..buildinfo import versions
from ..config import Settings
from ..forward import Outcome, Outgoing, make_forwarder
from ..forward.base import Forwarder, Result
from ..logging import get_logger
from ..quarantine import quarantine_item
from ..reasons import Code, Reason, Stage
from ..routing import Router, peek_modality
from ..spool import Item, Spool

log = get_logger("worker")

MAX_CRASHES = 3
"""An item whose worker died this many times is quarantined instead of killing the next one."""
MIN_RETRY_DELAY_S = 0.05

if TYPE_CHECKING:
    from ..engine.result import EngineResult


DeidentifyFn = Callable[..., "EngineResult"]
"""The engine's ``deidentify_bytes`` (or a test's stand-in): the spool file's bytes or read-only map, a policy,
keys and the engine's keyword options in; a result out; never raises for bad input."""
"""``engine.deidentify_bytes(raw, policy, keys) -> EngineResult``."""


class Pipeline:
    """Holds the per-lane state: router, policies, and one forwarder (association) per destination."""

    def __init__(
        self,
        settings: Settings,
        keys: Any,
        spool: Spool,
        owner: str,
        *,
        router: Router | None = None,
        deidentify: DeidentifyFn | None = None,
        encode: Callable[[Any], bytes] | None = None,
        convert: Callable[[Any, str], Any] | None = None,
        policy_factory: Callable[[Settings, str], Any] | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        # The study lexicon and the mapping store (docs/header.md) serve the real engine only.
        self._engine_kwargs: dict[str, Any] = {}
        self.lexicon = self.mapping = None
        if deidentify is None:
            from ..lexicon_store import open_lexicon
            from ..mapping.store import open_mapping

            self.lexicon = open_lexicon(settings)
            self.mapping = open_mapping(settings, getattr(keys, "secret", None))
            if self.lexicon is not None:
                self._engine_kwargs["lexicon"] = self.lexicon
            if self.mapping is not None:
                self._engine_kwargs["collect_mapping"] = True
        if deidentify is None or encode is None or policy_factory is None or convert is None:
            from ..engine import Policy, deidentify_bytes, encode_dataset
            from ..engine.convert import to_native_little_endian
            from ..engine.pixels.series import SeriesMemo

            # one text-presence decision per CT/MR series, kept by this lane (engine: pixels/series.py)
            px = settings.pixels
            memo = SeriesMemo(time.monotonic, ttl_seconds=px.series_memo_seconds, max_uses=px.series_memo_slices)
            deidentify = deidentify or functools.partial(deidentify_bytes, series_memo=memo)
            encode = encode or encode_dataset
            convert = convert or to_native_little_endian
            policy_factory = policy_factory or Policy.from_settings
        self.settings = settings
        self.keys = keys
        self.spool = spool
        self.owner = owner
        self.router = router or Router(settings)
        self._deidentify = deidentify
        self._encode = encode
        self._convert = convert
        self.audit = audit
        self._trail = Trail()
        self._versions = versions(settings.pixels.ocr.engine) if audit is not None else {}
        self._policies = {name: policy_factory(settings, name) for name in settings.profiles}
        self.forwarders: dict[str, Forwarder] = {d.name: make_forwarder(d) for d in settings.destinations}
        # Removing a delivered file costs ~1 ms of journal work: do it off the instance's path.
        self._unlinks: queue.SimpleQueue[Path | None] = queue.SimpleQueue()
        self._unlinker = threading.Thread(target=self._unlink_loop, name="unlinker", daemon=True)
        self._unlinker.start()

    def _unlink_loop(self) -> None:
        while (p := self._unlinks.get()) is not None:
            p.unlink(missing_ok=True)

    def _quarantine(self, item: Item, stage: Stage, code: Code | str, detail: str = "") -> str:
        """``code`` as a string: a forwarder's permanent outcome (``forward.base.Result``), one of :class:`Code`."""
        reason = Reason(stage=stage, code=Code(code), detail=detail)
        qid = quarantine_item(self.spool, item, self.owner, self.settings.quarantine_path, reason)
        metrics.QUARANTINE_INSTANCES.labels(reason.stage.value).inc()
        self._trail.quarantined(reason.stage.value, reason.code.value, detail)
        log.warning(
            "quarantined",
            extra={
                "row": item.id,
                "stage": reason.stage.value,
                "code": reason.code.value,
                "detail": detail,
                "quarantine_id": qid,
            },
        )
        return "quarantined"

    def process(self, item: Item) -> str:
        """Take one claimed item to its next state; returns ``forwarded``, ``retry`` or ``quarantined``.

        Never raises for one instance's sake: an unexpected error quarantines the item (stage ``worker``);
        if even that fails the item is put back for a later attempt. Each call writes one audit record.
        """
        self._trail = Trail()
        try:
            outcome = self._process(item)
        except Exception as e:  # noqa: BLE001 - keep the worker alive; fail closed for this instance
            log.error("worker_error", extra={"row": item.id, "exc_type": type(e).__name__})
            try:
                outcome = self._quarantine(item, Stage.WORKER, Code.INTERNAL_ERROR, type(e).__name__)
            except Exception as e2:  # noqa: BLE001 - e.g. quarantine folder not writable
                log.error(
                    "quarantine_failed",
                    extra={
                        "row": item.id,
                        "exc_type": type(e2).__name__,
                        "errno": getattr(e2, "errno", None),
                        "path": str(self.settings.quarantine_path),
                    },
                )
                self.spool.mark_retry(
                    item,
                    self.owner,
                    delay=self.settings.retry.max_seconds,
                    pending=item.pending,
                    code="worker_error",
                )
                outcome = "retry"
        self._write_audit(item, outcome)
        return outcome

    def _write_audit(self, item: Item, outcome: str) -> None:
        if self.audit is None:
            return
        rec = self._trail.record(
            "serve",
            outcome,
            self._versions,
            spool_row=item.id,
            calling_aet=item.calling_aet,
            attempt=item.attempts + 1,
        )
        try:
            self.audit.write(rec)
        except OSError as e:  # the instance's outcome stands; the operator is told (metric, alert, log)
            metrics.AUDIT_WRITE_ERRORS.inc()
            log.error("audit_write_failed", extra={"row": item.id, "errno": e.errno})

    def _process(self, item: Item) -> str:
        if item.crashes >= MAX_CRASHES:
            return self._quarantine(item, Stage.WORKER, Code.WORKER_CRASHED, f"{item.crashes} workers died on it")
        try:
            with self.spool.mapped(item) as raw:
                step = self._route_and_deidentify(item, raw)
        except FileNotFoundError:
            self.spool.mark_quarantined(item, self.owner, quarantine_id="", code=Code.SPOOL_FILE_MISSING)
            log.error("spool_file_missing", extra={"row": item.id, "path": str(self.spool.file_path(item))})
            return "quarantined"
        if isinstance(step, str):
            return step
        decision, result, t2 = step
        metrics.ENGINE_INSTANCES.labels("deidentified").inc()

        out = Outgoing(result.dataset, encode=self._encode, convert=self._convert)
        pending = list(item.pending if item.pending is not None else decision.destinations)
        still: list[str] = []
        due: list[float] = []
        last: Result | None = None
        for name in pending:
            fwd = self.forwarders.get(name)
            if fwd is None:  # destination removed from the config since the item was routed
                return self._quarantine(item, Stage.FORWARD, Code.UNKNOWN_DESTINATION)
            state = self.spool.destinations.state(name)
            if state.waiting(time.time()):  # another lane found it down: wait for its clock
                still.append(name)
                due.append(state.down_until)
                self._trail.destination(name, "retry", "destination_backoff")
                continue
            r = fwd.send(out)
            self._trail.destination(name, r.outcome.value, r.code)
            if r.outcome is Outcome.OK:
                metrics.FORWARD_INSTANCES.labels(name, "forwarded").inc()
                if state.down:
                    self._destination_up(name, state.down_since)
            elif r.outcome is Outcome.RETRY:
                metrics.FORWARD_INSTANCES.labels(name, "retry").inc()
                still.append(name)
                due.append(self._destination_failed(name, r))
                last = r
            else:
                metrics.FORWARD_INSTANCES.labels(name, "failed").inc()
                return self._quarantine(item, Stage.FORWARD, r.code, r.detail)
        t3 = time.perf_counter()
        metrics.STAGE_DURATION.labels("forward").observe(t3 - t2)

        if not still:
            if self.spool.mark_forwarded(item, self.owner, unlink=False):
                self._unlinks.put(self.spool.file_path(item))
            metrics.PIPELINE_LATENCY.observe(max(0.0, time.time() - item.received_at))
            return "forwarded"
        now = time.time()
        age = now - item.received_at
        retry = self.settings.retry
        code = last.code if last is not None else "destination_down"
        if age >= retry.max_age_seconds:
            detail = f"last: {code}" + (f" ({last.detail})" if last is not None and last.detail else "")
            return self._quarantine(item, Stage.FORWARD, Code.RETRY_EXHAUSTED, detail)
        delay = min(max(min(due) - now, MIN_RETRY_DELAY_S), retry.max_age_seconds - age)
        for name in still:
            metrics.FORWARD_RETRIES.labels(name).inc()
        self.spool.mark_retry(item, self.owner, delay=delay, pending=still, code=code)
        log.debug(
            "retry_scheduled",
            extra={"row": item.id, "code": code, "delay_s": round(delay, 3), "attempt": item.attempts + 1},
        )
        return "retry"

    def _destination_failed(self, name: str, r: Result) -> float:
        """Record the failure on the destination's shared clock; returns when it may be tried again."""
        retry = self.settings.retry
        state, went_down = self.spool.destinations.failed(
            name, r.code, r.detail, initial=retry.initial_seconds, maximum=retry.max_seconds
        )
        extra = {
            "destination": name,
            "code": r.code,
            "detail": r.detail,
            "failures": state.failures,
            "retry_in_s": round(max(0.0, state.down_until - time.time()), 3),
        }
        if went_down:
            log.warning("destination_down", extra=extra)
        else:
            log.info("destination_still_down", extra=extra)
        return state.down_until

    def _destination_up(self, name: str, down_since: float | None) -> None:
        n = self.spool.destinations.succeeded(name)
        if n is not None:
            log.info(
                "destination_up",
                extra={
                    "destination": name,
                    "down_for_s": round(time.time() - down_since, 3) if down_since else None,
                    "made_due": n,
                },
            )

    def _route_and_deidentify(self, item: Item, raw: bytes | mmap.mmap) -> str | tuple[Any, Any, float]:
        """Route and run the engine: (decision, engine result, end time), or the outcome if it stops here."""
        t0 = time.perf_counter()
        if self.audit is not None:
            self._trail.input(raw)
        modality = peek_modality(raw) if self.router.needs_modality else None
        decision = self.router.route(calling_aet=item.calling_aet, sop_class=item.sop_class, modality=modality)
        t1 = time.perf_counter()
        metrics.STAGE_DURATION.labels("route").observe(t1 - t0)
        if decision is None:
            return self._quarantine(item, Stage.ROUTE, Code.NO_ROUTE)

        try:
            result = self._deidentify(raw, self._policies[decision.profile], self.keys, **self._engine_kwargs)
        except Exception as e:  # noqa: BLE001 - the engine promises not to raise; fail closed if it does
            metrics.ENGINE_INSTANCES.labels("quarantined").inc()
            return self._quarantine(item, Stage.ENGINE, Code.INTERNAL_ERROR, type(e).__name__)
        if result.ok:
            stored = self._store_header_records(item, result)
            if stored is not None:
                return stored
        t2 = time.perf_counter()
        metrics.STAGE_DURATION.labels("deidentify").observe(t2 - t1)
        self._trail.engine = result.audit
        if not result.ok:
            metrics.ENGINE_INSTANCES.labels("quarantined").inc()
            q = result.quarantine
            if q is None:
                return self._quarantine(item, Stage.ENGINE, Code.NO_DATASET)
            return self._quarantine(item, q.stage, q.code, q.detail)
        return decision, result, t2

    def _store_header_records(self, item: Item, result: Any) -> str | None:
        """Lexicon words and mapping entries of a de-identified instance, before it is forwarded: an instance
        whose mapping cannot be written is not forwarded (the broker could not map it back)."""
        try:
            if self.lexicon is not None and result.lexicon is not None:
                self.lexicon.add(result.lexicon)
            if self.mapping is not None and result.mapping:
                self.mapping.add(result.mapping)
        except Exception as e:  # noqa: BLE001 - the message could hold nothing from the file, but say only the type
            return self._quarantine(item, Stage.MAPPING, Code.HEADER_STORE_FAILED, type(e).__name__)
        return None

    def idle(self) -> None:
        """Between instances: release idle associations; check a down destination when it is this lane's turn
        (one lane of one worker per ``retry.probe_seconds``), so recovery does not wait for its back-off."""
        now = time.monotonic()
        for name, f in self.forwarders.items():
            f.release_if_idle(now)
            probe = getattr(f, "probe", None)
            if probe is None:
                continue
            state = self.spool.destinations.state(name)
            if not state.down or not self.spool.destinations.claim_probe(name, self.settings.retry.probe_seconds):
                continue
            r = probe()
            if r.outcome is Outcome.OK:
                self._destination_up(name, state.down_since)
            else:
                log.debug("destination_probe_failed", extra={"destination": name, "code": r.code, "detail": r.detail})

    def close(self) -> None:
        for f in self.forwarders.values():
            f.close()
        for store in (self.lexicon, self.mapping):
            if store is not None:
                store.close()
        self._unlinks.put(None)
        self._unlinker.join(10)
