"""OCR-tolerant string comparison: normalisation, confusion folding and approximate substring search."""

from __future__ import annotations

import re
import unicodedata

# Glyphs OCR engines confuse, folded to one representative on both sides of a comparison.
_CONFUSIONS = str.maketrans(
    {
        "O": "0",
        "Q": "0",
        "D": "0",
        "I": "1",
        "L": "1",
        "J": "1",
        "S": "5",
        "B": "8",
        "Z": "2",
        "G": "6",
        "U": "V",
        "~": "",
        "|": "1",
    }
)
_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def normalize(text: str) -> str:
    """Upper-case ASCII letters and digits only: accents stripped, spaces and punctuation dropped.

    OCR engines disagree about spaces ("2001JUL05"), so matching never relies on them.
    """
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c))
    return _NON_ALNUM.sub("", t.upper())


def fold(text: str) -> str:
    """``normalize`` then map commonly confused glyphs (O/0, I/1/L, S/5, B/8, ...) to one."""
    return normalize(text).translate(_CONFUSIONS)


def tokens(text: str) -> list[str]:
    """Normalised words of ``text``, split at spaces, punctuation and letter/digit changes."""
    out = []
    for w in _NON_ALNUM.split(text.upper()):
        out.extend(t for t in re.findall(r"[A-Z]+|[0-9]+|[^\W\d_]+", w) if t)
    return out


def min_substring_distance(pattern: str, text: str) -> int:
    """The smallest edit distance between ``pattern`` and any substring of ``text`` (Myers' bit-vector)."""
    m = len(pattern)
    if m == 0:
        return 0
    if not text:
        return m
    peq: dict[str, int] = {}
    for i, c in enumerate(pattern):
        peq[c] = peq.get(c, 0) | (1 << i)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    pv, mv, score, best = full, 0, m, m
    for c in text:
        eq = peq.get(c, 0)
        xv = eq | mv
        xh = ((((eq & pv) + pv) & full) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & full
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = (ph << 1) & full
        mh = (mh << 1) & full
        pv = (mh | ~(xv | ph)) & full
        mv = ph & xv
        if score < best:
            best = score
            if best == 0:
                return 0
    return best


def tolerance(n: int) -> int:
    """Edits allowed for a value of ``n`` characters: none up to 4, one up to 8, then one per 5."""
    if n <= 4:
        return 0
    if n <= 8:
        return 1
    return n // 5


def fuzzy_contains(folded_text: str, folded_value: str) -> bool:
    """Whether ``folded_value`` occurs in ``folded_text`` within the tolerance for its length."""
    if not folded_value:
        return False
    if folded_value in folded_text:
        return True
    k = tolerance(len(folded_value))
    if k == 0 or len(folded_text) < len(folded_value) - k:
        return False
    return min_substring_distance(folded_value, folded_text) <= k
