"""Error types shared by every stage.

Messages carry tags, stage names and reason codes, never attribute values: they end up in logs, reason files
and DIMSE error comments, which must stay free of PHI.
"""

from __future__ import annotations

import errno

from .reasons import Code, Stage

# DIMSE C-STORE status codes (PS3.4 Table B.2-1 and PS3.7 Annex C).
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
STATUS_CANNOT_UNDERSTAND = 0xC000
STATUS_CANNOT_UNDERSTAND_PARSE = 0xC210
STATUS_PROCESSING_FAILURE = 0x0110


class DeidnodeError(Exception):
    """Base class. ``code`` is the reason code (the same enum a quarantine :class:`~deidnode.reasons.Reason`
    carries), ``stage`` where it happened; ``status`` the DIMSE status it maps to."""

    status: int = STATUS_PROCESSING_FAILURE

    def __init__(self, code: Code, detail: str = "", *, stage: Stage = Stage.ENGINE) -> None:
        self.code = Code(code)
        self.detail = detail
        self.stage = Stage(stage)
        super().__init__(f"{self.stage}: {self.code}" + (f": {detail}" if detail else ""))


class RetryableError(DeidnodeError):
    """A temporary failure (destination down, disk busy): try again later."""

    status = STATUS_OUT_OF_RESOURCES


class PermanentError(DeidnodeError):
    """The instance cannot be processed as it is: quarantine it with ``code``."""

    status = STATUS_CANNOT_UNDERSTAND


class ConfigError(Exception):
    """A configuration value is invalid; the message names the key."""


def os_error_name(e: BaseException) -> str:
    """``ENOSPC``-style name of an OSError's errno (the exception type otherwise): PHI-free, greppable. Never the
    message, which may quote a path or a value."""
    code = getattr(e, "errno", None)
    return errno.errorcode.get(code, type(e).__name__) if code else type(e).__name__


def error_code(e: BaseException) -> str | None:
    """A PHI-free code for an exception an operator can look up: the SQLite result code name
    (``SQLITE_BUSY``, ``SQLITE_CANTOPEN``) or the errno name (``os_error_name``); None otherwise."""
    name = getattr(e, "sqlite_errorname", None)
    if isinstance(name, str):
        return name
    if isinstance(e, OSError) and e.errno:
        return os_error_name(e)
    return None
