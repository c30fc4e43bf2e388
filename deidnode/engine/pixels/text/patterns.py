"""Layer 2: generic PHI patterns in recognised text, whoever's they are.

Dates, times, phone numbers, e-mail addresses, long digit strings and "Name:" labels. Spaces are optional
everywhere because OCR engines drop them.
"""

from __future__ import annotations

import re

from ...phi import MONTHS

_MON = "(?:" + "|".join(MONTHS) + ")[A-Z]*"
_D = r"(?:0?[1-9]|[12]\d|3[01])"
_M = r"(?:0?[1-9]|1[0-2])"
_Y4 = r"(?:19|20)\d\d"

PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"[\w.+-]+\s*@\s*[\w-]+(?:\s*\.\s*[\w-]+)+")),
    ("date", re.compile(rf"(?<!\d){_Y4}\s*[-/.]\s*{_M}\s*[-/.]\s*{_D}(?!\d)")),
    ("date", re.compile(rf"(?<!\d){_D}\s*[-/.]\s*{_D}\s*[-/.]\s*(?:{_Y4}|\d\d)(?!\d)")),
    ("date", re.compile(rf"(?<![\dA-Z]){_D}\s*[- ]?\s*{_MON}\s*[- ,.]*\s*{_Y4}(?!\d)")),
    ("date", re.compile(rf"(?<![\dA-Z]){_D}\s*[- ]\s*{_MON}\s*[- ]\s*\d\d(?!\d)")),
    ("date", re.compile(rf"{_MON}\s*\.?\s*{_D}\s*,?\s*{_Y4}(?!\d)")),
    ("date", re.compile(rf"(?<!\d){_Y4}\s*[- ]?\s*{_MON}\s*[- ]?\s*{_D}(?!\d)")),
    ("date", re.compile(rf"(?<!\d){_Y4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)")),
    (
        "time",
        re.compile(r"(?<![\d.])(?:[01]?\d|2[0-3])\s*:\s*[0-5]\d(?:\s*:\s*[0-5]\d)?(?:\s*[AP]M)?(?![\d.])"),
    ),
    ("phone", re.compile(r"(?<!\d)(?:\+\s*\d{1,3}[\s.-]*)?\(?\d{3}\)?[\s.-]*\d{3}[\s.-]*\d{4}(?!\d)")),
    ("digits", re.compile(r"\d{6,}")),
    (
        "label",
        re.compile(
            r"(?:NAME|PATIENT|PAT\s*ID|DOB|D\.O\.B|BIRTH|MRN|ACCESSION|ACC\s*(?:NO|#)?|PHYSICIAN|REFERRING|DOCTOR"
            r"|OPERATOR|ADDRESS|PHONE|TEL|E-?MAIL|HOSPITAL|INSTITUTION|SSN)\s*[:#]"
            r"|(?<![A-Z])(?:ID|DR|MR|MRS|MS)\s*[.:#]\s*[A-Z0-9]"
        ),
    ),
)


def find_pattern(text: str) -> str | None:
    """The kind of the first PHI pattern found in ``text`` (upper-cased), or None."""
    up = text.upper()
    for kind, rx in PATTERNS:
        if rx.search(up):
            return kind
    return None


# A label on its own ("Dr.", "Name:", "ID#"): OCR often splits it from the value that follows on the same line.
LABEL_ONLY = re.compile(
    r"\s*(?:DR|MR|MRS|MS|PROF|NAME|PATIENT|PAT|PT|ID|MRN|ACC|ACCESSION|DOB|BIRTH|PHYSICIAN|REF|REFERRING"
    r"|OPERATOR|TECH|SSN|TEL|PHONE)\s*[.:#]?\s*(?:NAME|ID|NO|#)?\s*[.:#]?\s*"
)


def is_label_only(text: str) -> bool:
    """Whether ``text`` is a PHI label with no value (the value is then the next line to its right)."""
    return bool(LABEL_ONLY.fullmatch(text.upper()))
