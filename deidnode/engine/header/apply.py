"""Apply the profile to every element of a dataset, at any depth (PS3.15 E.1.1).

What happens to each element is decided once, by ``decide.ProfileRules.decide``; the walk here dispatches on
that step. Elements kept or removed are handled from their raw form, without decoding their values, so the common
path costs little more than reading and writing the file. Values are decoded only where they must change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from ...config import Option, Profile, TagOverride
from ...dicomio.rawvalue import STRING_VRS, get_strings, put_strings
from ...dicomio.rawvalue import elements as elements_of
from ...dicomio.tags import vr_of
from ..keys import Keys
from ..names import NameCleaner
from ..phi import PhiValues
from ..pseudonyms import (
    DUMMY_TEXT,
    dummy_for_vr,
    pseudo_patient_id,
    pseudo_person_name,
    pseudo_token,
    shift_da,
    shift_dt,
)
from . import decide as D
from .decide import SCRUB_VRS, ProfileRules, Step, rules_for
from .private import Declarations, clean_private
from .structured import STRUCTURED_SEQUENCES, clean_content_items
from .table import Action, ProfileTable
from .vrcheck import checker, valid_string_bytes

DICOM_UID_ROOT = "1.2.840.10008."


@dataclass
class HeaderContext:
    """Everything the walk needs for one instance. ``stats`` counts actions (PHI-free) for the audit."""

    keys: Keys
    profile: Profile
    phi: PhiValues
    day_offset: int | None
    stats: Counter[str] = field(default_factory=Counter)
    explicit_vr: bool = True
    """The output is written with explicit VRs (every element must then have one)."""
    declared: Declarations = field(default_factory=dict)
    """Private blocks the instance describes in its Private Data Element Characteristics Sequence."""
    text: NameCleaner | None = None
    """Cleans free text (C): the instance's PHI, patterns, cued names, the study lexicon, NER."""
    rules: ProfileRules = field(init=False)

    def __post_init__(self) -> None:
        self.rules = rules_for(self.profile)
        if self.text is None:
            self.text = NameCleaner(self.phi)

    @property
    def options(self) -> frozenset[Option]:
        return self.rules.options

    @property
    def table(self) -> ProfileTable:
        return self.rules.table

    @property
    def struct(self) -> bool:
        return self.rules.struct

    def uid(self, value: str) -> str:
        """A keyed UID, except for UIDs under the DICOM root (SOP classes, transfer syntaxes...), which stay as
        they are when they are valid UIDs."""
        v = value.strip("\x00 ")
        if not v or (v.startswith(DICOM_UID_ROOT) and v.isascii() and valid_string_bytes("UI", v.encode())):
            return v
        return self.keys.uid(v)


def _map(values: list[str], fn: Callable[[str], str]) -> list[str]:
    return [fn(v) if v else v for v in values]


# Identity attributes get keyed pseudonyms under Z or D, so studies stay linked (PS3.15 E.1.1: "dummy values of
# higher level entities stay consistent").
def _pseudonym(tag: int, values: list[str], ctx: HeaderContext) -> str:
    s = values[0] if values else ""
    if not s:
        return ""
    if tag == 0x00100010:  # Patient's Name
        return pseudo_person_name(ctx.keys, s)
    if tag == 0x00100020:  # Patient ID
        return pseudo_patient_id(ctx.keys, s, ctx.profile.patient_id_prefix)
    if tag == 0x00080050:  # Accession Number
        return pseudo_token(ctx.keys, "accession", s, 12)
    return pseudo_token(ctx.keys, "study-id", s, 8)  # Study ID


class HeaderCleaner:
    def __init__(self, ctx: HeaderContext) -> None:
        self.ctx = ctx

    # -- the walk ---------------------------------------------------------------------------------------------
    def clean(self, ds: Dataset, in_struct: bool = False) -> None:
        """De-identify ``ds`` in place (top level or a sequence item)."""
        ctx = self.ctx
        rules, stats = ctx.rules, ctx.stats
        memo = rules.memo[in_struct]
        private_tags: list[int] = []
        overlay_groups: set[int] = set()
        curve_groups: set[int] = set()
        # pydicom's own tag -> element map, read directly: on this hot path keys()/get_item() per element cost
        # more than the decision itself. Tags become plain ints: dict and set lookups with pydicom's BaseTag call
        # its Python-level __eq__.
        elements = elements_of(ds)
        for key, elem in list(elements.items()):
            tag = int(key)
            raw_vr = elem.VR
            step = memo.get((tag, raw_vr)) or rules.decide(tag, raw_vr, in_struct)
            op = step[0]
            if op == D.KEEP:
                fallback = step[4]
                if fallback is not None and not fallback.valid(elem):
                    self._do(ds, key, fallback.step, in_struct)  # not valid for its VR: the row's removal code
                    continue
                if step[2] is not None:
                    stats[step[2]] += 1
                if raw_vr is None and ctx.explicit_vr and elem.is_raw:
                    elements[key] = cast(RawDataElement, elem)._replace(VR=step[1])  # see _name_vr
                continue
            if op == D.REMOVE and tag not in D.PIXEL_TAGS:
                if step[2] is not None:
                    stats[step[2]] += 1
                del elements[key]
                continue
            if op == D.DROP:
                del elements[key]
                continue
            if op == D.PRIVATE:
                private_tags.append(key)
                continue
            if op == D.OVERLAY:
                overlay_groups.add(tag >> 16)
                continue
            if op == D.CURVE:
                curve_groups.add(tag >> 16)
                continue
            if op == D.OVERRIDE:
                self._override(ds, key, step[3])
                continue
            if raw_vr is None and ctx.explicit_vr and elem.is_raw:
                # an element read without a VR (implicit-VR item inside an explicit file): name it, or the
                # explicit-VR writer cannot write it
                elements[key] = cast(RawDataElement, elem)._replace(VR=step[1])
            # the element's own key from here on: the dataset's dict then finds it by identity
            self._do(ds, key, step, in_struct)
        if overlay_groups:
            self._overlays(ds, overlay_groups)
        if curve_groups:
            self._curves(ds, curve_groups)
        if private_tags:
            self._private(ds, private_tags)

    def _do(self, ds: Dataset, tag: int, step: Step, in_struct: bool) -> None:
        """Carry out a step that changes the element (every operation but KEEP, DROP and the deferred ones)."""
        ctx = self.ctx
        op, vr, stat, arg, fallback = step
        if fallback is not None and not fallback.valid(elements_of(ds)[tag]):
            self._do(ds, tag, fallback.step, in_struct)
            return
        if stat is not None:
            ctx.stats[stat] += 1
        if op == D.REMOVE:
            del ds[tag]
        elif op == D.RECURSE:
            self._recurse(ds, tag, in_struct)
        elif op == D.EMPTY_SEQ:
            ds[tag].value = Sequence()
        elif op == D.EMPTY:
            if vr in STRING_VRS:
                put_strings(ds, tag, vr, None)
            else:
                ds[tag] = DataElement(tag, vr, None)
        elif op == D.DUMMY:
            if vr == "PN":
                values = get_strings(ds, tag, vr)
                put_strings(
                    ds,
                    tag,
                    vr,
                    _map(values, lambda v: pseudo_person_name(ctx.keys, v) or "ANONYMIZED^") or ["ANONYMIZED^"],
                )
            elif vr in STRING_VRS:
                put_strings(ds, tag, vr, [str(dummy_for_vr(vr))])
            else:
                ds[tag] = DataElement(tag, vr, dummy_for_vr(vr))
        elif op == D.UID:
            put_strings(ds, tag, vr, _map(get_strings(ds, tag, vr), ctx.uid))
        elif op == D.PSEUDONYM:
            put_strings(ds, tag, vr, [_pseudonym(tag, get_strings(ds, tag, vr), ctx)])
        elif op == D.SHIFT:
            values = get_strings(ds, tag, vr)
            if arg and not values:  # D on an empty date: a dummy
                put_strings(ds, tag, vr, [str(dummy_for_vr(vr))])
            elif ctx.day_offset is not None:
                off, shift = ctx.day_offset, (shift_da if vr == "DA" else shift_dt)
                put_strings(ds, tag, vr, _map(values, lambda v: shift(v, off)))
            else:
                put_strings(ds, tag, vr, None)
        elif op == D.PERSON:
            put_strings(ds, tag, vr, _map(get_strings(ds, tag, vr), lambda v: pseudo_person_name(ctx.keys, v)))
        elif op == D.SCRUB:
            self._scrub(ds, tag, vr)
        # KEEP (reached through an override naming a code that keeps): nothing to do

    def _scrub(self, ds: Dataset, tag: int, vr: str) -> None:
        """Clean a text value: this dataset's PHI and identifying patterns removed, the rest kept. A value
        cleaned down to nothing becomes a dummy, so a Type 1 attribute stays valid."""
        clean = self.ctx.text.clean  # type: ignore[union-attr]
        values = get_strings(ds, tag, vr)
        new = _map(values, lambda v: clean(v) or (DUMMY_TEXT if v.strip() else v))
        if new != values:
            self.ctx.stats["scrubbed"] += 1
            put_strings(ds, tag, vr, new)

    def _recurse(self, ds: Dataset, tag: int, in_struct: bool = False) -> None:
        seq = ds[tag].value
        if tag in STRUCTURED_SEQUENCES:
            if self.ctx.struct:
                clean_content_items(seq, self.ctx, self)
            in_struct = True
        for item in seq:
            self.clean(item, in_struct=in_struct)

    def _override(self, ds: Dataset, tag: int, ov: TagOverride) -> None:
        self.ctx.stats["override"] += 1
        raw = ds.get_item(tag)
        vr = vr_of(tag, raw.VR if raw is not None else None)
        if ov.action == "keep":
            check = checker(tag, vr)
            if check is not None and raw is not None and not check(raw):
                self._do(ds, tag, self.ctx.rules.invalid_step(tag, vr), in_struct=False)
            return
        if ov.action == "replace":
            if vr in STRING_VRS:
                put_strings(ds, tag, vr, [ov.value or ""])
            else:
                ds[tag] = DataElement(tag, vr, ov.value)
            return
        step = self.ctx.rules.override_step(tag, vr, ov)
        if step is not None:
            self._do(ds, tag, step, in_struct=False)

    def _overlays(self, ds: Dataset, groups: set[int]) -> None:
        """Overlay groups (60xx). Overlay Data and Comments are X (or C with Clean Graphics). Overlay bitmaps can
        hold burned-in text that is not inspected, so with either code the whole overlay group is removed: no
        half overlay is left (docs/header.md, "our reading")."""
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
                    self._do(ds, tag, ctx.rules.with_fallback(tag, ctx.rules.clean_step(vr)), in_struct=False)
            else:
                del ds[tag]
        ctx.stats["curve_groups"] += len(groups)

    def _private(self, ds: Dataset, tags: list[int]) -> None:
        clean_private(ds, tags, self.ctx)
