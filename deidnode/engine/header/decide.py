"""What the header does with one element: the single decision of the profile (PS3.15 E.1.1, our fail-safe reading
for attributes Table E.1-1 does not list).

``ProfileRules.decide(tag, vr, in_struct)`` returns a :data:`Step`: the operation, the element's VR, the stat the
audit counts it under, and for kept values the check of the value against its VR with what to do instead when it
fails (the row's own removal code). The walk in ``apply.py`` only dispatches on it; nothing else decides. A
decision depends on the tag, the element's VR as read, whether it sits in structured content, and the profile, so
it is made once per profile and memoised (bounded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydicom.datadict import tag_for_keyword

from ...config import RULES_DIR, Option, Profile, TagOverride
from ...dicomio.rawvalue import STRING_VRS
from ...dicomio.tags import vr_of
from .table import RESOLVE_COMBINED, Action, ProfileTable, load_table
from .vrcheck import checker

SCRUB_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
TAG_TEXT_VALUE = 0x0040A160
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # Dataset.__delitem__ also resets its pixel cache
# Never forwarded, whatever the options or overrides say: the Encrypted Attributes Sequence holds original values
# (PS3.15 E.1.2) for the recipients its keys name, and none of them is a reader of our output.
ALWAYS_REMOVED = frozenset({0x04000500})

# Operations (ints: the walk compares them on every element).
KEEP = 0  # leave the element as read (its value checked against the VR when the step says so)
REMOVE = 1  # delete the element
DROP = 2  # file meta or group length: delete, uncounted
PRIVATE = 3  # odd group: decided with its block (apply._private)
OVERLAY = 4  # 60xx: the group goes whole
CURVE = 5  # 50xx: Curve Data row
OVERRIDE = 6  # the profile's per-tag override
RECURSE = 7  # a sequence kept: every item walked
EMPTY_SEQ = 8  # Z on a sequence
EMPTY = 9  # Z: zero-length value
DUMMY = 10  # D: a dummy valid for the VR (PN: a keyed pseudonym name)
PSEUDONYM = 11  # Patient's Name, Patient ID, Accession Number, Study ID under Z/D/C: keyed pseudonyms
UID = 12  # U: keyed UID unless under the DICOM root
SHIFT = 13  # DA/DT moved by the patient's day offset (D: a dummy when empty)
SCRUB = 14  # C on text: this instance's PHI and identifying patterns removed
PERSON = 15  # C on PN: keyed pseudonym names

Step = tuple[int, str, "str | None", Any, "Fallback | None"]
"""(operation, VR, stat counted, argument, fallback): the fallback, for steps that keep a value (KEEP, SHIFT) of
a VR that ``vrcheck`` judges, says what to do when the value is not valid for its VR."""

_DECISIONS_MAX = 1 << 16
_PSEUDONYM_TAGS = frozenset({0x00100010, 0x00100020, 0x00080050, 0x00200010})


@dataclass(frozen=True)
class Fallback:
    """A kept value's check against its VR, and the step taken instead when the value is not valid: the row's
    Basic Profile code (resolved as in table.RESOLVE_COMBINED), or removal for attributes the table does not
    list."""

    valid: Callable[[Any], bool]
    step: Step


INVALID_STAT = "invalid_vr"


@dataclass(frozen=True)
class KeepRules:
    vrs: frozenset[str]
    tags: frozenset[int]
    scrubbed: frozenset[int]
    verbatim: frozenset[int]


@cache
def load_keep_rules() -> KeepRules:
    doc = yaml.safe_load((Path(RULES_DIR) / "keep_attributes.yaml").read_text(encoding="utf-8"))
    sets = {}
    for key in ("keep_keywords", "keep_scrubbed_keywords", "keep_verbatim"):
        tags = frozenset(tag_for_keyword(k) for k in doc[key])
        if None in tags:
            raise ValueError(f"rules/keep_attributes.yaml: {key} names a keyword pydicom does not know")
        sets[key] = tags
    return KeepRules(
        frozenset(doc["keep_vrs"]), sets["keep_keywords"], sets["keep_scrubbed_keywords"], sets["keep_verbatim"]
    )  # type: ignore[arg-type]


class ProfileRules:
    """The profile's decisions. Built once per profile (``rules_for``); ``decide`` is a pure function of its
    arguments and the profile, memoised per (tag, VR as read) in two tables (inside structured content or not)."""

    def __init__(self, profile: Profile, table: ProfileTable, keep: KeepRules) -> None:
        self.table = table
        self.keep = keep
        self.options = options = profile.option_set
        self.overrides: dict[int, TagOverride] = dict(profile.overrides)
        self.full_dates = Option.retain_long_full_dates in options
        self.modified_dates = Option.retain_long_modified_dates in options
        self.safe_private = Option.retain_safe_private in options
        self.struct = Option.clean_structured_content in options
        self.pat_chars = Option.retain_patient_characteristics in options
        self.keep_unlisted = profile.unlisted_standard == "keep"
        self.plan: dict[int, Action] = {tag: row.action(options) for tag, row in table.exact.items()}
        self.memo: tuple[dict[tuple[int, str | None], Step], dict[tuple[int, str | None], Step]] = ({}, {})

    def decide(self, tag: int, raw_vr: str | None, in_struct: bool = False) -> Step:
        """The step for an element with this tag and VR (as read: None or ``"US or SS"`` for implicit VR)."""
        step = self.with_fallback(tag, self._decide(tag, raw_vr, in_struct))
        memo = self.memo[in_struct]
        if len(memo) < _DECISIONS_MAX:
            memo[(tag, raw_vr)] = step
        return step

    def with_fallback(self, tag: int, step: tuple) -> Step:
        """``step`` with its fallback: where it keeps a value that vrcheck judges, the check and the row's
        removal code (the Basic Profile code of a listed row, else removal), counted as ``invalid_vr``."""
        op, vr = step[0], step[1]
        check = checker(tag, vr) if op in (KEEP, SHIFT) else None
        if check is None:
            return (*step, None)  # type: ignore[return-value]
        return (*step, Fallback(check, self.invalid_step(tag, vr)))  # type: ignore[return-value]

    def invalid_step(self, tag: int, vr: str) -> Step:
        """What a kept value that is not valid for its VR gets instead (issue: kept values checked by VR)."""
        code = basic_code(self.table, tag)
        if code is not None:
            step = self.listed(tag, vr, code, INVALID_STAT)
            if step[0] == SHIFT:  # D on a date that is no date: the dummy
                return (DUMMY, vr, INVALID_STAT, None, None)
            if step[0] not in (KEEP, RECURSE):
                return (*step, None)  # type: ignore[return-value]
        return (REMOVE, vr, INVALID_STAT, None, None)

    def _decide(self, tag: int, raw_vr: str | None, in_struct: bool) -> tuple:
        group = tag >> 16
        if group == 0x0002 or tag & 0xFFFF == 0:
            return (DROP, "", None, None)  # file meta never belongs in the data set; group lengths are recomputed
        if tag in ALWAYS_REMOVED:
            return (REMOVE, vr_of(tag, raw_vr), "encrypted_attributes_removed", None)
        override = self.overrides.get(tag)
        if override is not None:
            return (OVERRIDE, "", "override", override)
        if group & 1:
            return (PRIVATE, "", None, None)
        if 0x6000 <= group <= 0x60FF:
            return (OVERLAY, "", None, None)
        if 0x5000 <= group <= 0x50FF:
            return (CURVE, "", None, None)
        # an explicit UN on a standard attribute is judged by its dictionary VR (as pydicom reads it), so a text
        # sent as UN is cleaned and checked like the same text sent with its VR
        vr = raw_vr if raw_vr and len(raw_vr) == 2 and raw_vr != "UN" else vr_of(tag, None)
        action = self.plan.get(tag)
        if action is not None:
            return self.listed(tag, vr, action)
        return self._unlisted(tag, vr, in_struct)

    def listed(self, tag: int, vr: str, action: Action, stat: str | None = None) -> tuple:
        """The step for a Table E.1-1 code (also used by overrides, which name a code)."""
        stat = action.value if stat is None else stat
        if action is Action.X:
            return (REMOVE, vr, stat, None)
        if vr == "SQ":
            return (EMPTY_SEQ, vr, stat, None) if action is Action.Z else (RECURSE, vr, stat, None)
        if action is Action.K:
            return (KEEP, vr, stat, None)
        if vr not in STRING_VRS:  # numbers and binary values: Z empties, D gives a dummy, C and U keep
            if action is Action.Z:
                return (EMPTY, vr, stat, None)
            if action is Action.D:
                return (DUMMY, vr, stat, None)
            return (KEEP, vr, stat, None)
        if action is Action.U or vr == "UI":
            return (UID, vr, stat, None)
        if tag in _PSEUDONYM_TAGS and action in (Action.Z, Action.D, Action.C):
            return (PSEUDONYM, vr, stat, None)
        if action is Action.Z:
            return (EMPTY, vr, stat, None)
        if action is Action.D:
            if vr == "PN":
                return (DUMMY, vr, stat, None)
            if vr in ("DA", "DT") and self.modified_dates:
                return (SHIFT, vr, stat, True)  # a dummy where the value is empty
            return (DUMMY, vr, stat, None)
        return self.clean_step(vr, stat)

    def clean_step(self, vr: str, stat: str | None = None) -> tuple:
        """Action C on a string value: replace with values of similar meaning that carry no identity."""
        if vr in ("DA", "DT"):
            if self.modified_dates:
                return (SHIFT, vr, stat, False)
            return (KEEP, vr, stat, None) if self.full_dates else (EMPTY, vr, stat, None)
        if vr == "PN":
            return (PERSON, vr, stat, None)
        if vr in SCRUB_VRS or vr == "AE":
            return (SCRUB, vr, stat, None)
        return (KEEP, vr, stat, None)  # TM, AS, CS and numbers carry no identity once dates are shifted

    def _unlisted(self, tag: int, vr: str, in_struct: bool) -> tuple:
        """A standard attribute that Table E.1-1 does not list: judged by VR and the keep-list."""
        keep = self.keep
        if vr == "SQ":
            return (RECURSE, vr, "unlisted_sq", None)
        if tag in keep.verbatim:
            return (KEEP, vr, None, None)
        if vr == "UI":
            return (UID, vr, "U", None)
        removed = (REMOVE, vr, "unlisted_removed", None)
        if vr in ("DA", "DT"):
            if self.full_dates:
                return (KEEP, vr, None, None)
            return (SHIFT, vr, "unlisted_date_shifted", False) if self.modified_dates else removed
        if vr == "TM":
            return (KEEP, vr, None, None) if self.full_dates or self.modified_dates else removed
        if vr == "PN":
            return removed
        if vr == "AS":
            return (KEEP, vr, None, None) if self.pat_chars else removed
        if tag == TAG_TEXT_VALUE and in_struct:
            # SR text: cleaned like a descriptor with Clean Structured Content (E.3.4), else replaced by a dummy
            # (the Content Sequence's D), so the content item stays valid.
            return (SCRUB, vr, "C", None) if self.struct else (DUMMY, vr, "D", None)
        if vr in keep.vrs or tag in keep.tags:
            return (KEEP, vr, None, None)
        if tag in keep.scrubbed or self.keep_unlisted:
            return (SCRUB, vr, None, None) if vr in SCRUB_VRS else (KEEP, vr, None, None)
        return removed

    def override_step(self, tag: int, vr: str, ov: TagOverride) -> Step | None:
        """The step of an override naming a code (None for keep and replace, which the walk does itself)."""
        code = {"remove": Action.X, "empty": Action.Z, "clean": Action.C, "uid": Action.U, "dummy": Action.D}
        action = code.get(ov.action)
        return None if action is None else self.with_fallback(tag, self.listed(tag, vr, action))


_RULES: dict[tuple[Any, ...], ProfileRules] = {}


def rules_for(profile: Profile) -> ProfileRules:
    """The decisions of one profile, shared by the instances it is applied to (bounded cache keyed by what the
    decisions depend on; a Profile itself is not hashable)."""
    key = (
        profile.option_set,
        tuple(sorted((k, v.action, v.value) for k, v in profile.overrides.items())),
        profile.unlisted_standard,
    )
    rules = _RULES.get(key)
    if rules is None:
        if len(_RULES) >= 64:
            _RULES.clear()
        rules = _RULES[key] = ProfileRules(profile, load_table(), load_keep_rules())
    return rules


def basic_code(table: ProfileTable, tag: int) -> Action | None:
    """The resolved Basic Profile code of a listed tag (what a kept but invalid value gets instead)."""
    row = table.exact.get(tag)
    if row is None:
        return None
    return RESOLVE_COMBINED.get(row.basic, row.basic)
