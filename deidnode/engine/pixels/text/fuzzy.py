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


def fold_map(text: str) -> tuple[str, list[int]]:
    """``fold(text)`` and, for each of its characters, the index in ``text`` it came from."""
    out, idx = [], []
    for i, c in enumerate(text):
        base = "".join(ch for ch in unicodedata.normalize("NFKD", c) if not unicodedata.combining(ch)).upper()
        for ch in base:
            if ch.isalnum() and ch.isascii():
                out.append(ch.translate(_CONFUSIONS))
                idx.append(i)
    return "".join(out), idx


def approx_spans(pattern: str, text: str, k: int) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) spans of ``text`` within ``k`` edits of ``pattern``, the closest first.

    A plain dynamic programme (semi-global: the pattern whole, the text anywhere) that tracks where each match
    starts; meant for the few lines ``fuzzy_contains`` already accepted.
    """
    m = len(pattern)
    if m == 0 or not text:
        return []
    prev = list(range(m + 1))
    prev_start = [0] * (m + 1)
    cands: list[tuple[int, int, int]] = []  # (cost, start, end)
    for j, c in enumerate(text, 1):
        cur, cur_start = [0], [j]
        for i in range(1, m + 1):
            sub = prev[i - 1] + (pattern[i - 1] != c)
            ins = prev[i] + 1
            dele = cur[i - 1] + 1
            if sub <= ins and sub <= dele:
                cur.append(sub)
                cur_start.append(prev_start[i - 1] if i > 1 else j - 1)
            elif ins <= dele:
                cur.append(ins)
                cur_start.append(prev_start[i])
            else:
                cur.append(dele)
                cur_start.append(cur_start[i - 1])
        if cur[m] <= k:
            cands.append((cur[m], cur_start[m], j))
        prev, prev_start = cur, cur_start
    spans: list[tuple[int, int]] = []
    for _cost, a, b in sorted(cands, key=lambda t: (t[0], abs((t[2] - t[1]) - m), t[1])):
        if all(b <= s0 or a >= s1 for s0, s1 in spans):
            spans.append((a, b))
    return sorted(_tightened(pattern, text, a, b) for a, b in spans)


def _tightened(pattern: str, text: str, a: int, b: int) -> tuple[int, int]:
    """``text[a:b]`` without a character at either end that the match is closer without: the alignment may
    take a neighbour's character for one of the value's it dropped ("0MOUNTCARMEL" of "TI 150MOUNT CARMEL": the
    setting's last digit), but a misread first or last character, as close either way, stays."""
    cost = distance(pattern, text[a:b])
    while b - a > 1 and (c := distance(pattern, text[a + 1 : b])) < cost:
        a, cost = a + 1, c
    while b - a > 1 and (c := distance(pattern, text[a : b - 1])) < cost:
        b, cost = b - 1, c
    return a, b


def distance(a: str, b: str, bound: int | None = None) -> int:
    """The Levenshtein distance of ``a`` and ``b``; with a ``bound``, exact up to it, and some number over it where
    the distance is over it (the table stops at the first row that is over it everywhere)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if bound is not None and min(cur) > bound:
            return bound + 1
        prev = cur
    return prev[-1]


def find_spans(folded_text: str, folded_value: str, loose: bool = False) -> list[tuple[int, int]]:
    """Where ``folded_value`` occurs in ``folded_text`` within the tolerance for its length (folded indices);
    ``loose``: the reading itself is unsure, so a value of five or more characters may differ in two fifths
    of them."""
    if not folded_value:
        return []
    if loose and len(folded_value) >= 5:
        k = max(tolerance(len(folded_value)), (2 * len(folded_value)) // 5)
        if folded_value in folded_text or min_substring_distance(folded_value, folded_text) <= k:
            # a loose match may misread or drop characters, but keeps two thirds of the value's length: "P Lo" is
            # not "PAULO" ("WOIC" may be "WOJCIK")
            least = -(-2 * len(folded_value) // 3)
            return [(a, b) for a, b in approx_spans(folded_value, folded_text, k) if b - a >= least]
        return []
    if not fuzzy_contains(folded_text, folded_value):
        return []
    spans = []
    at = folded_text.find(folded_value)
    while at >= 0:
        spans.append((at, at + len(folded_value)))
        at = folded_text.find(folded_value, at + len(folded_value))
    if spans:
        return spans
    return approx_spans(folded_value, folded_text, tolerance(len(folded_value)))


def to_text_span(idx: list[int], start: int, end: int) -> tuple[int, int]:
    """A span of folded characters as a span of the original text (``fold_map``'s index list)."""
    return idx[start], idx[end - 1] + 1


def tokens(text: str) -> list[str]:
    """Normalised words of ``text``, split at spaces, punctuation and letter/digit changes."""
    out: list[str] = []
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


def within_edits(a: str, b: str, k: int) -> bool:
    """Whether the Levenshtein distance of ``a`` and ``b`` (whole words) is at most ``k``."""
    return distance(a, b, k) <= k


def tolerance(n: int) -> int:
    """Edits allowed for a value of ``n`` characters: none up to 4, one up to 6, two up to 9, then one per 4
    (small burned-in text is often misread in two places: "WOJCIK" read "Wojsk")."""
    if n <= 4:
        return 0
    if n <= 6:
        return 1
    if n <= 9:
        return 2
    return n // 4


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
