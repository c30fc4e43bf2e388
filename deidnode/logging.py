"""Structured JSON logs (one object per line on stderr), free of PHI.

Our log events name a stage, a reason code and counts, spool row ids, hosts, ports and paths of the
configuration, never attribute values. What other code says is not trusted to be PHI-free: pydicom's warnings
quote values (``Invalid value for VR UI: '<value>'``), so every record of a third-party logger and every Python
warning is logged as a fixed event with its logger, category and a value-free kind only (``third_party``).
``serve`` also routes anything else written to file descriptor 2 (a library's own prints, a traceback) through
one JSON line per line, its text kept only at log level DEBUG: every stderr line of the node is JSON.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
import warnings
from typing import Any, TextIO

_RESERVED = set(vars(logging.makeLogRecord({})))
_OURS = "deidnode"

# Value-free prefixes of third-party messages worth keeping (what kind of problem, never which value).
_KNOWN_KINDS = (
    re.compile(r"Invalid value for VR [A-Z]{2}"),
    re.compile(r"Expected explicit VR, but found implicit VR"),
    re.compile(r"Expected implicit VR, but found explicit VR"),
    re.compile(r"The value length \(\d+\) exceeds the maximum length"),
    re.compile(r"Unknown DICOM tag"),
    re.compile(r"Invalid tag"),
    re.compile(r"incorrect value for Specific Character Set"),
    re.compile(r"Unknown encoding"),
    re.compile(r"Found unknown VR"),
    re.compile(r"The number of bytes of pixel data is"),
)
_CATEGORY = re.compile(r":\d+: (\w+): ")


def _kind(message: str) -> str:
    for pattern in _KNOWN_KINDS:
        m = pattern.search(message)
        if m:
            return m.group(0)
    return ""


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The PHI-free content of a record: our events with their fields; for a third-party record (its message
    may quote a value from a file) what kind of message it was, never the message."""
    out: dict[str, Any] = {}
    if record.name == _OURS or record.name.startswith(_OURS + "."):
        out["event"] = record.getMessage()
        for k, v in vars(record).items():
            if k not in _RESERVED and not k.startswith("_"):
                out[k] = v
    else:
        message = record.getMessage() if isinstance(record.msg, str) else ""
        out["event"] = "third_party"
        if record.name == "py.warnings":
            m = _CATEGORY.search(message)
            out["category"] = m.group(1) if m else "Warning"
        else:
            out["source"] = f"{record.module}:{record.lineno}"
        kind = _kind(message)
        if kind:
            out["kind"] = kind
    if record.exc_info and record.exc_info[0] is not None:
        # The exception type only: messages of exceptions may quote values.
        out["exc_type"] = record.exc_info[0].__name__
    return out


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "event": ..., <fields>}``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            **_fields(record),
        }
        return json.dumps(out, default=str)


class PlainFormatter(logging.Formatter):
    """One readable line for a terminal (``deid``), with the same PHI-free content as the JSON logs:
    ``warning: pydicom: Invalid value for VR UI (value withheld)``."""

    def format(self, record: logging.LogRecord) -> str:
        f = _fields(record)
        event = f.pop("event")
        if event == "third_party":
            what = f.get("kind") or f.get("category") or "message"
            origin = "python" if record.name == "py.warnings" else record.name.split(".")[0]
            return f"{record.levelname.lower()}: {origin}: {what} (text withheld: it may quote a value)"
        rest = " ".join(f"{k}={v}" for k, v in f.items())
        return f"{record.levelname.lower()}: {event}" + (f" {rest}" if rest else "")


def setup_cli_logging(level: str = "WARNING") -> None:
    """Plain PHI-free lines on stderr for the command-line tools; Python warnings go through it too."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_deidnode", False):
            root.removeHandler(h)
    handler = _Handler()
    handler.setFormatter(PlainFormatter())
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    # pydicom both warns and logs each problem: the warning is enough
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)


_stream: TextIO | None = None


def _log_stream() -> TextIO:
    return _stream if _stream is not None else sys.stderr


class _Handler(logging.StreamHandler):
    """Writes to the current log stream, looked up at each record (sys.stderr may be replaced, e.g. by a test
    runner, after the handler was made)."""

    _deidnode = True

    @property
    def stream(self) -> TextIO:
        return _log_stream()

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def setup_logging(level: str = "INFO") -> None:
    """Send every log record (and every Python warning) to stderr as JSON; idempotent."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_deidnode", False):
            root.removeHandler(h)
    handler = _Handler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    warnings.simplefilter("default")  # each distinct warning once per location, through logging
    # pydicom both warns and logs each problem: the warning is enough
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    logging.getLogger("pynetdicom").setLevel(logging.WARNING if level != "DEBUG" else logging.INFO)


def json_stderr(level: str = "INFO") -> None:
    """Make every line written to file descriptor 2 a JSON line (``serve``, in the node and each worker).

    Log records go straight to the original stderr; anything else written to fd 2 (C libraries, a traceback)
    goes through a pipe whose reader passes JSON lines on and wraps the others as ``{"event": "stderr_output"}``,
    with their text only at level DEBUG (a traceback may quote a value). Idempotent per process.
    """
    global _stream
    if _stream is not None:
        return
    original = os.dup(2)
    _stream = os.fdopen(original, "w", buffering=1, encoding="utf-8", errors="replace")
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    sys.stderr = os.fdopen(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    keep_text = level == "DEBUG"
    out = _stream
    lock = threading.Lock()

    def pump() -> None:
        with os.fdopen(read_fd, "rb") as r:
            for raw in r:
                line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
                if not line.strip():
                    continue
                try:
                    if isinstance(json.loads(line), dict):
                        with lock:
                            out.write(line + "\n")
                        continue
                except ValueError:
                    pass
                event: dict[str, Any] = {
                    "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "level": "WARNING",
                    "logger": "stderr",
                    "event": "stderr_output",
                    "bytes": len(raw),
                }
                text = line[:500] if keep_text else _code_location(line)
                if text:
                    event["text"] = text
                with lock:
                    out.write(json.dumps(event) + "\n")

    threading.Thread(target=pump, name="stderr-json", daemon=True).start()
    setup_logging(level)


_TRACEBACK_LINE = re.compile(r'^(Traceback \(most recent call last\):|\s+File "[^"]*", line \d+, in \S+)$')
_EXC_TYPE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Warning|Exit|Interrupt))\b")


def _code_location(line: str) -> str:
    """The parts of a stray stderr line that name code, never data: traceback frame lines whole, and of an
    exception line its type only (its message may quote a value)."""
    if _TRACEBACK_LINE.match(line):
        return line.strip()
    m = _EXC_TYPE.match(line)
    return f"{m.group(1)}: (message withheld)" if m else ""


def get_logger(name: str) -> logging.Logger:
    """A logger under ``deidnode.``; pass structured fields with ``extra={...}``."""
    return logging.getLogger(f"{_OURS}.{name}")
