"""Layer 4: safe technical annotation (orientation, technique, slice numbers, scale markers, views).

The list is data, ``rules/pixel_allowlist.yaml``; it is loaded once.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ....config import RULES_DIR

ALLOWLIST_FILE = RULES_DIR / "pixel_allowlist.yaml"
_SPLIT = re.compile(r"[\s:=/,;()\[\]]+")


@dataclass(frozen=True)
class AllowList:
    lines: tuple[re.Pattern[str], ...]
    words: frozenset[str]
    tokens: tuple[re.Pattern[str], ...]

    def allows(self, text: str) -> bool:
        """Whether the whole recognised line is safe technical annotation."""
        up = " ".join(text.upper().split())
        if not up:
            return True
        if any(rx.fullmatch(up) for rx in self.lines):
            return True
        toks = [t for t in _SPLIT.split(up) if t]
        if not toks:
            return True  # punctuation only
        return all(t.strip(".-+") in self.words or any(rx.fullmatch(t) for rx in self.tokens) for t in toks)

    def allowed_spans(self, text: str) -> list[tuple[int, int]]:
        """Spans of ``text`` that are technical annotation: matches of a ``lines`` pattern, and words in
        ``words`` or matching ``tokens`` (policy ``strict`` keeps these and removes the rest of the line)."""
        up = "".join(c.upper() if len(c.upper()) == 1 else c for c in text)
        spans = [(m.start(), m.end()) for rx in self.lines for m in _search(rx).finditer(up) if m.end() > m.start()]
        for m in re.finditer(r"[^\s:=/,;()\[\]]+", up):
            t = m.group().strip(".-+")
            if t and (t in self.words or any(rx.fullmatch(t) for rx in self.tokens)):
                spans.append((m.start(), m.end()))
        return spans


@functools.cache
def _search(rx: re.Pattern[str]) -> re.Pattern[str]:
    """A ``lines`` pattern bounded by word edges, for searching inside a longer line."""
    return re.compile(r"(?<![A-Z0-9])(?:" + rx.pattern + r")(?![A-Z0-9])")


@functools.cache
def load_allowlist(path: Path = ALLOWLIST_FILE) -> AllowList:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return AllowList(
        lines=tuple(re.compile(p) for p in data.get("lines", ())),
        words=frozenset(str(w).upper() for w in data.get("words", ())),
        tokens=tuple(re.compile(p) for p in data.get("tokens", ())),
    )
