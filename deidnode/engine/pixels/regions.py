"""Known burn-in regions per device (``rules/pixel_regions.yaml``), blanked before OCR.

The rows are transcribed from RSNA CTP's pixel anonymizer signatures and pydicom/deid's filter (the file
names each row's source). A signature matches when every condition holds: a DICOM attribute (by keyword, or
a few lower-case aliases) searched with a case-insensitive regular expression, or equal to a number, or to
one of a list of numbers. ``regions`` are blanked; ``zones`` mark where text is expected (unread text there is
removed rather than refused).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from ...config import RULES_DIR
from .redact import Box

REGIONS_FILE = RULES_DIR / "pixel_regions.yaml"
ALIASES = {
    "manufacturer": "Manufacturer",
    "model": "ManufacturerModelName",
    "modality": "Modality",
    "rows": "Rows",
    "columns": "Columns",
    "sop_class": "SOPClassUID",
}
FILE_META = frozenset({"ImplementationVersionName", "ImplementationClassUID", "SourceApplicationEntityTitle"})


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Condition:
    keyword: Any  # a keyword, or a Tag
    want: Any  # compiled regex, int, or frozenset of ints

    def holds(self, ds: Dataset, values: dict[Any, str | None] | None = None) -> bool:
        """Whether the condition holds; ``values``: texts of attributes already read from ``ds`` (filled in)."""
        values = {} if values is None else values
        if self.keyword not in values:
            values[self.keyword] = _value_text(ds, self.keyword)
        text = values[self.keyword]
        if text is None:
            return False
        if isinstance(self.want, re.Pattern):
            return bool(self.want.search(text))
        try:
            number = int(float(text.split("\\")[0]))
        except ValueError:
            return False
        return number in self.want if isinstance(self.want, frozenset) else number == self.want


def _value_text(ds: Dataset, keyword: Any) -> str | None:
    src = getattr(ds, "file_meta", None) if keyword in FILE_META else ds
    have = src.get(keyword) if src is not None else None
    if have is None or (hasattr(have, "value") and have.value is None):
        return None
    return _text(have.value if hasattr(have, "value") else have)


@dataclass(frozen=True)
class Signature:
    name: str
    conditions: tuple[Condition, ...]
    regions: tuple[Box, ...]
    zones: tuple[Box, ...] = ()
    source: str = ""

    def matches(self, ds: Dataset, values: dict[Any, str | None] | None = None) -> bool:
        values = {} if values is None else values
        return all(c.holds(ds, values) for c in self.conditions)


def _boxes(rows: list, where: str) -> tuple[Box, ...]:
    out = []
    for r in rows or ():
        if len(r) != 4:
            raise ValueError(f"{where}: a region is [x, y, width, height]")
        x, y, w, h = (int(v) for v in r)
        out.append((x, y, x + w, y + h))
    return tuple(out)


_TAG = re.compile(r"\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)")


def _condition(key: str, want: Any, where: str) -> Condition:
    keyword: Any = ALIASES.get(key, key)
    m = _TAG.fullmatch(keyword)
    if m:  # a tag, for attributes without a keyword of their own (repeating groups: (6000,0022))
        keyword = Tag(int(m.group(1), 16), int(m.group(2), 16))
    elif tag_for_keyword(keyword) is None:
        raise ValueError(f"{where}: unknown DICOM keyword {key!r}")
    if isinstance(want, bool):
        raise ValueError(f"{where}: {key}: a string, a number or a list of numbers")
    if isinstance(want, int):
        return Condition(keyword, want)
    if isinstance(want, list):
        return Condition(keyword, frozenset(int(v) for v in want))
    if keyword == "SOPClassUID":
        return Condition(keyword, re.compile("^" + re.escape(str(want)) + "$"))
    return Condition(keyword, re.compile(str(want), re.IGNORECASE))


@functools.cache
def load_signatures(path: Path = REGIONS_FILE) -> tuple[Signature, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for i, s in enumerate(data.get("signatures", ())):
        where = f"{path.name}: signature {i} ({s.get('name', '')})"
        conds = tuple(_condition(k, v, where) for k, v in (s.get("match") or {}).items())
        if not conds:
            raise ValueError(f"{where}: a signature needs at least one condition")
        out.append(
            Signature(
                str(s.get("name", i)),
                conds,
                _boxes(s.get("regions"), where),
                _boxes(s.get("zones"), where),
                str(s.get("source", "")),
            )
        )
    return tuple(out)


def _clip(boxes, rows: int, cols: int) -> list[Box]:
    out = []
    for x0, y0, x1, y1 in boxes:
        box = (max(0, x0), max(0, y0), min(cols, x1), min(rows, y1))
        if box[2] > box[0] and box[3] > box[1]:
            out.append(box)
    return out


@dataclass(frozen=True)
class _Gate:
    """Signatures whose first condition reads the same attribute, and the union of those conditions' patterns:
    when the attribute is absent or the union finds nothing, none of them can match."""

    keyword: Any
    any_of: re.Pattern[str] | None
    members: tuple[Signature, ...]


@functools.cache
def _gates(signatures: tuple[Signature, ...]) -> tuple[_Gate, ...]:
    groups: dict[Any, list[Signature]] = {}
    for sig in signatures:
        groups.setdefault(sig.conditions[0].keyword, []).append(sig)
    out = []
    for keyword, sigs in groups.items():
        wants = [sig.conditions[0].want for sig in sigs]
        union = None
        if all(isinstance(w, re.Pattern) and w.flags & re.IGNORECASE for w in wants):
            try:
                union = re.compile("|".join(f"(?:{w.pattern})" for w in wants), re.IGNORECASE)
            except re.error:
                union = None
        out.append(_Gate(keyword, union, tuple(sigs)))
    return tuple(out)


def matching(ds: Dataset, signatures: tuple[Signature, ...] | None = None) -> list[Signature]:
    """The signatures that match ``ds``. Every attribute is read once, and signatures are skipped a group at a
    time (``_Gate``): a CT slice pays well under a millisecond for the whole file."""
    sigs = load_signatures() if signatures is None else signatures
    values: dict[Any, str | None] = {}
    out = []
    for g in _gates(sigs):
        if g.keyword not in values:
            values[g.keyword] = _value_text(ds, g.keyword)
        text = values[g.keyword]
        if text is None or (g.any_of is not None and not g.any_of.search(text)):
            continue
        out += [sig for sig in g.members if sig.matches(ds, values)]
    return out


def regions_for(ds: Dataset, signatures: tuple[Signature, ...] | None = None) -> list[Box]:
    """Rectangles (x0, y0, x1, y1) to blank for this instance's device, clipped to the image."""
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    return [b for sig in matching(ds, signatures) for b in _clip(sig.regions, rows, cols)]


def zones_for(ds: Dataset, signatures: tuple[Signature, ...] | None = None) -> list[Box]:
    """Rectangles where this device is known to write text (not blanked), clipped to the image."""
    sigs = load_signatures() if signatures is None else signatures
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    return [b for sig in matching(ds, sigs) for b in _clip(sig.zones, rows, cols)]
