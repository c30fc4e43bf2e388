"""The node's SQLite files opened by many lanes at once (a fresh node starts every lane together)."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from deidnode.lexicon_store import SQLiteLexicon
from deidnode.spool import Spool
from deidnode.sqlitewal import connect_wal


def _race(open_one, rounds: int, width: int) -> list[str]:
    errors: list[str] = []
    for r in range(rounds):
        barrier = threading.Barrier(width)

        def go(r: int = r, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                open_one(r)
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(f"{type(e).__name__}: {e}")

        threads = [threading.Thread(target=go) for _ in range(width)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return errors


def test_lanes_opening_a_fresh_lexicon_together_all_get_it(tmp_path):
    """Failed before the fix: 'database is locked' from PRAGMA journal_mode=WAL killed a lane (CI, 2026-12-02)."""

    def open_one(r: int) -> None:
        SQLiteLexicon(tmp_path / f"{r}" / "lexicon.sqlite", 3600).prune()

    assert _race(open_one, rounds=150, width=6) == []


def test_workers_opening_a_fresh_spool_together_all_get_it(tmp_path):
    def open_one(r: int) -> None:
        Spool(tmp_path / f"{r}", receiver=False).close()

    assert _race(open_one, rounds=40, width=4) == []


def test_connect_wal_sets_the_modes_asked_for(tmp_path):
    conn = connect_wal(tmp_path / "a.sqlite", synchronous="FULL")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn.close()
    conn = connect_wal(tmp_path / "a.sqlite", synchronous="NORMAL")
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    conn.close()
    with pytest.raises(ValueError, match="synchronous"):
        connect_wal(tmp_path / "a.sqlite", synchronous="OFF")


def test_connect_wal_gives_up_after_its_timeout_on_a_file_held_locked(tmp_path):
    path = tmp_path / "held.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            connect_wal(path, synchronous="NORMAL", timeout=0.3)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


class _RacedOnce:
    """A connection whose first switch to WAL fails as a fresh node's lanes saw it ("disk I/O error")."""

    def __init__(self, name: str) -> None:
        self.name, self.calls = name, 0

    def execute(self, sql: str):
        self.calls += 1
        if sql == "PRAGMA journal_mode":
            return _Row("delete")
        if self.calls <= 2:
            e = sqlite3.OperationalError("disk I/O error")
            e.sqlite_errorname = self.name
            raise e
        return _Row("wal")


class _Row:
    def __init__(self, v: str) -> None:
        self.v = v

    def fetchone(self):
        return (self.v,)


@pytest.mark.parametrize("name", ["SQLITE_IOERR_RDLOCK", "SQLITE_IOERR_DELETE_NOENT"])
def test_the_switch_to_wal_outlasts_the_io_errors_of_lanes_creating_the_file_together(name):
    # seen on a fresh node: two lanes' first "PRAGMA journal_mode=WAL" on the new lexicon failed, the lanes died
    from deidnode.sqlitewal import _switch_to_wal

    conn = _RacedOnce(name)
    _switch_to_wal(conn, timeout=5)  # type: ignore[arg-type]
    assert conn.calls == 4  # failed once, asked again, switched
    other = _RacedOnce("SQLITE_IOERR_WRITE")  # a real I/O error is not retried
    with pytest.raises(sqlite3.OperationalError):
        _switch_to_wal(other, timeout=5)  # type: ignore[arg-type]
