"""Replacement values: keyed pseudonyms for identities, shifted dates, and VR-valid dummies (action D)."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from pathlib import Path

import yaml
from pydicom.dataset import Dataset

from ..config import RULES_DIR
from .keys import Keys


@cache
def _name_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    doc = yaml.safe_load((Path(RULES_DIR) / "fake_names.yaml").read_text(encoding="utf-8"))
    return tuple(doc["family"]), tuple(doc["given"])


def normalize_name(pn: str) -> str:
    """A person name reduced to its letters in a canonical order, so 'Smith^John' and 'SMITH^JOHN ' agree."""
    alpha = pn.split("=")[0]  # the alphabetic group; ideographic/phonetic groups are dropped
    parts = [re.sub(r"[^\w]", "", p).upper() for p in alpha.split("^")]
    return "^".join(p for p in parts if p)


def pseudo_person_name(keys: Keys, original: str) -> str:
    """A plausible ``FAMILY^GIVEN`` name, stable for the same original name and key."""
    norm = normalize_name(original)
    if not norm:
        return ""
    family, given = _name_lists()
    f = family[keys.choice("pn-family", norm, len(family))]
    g = given[keys.choice("pn-given", norm, len(given))]
    return f"{f}^{g}"


def patient_key(ds: Dataset) -> str:
    """What makes 'the same patient' for date shifting: Patient ID (with issuer), else name and birth date,
    else the study. Only its keyed hash is ever used."""
    pid = str(ds.get("PatientID", "") or "").strip()
    if pid:
        return "id:" + pid + "|" + str(ds.get("IssuerOfPatientID", "") or "").strip()
    name = normalize_name(str(ds.get("PatientName", "") or ""))
    if name:
        return "name:" + name + "|" + str(ds.get("PatientBirthDate", "") or "")
    return "study:" + str(ds.get("StudyInstanceUID", "") or "")


def pseudo_patient_id(keys: Keys, original: str, prefix: str = "DN") -> str:
    """A stable Patient ID: prefix plus 10 base-32 characters (LO, max 64)."""
    return prefix + keys.token("patient-id", original.strip(), 10)


def pseudo_token(keys: Keys, purpose: str, original: str, length: int = 12) -> str:
    """A stable short identifier (Accession Number, Study ID: SH, max 16)."""
    return keys.token(purpose, original.strip(), length)


def shift_da(value: str, days: int) -> str:
    """Shift a DA value (``YYYYMMDD``; ACR-NEMA ``YYYY.MM.DD`` accepted) by ``days``; '' if it is not a date."""
    v = value.strip().replace(".", "")
    if len(v) != 8 or not v.isdigit():
        return ""
    try:
        d = dt.date(int(v[:4]), int(v[4:6]), int(v[6:8]))
    except ValueError:
        return ""
    return (d + dt.timedelta(days=days)).strftime("%Y%m%d")


def shift_dt(value: str, days: int) -> str:
    """Shift the date part of a DT value; the time of day, fraction and UTC offset are kept.

    Whole-day shifts keep every interval between events exact, across midnight too (PS3.15 E.3.6).
    """
    v = value.strip()
    if len(v) < 4 or not v[:4].isdigit():
        return ""
    date_part = v[:8]
    if len(date_part) < 8:  # year or year-month precision: shift by whole years is not defined; pad
        date_part = (date_part + "0101")[:8] if len(date_part) == 4 else (date_part + "01")[:8]
        shifted = shift_da(date_part, days)
        return shifted[: len(v[:8])] if shifted else ""
    shifted = shift_da(date_part, days)
    return shifted + v[8:] if shifted else ""


DUMMY_TEXT = "ANONYMIZED"
_DUMMIES: dict[str, object] = {
    "AE": "ANONYMIZED",
    "AS": "000Y",
    "CS": "ANONYMIZED",
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000",
    "IS": "0",
    "LO": DUMMY_TEXT,
    "LT": DUMMY_TEXT,
    "PN": "ANONYMIZED^",
    "SH": DUMMY_TEXT,
    "ST": DUMMY_TEXT,
    "TM": "000000",
    "UC": DUMMY_TEXT,
    "UR": "urn:deidnode:removed",
    "UT": DUMMY_TEXT,
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "UL": 0,
    "US": 0,
    "SV": 0,
    "UV": 0,
    "AT": 0,
    "OB": b"\x00\x00",
    "OW": b"\x00\x00",
    "OD": b"\x00" * 8,
    "OF": b"\x00" * 4,
    "OL": b"\x00" * 4,
    "OV": b"\x00" * 8,
    "UN": b"\x00\x00",
}


def dummy_for_vr(vr: str) -> object:
    """A non-empty value valid for ``vr`` (PS3.15 Table E.1-1a, action D)."""
    return _DUMMIES.get(vr, DUMMY_TEXT)
