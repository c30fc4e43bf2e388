"""Study lexicons the engine reads (``engine.names.Lexicon``): the names, IDs and identifying phrases seen in any
instance of a patient, as keyed hashes of their normalised words (``Keys.lexicon_token``), never in clear.

- :class:`SQLiteLexicon`: the node's, a SQLite file beside the spool shared by every worker process and lane;
  an entry expires ``lexicon.ttl_days`` after its patient was last seen. An instance's words are stored once it
  has been de-identified, so every instance de-identified after them is cleaned of them, whatever the order in
  which they arrived (docs/header.md says what this cannot do for instances processed before their siblings).
- :class:`MemoryLexicon`: ``deid``'s, filled from the whole batch before any file is cleaned, so the order of
  files in a batch does not matter.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

from .config import Settings
from .engine.keys import Keys
from .engine.policy import Policy
from .engine.result import LexiconUpdate
from .sqlitewal import connect_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lexicon (
    scope BLOB NOT NULL,
    token BLOB NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (scope, token)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lexicon_expires ON lexicon (expires);
"""


class MemoryLexicon:
    """A lexicon for one run (``deid``'s batch)."""

    def __init__(self) -> None:
        self._tokens: dict[bytes, set[bytes]] = {}

    def add(self, update: LexiconUpdate) -> None:
        self._tokens.setdefault(update.scope, set()).update(update.tokens)

    def known(self, scope: bytes) -> Collection[bytes]:
        return frozenset(self._tokens.get(scope, ()))


class SQLiteLexicon:
    """The node's lexicon file. One connection per thread that uses it (SQLite connections are not shared)."""

    def __init__(self, path: Path, ttl_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.ttl = ttl_seconds
        self.clock = clock
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # hashes only, but of a patient's circle: 0600
        os.close(fd)
        with self._conn() as c:
            c.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect_wal(self.path, synchronous="NORMAL")
            self._local.conn = conn
        return conn

    def known(self, scope: bytes) -> Collection[bytes]:
        rows = (
            self._conn()
            .execute("SELECT token FROM lexicon WHERE scope = ? AND expires > ?", (scope, self.clock()))
            .fetchall()
        )
        return frozenset(r[0] for r in rows)

    def add(self, update: LexiconUpdate) -> None:
        if not update.tokens:
            return
        expires = self.clock() + self.ttl
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO lexicon (scope, token, expires) VALUES (?, ?, ?) "
                "ON CONFLICT (scope, token) DO UPDATE SET expires = excluded.expires",
                [(update.scope, t, expires) for t in update.tokens],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def prune(self) -> int:
        """Delete expired entries; returns how many."""
        cur = self._conn().execute("DELETE FROM lexicon WHERE expires <= ?", (self.clock(),))
        return cur.rowcount

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def lexicon_path(settings: Settings) -> Path:
    return settings.lexicon.path or settings.spool.path / "lexicon.sqlite"


def open_lexicon(settings: Settings) -> SQLiteLexicon | None:
    """The node's lexicon, or None when ``lexicon.enabled`` is false."""
    if not settings.lexicon.enabled:
        return None
    lexicon = SQLiteLexicon(lexicon_path(settings), settings.lexicon.ttl_days * 86400)
    lexicon.prune()
    return lexicon


def batch_lexicon(raws: Iterable[bytes], keys: Keys, policy: Policy) -> MemoryLexicon:
    """``deid``'s lexicon: every input's words, gathered before any input is cleaned (unparseable ones skipped:
    they are quarantined by the second pass)."""
    from .dicomio.parse import parse_bytes
    from .engine.deidentify import lexicon_update

    lexicon = MemoryLexicon()
    for raw in raws:
        try:
            lexicon.add(lexicon_update(parse_bytes(raw), keys, policy))
        except Exception:  # noqa: BLE001, S112 - not DICOM or unparseable: nothing to learn from it
            continue
    return lexicon
