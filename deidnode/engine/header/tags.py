"""Tag parsing and VR helpers."""

from __future__ import annotations

import re
from functools import cache

from pydicom.datadict import dictionary_VR, keyword_dict

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
