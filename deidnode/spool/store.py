"""The embedded spool: a folder of Part 10 files plus an SQLite state table.

Never acknowledge before durable: :class:`SpoolWriter` writes the bytes into ``data/``, fsyncs the file, and
the (grouped) commit fsyncs the folder, then commits the row (WAL, ``synchronous=FULL``). Only then may the SCP
answer Success. Workers claim rows atomically (``UPDATE ... RETURNING`` inside ``BEGIN IMMEDIATE``) under a lease;
expired leases and the leases of dead workers are requeued, so delivery is at-least-once. Rows are never
deleted when taken; finished rows are pruned after a retention period.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from ..iovec import write_all
from ..sqlitewal import connect_wal
from .destinations import SCHEMA as DESTINATIONS_SCHEMA
from .destinations import DestinationClock, DestinationState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state INTEGER NOT NULL,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    calling_aet TEXT NOT NULL,
    sop_class TEXT NOT NULL,
    transfer_syntax TEXT NOT NULL,
    received_at REAL NOT NULL,
    claimed_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    pending TEXT,
    last_code TEXT,
    quarantine_id TEXT,
    crashes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS items_ready ON items (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS items_owner ON items (lease_owner) WHERE state = 1;
"""

_COLUMNS = (
    "id, state, file, size, calling_aet, sop_class, transfer_syntax, received_at, attempts, pending, last_code, crashes"
)


_INSERT = (
    "INSERT INTO items (state, file, size, calling_aet, sop_class, transfer_syntax, received_at, updated_at,"
    " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class _InsertRequest:
    __slots__ = ("args", "done", "error", "row_id")

    def __init__(self, args: tuple) -> None:
        self.args = args
        self.done = False
        self.error: Exception | None = None
        self.row_id: int | None = None


class State(IntEnum):
    """Row states. Every transition stamps ``updated_at`` (and ``claimed_at`` / ``finished_at``)."""

    RECEIVED = 0
    """Durable on disk, waiting for a worker."""
    CLAIMED = 1
    """Leased by a worker (``lease_owner`` until ``lease_until``)."""
    RETRY_WAIT = 2
    """A destination failed; due again at ``next_attempt_at``."""
    FORWARDED = 3
    """Delivered to every routed destination; the file is removed."""
    QUARANTINED = 4
    """Moved to the quarantine folder with a PHI-free reason file."""


@dataclass(frozen=True)
class Waiting:
    """An unfinished row as ``deidnode spool list`` shows it (no attribute values)."""

    id: int
    state: State
    received_at: float
    attempts: int
    next_attempt_at: float
    pending: tuple[str, ...] | None
    last_code: str | None
    sop_class: str
    size: int


class SpoolFullError(OSError):
    """Less free space than ``spool.min_free_bytes``: refuse the instance (DIMSE 0xA700)."""


@dataclass(frozen=True)
class Item:
    """A claimed spool row. Holds no attribute values: only routing facts known at association level."""

    id: int
    state: State
    file: str
    size: int
    calling_aet: str
    sop_class: str
    transfer_syntax: str
    received_at: float
    attempts: int
    pending: tuple[str, ...] | None
    """Destinations still to deliver to; None before the first routing."""
    last_code: str | None
    crashes: int = 0
    """Times a worker died (or its lease expired) while holding this item: a poison-pill guard."""

    @classmethod
    def _from_row(cls, row: tuple) -> Item:
        pending = None if row[9] is None else tuple(json.loads(row[9]))
        return cls(
            id=row[0],
            state=State(row[1]),
            file=row[2],
            size=row[3],
            calling_aet=row[4],
            sop_class=row[5],
            transfer_syntax=row[6],
            received_at=row[7],
            attempts=row[8],
            pending=pending,
            last_code=row[10],
            crashes=row[11],
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_FLUSH_BYTES = 4 * 1024 * 1024


class SpoolWriter:
    """One instance being received: pieces go to ``data/<uuid>.dcm``; :meth:`commit` makes it durable.

    Pieces are gathered and written with ``writev`` (a few MB at a time), so a data set arriving in many PDVs
    costs few system calls and is never assembled in memory. A write error is remembered and raised by
    :meth:`commit`, so the caller can keep reading the rest of the message from the network. A file left
    behind by a crash has no row and is removed by :meth:`Spool.recover`.
    """

    def __init__(self, spool: Spool, *, calling_aet: str, sop_class: str, transfer_syntax: str) -> None:
        self.spool = spool
        self.name = uuid.uuid4().hex + ".dcm"
        self.path = spool.data_dir / self.name
        self.meta = (calling_aet, sop_class, transfer_syntax)
        self.size = 0
        self.error: OSError | None = None
        self._parts: list[bytes | memoryview] = []
        self._buffered = 0
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def write(self, data: bytes | memoryview) -> None:
        if self.error is not None:
            return
        self._parts.append(data)
        self._buffered += len(data)
        self.size += len(data)
        if self._buffered >= _FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        parts, self._parts, self._buffered = self._parts, [], 0
        fd = self._fd
        assert fd is not None
        try:
            write_all(lambda batch: os.writev(fd, batch), parts)
        except OSError as e:
            self.error = e

    def commit(self) -> int:
        """fsync the file, then commit its RECEIVED row (grouped, with the folder fsync); returns the row id."""
        try:
            self._flush()
            if self.error is not None:
                raise self.error
            assert self._fd is not None
            os.fsync(self._fd)
            self._close()
            now = time.time()
            calling_aet, sop_class, transfer_syntax = self.meta
            return self.spool._commit_row(
                (State.RECEIVED, self.name, self.size, calling_aet, sop_class, transfer_syntax, now, now, now)
            )
        except BaseException:
            self.discard()
            raise

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def discard(self) -> None:
        """Drop the file (the instance was not acknowledged)."""
        self._parts = []
        try:
            self._close()
        finally:
            self.path.unlink(missing_ok=True)


class Spool:
    """One spool folder. Safe to share between threads of one process; each process opens its own."""

    def __init__(
        self, path: Path, *, min_free_bytes: int = 0, lease_seconds: float = 300, receiver: bool = True
    ) -> None:
        self.path = Path(path)
        self.data_dir = self.path / "data"
        self.tmp_dir = self.path / "tmp"
        self.min_free_bytes = min_free_bytes
        self.lease_seconds = lease_seconds
        for d in (self.path, self.data_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._cv = threading.Condition()
        self._queue: list[_InsertRequest] = []
        self._leader_active = False
        # The receiving connection commits with synchronous=FULL: its commit is what Success promises.
        # Worker connections (receiver=False) use NORMAL: in WAL mode a power loss may then forget a later
        # transition (FORWARDED, RETRY_WAIT, QUARANTINED), which only sends an instance again (at-least-once,
        # and the destination keeps one copy per SOP Instance UID); RECEIVED rows are never at risk, and the
        # next FULL commit of the receiver makes every earlier WAL frame durable too.
        self._db = connect_wal(
            self.path / "spool.sqlite3",
            synchronous="FULL" if receiver else "NORMAL",
            check_same_thread=False,
        )
        with self._lock:
            self._db.executescript(_SCHEMA + DESTINATIONS_SCHEMA)
        self.destinations = DestinationClock(self._db, self._lock)
        """The shared retry clock of each destination."""

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- receive side -------------------------------------------------------------------------------
    def check_space(self) -> None:
        """Raise :class:`SpoolFullError` when the spool's file system is short of space."""
        if self.min_free_bytes:
            st = os.statvfs(self.path)
            if st.f_bavail * st.f_frsize < self.min_free_bytes:
                raise SpoolFullError(28, "spool below min_free_bytes")

    def store(self, raw: bytes | memoryview, *, calling_aet: str, sop_class: str, transfer_syntax: str) -> int:
        """Write ``raw`` durably and commit a RECEIVED row; return its id. Raises OSError on failure."""
        writer = self.open_writer(calling_aet=calling_aet, sop_class=sop_class, transfer_syntax=transfer_syntax)
        writer.write(raw)
        return writer.commit()

    def open_writer(self, *, calling_aet: str, sop_class: str, transfer_syntax: str) -> SpoolWriter:
        """Start a new spool file, to be filled piece by piece as the data set arrives (see :class:`SpoolWriter`).

        Raises :class:`SpoolFullError` or OSError before anything is written.
        """
        self.check_space()
        return SpoolWriter(self, calling_aet=calling_aet, sop_class=sop_class, transfer_syntax=transfer_syntax)

    def _commit_row(self, args: tuple) -> int:
        req = _InsertRequest(args)
        self._commit_grouped(req)
        if req.error is not None:
            raise OSError(5, f"spool database: {type(req.error).__name__}") from req.error
        assert req.row_id is not None
        return req.row_id

    def _commit_grouped(self, req: _InsertRequest) -> None:
        """Group commit: concurrent stores share one transaction and one WAL fsync.

        The first caller to find no commit running becomes the leader and commits every queued row (its own
        included) until the queue is empty; the others wait for their row's result.
        """
        with self._cv:
            self._queue.append(req)
            if self._leader_active:
                while not req.done:
                    self._cv.wait()
                return
            self._leader_active = True
        try:
            while True:
                with self._cv:
                    batch, self._queue = self._queue, []
                    if not batch:
                        self._leader_active = False
                        self._cv.notify_all()
                        return
                try:
                    # One folder fsync makes every file of the batch durably named before its row commits.
                    _fsync_dir(self.data_dir)
                    with self._lock:
                        self._db.execute("BEGIN IMMEDIATE")
                        try:
                            for r in batch:
                                r.row_id = self._db.execute(_INSERT, r.args).lastrowid
                            self._db.execute("COMMIT")
                        except BaseException:
                            self._db.execute("ROLLBACK")
                            raise
                except (sqlite3.Error, OSError) as e:
                    for r in batch:
                        r.row_id, r.error = None, e
                with self._cv:
                    for r in batch:
                        r.done = True
                    self._cv.notify_all()
        except BaseException:
            with self._cv:
                self._leader_active = False
                self._cv.notify_all()
            raise

    # -- worker side --------------------------------------------------------------------------------
    def claim(self, owner: str, *, now: float | None = None) -> Item | None:
        """Lease the next due item to ``owner`` (one atomic statement), or None when nothing is due."""
        items = self.claim_many(owner, 1, now=now)
        return items[0] if items else None

    def claim_many(self, owner: str, limit: int, *, now: float | None = None) -> list[Item]:
        """Lease up to ``limit`` due items to ``owner`` in one transaction, oldest due first."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    "UPDATE items SET state = ?, lease_owner = ?, lease_until = ?, claimed_at = ?, updated_at = ?"
                    " WHERE id IN (SELECT id FROM items WHERE state IN (?, ?) AND next_attempt_at <= ?"
                    f" ORDER BY next_attempt_at, id LIMIT ?) RETURNING {_COLUMNS}",
                    (
                        State.CLAIMED,
                        owner,
                        now + self.lease_seconds,
                        now,
                        now,
                        State.RECEIVED,
                        State.RETRY_WAIT,
                        now,
                        limit,
                    ),
                ).fetchall()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        items = [Item._from_row(r) for r in rows]
        items.sort(key=lambda i: i.id)
        return items

    def file_path(self, item: Item) -> Path:
        return self.data_dir / item.file

    def read(self, item: Item) -> bytes:
        return self.file_path(item).read_bytes()

    @contextmanager
    def mapped(self, item: Item) -> Iterator[mmap.mmap | bytes]:
        """The item's file as a read-only memory map: the worker parses it in place (page cache, no copy)."""
        with open(self.file_path(item), "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:  # mmap refuses empty files; the engine refuses empty input
                yield b""
                return
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                yield m

    def _finish(self, item_id: int, owner: str, sets: str, args: tuple) -> bool:
        now = time.time()
        with self._lock:
            cur = self._db.execute(
                f"UPDATE items SET {sets}, lease_owner = NULL, lease_until = NULL, updated_at = ?"
                " WHERE id = ? AND state = ? AND lease_owner = ?",
                (*args, now, item_id, State.CLAIMED, owner),
            )
        return cur.rowcount == 1

    def mark_forwarded(self, item: Item, owner: str, *, unlink: bool = True) -> bool:
        """Record delivery, then remove the file (``unlink=False``: the caller removes it, e.g. in the
        background; :meth:`recover` removes files of finished rows). False if the lease was lost."""
        ok = self._finish(item.id, owner, "state = ?, finished_at = ?, pending = '[]'", (State.FORWARDED, time.time()))
        if ok and unlink:
            self.file_path(item).unlink(missing_ok=True)
        return ok

    def mark_retry(self, item: Item, owner: str, *, delay: float, pending: Iterable[str] | None, code: str) -> bool:
        """Put the item back, due again in ``delay`` seconds, with the destinations still pending
        (None: not routed yet; every routed destination is tried)."""
        return self._finish(
            item.id,
            owner,
            "state = ?, attempts = attempts + 1, next_attempt_at = ?, pending = ?, last_code = ?",
            (
                State.RETRY_WAIT,
                time.time() + delay,
                None if pending is None else json.dumps(list(pending)),
                code,
            ),
        )

    def mark_quarantined(self, item: Item, owner: str, *, quarantine_id: str, code: str) -> bool:
        """Record that the file now lives in quarantine, then remove the spool copy."""
        ok = self._finish(
            item.id,
            owner,
            "state = ?, finished_at = ?, quarantine_id = ?, last_code = ?",
            (State.QUARANTINED, time.time(), quarantine_id, code),
        )
        if ok:
            self.file_path(item).unlink(missing_ok=True)
        return ok

    def release(self, item: Item, owner: str) -> bool:
        """Return a claimed item unchanged (graceful shutdown)."""
        return self._finish(
            item.id, owner, "state = ?", (State.RECEIVED if item.pending is None else State.RETRY_WAIT,)
        )

    # -- supervision --------------------------------------------------------------------------------
    def requeue(
        self,
        *,
        owners: Iterable[str] | None = None,
        expired_before: float | None = None,
        crashed: bool = False,
    ) -> int:
        """Return claimed items to the queue: all of them, those of ``owners``, or leases expired by then.

        ``crashed``: the holder died or hung; count it against the item (see :attr:`Item.crashes`).
        """
        sql = (
            "UPDATE items SET state = CASE WHEN pending IS NULL THEN ? ELSE ? END, lease_owner = NULL,"
            f" lease_until = NULL, updated_at = ?{', crashes = crashes + 1' if crashed else ''} WHERE state = ?"
        )
        args: list = [State.RECEIVED, State.RETRY_WAIT, time.time(), State.CLAIMED]
        if owners is not None:
            owners = list(owners)
            if not owners:
                return 0
            sql += f" AND lease_owner IN ({', '.join('?' * len(owners))})"
            args += owners
        if expired_before is not None:
            sql += " AND lease_until < ?"
            args.append(expired_before)
        with self._lock:
            return self._db.execute(sql, args).rowcount

    def recover(self) -> dict[str, int]:
        """At start (no worker alive): requeue every claim, drop temp files and files no row refers to."""
        requeued = self.requeue()
        tmp_removed = 0
        for p in self.tmp_dir.iterdir():
            p.unlink(missing_ok=True)
            tmp_removed += 1
        with self._lock:
            live = {
                r[0]
                for r in self._db.execute(
                    "SELECT file FROM items WHERE state IN (?, ?, ?)",
                    (State.RECEIVED, State.CLAIMED, State.RETRY_WAIT),
                )
            }
        orphans = 0
        for p in self.data_dir.iterdir():
            if p.name not in live:
                # Never acknowledged (a crash before its row was committed) or already finished.
                p.unlink(missing_ok=True)
                orphans += 1
        return {"requeued": requeued, "tmp_removed": tmp_removed, "orphans_removed": orphans}

    def depth(self) -> dict[State, int]:
        """Rows per state (FORWARDED and QUARANTINED count retained history)."""
        counts = dict.fromkeys(State, 0)
        with self._lock:
            for state, n in self._db.execute("SELECT state, COUNT(*) FROM items GROUP BY state"):
                counts[State(state)] = n
        return counts

    def destination_states(self) -> list[DestinationState]:
        """Every destination the workers have recorded a failure or recovery for (see :mod:`.destinations`)."""
        return self.destinations.all()

    def waiting(self, limit: int = 100) -> list[Waiting]:
        """Instances not finished yet (received, claimed, waiting for a retry), oldest first: what waits and why."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, state, received_at, attempts, next_attempt_at, pending, last_code, sop_class, size"
                " FROM items WHERE state IN (?, ?, ?) ORDER BY received_at, id LIMIT ?",
                (State.RECEIVED, State.CLAIMED, State.RETRY_WAIT, limit),
            ).fetchall()
        return [
            Waiting(
                id=r[0],
                state=State(r[1]),
                received_at=r[2],
                attempts=r[3],
                next_attempt_at=r[4],
                pending=None if r[5] is None else tuple(json.loads(r[5])),
                last_code=r[6],
                sop_class=r[7],
                size=r[8],
            )
            for r in rows
        ]

    def oldest_waiting(self) -> float | None:
        """``received_at`` of the oldest unfinished instance, or None when nothing waits."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(received_at) FROM items WHERE state IN (?, ?, ?)",
                (State.RECEIVED, State.CLAIMED, State.RETRY_WAIT),
            ).fetchone()
        return row[0] if row else None

    def prune(self, older_than: float) -> int:
        """Delete finished rows (FORWARDED, QUARANTINED) finished before ``older_than``."""
        with self._lock:
            return self._db.execute(
                "DELETE FROM items WHERE state IN (?, ?) AND finished_at < ?",
                (State.FORWARDED, State.QUARANTINED, older_than),
            ).rowcount

    def add_file(self, src: Path, *, calling_aet: str, sop_class: str, transfer_syntax: str) -> int:
        """Copy an existing file into the spool as RECEIVED (quarantine retry)."""
        return self.store(
            src.read_bytes(), calling_aet=calling_aet, sop_class=sop_class, transfer_syntax=transfer_syntax
        )

    def copy_out(self, item: Item, dest: Path) -> None:
        """Link (same file system) or copy the item's file to ``dest``, durably."""
        src = self.file_path(item)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copyfile(src, dest)
            fd = os.open(dest, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(dest.parent)
