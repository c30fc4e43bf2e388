"""The mapping store: which original each pseudonym replaced (Patient ID and name, accession, Study ID, study,
series and instance UIDs, the patient's date shift), for the people allowed to re-link.

One SQLite file (mode 0600 in a 0700 folder). Each row holds a Fernet token (AES-128-CBC + HMAC-SHA256, from the
``cryptography`` package) of ``{kind, original, pseudonym}``, encrypted with the mapping key, which is not the
de-identification key; and two keyed hashes made with the mapping key: one of the pseudonym (so ``lookup``
finds rows without decrypting the store) and one of the whole pair (so the same pair is stored once). Without
the key the file shows row counts and times, nothing else. The writer (workers, ``deid``) needs the key too:
protect it like the de-identification key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..sqlitewal import connect_wal

if TYPE_CHECKING:
    from ..config import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mapping (
    pair BLOB PRIMARY KEY,
    lookup BLOB NOT NULL,
    created REAL NOT NULL,
    token BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS mapping_lookup ON mapping (lookup);
CREATE INDEX IF NOT EXISTS mapping_created ON mapping (created);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


class MappingKeyError(Exception):
    """The key does not open this store (no value is ever in the message)."""


@dataclass(frozen=True)
class Entry:
    created: float
    kind: str
    original: str
    pseudonym: str


def _fernet() -> tuple[Any, type[Exception]]:
    """cryptography's Fernet class and its InvalidToken, imported when the store is used (an extra)."""
    try:
        from cryptography.fernet import Fernet, InvalidToken
    except ImportError:
        raise ConfigError(
            "config error: mapping: the mapping store needs the 'cryptography' package "
            "(pip install 'deidnode[mapping]')"
        ) from None
    return Fernet, InvalidToken


def new_mapping_key(path: Path) -> None:
    """Write a new random mapping key to ``path`` (0600); refuses to overwrite."""
    Fernet, _ = _fernet()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(Fernet.generate_key() + b"\n")


def load_mapping_key(path: Path, *, deid_secret: bytes | None = None) -> bytes:
    """The Fernet key in ``path``. Refused when it is not a Fernet key or is the de-identification key."""
    try:
        key = Path(path).read_bytes().strip()
    except OSError as e:
        raise ConfigError(f"config error: mapping.key_file: cannot read the key file: {e.strerror}") from None
    try:
        ok = len(base64.urlsafe_b64decode(key)) == 32
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise ConfigError(
            "config error: mapping.key_file: not a mapping key (make one with: deidnode mapping new-key FILE)"
        )
    if deid_secret is not None and (key == deid_secret or base64.urlsafe_b64decode(key) == deid_secret):
        raise ConfigError("config error: mapping.key_file: the mapping key must not be the de-identification key")
    return key


class MappingStore:
    """Write and read the mapping. One SQLite connection per thread."""

    def __init__(self, path: Path, key: bytes, clock: Callable[[], float] = time.time) -> None:
        Fernet, self._invalid = _fernet()
        self.path = Path(path)
        self._fernet = Fernet(key)
        self._mac = base64.urlsafe_b64decode(key)
        self.clock = clock
        self._local = threading.local()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(self.path, 0o600)
        conn = self._conn()
        conn.executescript(_SCHEMA)
        # A token made with the store's key when it was created: a store opened with another key is refused at
        # once (by the workers too, which would otherwise write rows its broker cannot read).
        row = conn.execute("SELECT value FROM meta WHERE name = 'check'").fetchone()
        if row is None:
            conn.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES ('check', ?)",
                (self._fernet.encrypt(b"deidnode mapping store"),),
            )
        else:
            try:
                self._fernet.decrypt(row[0])
            except self._invalid:
                raise MappingKeyError("the mapping key does not open this store") from None

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect_wal(self.path, synchronous="FULL")
            self._local.conn = conn
            for suffix in ("-wal", "-shm"):  # SQLite creates these with the process umask
                side = Path(str(self.path) + suffix)
                if side.exists():
                    os.chmod(side, 0o600)
        return conn

    def _h(self, label: str, *parts: str) -> bytes:
        msg = "\x00".join((label, *parts)).encode("utf-8")
        return hmac.new(self._mac, msg, hashlib.sha256).digest()

    def add(self, pairs: Iterable[tuple[str, str, str]]) -> int:
        """Store (kind, original, pseudonym) pairs not stored yet; returns how many were new."""
        now = self.clock()
        rows = [
            (
                self._h("pair", k, o, p),
                self._h("lookup", p),
                now,
                self._fernet.encrypt(json.dumps({"kind": k, "original": o, "pseudonym": p}).encode("utf-8")),
            )
            for k, o, p in pairs
        ]
        if not rows:
            return 0
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO mapping (pair, lookup, created, token) VALUES (?, ?, ?, ?)", rows)
            added = conn.total_changes - before
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return added

    def _decrypt(self, created: float, token: bytes) -> Entry:
        try:
            doc = json.loads(self._fernet.decrypt(token))
        except self._invalid:
            raise MappingKeyError("the mapping key does not open this store") from None
        return Entry(created, doc["kind"], doc["original"], doc["pseudonym"])

    def entries(self, since: float | None = None) -> Iterator[Entry]:
        """Every entry created at or after ``since`` (all when None), oldest first."""
        rows = self._conn().execute(
            "SELECT created, token FROM mapping WHERE created >= ? ORDER BY created, rowid", (since or 0.0,)
        )
        for created, token in rows:
            yield self._decrypt(created, token)

    def lookup(self, pseudonym: str) -> list[Entry]:
        rows = (
            self._conn()
            .execute(
                "SELECT created, token FROM mapping WHERE lookup = ? ORDER BY created", (self._h("lookup", pseudonym),)
            )
            .fetchall()
        )
        return [self._decrypt(c, t) for c, t in rows]

    def prune(self, older_than_seconds: float) -> int:
        cur = self._conn().execute("DELETE FROM mapping WHERE created < ?", (self.clock() - older_than_seconds,))
        return cur.rowcount

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def open_mapping(settings: Settings, deid_secret: bytes | None = None) -> MappingStore | None:
    """The configured store, or None when ``mapping.enabled`` is false. Prunes by ``retention_days``."""
    m = settings.mapping
    if not m.enabled:
        return None
    assert m.key_file is not None  # config: an enabled store needs a key file
    try:
        store = MappingStore(m.path, load_mapping_key(m.key_file, deid_secret=deid_secret))
    except MappingKeyError:
        raise ConfigError(f"config error: mapping.key_file: the mapping key does not open {m.path}") from None
    if m.retention_days is not None:
        store.prune(m.retention_days * 86400)
    return store
