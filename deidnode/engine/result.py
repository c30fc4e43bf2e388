"""What the engine returns: a clean dataset or a reason to quarantine, plus a PHI-free audit record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from ..reasons import Reason

Quarantine = Reason
"""The engine's name for a :class:`~deidnode.reasons.Reason` (one type for every stage that quarantines)."""


@dataclass(frozen=True)
class LexiconUpdate:
    """What an instance adds to its patient's study lexicon: keyed hashes only (``Keys.lexicon_token``)."""

    scope: bytes
    tokens: frozenset[bytes]


@dataclass
class EngineResult:
    dataset: Dataset | None
    quarantine: Quarantine | None = None
    audit: dict[str, Any] = field(default_factory=dict)
    lexicon: LexiconUpdate | None = None
    """Set when the caller passed a lexicon: the tokens to store for later instances of the patient."""
    mapping: tuple[tuple[str, str, str], ...] = field(default=(), repr=False)
    """(kind, original, pseudonym) of the identities replaced, when asked for (``collect_mapping``): PHI, for the
    encrypted mapping store only; never logged, never in the audit."""
    previews: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    """(file name, PNG) before/after images of the pixel stage, when asked for (``preview``): PHI, for QA."""

    @property
    def ok(self) -> bool:
        return self.quarantine is None and self.dataset is not None
