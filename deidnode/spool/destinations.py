"""One retry clock per destination, shared by every worker process through the spool's database.

A destination that fails (unreachable, association refused for now, no response, out of resources) is *down*
until ``down_until``; the back-off doubles with each failure that happens after the previous window ended, up
to ``retry.max_seconds``. Instances waiting for it are due when its window ends, and at once when any lane
delivers to it again (:meth:`DestinationClock.succeeded`). The table also feeds ``deidnode spool list`` and the
status page: last error code and cause (PHI-free: codes, errno names, statuses, host and port of the config).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass

SCHEMA = """
CREATE TABLE IF NOT EXISTS destinations (
    name TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    down_since REAL,
    down_until REAL NOT NULL DEFAULT 0,
    last_code TEXT,
    last_detail TEXT,
    last_error_at REAL,
    last_ok_at REAL,
    last_probe_at REAL
);
"""

# Rows waiting (RETRY_WAIT = 2) whose pending list names the destination (a JSON array of names).
_WAITING_FOR = "state = 2 AND pending IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(items.pending) WHERE value = ?)"


@dataclass(frozen=True)
class DestinationState:
    """What the node knows about one destination. ``failures`` 0 means up (or never tried)."""

    name: str
    failures: int = 0
    down_since: float | None = None
    down_until: float = 0.0
    last_code: str | None = None
    last_detail: str | None = None
    last_error_at: float | None = None
    last_ok_at: float | None = None

    @property
    def down(self) -> bool:
        return self.failures > 0

    def waiting(self, now: float) -> bool:
        """True while the back-off window runs: no lane should try the destination."""
        return self.failures > 0 and now < self.down_until

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": "down" if self.down else "ok",
            "failures": self.failures,
            "down_since": self.down_since,
            "down_until": self.down_until if self.down else None,
            "last_code": self.last_code,
            "last_detail": self.last_detail,
            "last_error_at": self.last_error_at,
            "last_ok_at": self.last_ok_at,
        }


_FIELDS = "name, failures, down_since, down_until, last_code, last_detail, last_error_at, last_ok_at"


class DestinationClock:
    """The ``destinations`` table of one spool database (see the module docstring)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db = db
        self._lock = lock

    def state(self, name: str) -> DestinationState:
        with self._lock:
            row = self._db.execute(f"SELECT {_FIELDS} FROM destinations WHERE name = ?", (name,)).fetchone()
        return DestinationState(*row) if row else DestinationState(name)

    def all(self) -> list[DestinationState]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_FIELDS} FROM destinations ORDER BY name").fetchall()
        return [DestinationState(*r) for r in rows]

    def failed(
        self, name: str, code: str, detail: str, *, initial: float, maximum: float, now: float | None = None
    ) -> tuple[DestinationState, bool]:
        """Record a failed attempt; returns the new state and whether this failure took the destination down.

        A failure seen while the window of an earlier one still runs (another lane tried at the same time)
        does not lengthen the back-off again.
        """
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT failures, down_since, down_until FROM destinations WHERE name = ?", (name,)
                ).fetchone()
                failures, down_since, down_until = row if row else (0, None, 0.0)
                went_down = failures == 0
                if went_down or now >= down_until:
                    failures += 1
                    down_until = now + min(initial * 2 ** (failures - 1), maximum)
                self._db.execute(
                    "INSERT INTO destinations (name, failures, down_since, down_until, last_code, last_detail,"
                    " last_error_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                    " failures = excluded.failures, down_since = excluded.down_since,"
                    " down_until = excluded.down_until, last_code = excluded.last_code,"
                    " last_detail = excluded.last_detail, last_error_at = excluded.last_error_at",
                    (name, failures, now if went_down else down_since, down_until, code, detail, now),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return self.state(name), went_down

    def succeeded(self, name: str, now: float | None = None) -> int | None:
        """Record a delivery. If the destination was down: it is up again and every instance waiting for it
        is due now; returns how many (None when it was not down, and nothing was written)."""
        now = time.time() if now is None else now
        with self._lock:
            row = self._db.execute("SELECT failures FROM destinations WHERE name = ?", (name,)).fetchone()
            if row is None or row[0] == 0:
                return None
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "UPDATE destinations SET failures = 0, down_since = NULL, down_until = 0, last_ok_at = ?"
                    " WHERE name = ?",
                    (now, name),
                )
                n = self._db.execute(
                    f"UPDATE items SET next_attempt_at = ? WHERE {_WAITING_FOR} AND next_attempt_at > ?",
                    (now, name, now),
                ).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return n

    def claim_probe(self, name: str, interval: float, now: float | None = None) -> bool:
        """Whether this caller should check the down destination now: true for one caller per ``interval``
        while a back-off window with more than ``interval`` left runs (all worker processes share this)."""
        now = time.time() if now is None else now
        with self._lock:
            return (
                self._db.execute(
                    "UPDATE destinations SET last_probe_at = ? WHERE name = ? AND failures > 0 AND down_until > ?"
                    " AND COALESCE(last_probe_at, 0) <= ?",
                    (now, name, now + interval, now - interval),
                ).rowcount
                == 1
            )

    def retry_now(self, name: str | None = None, now: float | None = None) -> int:
        """Make waiting instances due now (those waiting for ``name``, or all) and end the back-off window of
        that destination (or of all): ``deidnode spool retry``. Returns how many instances became due."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if name is None:
                    self._db.execute("UPDATE destinations SET down_until = ? WHERE failures > 0", (now,))
                    n = self._db.execute(
                        "UPDATE items SET next_attempt_at = ? WHERE state = 2 AND next_attempt_at > ?", (now, now)
                    ).rowcount
                else:
                    self._db.execute(
                        "UPDATE destinations SET down_until = ? WHERE failures > 0 AND name = ?", (now, name)
                    )
                    n = self._db.execute(
                        f"UPDATE items SET next_attempt_at = ? WHERE {_WAITING_FOR} AND next_attempt_at > ?",
                        (now, name, now),
                    ).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return n
