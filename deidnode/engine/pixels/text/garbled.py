"""Words a reader could not make sense of: an unsure reading of letters that match no word the node knows.

Text the reader misread beyond recognition ("YOUCOK IAR8A" for "WOJCIK FRIEDA", "BFRENECDINIC" for "ST
BRENDAN CLINIC") matches neither this dataset's values nor a pattern, so it would stay as it is. Such a word is
as unread as a text-like region no reader read, and it is removed like one; a misread technical word stays,
because it is still close to a word the node knows (``rules/pixel_allowlist.yaml``, the common and clinical
words of ``rules/common_words.yaml``, the label and cue words): "Z00M", "Depth 16cn", "Sonogra".

A surely read word can be a name no layer knows: a technologist's name whose label the reader lost or read apart
("KRISTIANSEN", "PTOKONKWO", "R Eleni Wojcik"). A capitalised word of ``NAME_LETTERS`` letters or more that is no
known word, nor two technical words run together ("APGen", "THITECH"), is taken for one, as is a longer word
without a capital (a name cut at the box's edge: "istiansen"; ``unknown_names``).
"""

from __future__ import annotations

import functools
import re

from ...names import load_name_rules
from ...phi import MONTH_NAMES, MONTHS
from .allowlist import load_allowlist
from .fuzzy import fold, within_edits
from .patterns import ID_LABELS, ROLE_LABELS, ROLE_WORDS, STOP_WORDS, lone_label

GARBLED_BELOW = 0.8
"""Confidence under which a reading's unknown words count as garbled. On the dev split (200 images), against no
such rule: PHI removed 1189 -> 1198 of 1261, technical kept 673 -> 670 of 704; small bitmap set: PHI 632 -> 640 of
696, technical 336 -> 329 of 369. Before garbled words had to lie where text is known to be (``detect``'s
``_beside_sure_text``, ``_glyphs_under``): 0.7 gave dev 1197 and 671, 0.8 1201 and 669, 0.9 1202 and 668 (small
bitmap: 642 and 329 at 0.7 and 0.8, 648 and 326 at 0.9)."""

MIN_LETTERS = 4
"""Shorter letter runs are left alone: three letters or fewer match some word too easily to tell (and a reader
makes them up on anatomy: "llr", "TNT")."""

NAME_LETTERS = 5
"""A surely read unknown word is taken for a name from this many letters. Tuning data (three dev-drawn 400s,
``bench/pixels_quick.py``): PHI +3, +8 and +4 segments, no technical segment lost; the untouched dev-drawn 300 PHI
+3, technical -1, its clean images unchanged. 4 letters gained one PHI segment more on 200 images and lost one
technical segment more ("W 400 L 40" beside a four-letter misreading)."""

CUT_NAME_LETTERS = 7
"""... and without a capital from this many: a name whose first letters the reader's box cut off ("istiansen"), a
piece of an e-mail address. Tuning data: PHI +1, +0 and +1 segments on 200 images of each dev-drawn set, none
lost, the untouched set's clean images unchanged."""

_WORD = re.compile(r"[^\s.:;,/=]+")  # a word ends at a space or at the marks that join settings ("Thk.3mm")
_TRIPLE = re.compile(r"(.)\1\1")
TICK_LETTERS = frozenset("LIJRTlijrt1|!")
"""What the ticks of a ruler, a scale bar or an ECG trace are read as: upright strokes and their corners."""
_OPTIONAL = re.compile(r"\(\?:([A-Z]+)\)\??")
_EDGE = ".,:;!?'\"()[]{}<>#+-=*_|"


@functools.cache
def _vocabulary() -> dict[int, frozenset[str]]:
    """Folded known words by length."""
    rules = load_name_rules()
    words = set(load_allowlist().words) | set(STOP_WORDS) | set(ROLE_WORDS) | set(MONTHS) | set(MONTH_NAMES)
    words |= set(rules.common) | set(rules.cue_words)
    words |= _label_words()
    out: dict[int, set[str]] = {}
    for w in words:
        f = fold(w)
        if len(f) >= 2:
            out.setdefault(len(f), set()).add(f)
    return {n: frozenset(v) for n, v in out.items()}


@functools.lru_cache(maxsize=4096)
def known(word: str) -> bool:
    """Whether ``word`` (letters) is a known word read with up to one error in four letters (two from eight),
    or the start or end of one, four letters or more (a word cut at the edge of its box: "Sonogra", "ccession")."""
    f = fold(word)
    n = len(f)
    k = 1 if n < 8 else 2
    vocab = _vocabulary()
    for m in range(max(2, n - k), n + k + 1):
        if any(within_edits(f, v, k) for v in vocab.get(m, ())):
            return True
    return any(v.startswith(f) or v.endswith(f) for m, vs in vocab.items() if m > n for v in vs)


def _words(text: str) -> list[tuple[int, int, str]]:
    """(start, end, letters) of the words of ``text`` with ``MIN_LETTERS`` letters or more and one digit at most
    (a letter misread as one: "IAR8A"), but not a ruler's ticks (``ticks``)."""
    out = []
    for m in _WORD.finditer(text):
        core = m.group().strip(_EDGE)
        if not core or sum(c.isdigit() for c in core) > 1:
            continue
        letters = "".join(c for c in core if c.isalpha())
        if len(letters) >= MIN_LETTERS and not ticks(core):
            start = m.start() + m.group().index(core)
            out.append((start, start + len(core), letters))
    return out


def ticks(word: str) -> bool:
    """Whether ``word`` is a reading of a ruler's or a trace's ticks, not of text: a letter three times in a row
    ("LLLLL", "ULLLL"; no word has that), or nothing but ``TICK_LETTERS`` ("LILrL", "lJLl")."""
    letters = "".join(c for c in word if not c.isspace())
    return bool(_TRIPLE.search(letters.upper())) or (len(letters) >= 3 and set(letters) <= TICK_LETTERS)


def garbled_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the words of ``text`` (``_words``) that are no known word, nor a label read on its
    own."""
    return [(a, b) for a, b, w in _words(text) if not known(w) and lone_label(text[a:b]) is None]


def unknown_names(text: str) -> list[tuple[int, int]]:
    """Character spans of the words of ``text`` that may be names no layer knows: all letters, ``NAME_LETTERS``
    or more with a capital first (``CUT_NAME_LETTERS`` without), no known word (``known``), nor technical words
    run together (``_run_together``), nor a label read on its own."""
    out = []
    for a, b, w in _words(text):
        if w != text[a:b] or len(w) < (NAME_LETTERS if w[0].isupper() else CUT_NAME_LETTERS):
            continue
        if _MEASURE.match(text, b):
            continue  # a setting's name misread, before its measurement ("Deyrh 16cm", "Zoorh 1.2")
        if not known(w) and not _run_together(w) and lone_label(w) is None:
            out.append((a, b))
    return out


_MEASURE = re.compile(r"\s*(?:\d+[.,]\d+|\d+\s*(?:cm|mm|%|hz|khz|mhz|db|ms))(?![^\W\d_])", re.IGNORECASE)
"""A measurement: a decimal number, or a number and its unit."""


def _label_words() -> set[str]:
    """The words of the role and identifier labels, short and long ("PAT(?:IENT)?": PAT and PATIENT)."""
    words: set[str] = set()
    for p in ROLE_LABELS + ID_LABELS:
        words |= set(re.findall(r"[A-Z]{2,}", p) + re.findall(r"[A-Z]{2,}", _OPTIONAL.sub(r"\1", p)))
    return words


@functools.cache
def _technical() -> frozenset[str]:
    """Folded technical and label words: what two words run together in a surely read word may be."""
    words = set(load_allowlist().words) | set(ROLE_WORDS) | _label_words()
    return frozenset(fold(w) for w in words if len(w) >= 2)


def _run_together(word: str) -> bool:
    """Whether ``word`` is two technical or label words with the space between them lost ("APGen": AP, Gen;
    "THITECH": THI, TECH)."""
    f, tech = fold(word), _technical()
    return any(f[:i] in tech and f[i:] in tech for i in range(2, len(f) - 1))


def known_words(text: str, exact: bool = False) -> list[str]:
    """The words of ``text`` (``_words``) that are known words (``exact``: as they are, no letter misread)."""
    if exact:
        vocab = _vocabulary()
        folded = [(w, fold(w)) for _a, _b, w in _words(text)]
        return [w for w, f in folded if f in vocab.get(len(f), ())]
    return [w for _a, _b, w in _words(text) if known(w)]
