"""PS3.15 Table E.1-1 as data: which action applies to a tag under the chosen options.

The table is generated into ``rules/standard/e1-1.json`` by ``tools/gen_rules.py`` and loaded once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

from ...config import RULES_DIR, Option


class Action(StrEnum):
    """Action codes of PS3.15 Table E.1-1a, as the standard writes them."""

    D = "D"
    Z = "Z"
    X = "X"
    K = "K"
    C = "C"
    U = "U"
    ZD = "Z/D"
    XZ = "X/Z"
    XD = "X/D"
    XZD = "X/Z/D"
    XZU = "X/Z/U*"


# Without the IOD's Type for each attribute, a combined code resolves to the choice that keeps every IOD valid
# (shared/standard/README.md, "our reading"): D where Type 1 is possible, Z where Type 2 is, and X/Z/U* keeps the
# sequence with its instance UIDs remapped (the U codes inside it do that).
RESOLVE_COMBINED = {
    Action.ZD: Action.D,
    Action.XZ: Action.Z,
    Action.XD: Action.D,
    Action.XZD: Action.D,
    Action.XZU: Action.K,
}
# When two options in use name a code for one row, the more protective one wins (C over K).
_PROTECTION = {Action.K: 0, Action.C: 1, Action.U: 2, Action.D: 3, Action.Z: 4, Action.X: 5}


@dataclass(frozen=True)
class Row:
    tag: str
    keyword: str
    basic: Action
    options: dict[Option, Action]

    def action(self, options: frozenset[Option]) -> Action:
        """The effective, resolved action under ``options`` (an Option's code overrides the Basic Profile)."""
        chosen = [self.options[o] for o in options if o in self.options]
        if chosen:
            code = max(chosen, key=lambda a: _PROTECTION[RESOLVE_COMBINED.get(a, a)])
        else:
            code = self.basic
        return RESOLVE_COMBINED.get(code, code)


@dataclass(frozen=True, eq=False)
class ProfileTable:
    edition: str
    exact: dict[int, Row]
    curve: Row  # 50xx,xxxx
    overlay_data: Row  # 60xx,3000
    overlay_comments: Row  # 60xx,4000
    private: Row  # gggg,eeee

    def row_for(self, tag: int) -> Row | None:
        row = self.exact.get(tag)
        if row is not None:
            return row
        group, elem = tag >> 16, tag & 0xFFFF
        if 0x5000 <= group <= 0x50FF and group % 2 == 0:
            return self.curve
        if 0x6000 <= group <= 0x60FF and group % 2 == 0:
            if elem == 0x3000:
                return self.overlay_data
            if elem == 0x4000:
                return self.overlay_comments
        return None


def _load_json(name: str) -> dict:
    return json.loads((Path(RULES_DIR) / "standard" / name).read_text(encoding="ascii"))


@cache
def load_table() -> ProfileTable:
    doc = _load_json("e1-1.json")
    cols = doc["columns"]
    opt_cols = {o.value: o for o in Option}
    exact: dict[int, Row] = {}
    special: dict[str, Row] = {}
    for r in doc["rows"]:
        cells = dict(zip(cols, r, strict=True))
        opts = {opt_cols[c]: Action(cells[c]) for c in opt_cols if cells.get(c)}
        row = Row(cells["tag"], cells["keyword"], Action(cells["basic_profile"]), opts)
        if "x" in cells["tag"] or cells["tag"].startswith("gggg"):
            special[cells["tag"]] = row
        else:
            exact[int(cells["tag"].replace(",", ""), 16)] = row
    return ProfileTable(
        edition=doc["edition"],
        exact=exact,
        curve=special["50xx,xxxx"],
        overlay_data=special["60xx,3000"],
        overlay_comments=special["60xx,4000"],
        private=special["gggg,eeee"],
    )


@cache
def load_safe_private() -> dict[tuple[int, str, int], str]:
    """Table E.3.10-1: (group, private creator, element byte) -> the VR the table gives ('' where it gives
    none or two), against which a kept value is checked."""
    doc = _load_json("e3-10-1-safe-private.json")
    out: dict[tuple[int, str, int], str] = {}
    for tag, creator, vr, *_ in doc["rows"]:
        group, elem = tag.split(",")
        out[(int(group, 16), creator, int(elem[2:], 16))] = vr if len(vr) == 2 else ""
    return out


@dataclass(frozen=True)
class ContentRule:
    basic: Action
    options: dict[Option, Action]

    def action(self, options: frozenset[Option]) -> Action:
        return Row("", "", self.basic, self.options).action(options)


@dataclass(frozen=True)
class StructContentTable:
    by_code: dict[tuple[str, str, str], ContentRule]
    """(code value, coding scheme, value type) -> rule"""
    by_meaning: dict[tuple[str, str], ContentRule]
    """(lower-cased code meaning, value type) -> rule, for retired code forms of the same concept"""


@cache
def load_struct_content() -> StructContentTable:
    """Table E.3.4-1, by code and by meaning."""
    doc = _load_json("e3-4-1-clean-struct-content.json")
    cols = doc["columns"]
    opt_cols = {o.value: o for o in Option}
    by_code: dict[tuple[str, str, str], ContentRule] = {}
    by_meaning: dict[tuple[str, str], ContentRule] = {}
    for r in doc["rows"]:
        cells = dict(zip(cols, r, strict=True))
        opts = {opt_cols[c]: Action(cells[c]) for c in opt_cols if cells.get(c)}
        rule = ContentRule(Action(cells["basic_profile"]), opts)
        by_code[(cells["code_value"], cells["coding_scheme"], cells["value_type"])] = rule
        by_meaning.setdefault((cells["code_meaning"].strip().lower(), cells["value_type"]), rule)
    return StructContentTable(by_code, by_meaning)
