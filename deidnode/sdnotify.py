"""systemd's notification protocol (sd_notify(3)) in a few lines: no dependency, a no-op outside systemd.

``Type=notify`` units get ``$NOTIFY_SOCKET``: a datagram socket (a path, or ``@name`` in the abstract
namespace) that takes ``READY=1``, ``STOPPING=1``, ``RELOADING=1``, ``STATUS=...`` and ``WATCHDOG=1``. With
``WatchdogSec=`` systemd also sets ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``) and kills the service when no
``WATCHDOG=1`` arrives within that time: :class:`Watchdog` pings at half the interval, and only while the
node's health check passes, so a stuck node is restarted.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable

from .logging import get_logger

log = get_logger("sdnotify")


def notify(message: str) -> bool:
    """Send ``message`` to ``$NOTIFY_SOCKET``; False when there is none or it cannot be reached."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall(message.encode())
        return True
    except OSError as e:
        log.warning("sd_notify_failed", extra={"errno": e.errno})
        return False


def watchdog_interval() -> float | None:
    """Seconds between watchdog deadlines for this process, or None when systemd asked for no watchdog."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1e6 if value > 0 else None


class Watchdog:
    """Sends ``WATCHDOG=1`` every ``interval / 2`` seconds while ``healthy()`` is true."""

    def __init__(self, interval: float, healthy: Callable[[], bool]) -> None:
        self.interval = interval
        self.healthy = healthy
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)
        self._was_healthy = True

    def start(self) -> Watchdog:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval / 2):
            ok = False
            try:
                ok = bool(self.healthy())
            except Exception as e:  # noqa: BLE001 - an error in the check counts as unhealthy
                log.error("health_check_failed", extra={"exc_type": type(e).__name__})
            if ok:
                notify("WATCHDOG=1")
            elif self._was_healthy:
                log.error("watchdog_withheld", extra={"interval_s": self.interval})
            self._was_healthy = ok

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
