"""Entry points of the engine (contract; implementation lands with issue 2)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from .keys import Keys
from .policy import Policy
from .result import EngineResult


def deidentify(ds: Dataset, policy: Policy, keys: Keys) -> EngineResult:
    """De-identify ``ds`` (a FileDataset or Dataset with ``file_meta``); ``ds`` may be modified in place."""
    raise NotImplementedError


def deidentify_bytes(raw: bytes, policy: Policy, keys: Keys) -> EngineResult:
    """Parse a Part 10 byte string (as received: preamble optional, file meta required) and de-identify it.

    A file that cannot be parsed gives a quarantine result (stage ``parse``), never an exception.
    """
    raise NotImplementedError


def encode_dataset(ds: Dataset) -> bytes:
    """Serialise a de-identified dataset as a Part 10 file (preamble, our file meta) in its transfer syntax."""
    raise NotImplementedError
