"""Apply the profile to every element of a dataset, at any depth (PS3.15 E.1.1).

Elements whose action is keep or remove are decided from their raw form, without decoding their values, so the
common path costs little more than reading and writing the file. Values are decoded only where they must change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import yaml
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from ...config import RULES_DIR, Option, Profile, TagOverride
from ..keys import Keys
from ..phi import PhiValues, scrub_text
from .pseudonyms import (
    DUMMY_TEXT,
    dummy_for_vr,
    pseudo_patient_id,
    pseudo_person_name,
    pseudo_token,
    shift_da,
    shift_dt,
)
from .rawvalue import STRING_VRS, get_strings, put_strings
from .structured import STRUCTURED_SEQUENCES, clean_content_items
from .table import Action, ProfileTable, load_safe_private, load_table
from .tags import parse_tag_key, vr_of

DICOM_UID_ROOT = "1.2.840.10008."
SCRUB_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
TAG_TEXT_VALUE = 0x0040A160
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # Dataset.__delitem__ also resets its pixel cache

# What the walk does with a standard element, decided once per (tag, VR) and profile: keep or remove it as it is
# (counted under the stat named, if any), or take the full path (_apply/_unlisted, which count for themselves).
_KEEP, _REMOVE, _FULL = 0, 1, 2
Decision = tuple[int, str | None]
_DECISIONS_MAX = 1 << 16


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


@dataclass
class HeaderContext:
    """Everything the walk needs for one instance. ``stats`` counts actions (PHI-free) for the audit."""

    keys: Keys
    profile: Profile
    phi: PhiValues
    day_offset: int | None
    table: ProfileTable = field(default_factory=load_table)
    keep: KeepRules = field(default_factory=load_keep_rules)
    stats: Counter[str] = field(default_factory=Counter)
    options: frozenset[Option] = frozenset()
    overrides: dict[int, TagOverride] = field(default_factory=dict)
    explicit_vr: bool = True
    """The output is written with explicit VRs (every element must then have one)."""

    def __post_init__(self) -> None:
        self.options = self.profile.option_set
        self.overrides = {parse_tag_key(k): v for k, v in self.profile.overrides.items()}
        self.full_dates = Option.retain_long_full_dates in self.options
        self.modified_dates = Option.retain_long_modified_dates in self.options
        self.safe_private = Option.retain_safe_private in self.options
        self.struct = Option.clean_structured_content in self.options
        self.pat_chars = Option.retain_patient_characteristics in self.options
        self.keep_unlisted = self.profile.unlisted_standard == "keep"
        self.plan = action_plan(self.table, self.options)
        self.decisions = _decision_memo(self.table, self.keep, self.options, self.keep_unlisted)

    def decide(self, tag: int, vr: str) -> Decision:
        """The walk's decision for a standard element (see _KEEP); mirrors HeaderCleaner._apply and _unlisted."""
        decision = self._decide(tag, vr)
        if len(self.decisions) < _DECISIONS_MAX:
            self.decisions[(tag, vr)] = decision
        return decision

    def _decide(self, tag: int, vr: str) -> Decision:
        action = self.plan.get(tag)
        if action is not None:
            if action is Action.X and tag not in _PIXEL_TAGS:
                return _REMOVE, action.value
            if action is Action.K and vr != "SQ":
                return _KEEP, action.value
            return _FULL, None
        keep, dates = self.keep, self.full_dates or self.modified_dates
        if vr == "SQ" or tag == TAG_TEXT_VALUE or tag in _PIXEL_TAGS:
            return _FULL, None
        if tag in keep.verbatim:
            return _KEEP, None
        if vr == "UI" or (vr in ("DA", "DT") and self.modified_dates):
            return _FULL, None
        if vr in ("DA", "DT"):
            return (_KEEP, None) if self.full_dates else (_REMOVE, "unlisted_removed")
        if vr == "TM":
            return (_KEEP, None) if dates else (_REMOVE, "unlisted_removed")
        if vr == "PN":
            return _REMOVE, "unlisted_removed"
        if vr == "AS":
            return (_KEEP, None) if self.pat_chars else (_REMOVE, "unlisted_removed")
        if vr in keep.vrs or tag in keep.tags:
            return _KEEP, None
        if tag in keep.scrubbed or self.keep_unlisted:
            return (_FULL, None) if vr in SCRUB_VRS else (_KEEP, None)
        return _REMOVE, "unlisted_removed"

    def uid(self, value: str) -> str:
        v = value.strip("\x00 ")
        if not v or v.startswith(DICOM_UID_ROOT):
            return v
        return self.keys.uid(v)


def _map(values: list[str], fn: Callable[[str], str]) -> list[str]:
    return [fn(v) if v else v for v in values]


# Identity attributes get keyed pseudonyms under Z or D, so studies stay linked (PS3.15 E.1.1: "dummy values of
# higher level entities stay consistent").
def _special(tag: int, values: list[str], ctx: HeaderContext) -> str | None:
    s = values[0] if values else ""
    if tag == 0x00100010:  # Patient's Name
        return pseudo_person_name(ctx.keys, s) if s else ""
    if tag == 0x00100020:  # Patient ID
        return pseudo_patient_id(ctx.keys, s, ctx.profile.patient_id_prefix) if s else ""
    if tag == 0x00080050:  # Accession Number
        return pseudo_token(ctx.keys, "accession", s, 12) if s else ""
    if tag == 0x00200010:  # Study ID
        return pseudo_token(ctx.keys, "study-id", s, 8) if s else ""
    return None


_SPECIAL_TAGS = frozenset({0x00100010, 0x00100020, 0x00080050, 0x00200010})


@cache
def action_plan(table: ProfileTable, options: frozenset[Option]) -> dict[int, Action]:
    """Every exact tag of Table E.1-1 with its resolved action under ``options``, computed once per profile."""
    return {tag: row.action(options) for tag, row in table.exact.items()}


@lru_cache(maxsize=64)
def _decision_memo(
    table: ProfileTable, keep: KeepRules, options: frozenset[Option], keep_unlisted: bool
) -> dict[tuple[int, str], Decision]:
    """The (tag, VR) -> decision memo shared by the instances of one profile; filled by HeaderContext.decide, a pure
    function of these arguments, and bounded by _DECISIONS_MAX."""
    return {}


class HeaderCleaner:
    def __init__(self, ctx: HeaderContext) -> None:
        self.ctx = ctx

    # -- element operations -------------------------------------------------------------------------------
    def _recurse(self, ds: Dataset, tag: int, in_struct: bool = False) -> None:
        seq = ds[tag].value
        if tag in STRUCTURED_SEQUENCES:
            if self.ctx.struct:
                clean_content_items(seq, self.ctx, self)
            in_struct = True
        for item in seq:
            self.clean(item, in_struct=in_struct)

    def _apply(self, ds: Dataset, tag: int, vr: str, action: Action, in_struct: bool) -> None:
        ctx = self.ctx
        ctx.stats[action.value] += 1
        if action is Action.X:
            del ds[tag]
            return
        if vr == "SQ":
            if action is Action.Z:
                ds[tag].value = Sequence()
            else:  # K, C, D, U: keep the sequence, apply the profile to each item
                self._recurse(ds, tag, in_struct)
            return
        if action is Action.K:
            return
        if vr not in STRING_VRS:
            # numbers and binary values: Z empties, D gives a dummy, C and U keep (no identity in numbers)
            if action is Action.Z:
                ds[tag] = DataElement(tag, vr, None)
            elif action is Action.D:
                ds[tag] = DataElement(tag, vr, dummy_for_vr(vr))
            return
        values = get_strings(ds, tag, vr)
        if action is Action.U or vr == "UI":
            put_strings(ds, tag, vr, _map(values, ctx.uid))
        elif tag in _SPECIAL_TAGS and action in (Action.Z, Action.D, Action.C):
            put_strings(ds, tag, vr, [_special(tag, values, ctx) or ""])
        elif action is Action.Z:
            put_strings(ds, tag, vr, None)
        elif action is Action.D:
            if vr == "PN":
                put_strings(ds, tag, vr, _map(values, lambda v: pseudo_person_name(ctx.keys, v) or "ANONYMIZED^")
                            or ["ANONYMIZED^"])
            elif vr in ("DA", "DT") and ctx.day_offset is not None and values:
                self._clean_value(ds, tag, vr, values)
            else:
                put_strings(ds, tag, vr, [str(dummy_for_vr(vr))])
        else:  # C
            self._clean_value(ds, tag, vr, values)

    def _clean_value(self, ds: Dataset, tag: int, vr: str, values: list[str] | None = None) -> None:
        """Action C: replace with values of similar meaning that carry no identifying information."""
        ctx = self.ctx
        if values is None:
            values = get_strings(ds, tag, vr)
        if vr in ("DA", "DT"):
            if ctx.day_offset is not None:
                off, shift = ctx.day_offset, (shift_da if vr == "DA" else shift_dt)
                put_strings(ds, tag, vr, _map(values, lambda v: shift(v, off)))
            elif not ctx.full_dates:
                put_strings(ds, tag, vr, None)
        elif vr == "PN":
            put_strings(ds, tag, vr, _map(values, lambda v: pseudo_person_name(ctx.keys, v)))
        elif vr == "UI":
            put_strings(ds, tag, vr, _map(values, ctx.uid))
        elif vr in SCRUB_VRS or vr == "AE":
            # A value cleaned down to nothing becomes a dummy, so a Type 1 attribute stays valid.
            new = _map(values, lambda v: scrub_text(v, ctx.phi) or (DUMMY_TEXT if v.strip() else v))
            if new != values:
                ctx.stats["scrubbed"] += 1
                put_strings(ds, tag, vr, new)
        # TM, AS, CS and numbers carry no identity once dates are shifted: kept.

    # -- the walk ---------------------------------------------------------------------------------------------
    def clean(self, ds: Dataset, in_struct: bool = False) -> None:
        """De-identify ``ds`` in place (top level or a sequence item)."""
        ctx = self.ctx
        plan, decisions, overrides, stats = ctx.plan, ctx.decisions, ctx.overrides, ctx.stats
        private_tags: list[int] = []
        overlay_groups: set[int] = set()
        curve_groups: set[int] = set()
        # pydicom's own tag -> element map, read directly: on this hot path keys()/get_item() per element cost
        # more than the decision itself. Tags become plain ints: dict and set lookups with pydicom's BaseTag call
        # its Python-level __eq__.
        elements = ds._dict
        for key, elem in list(elements.items()):
            tag = int(key)
            group = tag >> 16
            if group == 0x0002 or tag & 0xFFFF == 0:
                # file meta never belongs in the data set; group lengths are recomputed by readers
                del elements[key]
                continue
            if overrides:
                override = overrides.get(tag)
                if override is not None:
                    self._override(ds, key, override)
                    continue
            if group & 1:
                private_tags.append(key)
                continue
            if 0x6000 <= group <= 0x60FF:
                overlay_groups.add(group)
                continue
            if 0x5000 <= group <= 0x50FF:
                curve_groups.add(group)
                continue
            vr = elem.VR
            if not vr or len(vr) != 2:
                vr = vr_of(tag, vr)
                if elem.VR is None and ctx.explicit_vr and elem.is_raw:
                    # an element read without a VR (implicit-VR item inside an explicit file): name it, or the
                    # explicit-VR writer cannot write it
                    elements[key] = elem._replace(VR=vr)
            kind, stat = decisions.get((tag, vr)) or ctx.decide(tag, vr)
            if stat is not None:
                stats[stat] += 1
            if kind == _KEEP:
                continue
            if kind == _REMOVE:
                del elements[key]  # standard, not pixel data (decide() sends those the full way)
                continue
            # the element's own key from here on: the dataset's dict then finds it by identity
            action = plan.get(tag)
            if action is not None:
                self._apply(ds, key, vr, action, in_struct)
            else:
                self._unlisted(ds, key, vr, in_struct)
        if overlay_groups:
            self._overlays(ds, overlay_groups)
        if curve_groups:
            self._curves(ds, curve_groups)
        if private_tags:
            self._private(ds, private_tags)

    def _unlisted(self, ds: Dataset, tag: int, vr: str, in_struct: bool) -> None:
        """A standard attribute that Table E.1-1 does not list: judged by VR and the keep-list."""
        ctx = self.ctx
        keep = ctx.keep
        if vr == "SQ":
            ctx.stats["unlisted_sq"] += 1
            self._recurse(ds, tag, in_struct)
            return
        if tag in keep.verbatim:
            return
        if vr == "UI":
            self._apply(ds, tag, vr, Action.U, in_struct)
            return
        if vr in ("DA", "DT"):
            if ctx.full_dates:
                return
            if ctx.modified_dates:
                self._clean_value(ds, tag, vr)
                ctx.stats["unlisted_date_shifted"] += 1
                return
            self._remove_unlisted(ds, tag)
            return
        if vr == "TM":
            if not (ctx.full_dates or ctx.modified_dates):
                self._remove_unlisted(ds, tag)
            return
        if vr == "PN":
            self._remove_unlisted(ds, tag)
            return
        if vr == "AS":
            if not ctx.pat_chars:
                self._remove_unlisted(ds, tag)
            return
        if tag == TAG_TEXT_VALUE and in_struct:
            # SR text: cleaned like a descriptor with Clean Structured Content (E.3.4), else replaced by a dummy
            # (the Content Sequence's D), so the content item stays valid.
            self._apply(ds, tag, vr, Action.C if ctx.struct else Action.D, in_struct)
            return
        if vr in keep.vrs or tag in keep.tags:
            return
        if tag in keep.scrubbed or ctx.keep_unlisted:
            if vr in SCRUB_VRS:
                self._clean_value(ds, tag, vr)
            return
        self._remove_unlisted(ds, tag)

    def _remove_unlisted(self, ds: Dataset, tag: int) -> None:
        self.ctx.stats["unlisted_removed"] += 1
        del ds[tag]

    def _override(self, ds: Dataset, tag: int, ov: TagOverride) -> None:
        self.ctx.stats["override"] += 1
        raw = ds.get_item(tag)
        vr = vr_of(tag, raw.VR if raw is not None else None)
        if ov.action == "keep":
            return
        if ov.action == "replace":
            if vr in STRING_VRS:
                put_strings(ds, tag, vr, [ov.value or ""])
            else:
                ds[tag] = DataElement(tag, vr, ov.value)
            return
        code = {"remove": Action.X, "empty": Action.Z, "clean": Action.C, "uid": Action.U, "dummy": Action.D}
        self._apply(ds, tag, vr, code[ov.action], in_struct=False)

    def _overlays(self, ds: Dataset, groups: set[int]) -> None:
        """Overlay groups (60xx). Overlay Data and Comments are X (or C with Clean Graphics). Overlay bitmaps can
        hold burned-in text that is not inspected, so with either code the whole overlay group is removed: no
        half overlay is left (shared/standard/README.md, our reading)."""
        self.ctx.stats["overlay_groups_removed"] += len(groups)
        for tag in [t for t in ds.keys() if (int(t) >> 16) in groups]:
            del ds[tag]

    def _curves(self, ds: Dataset, groups: set[int]) -> None:
        """Curve Data (50xx,xxxx, retired): X, or C with Clean Graphics: numbers kept, text scrubbed."""
        ctx = self.ctx
        action = ctx.table.curve.action(ctx.options)
        for tag in [int(t) for t in ds.keys() if (int(t) >> 16) in groups]:
            if action is Action.C:
                raw = ds.get_item(tag)
                vr = vr_of(tag, raw.VR if raw is not None else None)
                if vr in SCRUB_VRS or vr == "PN":
                    self._clean_value(ds, tag, vr)
            else:
                del ds[tag]
        ctx.stats["curve_groups"] += len(groups)

    def _private(self, ds: Dataset, tags: list[int]) -> None:
        """Private attributes: X, or with Retain Safe Private keep those in Table E.3.10-1 (matched by group,
        Private Creator and element byte, in whichever block the creator reserved: PS3.5 7.8.1)."""
        ctx = self.ctx
        keep_blocks: set[tuple[int, int]] = set()
        creators: dict[tuple[int, int], str] = {}
        elements = ds._dict  # bulk removal; see clean()
        if ctx.safe_private:
            safe = load_safe_private()
            for tag in tags:
                group, elem = tag >> 16, tag & 0xFFFF
                if 0x0010 <= elem <= 0x00FF:
                    creators[(group, elem)] = "".join(get_strings(ds, tag, "LO")).strip()
        removed = kept = 0
        for tag in tags:
            group, elem = tag >> 16, tag & 0xFFFF
            if 0x0010 <= elem <= 0x00FF:
                continue  # creators are decided after their elements
            if ctx.safe_private and elem >= 0x1000:
                block = elem >> 8
                creator = creators.get((group, block))
                if creator is not None and (group, creator, elem & 0xFF) in safe:
                    keep_blocks.add((group, block))
                    kept += 1
                    continue
            removed += 1
            del elements[tag]
        for tag in tags:
            group, elem = tag >> 16, tag & 0xFFFF
            if 0x0010 <= elem <= 0x00FF and (group, elem) not in keep_blocks:
                del elements[tag]
        if kept:
            ctx.stats["private_kept"] += kept
        if removed:
            ctx.stats["private_removed"] += removed
