"""The PHI values a dataset itself carries, and text scrubbing with them (PS3.15 E.3.5 Clean Descriptors).

``collect_phi`` gathers names, identifiers, dates and identifying free text from the original dataset, at any
depth. ``scrub_text`` removes those values (names in any order and case, identifiers, dates in common formats)
and generic patterns (dates, phone numbers, e-mail addresses, long digit strings) from a free-text value, keeping
the rest. The burned-in-text pipeline matches OCR output against the same values.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from ..dicomio.rawvalue import elements, get_strings
from ..dicomio.tags import vr_of

# Attributes whose values identify the patient or the encounter (matched as identifiers).
IDENTIFIER_KEYWORDS = frozenset(
    {
        "PatientID",
        "OtherPatientIDs",
        "AccessionNumber",
        "StudyID",
        "AdmissionID",
        "ServiceEpisodeID",
        "RequestedProcedureID",
        "ScheduledProcedureStepID",
        "PerformedProcedureStepID",
        "FillerOrderNumberImagingServiceRequest",
        "PlacerOrderNumberImagingServiceRequest",
        "MedicalRecordLocator",
        "PatientInsurancePlanCodeSequence",
        "IssuerOfPatientID",
        "DeviceSerialNumber",
        "MilitaryRank",
        "BranchOfService",
        "PatientTelephoneNumbers",
        "ContainerIdentifier",
        "SpecimenIdentifier",
        "BarcodeValue",
    }
)
# Identifying free text other than names (matched as phrases).
TEXT_KEYWORDS = frozenset(
    {
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "StationName",
        "PatientAddress",
        "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers",
        "PatientTelephoneNumbers",
        "CountryOfResidence",
        "RegionOfResidence",
        "PatientBirthName",
        "PatientMotherBirthName",
        "PersonAddress",
        "PersonTelephoneNumbers",
        "InstitutionDepartmentTypeCodeSequence",
        "OtherPatientNames",
    }
)
_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTH_NAMES = (
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
)


@dataclass(frozen=True)
class PhiValues:
    person_names: tuple[str, ...] = ()
    name_parts: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()
    dates: tuple[dt.date, ...] = ()
    texts: tuple[str, ...] = ()
    age: str | None = None
    sex: str | None = None
    _pattern: list[re.Pattern[str] | None] = field(default_factory=lambda: [None], compare=False, repr=False)

    def pattern(self) -> re.Pattern[str] | None:
        """One compiled alternation of every literal to remove (cached on first use)."""
        if self._pattern[0] is None:
            self._pattern[0] = _compile_literals(self)
        return self._pattern[0]


def _parse_da(s: str) -> dt.date | None:
    s = s.strip()[:8]
    try:
        return dt.date(int(s[0:4]), int(s[4:6]), int(s[6:8]))
    except ValueError:
        return None


IDENTIFIER_TAGS = frozenset(t for t in (tag_for_keyword(k) for k in IDENTIFIER_KEYWORDS) if t is not None)
TEXT_TAGS = frozenset(t for t in (tag_for_keyword(k) for k in TEXT_KEYWORDS) if t is not None)
_ID_VRS = frozenset({"LO", "SH", "LT", "ST", "UC", "CS", "IS"})
_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UC", "UT"})


class _Collector:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.parts: set[str] = set()
        self.ids: list[str] = []
        self.dates: set[dt.date] = set()
        self.texts: list[str] = []

    def walk(self, ds: Dataset) -> None:
        """Decide from each raw element's tag and VR whether its value matters, so values that do not are never
        decoded (decoding every element would cost more than the whole de-identification). The dataset's own dict
        is read directly, as in HeaderCleaner.clean."""
        for key, elem in list(elements(ds).items()):
            if key >> 16 & 1:
                continue  # private values have no known meaning; removed unless retained as safe
            if elem.is_raw and elem.value is None:
                # an empty raw element: get_item() converts these (so an explicit UN gets its dictionary VR, which
                # the output then keeps); done here too so the output does not change
                elem = ds.get_item(key)
            vr = elem.VR
            if not vr or len(vr) != 2 or vr == "UN":  # UN: the dictionary's VR, as in HeaderCleaner
                vr = vr_of(int(key), None)
            if vr == "SQ":
                for item in ds[key].value:
                    self.walk(item)
            elif vr == "PN":
                for v in get_strings(ds, key, vr):
                    self.names.append(v)
                    self.parts.update(w.upper() for w in _WORD.findall(v.replace("^", " ").replace("=", " ")))
            elif vr in ("DA", "DT"):
                for v in get_strings(ds, key, vr):
                    d = _parse_da(v)
                    if d:
                        self.dates.add(d)
            elif vr in _ID_VRS and key in IDENTIFIER_TAGS:
                self.ids.extend(v.strip() for v in get_strings(ds, key, vr) if v.strip())
            elif vr in _TEXT_VRS and key in TEXT_TAGS:
                self.texts.extend(v.strip() for v in get_strings(ds, key, vr) if v.strip())


def collect_phi(ds: Dataset) -> PhiValues:
    """Gather this dataset's own PHI values, from the top level and every sequence item."""
    c = _Collector()
    c.walk(ds)
    age = str(ds.get("PatientAge", "") or "") or None
    sex = str(ds.get("PatientSex", "") or "") or None
    return PhiValues(
        person_names=tuple(dict.fromkeys(c.names)),
        name_parts=tuple(sorted(c.parts, key=lambda p: (-len(p), p))),
        identifiers=tuple(dict.fromkeys(c.ids)),
        dates=tuple(sorted(c.dates)),
        texts=tuple(dict.fromkeys(c.texts)),
        age=age,
        sex=sex,
    )


def date_variants(d: dt.date) -> list[str]:
    """Common written forms of a date: 20010705, 2001-07-05, 07/05/2001, 05.07.2001, 05-Jul-2001, ..."""
    y, m, day = d.year, d.month, d.day
    yy = f"{y % 100:02d}"
    mon = MONTHS[m - 1]
    month = MONTH_NAMES[m - 1]
    out = {
        f"{y:04d}{m:02d}{day:02d}",
        f"{y:04d}-{m:02d}-{day:02d}",
        f"{y:04d}/{m:02d}/{day:02d}",
        f"{y:04d}.{m:02d}.{day:02d}",
        f"{m:02d}/{day:02d}/{y:04d}",
        f"{day:02d}/{m:02d}/{y:04d}",
        f"{m}/{day}/{y:04d}",
        f"{day}/{m}/{y:04d}",
        f"{day:02d}.{m:02d}.{y:04d}",
        f"{day}.{m}.{y:04d}",
        f"{day:02d}-{m:02d}-{y:04d}",
        f"{m:02d}-{day:02d}-{y:04d}",
        f"{m:02d}/{day:02d}/{yy}",
        f"{day:02d}/{m:02d}/{yy}",
        f"{day:02d}.{m:02d}.{yy}",
        f"{day:02d}-{mon}-{y:04d}",
        f"{day}-{mon}-{y:04d}",
        f"{day:02d} {mon} {y:04d}",
        f"{day} {mon} {y:04d}",
        f"{y:04d} {mon} {day:02d}",
        f"{y:04d}{mon}{day:02d}",
        f"{mon} {day:02d} {y:04d}",
        f"{mon} {day}, {y:04d}",
        f"{month} {day}, {y:04d}",
        f"{day} {month} {y:04d}",
        f"{day:02d}{mon}{y:04d}",
        f"{day:02d}-{mon}-{yy}",
    }
    return sorted(out, key=len, reverse=True)


@functools.lru_cache(maxsize=4096)
def _flexible(literal: str) -> str:
    """A regex for ``literal`` that tolerates any run of separators between its alphanumeric runs."""
    runs = re.findall(r"[^\W_]+", literal, re.UNICODE)
    return r"[\s\-_.,/^:;]*".join(re.escape(r) for r in runs)


@functools.lru_cache(maxsize=1024)
def _date_alternatives(d: dt.date) -> tuple[str, ...]:
    return tuple(_flexible(v) for v in date_variants(d))


# The instances of one study share their literals: the regex fragments above are pure functions of them and are
# memoised (bounded) so that each instance does not rebuild them; re.compile's own cache then finds the pattern.
def _compile_literals(phi: PhiValues) -> re.Pattern[str] | None:
    alts: list[str] = []
    for t in phi.texts:
        if len(t) >= 3:
            alts.append(_flexible(t))
    for i in phi.identifiers:
        if len(re.sub(r"\W", "", i)) >= 3:
            alts.append(_flexible(i))
    for d in phi.dates:
        alts.extend(_date_alternatives(d))
    for p in phi.name_parts:
        alts.append(re.escape(p))
    if not alts:
        return None
    # Longest first (the alternation takes the first match), then by text: the same order in every process.
    alts = sorted(set(alts), key=lambda a: (-len(a), a))
    # Word-ish boundaries: do not cut a name part out of the middle of a longer word.
    return re.compile(r"(?<![^\W_])(?:" + "|".join(alts) + r")(?![^\W_])", re.IGNORECASE | re.UNICODE)


# Generic patterns (PS3.15 E.3.5: descriptors may carry dates, phone numbers and IDs of anyone).
_PATTERNS = re.compile(
    "|".join(
        [
            r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail
            r"\b(?:19|20)\d\d[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])\b",  # 2001-07-05
            r"\b(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?:19|20)?\d\d\b",  # 05/07/2001
            r"\b(?:0?[1-9]|[12]\d|3[01])[- ]?(?:" + "|".join(MONTHS) + r")[a-z]*[- ,]*(?:19|20)?\d\d\b",
            r"\b(?:" + "|".join(MONTHS) + r")[a-z]*\.? ?(?:0?[1-9]|[12]\d|3[01]),? (?:19|20)\d\d\b",
            r"\b(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b",  # 20010705
            r"(?:\+?\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}\b",  # phone numbers
            r"\b\d{6,}\b",  # long digit strings (MRNs, accession numbers)
        ]
    ),
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s{2,}")


def scrub_text(text: str, phi: PhiValues) -> str:
    """Remove this dataset's PHI and generic identifying patterns from ``text``; keep the rest."""
    if not text:
        return text
    pat = phi.pattern()
    out = pat.sub("", text) if pat is not None else text
    out = _PATTERNS.sub("", out)
    if out == text:
        return text
    out = _SPACES.sub(" ", out).strip(" ,;:-/^")
    return out
