"""Tag parsing and VR helpers, and the data elements newer than pydicom's dictionary (PS3.6 rows pydicom 3.0
does not know, from ``rules/standard/dictionary-additions.json``, added at import)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from pydicom.datadict import add_dict_entries, dictionary_has_tag, dictionary_VR, keyword_dict

from ..ruledata import RULES_DIR

_TAG = re.compile(r"^\(?\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\)?$")


def parse_tag_key(key: str) -> int:
    """``"(0010,0010)"``, ``"0010,0010"``, ``"00100010"`` or a keyword such as ``"PatientName"`` -> tag int."""
    k = key.strip()
    m = _TAG.match(k)
    if m:
        return int(m.group(1) + m.group(2), 16)
    if re.fullmatch(r"[0-9A-Fa-f]{8}", k):
        return int(k, 16)
    if k in keyword_dict:
        return int(keyword_dict[k])
    raise ValueError("not a tag (GGGG,EEEE) or a DICOM keyword")


def vr_of(tag: int, vr: str | None) -> str:
    """The VR of an element: its own (explicit VR) or the dictionary's; ambiguous VRs reduced to one class."""
    if vr and len(vr) == 2:
        return vr
    return _dictionary_vr(tag)


@cache
def _dictionary_vr(tag: int) -> str:
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return "UN"
    if " or " in vr:  # "US or SS", "OB or OW", "US or SS or OW"
        return "OW" if "OW" in vr and "US" not in vr else vr.split(" or ")[0]
    return vr


def extend_dictionary() -> list[int]:
    """Add the PS3.6 entries of ``rules/standard/dictionary-additions.json`` (tags of PS3.15 2025a rows that
    pydicom 3.0 does not know) to pydicom's dictionary, so keywords resolve and implicit-VR files read them with
    their VR. Idempotent; returns the tags added now."""
    path = Path(RULES_DIR) / "standard" / "dictionary-additions.json"
    doc = json.loads(path.read_text(encoding="ascii"))
    cols = doc["columns"]
    entries = {}
    for row in doc["rows"]:
        cells = dict(zip(cols, row, strict=True))
        tag = int(cells["tag"].replace(",", ""), 16)
        if not dictionary_has_tag(tag):
            entries[tag] = (cells["vr"], cells["vm"], cells["name"], "", cells["keyword"])
    if entries:
        add_dict_entries(entries)
        _dictionary_vr.cache_clear()
    return sorted(entries)


extend_dictionary()
