"""The audit trail: one PHI-free JSON line per instance and attempt, written by ``serve`` and ``deid`` alike.

A record holds what a compliance review asks about an instance without holding the instance: the SHA-256 of
the bytes received, the engine's audit (SOP class, modality, options, the count of each action, pixel regions
cleaned, codec and transfer syntaxes, the new pseudonymous SOP Instance UID), the outcome, each destination's
result, and the versions that did the work. Never an attribute value, a file name from the input, or a
message of a third-party exception. The fields are documented in docs/operations.md ("Audit trail").

One sink per file: ``<path>`` is opened ``O_APPEND`` with mode 0600 in a 0700 folder; every record is one
``write`` made under an ``flock`` of ``<path>.lock``, so that the node's worker processes append whole lines
and only one of them rotates. When a record would take the file past ``max_bytes`` it is rotated:
``audit.jsonl`` -> ``audit.jsonl.1`` -> ... -> ``audit.jsonl.<backups>`` (the oldest is deleted). Records are
not fsynced one by one (the page cache survives a crash of the node; a power loss may lose the last seconds);
a rotated file is fsynced before it is renamed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import AuditSettings

SCHEMA = 1
"""Version of the record layout; bumped when a field changes meaning."""

COMMANDS = ("serve", "deid")
OUTCOMES = ("forwarded", "retry", "quarantined", "deidentified")


class AuditSink:
    """Appends records to ``path`` with size-based rotation; safe across threads and processes."""

    def __init__(self, path: Path, *, max_bytes: int = 64 * 1024 * 1024, backups: int = 20) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._lock_fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        self._fd: int | None = None
        self._ino = -1

    @classmethod
    def from_settings(cls, settings: AuditSettings) -> AuditSink | None:
        """The node's sink, or None when ``audit.path`` is null."""
        if settings.path is None:
            return None
        return cls(settings.path, max_bytes=settings.max_bytes, backups=settings.backups)

    def _open(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.fchmod(self._fd, 0o600)  # an existing file keeps no wider mode than ours
        self._ino = os.fstat(self._fd).st_ino

    def _current(self) -> int:
        """Our descriptor of the file now at ``path`` (another process may have rotated it)."""
        try:
            ino = os.stat(self.path).st_ino
        except FileNotFoundError:
            ino = -2
        if self._fd is None or ino != self._ino:
            self._open()
        assert self._fd is not None
        return self._fd

    def _rotate(self, fd: int) -> None:
        os.fsync(fd)
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        else:
            for i in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self._open()

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as one line. Raises OSError when the file cannot be written."""
        line = (json.dumps(record, sort_keys=True, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                fd = self._current()
                size = os.fstat(fd).st_size
                if size and size + len(line) > self.max_bytes:
                    self._rotate(fd)
                    assert self._fd is not None
                    fd = self._fd
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    def __enter__(self) -> AuditSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def record(
    command: str,
    outcome: str,
    *,
    input_sha256: str | None,
    input_bytes: int | None,
    engine: Mapping[str, Any] | None,
    versions: Mapping[str, str],
    quarantine: Mapping[str, str] | None = None,
    destinations: Sequence[Mapping[str, str]] = (),
    output: str | None = None,
    spool_row: int | None = None,
    calling_aet: str | None = None,
    attempt: int | None = None,
    time: float | None = None,
) -> dict[str, Any]:
    """One audit record (the single place its layout is decided). ``engine`` is the engine's own audit
    record (``EngineResult.audit``), None when the instance never reached the engine."""
    if command not in COMMANDS or outcome not in OUTCOMES:
        raise ValueError(f"audit record: command {command!r} / outcome {outcome!r}")
    when = datetime.now(UTC) if time is None else datetime.fromtimestamp(time, UTC)
    rec: dict[str, Any] = {
        "schema": SCHEMA,
        "time": when.isoformat(timespec="milliseconds"),
        "command": command,
        "outcome": outcome,
        "input_sha256": input_sha256,
        "input_bytes": input_bytes,
        "engine": dict(engine) if engine is not None else None,
        "destinations": [dict(d) for d in destinations],
        "versions": dict(versions),
    }
    if quarantine is not None:
        rec["quarantine"] = dict(quarantine)
    if output is not None:
        rec["output"] = output
    if spool_row is not None:
        rec["spool_row"] = spool_row
    if calling_aet is not None:
        rec["calling_aet"] = calling_aet
    if attempt is not None:
        rec["attempt"] = attempt
    return rec


class Trail:
    """What one attempt at one instance gathered on its way, for its audit record (one per attempt)."""

    __slots__ = ("destinations", "engine", "input_bytes", "input_sha256", "quarantine")

    def __init__(self) -> None:
        self.input_sha256: str | None = None
        self.input_bytes: int | None = None
        self.engine: Mapping[str, Any] | None = None
        self.quarantine: dict[str, str] | None = None
        self.destinations: list[dict[str, str]] = []

    def input(self, raw: bytes | memoryview | Any) -> None:
        """Hash the bytes as received (a buffer: bytes or a memory map)."""
        self.input_sha256 = hashlib.sha256(raw).hexdigest()
        self.input_bytes = len(raw)

    def destination(self, name: str, outcome: str, code: str = "") -> None:
        self.destinations.append({"name": name, "outcome": outcome, "code": code})

    def quarantined(self, stage: str, code: str, detail: str = "") -> None:
        self.quarantine = {"stage": stage, "code": code, "detail": detail}

    def record(self, command: str, outcome: str, versions: Mapping[str, str], **extra: Any) -> dict[str, Any]:
        return record(
            command,
            outcome,
            input_sha256=self.input_sha256,
            input_bytes=self.input_bytes,
            engine=self.engine,
            versions=versions,
            quarantine=self.quarantine,
            destinations=self.destinations,
            **extra,
        )
