"""Private attributes (PS3.15 E.3.10, Retain Safe Private Option).

Removed (X), unless Retain Safe Private is in use. Then an element is kept when the instance itself declares it
safe in the Private Data Element Characteristics Sequence (0008,0300; PS3.3 C.12.1.1.7): its block's Block
Identifying Information Status (0008,0303) is SAFE, or MIXED with the element among Nonidentifying Private
Elements (0008,0304). Elements a MIXED block lists under Identifying Private Elements (0008,0306) get their
Deidentification Action (0008,0307): X, Z, D or U. A block declared UNSAFE is removed whole. Blocks the instance
does not describe follow Table E.3.10-1 (matched by group, Private Creator and element byte, in whichever block
the creator reserved: PS3.5 7.8.1).

Whatever declares them safe, kept values are checked: against the VR (Table E.3.10-1's, or the element's own for
declared blocks), and text (string VRs, or UN bytes that read as text) must not contain this instance's PHI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from ...dicomio.rawvalue import STRING_VRS, get_strings, put_strings
from ...dicomio.rawvalue import elements as elements_of
from ..phi import scrub_text
from ..pseudonyms import dummy_for_vr
from .decide import INVALID_STAT
from .table import load_safe_private
from .vrcheck import checker

if TYPE_CHECKING:  # pragma: no cover
    from .apply import HeaderContext

TAG_CHARACTERISTICS = 0x00080300
_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN", "UN"})


@dataclass(frozen=True)
class Declaration:
    """What the instance says about one private block."""

    status: str  # SAFE, UNSAFE or MIXED
    nonidentifying: frozenset[int]  # element bytes
    actions: dict[int, str]  # element byte -> X, Z, D or U


Declarations = dict[tuple[int, str], Declaration]


def _ints(item: Dataset, tag: int) -> list[int]:
    elem = item.get(tag)
    if elem is None or elem.value is None:
        return []
    value = elem.value
    if isinstance(value, bytes):  # read as UN
        return [int.from_bytes(value[i : i + 2], "little") for i in range(0, len(value) - 1, 2)]
    return [int(v) for v in (value if isinstance(value, list | tuple) or hasattr(value, "__iter__") else [value])]


def read_declarations(ds: Dataset) -> Declarations:
    """The Private Data Element Characteristics Sequence of ``ds``, by (group, private creator). Items that do not
    name a group and creator, or give an unknown status, are ignored (their blocks follow Table E.3.10-1)."""
    out: Declarations = {}
    elem = ds.get(TAG_CHARACTERISTICS)
    if elem is None or elem.VR != "SQ" or not elem.value:
        return out
    for item in elem.value:
        groups = _ints(item, 0x00080301)
        creator = "".join(get_strings(item, 0x00080302, "LO")).strip()
        status = "".join(get_strings(item, 0x00080303, "CS")).strip().upper()
        if len(groups) != 1 or not groups[0] & 1 or not creator or status not in ("SAFE", "UNSAFE", "MIXED"):
            continue
        actions: dict[int, str] = {}
        seq = item.get(0x00080305)
        for a in seq.value if seq is not None and seq.value else []:
            code = "".join(get_strings(a, 0x00080307, "CS")).strip().upper()
            for b in _ints(a, 0x00080306):
                actions[b & 0xFF] = code if code in ("X", "Z", "D", "U") else "X"
        nonid = frozenset(b & 0xFF for b in _ints(item, 0x00080304))
        out[(groups[0], creator)] = Declaration(status, nonid, actions)
    return out


def _text_free_of_phi(elem: DataElement | RawDataElement, vr: str, ctx: HeaderContext) -> bool:
    """A kept private value that is (or reads as) text does not contain this instance's PHI."""
    if vr not in _TEXT_VRS:
        return True
    value = elem.value
    if isinstance(value, bytes):
        text = value.decode("latin-1")
        if vr == "UN" and not all(c.isprintable() or c in "\r\n\t\x00" for c in text):
            return True  # binary: not text
    else:
        text = str(value or "")
    text = text.replace("\x00", " ").strip()
    return not text or scrub_text(text, ctx.phi) == text


def clean_private(ds: Dataset, tags: list[int], ctx: HeaderContext) -> None:
    """Remove the private elements ``tags`` of ``ds``, keeping the safe ones under Retain Safe Private."""
    elements = elements_of(ds)  # bulk removal; see HeaderCleaner.clean
    if not ctx.rules.safe_private:
        for tag in tags:
            del elements[tag]
        removed = sum(1 for t in tags if not 0x0010 <= (t & 0xFFFF) <= 0x00FF)
        if removed:
            ctx.stats["private_removed"] += removed
        return
    safe = load_safe_private()
    creators: dict[tuple[int, int], str] = {}
    for tag in tags:
        group, elem = tag >> 16, tag & 0xFFFF
        if 0x0010 <= elem <= 0x00FF:
            creators[(group, elem)] = "".join(get_strings(ds, tag, "LO")).strip()
    keep_blocks: set[tuple[int, int]] = set()
    removed = kept = 0
    for tag in tags:
        group, elem = tag >> 16, tag & 0xFFFF
        if 0x0010 <= elem <= 0x00FF:
            continue  # creators are decided after their elements
        block = elem >> 8
        creator = creators.get((group, block)) if elem >= 0x1000 else None
        if creator is not None and _keep(ds, tag, group, creator, elem & 0xFF, safe, ctx):
            keep_blocks.add((group, block))
            kept += 1
            continue
        removed += 1
        if tag in elements:
            del elements[tag]
    for tag in tags:
        group, elem = tag >> 16, tag & 0xFFFF
        if 0x0010 <= elem <= 0x00FF and (group, elem) not in keep_blocks:
            del elements[tag]
    if kept:
        ctx.stats["private_kept"] += kept
    if removed:
        ctx.stats["private_removed"] += removed


def _keep(
    ds: Dataset,
    tag: int,
    group: int,
    creator: str,
    byte: int,
    safe: dict[tuple[int, str, int], str],
    ctx: HeaderContext,
) -> bool:
    """Whether the element stays (possibly changed by a declared action)."""
    elem = elements_of(ds)[tag]
    declared = ctx.declared.get((group, creator))
    if declared is not None:
        if declared.status == "UNSAFE":
            return False
        action = declared.actions.get(byte)
        if action is not None and declared.status == "MIXED":
            return _declared_action(ds, tag, elem, action, ctx)
        if declared.status == "SAFE" or byte in declared.nonidentifying:
            vr = elem.VR if elem.VR and len(elem.VR) == 2 else "UN"
            return _checked(elem, vr, tag, ctx)
    table_vr = safe.get((group, creator, byte))
    if table_vr is None:
        return False
    vr = table_vr or (elem.VR if elem.VR and len(elem.VR) == 2 else "UN")
    return _checked(elem, vr, tag, ctx)


def _checked(elem: DataElement | RawDataElement, vr: str, tag: int, ctx: HeaderContext) -> bool:
    check = checker(tag, vr, True)
    if check is not None and not check(elem):
        ctx.stats[INVALID_STAT] += 1
        return False
    if not _text_free_of_phi(elem, vr, ctx):
        ctx.stats["private_phi_removed"] += 1
        return False
    return True


def _declared_action(
    ds: Dataset, tag: int, elem: DataElement | RawDataElement, action: str, ctx: HeaderContext
) -> bool:
    """Deidentification Action (0008,0307) of an identifying private element: X, Z, D or U."""
    vr = elem.VR if elem.VR and len(elem.VR) == 2 else "UN"
    ctx.stats[f"private_declared_{action}"] += 1
    if action == "Z" and vr != "UN":
        if vr in STRING_VRS:
            put_strings(ds, tag, vr, None)
        else:
            ds[tag] = DataElement(tag, vr, None)
        return True
    if action == "D" and vr != "UN":
        if vr in STRING_VRS:
            put_strings(ds, tag, vr, [str(dummy_for_vr(vr))])
        else:
            ds[tag] = DataElement(tag, vr, dummy_for_vr(vr))
        return True
    if action == "U" and vr == "UI":
        put_strings(ds, tag, vr, [ctx.uid(v) if v else v for v in get_strings(ds, tag, vr)])
        return True
    return False  # X, or an action the element's VR does not allow: removed
