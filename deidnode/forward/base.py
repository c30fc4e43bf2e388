"""What a destination gets (an :class:`Outgoing` instance) and the three outcomes of a delivery attempt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from pydicom.dataset import Dataset


class Outcome(Enum):
    OK = "ok"
    RETRY = "retry"
    """The destination is unavailable for now (unreachable, busy, out of resources, no answer): its shared retry
    clock decides when it is tried again."""
    FAIL = "fail"
    """Permanent for this instance: quarantine it."""


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    code: str = ""
    detail: str = ""
    """PHI-free: host, port, errno names, statuses, protocol reasons; never a value from the instance."""


OK = Result(Outcome.OK)

Encode = Callable[[Dataset], bytes]
"""A de-identified dataset -> its Part 10 bytes (``engine.encode_dataset``)."""
Convert = Callable[[Dataset, str], Dataset]
"""(dataset, native little endian syntax) -> a new, converted dataset (``engine.convert.to_native_little_endian``);
raises an exception with a ``code`` attribute when it cannot."""


class Outgoing:
    """One de-identified instance on its way to every destination of its route.

    Read-only by contract: a destination that needs another transfer syntax gets a converted copy, made once
    per syntax and shared by the destinations that need it; the engine's dataset itself is never changed, so
    each destination sends the same instance (same UIDs) whatever the others needed.
    """

    def __init__(self, dataset: Dataset, *, encode: Encode, convert: Convert) -> None:
        self.dataset = dataset
        self.sop_class = str(dataset.SOPClassUID)
        self.sop_instance = str(dataset.SOPInstanceUID)
        self.transfer_syntax = str(dataset.file_meta.TransferSyntaxUID)
        self._encode = encode
        self._convert = convert
        self._in_syntax: dict[str, Dataset] = {self.transfer_syntax: dataset}
        self._part10: bytes | None = None

    def in_syntax(self, transfer_syntax: str) -> Dataset:
        """The dataset in ``transfer_syntax`` (a native little endian one, or its own)."""
        ds = self._in_syntax.get(transfer_syntax)
        if ds is None:
            ds = self._in_syntax[transfer_syntax] = self._convert(self.dataset, transfer_syntax)
        return ds

    def part10(self) -> bytes:
        """The instance as a Part 10 file in its own transfer syntax (folder destinations)."""
        if self._part10 is None:
            self._part10 = self._encode(self.dataset)
        return self._part10


class Forwarder(Protocol):
    name: str

    def send(self, out: Outgoing) -> Result: ...

    def release_if_idle(self, now: float) -> None: ...

    def close(self) -> None: ...
