"""Values read from an input that may be printed (audit records, reason details, log lines): only values that
cannot carry PHI. Anything else is replaced by a fixed placeholder that says what it was."""

from __future__ import annotations

import re
from functools import cache

import yaml

from ..ruledata import RULES_DIR

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")  # leading zeros tolerated (old archives write them); no letters, no text


def uid(value: object) -> str:
    """A UID (SOP Class, Transfer Syntax) as it may be printed: digits and dots, at most 64 characters."""
    s = str(value or "")
    return s if len(s) <= 64 and _UID.fullmatch(s) else "(not a valid UID)"


@cache
def _modalities() -> frozenset[str]:
    doc = yaml.safe_load((RULES_DIR / "modalities.yaml").read_text(encoding="utf-8"))
    return frozenset(doc["defined_terms"]) | frozenset(doc["retired_terms"])


def modality(value: object) -> str:
    """(0008,0060) as it may be printed: a defined term of PS3.3 C.7.3.1.1.1 (rules/modalities.yaml)."""
    s = str(value or "")
    if not s:
        return ""
    return s if s in _modalities() else "(not a defined term)"
