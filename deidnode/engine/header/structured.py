"""Clean Structured Content Option (PS3.15 E.3.4): SR content items judged by their concept name code.

Items whose Concept Name is in Table E.3.4-1 get that table's action (X drops the item, D replaces its value);
every item is then walked by the header profile, where Text Value is cleaned like a descriptor and names,
dates and UIDs are mapped like the header's. Retired code forms (e.g. SRT/SNM3 for SNOMED) are matched by
their code meaning when the code itself is not in the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from .table import Action, ContentRule, load_struct_content

if TYPE_CHECKING:  # pragma: no cover
    from .apply import HeaderCleaner, HeaderContext

# Content Sequence, Acquisition Context Sequence, Specimen Preparation Sequence (PS3.15 E.3.4).
STRUCTURED_SEQUENCES = frozenset({0x0040A730, 0x00400555, 0x00400610})
_SCHEME_ALIASES = {"SRT": "SCT", "SNM3": "SCT", "99SDM": "SCT"}
# Where an item's value lives, by Value Type (PS3.3 C.17.3 / Table C.18.1-1).
_VALUE_TAGS = {
    "TEXT": (0x0040A160, "UT"),
    "PNAME": (0x0040A123, "PN"),
    "DATE": (0x0040A121, "DA"),
    "DATETIME": (0x0040A120, "DT"),
    "TIME": (0x0040A122, "TM"),
    "UIDREF": (0x0040A124, "UI"),
}


def content_rule(item: Dataset) -> ContentRule | None:
    """The Table E.3.4-1 rule for a content item, by concept name code (or, for retired codes, meaning)."""
    seq = item.get("ConceptNameCodeSequence")
    if not seq:
        return None
    code = seq[0]
    value = str(code.get("CodeValue", "") or code.get("LongCodeValue", "") or "")
    scheme = str(code.get("CodingSchemeDesignator", ""))
    vtype = str(item.get("ValueType", ""))
    table = load_struct_content()
    rule = table.by_code.get((value, scheme, vtype))
    if rule is None:
        rule = table.by_code.get((value, _SCHEME_ALIASES.get(scheme, scheme), vtype))
    if rule is None:
        meaning = str(code.get("CodeMeaning", "")).strip().lower()
        rule = table.by_meaning.get((meaning, vtype))
    return rule


def clean_content_items(seq: Sequence, ctx: HeaderContext, cleaner: HeaderCleaner) -> None:
    """Apply Table E.3.4-1 to the items of ``seq`` in place (items with action X are dropped)."""
    keep: list[Dataset] = []
    for item in seq:
        rule = content_rule(item)
        if rule is None:
            keep.append(item)
            continue
        action = rule.action(ctx.options)
        ctx.stats[f"sr_{action.value}"] += 1
        if action is Action.X:
            continue
        if action is Action.D:
            _dummy_value(item, ctx)
        keep.append(item)
    if len(keep) != len(seq):
        seq[:] = keep


def _dummy_value(item: Dataset, ctx: HeaderContext) -> None:
    from ..pseudonyms import dummy_for_vr, pseudo_person_name

    vtype = str(item.get("ValueType", ""))
    where = _VALUE_TAGS.get(vtype)
    if where is None:
        return  # IMAGE/COMPOSITE/WAVEFORM references are remapped by U; CODE/NUM values carry no identity
    tag, vr = where
    if tag not in item:
        return
    if vr == "PN":
        item[tag].value = pseudo_person_name(ctx.keys, str(item[tag].value)) or "ANONYMIZED^"
    elif vr == "UI":
        item[tag].value = ctx.uid(str(item[tag].value))
    elif vr in ("DA", "DT") and ctx.day_offset is not None:
        return  # shifted when the item is walked
    else:
        item[tag].value = dummy_for_vr(vr)
