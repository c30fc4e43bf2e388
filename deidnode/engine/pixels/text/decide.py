"""Combine the layers into one decision per recognised line.

Order: (1) this dataset's PHI values, (2) PHI patterns, (4) the allow-list, (3) NER. A metadata or pattern
match is PHI even when the line also looks technical; the allow-list only vetoes NER, and under policy
``strict`` it is what keeps a line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .allowlist import AllowList, load_allowlist
from .metadata import MetadataMatcher, MetaHit, PhiLike
from .ner import StanzaNer, get_ner
from .patterns import find_pattern

Layer = Literal["metadata", "pattern", "ner", "allowlist", "none"]


@dataclass(frozen=True)
class Decision:
    """``phi``: judged PHI; ``layer``: which layer decided; ``kind``: what was found (never the text)."""

    phi: bool
    layer: Layer
    kind: str = ""
    hit: MetaHit | None = None

    @property
    def allowlisted(self) -> bool:
        return self.layer == "allowlist"


class TextJudge:
    """Judges recognised lines for one dataset."""

    def __init__(
        self, phi: PhiLike, *, stanza_models_dir: Path | None = None, allowlist: AllowList | None = None
    ) -> None:
        self.meta = MetadataMatcher(phi)
        self.allowlist = allowlist or load_allowlist()
        self.ner: StanzaNer | None = get_ner(stanza_models_dir) if stanza_models_dir is not None else None

    def judge(self, text: str) -> Decision:
        hit = self.meta.match(text)
        if hit is not None:
            return Decision(True, "metadata", hit.kind, hit)
        kind = find_pattern(text)
        if kind is not None:
            return Decision(True, "pattern", kind)
        if self.allowlist.allows(text):
            return Decision(False, "allowlist")
        if self.ner is not None and self.ner.is_phi(text):
            return Decision(True, "ner", "entity")
        return Decision(False, "none")

    def must_redact(self, decision: Decision, policy: str) -> bool:
        """Whether a line with ``decision`` is removed under pixel ``policy`` (phi, strict, all, off)."""
        if policy == "all":
            return True
        if policy == "strict":
            return decision.phi or not decision.allowlisted
        if policy == "phi":
            return decision.phi
        return False
