"""Opening the node's SQLite files (spool, lexicon, mapping store) in WAL mode, safely from many processes at once.

Switching a database to WAL needs an exclusive lock, and SQLite answers "database is locked" at once, without
waiting out the busy timeout, while another connection is creating or switching the same file. Every lane of
every worker opens the lexicon and mapping store when it starts, so a fresh node used to lose a lane to that race
(seen in CI); the switch can also fail with "disk I/O error" then. The switch is made only when the file is not in
WAL mode yet, and retried until ``timeout``.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def connect_wal(
    path: Path,
    *,
    synchronous: str,
    timeout: float = 30.0,
    check_same_thread: bool = True,
) -> sqlite3.Connection:
    """A connection to ``path`` in WAL mode with ``PRAGMA synchronous=<synchronous>`` (``FULL`` or ``NORMAL``)
    and autocommit (transactions are begun explicitly)."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=check_same_thread)
    try:
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        _switch_to_wal(conn, timeout)
        conn.execute(f"PRAGMA synchronous={synchronous}")
    except BaseException:
        conn.close()
        raise
    return conn


_RACED_IO = frozenset({"SQLITE_IOERR_RDLOCK", "SQLITE_IOERR_DELETE_NOENT"})
""""disk I/O error" answers to the switch while other connections create and switch the same fresh file (a
fresh node's lanes opening the lexicon together: seen on the README's first command, one start in three)."""


def _switch_to_wal(conn: sqlite3.Connection, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            raise sqlite3.OperationalError(f"journal mode stayed {mode}")  # e.g. a file system without locks
        except sqlite3.OperationalError as e:
            transient = "locked" in str(e) or "busy" in str(e) or getattr(e, "sqlite_errorname", "") in _RACED_IO
            if not transient or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
