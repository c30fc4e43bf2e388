"""Liveness and readiness: is the node alive and unstuck (/healthz), and should senders be sent to it (/readyz).

Liveness rests on a heartbeat of the node's main loop (which also supervises the workers): it beats every
quarter second, so a beat older than ``web.stall_seconds`` means the node is stuck (a hung disk, a lock, a
deadlock). Shutdown is a sequence of steps that may each take a while; each declares how long it may take
(:meth:`Heartbeat.step`), and a step that overruns makes the node unhealthy, so a shutdown that hangs is seen.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Heartbeat:
    """The main loop's pulse: :meth:`beat` while running; :meth:`step` before each shutdown step."""

    def __init__(self, allowance: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last = clock()
        self._allowance = allowance
        self._step = "starting"

    def beat(self, step: str = "running") -> None:
        with self._lock:
            self._last = self._clock()
            self._step = step

    def step(self, name: str, allowance: float) -> None:
        """Start step ``name``, which may take up to ``allowance`` seconds before the next beat or step."""
        with self._lock:
            self._last = self._clock()
            self._step = name
            self._allowance = allowance

    def state(self) -> dict[str, Any]:
        """``{"ok", "step", "age_s", "allowance_s"}``: ok while the last beat is within the allowance."""
        with self._lock:
            age = self._clock() - self._last
            return {
                "ok": age <= self._allowance,
                "step": self._step,
                "age_s": round(age, 3),
                "allowance_s": self._allowance,
            }

    @property
    def stopping(self) -> bool:
        with self._lock:
            return self._step not in ("starting", "running")


@dataclass
class Check:
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.detail}


def spool_writable(spool_dir: Path) -> Check:
    """Create, write and remove a file in the spool's ``tmp/`` (catches a read-only or vanished file system)."""
    probe = spool_dir / "tmp" / f".probe-{uuid.uuid4().hex}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\0")
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)
    except OSError as e:
        return Check(False, {"errno": e.errno})
    return Check(True)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def spool_space(spool_dir: Path, min_free: int) -> Check:
    try:
        free = free_bytes(spool_dir)
    except OSError as e:
        return Check(False, {"errno": e.errno})
    return Check(free >= min_free, {"free_bytes": free, "min_free_bytes": min_free})


def liveness(heartbeat: Heartbeat, scp: Any) -> dict[str, Check]:
    """What /healthz and the systemd watchdog check: the main loop beats within its allowance, and the SCP's
    accept loop is alive while the node runs (it is stopped on purpose during shutdown)."""
    beat = heartbeat.state()
    if heartbeat.stopping or scp is None:
        threads = Check(True, {"scp_accept_loop": "not required"})
    else:
        alive = bool(scp.listening)
        threads = Check(alive, {"scp_accept_loop": "alive" if alive else "dead"})
    return {"main_loop": Check(beat.pop("ok"), beat), "threads": threads}


def overall(checks: dict[str, Check]) -> tuple[bool, dict[str, Any]]:
    ok = all(c.ok for c in checks.values())
    return ok, {"status": "ok" if ok else "fail", "checks": {k: c.as_dict() for k, c in checks.items()}}
