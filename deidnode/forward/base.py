"""The three outcomes of a delivery attempt (OK, RETRY, FAIL) with a PHI-free reason code."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from pydicom.dataset import Dataset


class Outcome(Enum):
    OK = "ok"
    RETRY = "retry"
    """Temporary: destination unreachable, busy or out of resources; try again later."""
    FAIL = "fail"
    """Permanent for this instance: quarantine it."""


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    code: str = ""
    detail: str = ""


OK = Result(Outcome.OK)


class Forwarder(Protocol):
    name: str

    def send(self, ds: Dataset) -> Result: ...

    def release_if_idle(self, now: float) -> None: ...

    def close(self) -> None: ...
