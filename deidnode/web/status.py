"""What /status, /api/v1/status, /healthz and /readyz report: one snapshot of the node, built on request.

Everything here is PHI-free by construction: counts, ages, configured names and addresses, reason codes,
process ids and versions. The quarantine list carries id, stage, code and time only.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..config import Settings
from ..quarantine import list_entries
from .health import Check, Heartbeat, free_bytes, liveness, overall, spool_space, spool_writable

WINDOWS = (60, 300, 900)
"""Throughput windows reported, in seconds."""


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


class Throughput:
    """Instances in (stored), out (delivered everywhere) and quarantined, from the node's own counters,
    sampled every ``every`` seconds and kept ``keep`` seconds (counted since the node started)."""

    KEYS = ("in", "out", "quarantined")

    def __init__(
        self,
        read: Callable[[], Mapping[str, float]],
        *,
        every: float = 10.0,
        keep: float = 16 * 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._read = read
        self._clock = clock
        self.every = every
        self._samples: deque[tuple[float, dict[str, float]]] = deque(maxlen=int(keep / every) + 2)
        self._lock = threading.Lock()

    def sample(self) -> tuple[float, dict[str, float]]:
        now, values = self._clock(), dict(self._read())
        with self._lock:
            self._samples.append((now, values))
        return now, values

    def _at(self, t: float) -> tuple[float, dict[str, float]] | None:
        """The newest sample taken at or before ``t`` (else the oldest one)."""
        with self._lock:
            samples = list(self._samples)
        if not samples:
            return None
        best = samples[0]
        for s in samples:
            if s[0] <= t:
                best = s
        return best

    def report(self, minutes: int = 15) -> dict[str, Any]:
        """Counts per window and per minute (newest first): the counters now against the stored samples
        (a report does not store its reading, so frequent requests do not push history out)."""
        now, current = self._clock(), dict(self._read())
        if self._at(now) is None:
            self.sample()
        windows = {}
        for w in WINDOWS:
            base = self._at(now - w)
            assert base is not None
            windows[f"last_{w // 60}m"] = {
                "seconds": round(now - base[0], 1),
                **{k: int(current.get(k, 0) - base[1].get(k, 0)) for k in self.KEYS},
            }
        per_minute = []
        for m in range(minutes):
            newer, older = self._at(now - m * 60), self._at(now - (m + 1) * 60)
            assert newer is not None and older is not None
            if m == 0:
                newer = (now, current)
            per_minute.append({"minute": m, **{k: int(newer[1].get(k, 0) - older[1].get(k, 0)) for k in self.KEYS}})
        return {"windows": windows, "per_minute": per_minute}


def counter_totals(registry: Any) -> dict[str, float]:
    """in / out / quarantined totals from the metrics registry (all processes in multiprocess mode)."""
    out = {"in": 0.0, "out": 0.0, "quarantined": 0.0}
    for family in registry.collect():
        for s in family.samples:
            if s.name == "deidnode_receive_instances_total" and s.labels.get("outcome") == "stored":
                out["in"] += s.value
            elif s.name == "deidnode_pipeline_latency_seconds_count":
                out["out"] += s.value
            elif s.name == "deidnode_quarantine_instances_total":
                out["quarantined"] += s.value
    return out


class NodeStatus:
    """The node as the web pages see it. ``spool`` is a connection of the web's own (reads only);
    ``supervisor`` and ``scp`` are the node's (their public attributes are read, never changed);
    ``destination_states`` gives name -> ``spool.DestinationState`` (the default: the spool's own)."""

    def __init__(
        self,
        settings: Settings,
        *,
        heartbeat: Heartbeat,
        spool: Any,
        supervisor: Any,
        scp: Any,
        throughput: Throughput,
        versions: Mapping[str, str],
        destination_states: Callable[[], Mapping[str, Any]] | None = None,
        started_at: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.heartbeat = heartbeat
        self.spool = spool
        self.supervisor = supervisor
        self.scp = scp
        self.throughput = throughput
        self.versions = dict(versions)
        self._destination_states = destination_states or (
            lambda: {st.name: st for st in self.spool.destination_states()}
        )
        self._clock = clock
        self.started_at = clock() if started_at is None else started_at

    def close(self) -> None:
        self.spool.close()

    # -- /healthz and /readyz ------------------------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        return overall(liveness(self.heartbeat, self.scp))

    def _workers_alive(self) -> int:
        return sum(1 for s in self.supervisor.slots if s.process is not None and s.process.is_alive())

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        healthy, _ = self.health()
        step = self.heartbeat.state()["step"]
        alive = self._workers_alive()
        checks = {
            "alive": Check(healthy),
            "running": Check(step == "running", {"step": step}),
            "spool_writable": spool_writable(self.settings.spool.path),
            "spool_space": spool_space(self.settings.spool.path, self.settings.spool.min_free_bytes),
            "workers": Check(alive >= 1, {"alive": alive, "configured": self.supervisor.count}),
            "scp_listening": Check(self.scp is not None and bool(self.scp.listening)),
        }
        ok, body = overall(checks)
        body["destinations"] = self.destinations()  # reported, never a reason to be unready
        return ok, body

    # -- /api/v1/status --------------------------------------------------------------------------------
    def destinations(self) -> list[dict[str, Any]]:
        """Each configured destination with its shared retry clock (``Spool.destination_states``): ``ok``,
        ``backing_off`` (no lane tries it until ``backoff_until``) or ``retrying`` (down, next attempt due)."""
        states = self._destination_states()
        now = self._clock()
        out = []
        for d in self.settings.destinations:
            target = f"{d.ae_title}@{d.host}:{d.port}" if d.type == "dicom" else str(d.path)
            st = states.get(d.name)
            down = st is not None and st.failures > 0
            state = "ok" if st is None or not down else ("backing_off" if st.waiting(now) else "retrying")
            last_error = None
            if st is not None and st.last_code:
                last_error = {
                    "time": iso(st.last_error_at),
                    "host": f"{d.host}:{d.port}" if d.type == "dicom" else str(d.path),
                    "code": st.last_code,
                    "detail": st.last_detail or "",
                }
            out.append(
                {
                    "name": d.name,
                    "type": d.type,
                    "target": target,
                    "state": state,
                    "backoff_until": iso(st.down_until) if st is not None and state == "backing_off" else None,
                    "down_since": iso(st.down_since) if st is not None and down else None,
                    "failures": st.failures if st is not None else 0,
                    "last_error": last_error,
                    "last_ok": iso(st.last_ok_at) if st is not None else None,
                }
            )
        return out

    def _spool(self) -> dict[str, Any]:
        depth = {s.name.lower(): n for s, n in self.spool.depth().items()}
        oldest = self.spool.oldest_waiting()
        now = self._clock()
        try:
            free: int | None = free_bytes(self.settings.spool.path)
        except OSError:
            free = None
        return {
            "states": depth,
            "waiting": depth.get("received", 0) + depth.get("claimed", 0) + depth.get("retry_wait", 0),
            "oldest_waiting_seconds": None if oldest is None else round(max(0.0, now - oldest), 1),
            "oldest_waiting_since": iso(oldest),
            "free_bytes": free,
            "min_free_bytes": self.settings.spool.min_free_bytes,
        }

    def _workers(self) -> dict[str, Any]:
        sup = self.supervisor
        procs = []
        for s in sup.slots:
            p = s.process
            procs.append(
                {
                    "slot": s.index,
                    "pid": None if p is None else p.pid,
                    "alive": p is not None and p.is_alive(),
                    "started": iso(s.started_at or None),
                    "restarts": max(0, s.generation - 1),
                }
            )
        restarts = [(t, s.index, reason, code) for s in sup.slots for t, reason, code in list(s.restarts)]
        recent = [
            {"time": iso(t), "slot": slot, "reason": reason, "exit_code": code}
            for t, slot, reason, code in sorted(restarts, reverse=True)[:20]
        ]
        return {
            "configured": sup.count,
            "alive": sum(1 for p in procs if p["alive"]),
            "lanes": self.settings.workers.lanes,
            "restarts": sum(p["restarts"] for p in procs),
            "processes": procs,
            "recent_restarts": recent,
        }

    def _quarantine(self) -> dict[str, Any]:
        entries = list_entries(self.settings.quarantine_path)
        n = self.settings.web.quarantine_items
        recent = entries[-n:][::-1] if n else []
        return {
            "total": len(entries),
            "recent": [{k: e.get(k, "") for k in ("id", "stage", "code", "time")} for e in recent],
        }

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        healthy, _ = self.health()
        ready, _ = self.readiness()
        node = self.settings.node
        return {
            "generated": iso(now),
            "node": {
                "ae_title": node.ae_title,
                "port": self.scp.address[1] if self.scp is not None else node.port,
                "started": iso(self.started_at),
                "uptime_seconds": round(now - self.started_at, 1),
                "step": self.heartbeat.state()["step"],
                "healthy": healthy,
                "ready": ready,
                "active_associations": self.scp.active_associations() if self.scp is not None else 0,
            },
            "versions": self.versions,
            "spool": self._spool(),
            "throughput": self.throughput.report(),
            "destinations": self.destinations(),
            "workers": self._workers(),
            "quarantine": self._quarantine(),
        }
