"""What the engine returns: a clean dataset or a reason to quarantine, plus a PHI-free audit record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset


@dataclass(frozen=True)
class Quarantine:
    """Why an instance was not forwarded. ``code`` is a stable reason code; nothing here may hold PHI."""

    stage: str
    code: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"stage": self.stage, "code": self.code, "detail": self.detail}


@dataclass
class EngineResult:
    dataset: Dataset | None
    quarantine: Quarantine | None = None
    audit: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.quarantine is None and self.dataset is not None
