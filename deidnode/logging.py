"""Structured JSON logs (one object per line on stderr), free of PHI.

Log events name a stage, a reason code and counts or spool row ids, never attribute values. Third-party
loggers that can print datasets at debug level (pynetdicom, pydicom) are held at WARNING.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_RESERVED = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "event": ..., <fields>}``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _RESERVED and not k.startswith("_"):
                out[k] = v
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages of third-party exceptions may quote values.
            out["exc_type"] = record.exc_info[0].__name__
        return json.dumps(out, default=str)


def setup_logging(level: str = "INFO") -> None:
    """Send every log record to stderr as JSON; idempotent."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_deidnode", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._deidnode = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("pynetdicom", "pydicom"):
        logging.getLogger(noisy).setLevel(logging.WARNING if level != "DEBUG" else logging.INFO)
        logging.getLogger(noisy).propagate = True


def get_logger(name: str) -> logging.Logger:
    """A logger under ``deidnode.``; pass structured fields with ``extra={...}``."""
    return logging.getLogger(f"deidnode.{name}")
