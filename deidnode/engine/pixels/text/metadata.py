"""Layer 1: this dataset's own PHI values (``collect_phi``), matched in OCR text, tolerating OCR errors.

Names match in any order and form (each component of three or more letters on its own, shorter ones as whole
words); identifiers and free text fuzzily; dates in every common written form; ages as 057Y / 57Y / 57 YRS /
Age 57 (a bare "57" only as a whole line); sex only with a label or as MALE / FEMALE.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Protocol

from ...phi import MONTH_NAMES, MONTHS, date_variants
from .fuzzy import fold, fuzzy_contains, normalize, tokens

# Words too common in institution names and addresses to identify anything on their own.
_COMMON_WORDS = frozenset(
    "HOSPITAL HOSPITALS MEDICAL CENTER CENTRE CLINIC CLINICS UNIVERSITY UNIVERSITAT GENERAL REGIONAL "
    "COUNTY STATE NATIONAL DEPARTMENT RADIOLOGY IMAGING INSTITUTE HEALTH HEALTHCARE SAINT STREET ROAD AVENUE "
    "SUITE FLOOR BUILDING NORTH SOUTH EAST WEST CITY CHILDREN CHILDRENS WOMENS MEMORIAL COMMUNITY SCIENCES "
    "DIAGNOSTIC DIAGNOSTICS SERVICES ROOM".split()
)


class PhiLike(Protocol):
    person_names: tuple[str, ...]
    name_parts: tuple[str, ...]
    identifiers: tuple[str, ...]
    dates: tuple[dt.date, ...]
    texts: tuple[str, ...]
    age: str | None
    sex: str | None


@dataclass(frozen=True)
class MetaHit:
    """A metadata match: ``kind`` (name, id, date, text, age, sex) and the original value it came from."""

    kind: str
    value: str


def extra_date_forms(d: dt.date) -> list[str]:
    """Written forms beyond ``phi.date_variants``: 2001 JUL 05, JUL052001, 5 July 2001, 010705, ..."""
    y, m, day = d.year, d.month, d.day
    mon, month = MONTHS[m - 1], MONTH_NAMES[m - 1]
    return [
        f"{y:04d} {mon} {day:02d}",
        f"{y:04d}-{mon}-{day:02d}",
        f"{mon}{day:02d}{y:04d}",
        f"{day}{mon}{y:04d}",
        f"{day} {month} {y:04d}",
        f"{month} {day:02d} {y:04d}",
        f"{y:04d}{month}{day:02d}",
        f"{day:02d}{mon}{y % 100:02d}",
        f"{y % 100:02d}{m:02d}{day:02d}",
        f"{day:02d}{m:02d}{y % 100:02d}",
        f"{m:02d}{day:02d}{y % 100:02d}",
    ]


def _age_number(age: str) -> int | None:
    m = re.fullmatch(r"\s*0*(\d{1,3})\s*([DWMY]?)\s*", age.upper())
    if not m:
        return None
    return int(m.group(1))


class MetadataMatcher:
    """Matches one dataset's PHI values in recognised text."""

    def __init__(self, phi: PhiLike) -> None:
        self.long_names: list[tuple[str, str]] = []  # (folded part, original PN)
        self.short_names: dict[str, str] = {}
        for pn in phi.person_names:
            for part in re.findall(r"[^\W\d_]{2,}", pn.replace("^", " ").replace("=", " ")):
                p = normalize(part)
                if len(p) >= 4:
                    self.long_names.append((fold(p), pn))
                elif len(p) >= 2:
                    self.short_names.setdefault(p, pn)
        for part in phi.name_parts:
            p = normalize(part)
            if len(p) >= 4 and all(fp != fold(p) for fp, _ in self.long_names):
                self.long_names.append((fold(p), part))
            elif 2 <= len(p) < 4:
                self.short_names.setdefault(p, part)
        self.ids: list[tuple[str, str]] = []
        self.short_ids: dict[str, str] = {}
        for ident in phi.identifiers:
            n = normalize(ident)
            if len(n) >= 5:
                self.ids.append((fold(n), ident))
            elif len(n) >= 3:
                self.short_ids[n] = ident
        self.texts: list[tuple[str, str]] = []
        for t in phi.texts:
            n = normalize(t)
            if len(n) >= 5:
                self.texts.append((fold(n), t))
            for w in re.findall(r"[^\W\d_]{4,}", t):
                wn = normalize(w)
                if wn not in _COMMON_WORDS:
                    self.texts.append((fold(wn), t))
        self.dates: list[tuple[str, str]] = []
        for d in phi.dates:
            forms = {fold(v) for v in date_variants(d) + extra_date_forms(d)}
            self.dates.extend((f, d.isoformat()) for f in sorted(forms, key=len, reverse=True) if len(f) >= 6)
        self.age_re: re.Pattern[str] | None = None
        self.age_bare: str | None = None
        n = _age_number(phi.age) if phi.age else None
        if n is not None:
            num = rf"0*{n}"
            self.age_re = re.compile(
                rf"(?<!\d){num}(?:Y|YR|YRS|YEARS?|YO|J|A|ANS?)(?![A-Z])|AGE{num}(?!\d)|(?<!\d){num}(?:Y|YR|YRS)?[MF](?![A-Z])"
            )
            self.age_bare = str(n)
        self.age_value = phi.age or ""
        self.sex_re: re.Pattern[str] | None = None
        if phi.sex and phi.sex.strip().upper()[:1] in ("M", "F"):
            self.sex_re = re.compile(r"\b(?:SEX|GENDER)\s*[:=]?\s*(?:M|F|O|MALE|FEMALE)\b|\b(?:MALE|FEMALE)\b")
        self.sex_value = phi.sex or ""

    def match(self, text: str) -> MetaHit | None:
        """The first metadata value found in ``text``, or None."""
        folded = fold(text)
        norm = normalize(text)
        if not norm:
            return None
        words = set(tokens(text))
        for fp, pn in self.long_names:
            if fuzzy_contains(folded, fp):
                return MetaHit("name", pn)
        for p, pn in self.short_names.items():
            if p in words or norm == p:
                return MetaHit("name", pn)
        for fi, ident in self.ids:
            if fuzzy_contains(folded, fi):
                return MetaHit("id", ident)
        for i, ident in self.short_ids.items():
            if i in words or norm == i:
                return MetaHit("id", ident)
        for fd, iso in self.dates:
            if fuzzy_contains(folded, fd):
                return MetaHit("date", iso)
        for ft, t in self.texts:
            if fuzzy_contains(folded, ft):
                return MetaHit("text", t)
        if self.age_re is not None and (self.age_re.search(norm) or norm == self.age_bare):
            return MetaHit("age", self.age_value)
        if self.sex_re is not None and self.sex_re.search(text.upper()):
            return MetaHit("sex", self.sex_value)
        return None
