"""Is a kept value valid for its VR (PS3.5 6.2)? Text planted in an attribute the profile keeps (an age of
``ZZLEAKAGE``, a name in a time or a number) must not pass because the attribute is "safe".

Checked: AS, CS, DA, DT, TM, DS, IS, UI, AE by their character repertoire and form (each value of a multi-valued
element; padding ignored; ACR-NEMA dates ``YYYY.MM.DD`` and times ``HH:MM:SS`` accepted on input), and the binary
numbers US, SS, UL, SL, UV, SV, FL, FD and AT by their length and the dictionary's value multiplicity (text in
a binary number shows as a length that does not fit, or more values than the attribute may have). A few coded
attributes kept by the options are checked against their enumerated values (PS3.3). Over-long DS and IS
values are accepted when they are numbers: a number carries no text. Free text (LO, SH, ST, LT, UT, UC, PN) is
not judged here: the profile removes or cleans it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

from pydicom.datadict import dictionary_VM
from pydicom.multival import MultiValue

# (pattern of one value, longest value in bytes)
_FORMS: dict[str, tuple[re.Pattern[bytes], int]] = {
    "AS": (re.compile(rb"\d{3}[DWMY]"), 4),
    "CS": (re.compile(rb"[A-Z0-9_ ]*"), 16),
    "DA": (re.compile(rb"\d{4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]) *|\d{4}\.\d{2}\.\d{2}"), 10),
    "DT": (re.compile(rb"\d{4}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?)?)?(?:[+-]\d{4})? *"), 26),
    "TM": (re.compile(rb"\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)? *|\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)? *"), 16),
    "DS": (re.compile(rb" *[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)? *"), 1 << 16),
    "IS": (re.compile(rb" *[+-]?\d+ *"), 1 << 16),
    "UI": (re.compile(rb"\d+(?:\.\d+)*"), 64),
    "AE": (re.compile(rb"[\x20-\x5b\x5d-\x7e]*"), 16),
}
_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "UV": 8, "SV": 8, "FL": 4, "FD": 8, "AT": 4}
# Coded attributes kept by an option whose values the standard enumerates (PS3.3 C.7.1.1, C.7.1.3).
ENUMERATED: dict[int, frozenset[bytes]] = {
    0x00100040: frozenset({b"M", b"F", b"O"}),  # Patient's Sex
    0x00102203: frozenset({b"ALTERED", b"UNALTERED"}),  # Patient's Sex Neutered
}

Check = Callable[[Any], bool]
"""Takes a data element (raw or converted) and says whether its value is valid."""


def checked_vrs() -> frozenset[str]:
    return frozenset(_FORMS) | frozenset(_SIZES)


@lru_cache(maxsize=1 << 14)
def valid_string_bytes(vr: str, b: bytes, tag: int | None = None) -> bool:
    """A string value's bytes (all values, backslash-separated, padding included) valid for ``vr``. Memoised:
    the instances of a series repeat most of their kept values (spacing, orientation, codes)."""
    pattern, longest = _FORMS[vr]
    b = b.rstrip(b" \x00")
    if not b:
        return True
    allowed = ENUMERATED.get(tag) if tag is not None else None
    if b"\\" not in b:  # one value: the common case, without the split
        return len(b) <= longest and pattern.fullmatch(b) is not None and (allowed is None or b.strip() in allowed)
    for v in b.split(b"\\"):
        if not v:
            continue
        if len(v) > longest or pattern.fullmatch(v) is None:
            return False
        if allowed is not None and v.strip() not in allowed:
            return False
    return True


def _vm_range(tag: int) -> tuple[int, int, int] | None:
    """(minimum, maximum or 0 for unbounded, step) of the dictionary's VM; None when unknown."""
    try:
        vm = dictionary_VM(tag)
    except KeyError:
        return None
    m = re.fullmatch(r"(\d+)(?:-(\d+|n|(\d+)n))?", vm.strip())
    if m is None:
        return None
    low = int(m.group(1))
    if m.group(2) is None:
        return low, low, 1
    if m.group(2) == "n":
        return low, 0, 1
    if m.group(3) is not None:  # "2-2n", "3-3n": multiples of the first
        return low, 0, int(m.group(3))
    return low, int(m.group(2)), 1


def _vm_ok(count: int, vm: tuple[int, int, int] | None) -> bool:
    if count == 0 or vm is None:
        return True
    low, high, step = vm
    return count >= low and (high == 0 or count <= high) and count % step == 0


@cache
def checker(tag: int, vr: str, private: bool = False) -> Check | None:
    """The check of a kept element with this tag and VR; None where the VR's values are not judged here."""
    if vr in _FORMS:
        return _string_check(vr, tag)
    size = _SIZES.get(vr)
    if size is not None:
        return _binary_check(size, None if private else _vm_range(tag))
    return None


def _string_check(vr: str, tag: int) -> Check:
    def check(elem: Any) -> bool:
        value = elem.value
        if value is None:
            return True
        if isinstance(value, bytes):
            return valid_string_bytes(vr, value, tag)
        values = list(value) if isinstance(value, list | tuple | MultiValue) else [value]
        try:
            joined = "\\".join("" if v is None else str(v) for v in values).encode("ascii")
        except UnicodeEncodeError:
            return False
        return valid_string_bytes(vr, joined, tag)

    return check


def _binary_check(size: int, vm: tuple[int, int, int] | None) -> Check:
    def check(elem: Any) -> bool:
        value = elem.value
        if value is None:
            return True
        if isinstance(value, bytes | bytearray):
            if len(value) % size:
                return False
            return _vm_ok(len(value) // size, vm)
        values = list(value) if isinstance(value, list | tuple | MultiValue) else [value]
        if not all(isinstance(v, int | float) for v in values):
            return False
        return _vm_ok(len(values), vm)

    return check
