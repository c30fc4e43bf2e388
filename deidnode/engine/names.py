"""Person names in free text that the instance's own header does not hold (issue: names of colleagues, consultants
and family members in comments, reports and descriptions).

Three layers, applied after ``phi.scrub_text`` (which removes the instance's own values and generic patterns):

1. **Cues** (``rules/name_cues.yaml``): a title, role, "discussed with"-style phrase or family word announces a
   name; the name words after it (capitalised, or any word in all-capital text, initials, particles; never a word
   of ``rules/common_words.yaml``) are removed, the cue is kept. Post-nominal letters (MD, RN...) announce the
   words before them; Japanese honorific suffixes the characters before them. Eponyms followed by their context
   ("Parkinson disease", "Crohn's") are kept.
2. **The study lexicon**: keyed hashes of the name words, identifiers and identifying phrases seen in any
   instance of the same patient (see :class:`Lexicon`), matched against the text's words and short word runs.
   A lexicon word that is also a common word is removed only next to another name or after a cue.
3. **NER** (optional): PERSON entities from stanza when a models folder is configured (``names_ner.py``).

Pure: the lexicon is passed in (the node and ``deid`` implement it) and the words found are returned as hashes
for the caller to store. Nothing here holds a name beyond the call.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Protocol

import yaml

from ..config import RULES_DIR
from .keys import Keys
from .phi import PhiValues, scrub_text


class Lexicon(Protocol):
    """What the engine asks of a study lexicon: the token hashes known for a patient scope."""

    def known(self, scope: bytes) -> Collection[bytes]: ...


NerFn = Callable[[str], list[tuple[int, int]]]
"""Character spans of PERSON entities in a text."""

_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*\.?", re.UNICODE)
_RUN = re.compile(r"[^\W_]+", re.UNICODE)
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SPACES = re.compile(r"\s{2,}")
PHRASE_START = "\x01"  # marks the first word of a phrase in the lexicon, so only runs that start one are hashed


_NOT_ALNUM_ASCII = re.compile(r"[^A-Za-z0-9]+")


@lru_cache(maxsize=1 << 16)
def normalize_token(word: str) -> str:
    """Upper case, accents and punctuation removed: 'Müller' and 'MULLER', "O'Brien" and 'OBRIEN' agree.
    (A pure function of the word, memoised: the words of one study's texts repeat.)"""
    if word.isascii():
        return _NOT_ALNUM_ASCII.sub("", word).upper()
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c)).upper()


@dataclass(frozen=True)
class Cue:
    """A cue as words (lower case) and the text between them ("d/w": "d", "/", "w")."""

    words: tuple[str, ...]
    gaps: tuple[str, ...]
    title: bool
    """A title: announces a name in all-capital text too."""
    exact: tuple[str, ...] | None
    """Case-sensitive cues: the words as they must be written."""


@dataclass(frozen=True)
class NameRules:
    cues: dict[str, tuple[Cue, ...]]
    """Cues by their first word, lower case (a word list lookup: one regex of 300 alternatives cost more than the
    rest of the header)."""
    protected: re.Pattern[str] | None
    after: frozenset[str]
    suffix: re.Pattern[str] | None
    particles: frozenset[str]
    eponyms: frozenset[str]
    contexts: frozenset[str]
    common: frozenset[str]
    cue_words: frozenset[str] = field(default=frozenset())


def _cue_index(groups: list[list[str]], case_sensitive: Collection[str]) -> dict[str, tuple[Cue, ...]]:
    index: dict[str, list[Cue]] = {}
    for g, group in enumerate(groups):
        for cue in group:
            cue = cue.rstrip(":")
            found = list(_WORD.finditer(cue))
            if not found:
                continue
            words = tuple(m.group().lower() for m in found)
            gaps = tuple(cue[a.end() : b.start()] for a, b in zip(found, found[1:], strict=False))
            exact = tuple(m.group() for m in found) if cue in case_sensitive else None
            index.setdefault(words[0], []).append(Cue(words, gaps, g == 0, exact))
    return {k: tuple(v) for k, v in index.items()}


def _cue_pattern(cues: Iterable[str], case_sensitive: Collection[str] = ()) -> re.Pattern[str]:
    """Whole-word alternation; cues in ``case_sensitive`` match only as written, the others in any case."""
    alts = []
    for c in sorted(set(cues), key=lambda a: (-len(a), a)):
        alts.append(re.escape(c) if c in case_sensitive else "(?i:" + re.escape(c) + ")")
    return re.compile(r"(?<![^\W_])(?:" + "|".join(alts) + r")(?![^\W_])", re.UNICODE)


@cache
def load_name_rules() -> NameRules:
    cues = yaml.safe_load((Path(RULES_DIR) / "name_cues.yaml").read_text(encoding="utf-8"))
    words = yaml.safe_load((Path(RULES_DIR) / "common_words.yaml").read_text(encoding="utf-8"))
    before = [str(c) for group in cues["before"] for c in group]
    sensitive = {str(c) for c in cues.get("case_sensitive", [])}
    suffix = cues.get("suffix") or []
    protected = [str(p) for p in cues.get("protected", [])]
    return NameRules(
        cues=_cue_index([[str(c) for c in group] for group in cues["before"]], sensitive),
        protected=_cue_pattern(protected) if protected else None,
        after=frozenset(normalize_token(str(c)) for c in cues["after"]),
        suffix=re.compile(f"([{_CJK}]{{1,4}})(?=" + "|".join(map(re.escape, suffix)) + ")") if suffix else None,
        particles=frozenset(str(p).lower() for p in cues["particles"]),
        eponyms=frozenset(normalize_token(str(e)) for e in cues["eponyms"]),
        contexts=frozenset(str(c).lower() for c in cues["eponym_contexts"]),
        common=frozenset(normalize_token(str(w)) for k in ("function", "clinical") for w in words[k]),
        cue_words=frozenset(normalize_token(w) for c in before for w in c.split()),
    )


def _span(m: re.Match[str]) -> tuple[int, int]:
    """A name word's span; a sentence's full stop after a word (not an initial) stays in the text."""
    a, b = m.span()
    return (a, b - 1) if m.group().endswith(".") and b - a > 2 else (a, b)


def _is_eponym_use(words: list[re.Match[str]], i: int, text: str, rules: NameRules) -> bool:
    """Word ``i`` is an eponym used as one: "Crohn's", "Parkinson disease", "pouch of Douglas"."""
    if normalize_token(words[i].group().rstrip(".").split("'")[0].split("’")[0]) not in rules.eponyms:
        return False
    end = words[i].end()
    if text[end : end + 2] in ("'s", "’s") or words[i].group().lower().endswith(("'s", "’s")):
        return True
    if i + 1 < len(words) and words[i + 1].group().rstrip(".").lower() in rules.contexts:
        return True
    return i > 0 and words[i - 1].group().lower() in ("of", "de", "von")  # pouch of Douglas, circle of Willis


class NameCleaner:
    """Cleans free-text values of one instance; collects the name words it found (for the lexicon)."""

    def __init__(
        self,
        phi: PhiValues,
        keys: Keys | None = None,
        scope: bytes = b"",
        known: Collection[bytes] = (),
        ner: NerFn | None = None,
    ) -> None:
        self.phi = phi
        self.rules = load_name_rules()
        self.keys = keys
        self.scope = scope
        self.known = known
        self.ner = ner
        self._hashes: dict[str, bytes] = {}
        self.found: set[str] = set()
        """Normalised name words found by cues or NER in this instance's text (never written out in clear)."""

    def _hash(self, token: str) -> bytes:
        h = self._hashes.get(token)
        if h is None:
            assert self.keys is not None
            h = self._hashes[token] = self.keys.lexicon_token(self.scope, token)
        return h

    def clean(self, text: str) -> str:
        """``text`` without the instance's PHI, patterns, cued names, study-lexicon hits and NER persons."""
        if not text:
            return text
        out = scrub_text(text, self.phi)
        spans = self._cued(out)
        if self.known and self.keys is not None:
            spans += self._lexicon(out, spans)
        if self.ner is not None:
            for a, b in self.ner(out):
                spans.append((a, b))
                self.found.update(normalize_token(w) for w in out[a:b].split() if len(normalize_token(w)) >= 2)
        if not spans:
            return out
        chars = list(out)
        for a, b in spans:
            for i in range(a, b):
                chars[i] = "\x00"
        cleaned = "".join(chars)
        cleaned = re.sub(r"\x00+", "", cleaned)
        cleaned = _SPACES.sub(" ", cleaned).strip(" ,;:-/^")
        return cleaned

    # -- layer 1: cues ---------------------------------------------------------------------------------------
    def _cued(self, text: str) -> list[tuple[int, int]]:
        rules = self.rules
        words = list(_WORD.finditer(text))
        if not words:
            return []
        caps = text.upper() == text
        spans: list[tuple[int, int]] = []
        hits = self._cues(words, text, caps)
        starts = {m.start(): i for i, m in enumerate(words)} if hits else {}
        guarded = [m.span() for m in rules.protected.finditer(text)] if hits and rules.protected else []
        for start, end in hits:
            if any(a <= start < b for a, b in guarded):
                continue
            i = next((starts[s] for s in range(end, min(len(text), end + 4) + 1) if s in starts), None)
            if i is None or not re.fullmatch(r"[\s,:;.(]*", text[end : words[i].start()]):
                continue
            if normalize_token(words[i].group()) in rules.cue_words and words[i].start() < end + 4:
                continue  # "discussed with Dr ...": the honorific is a cue of its own
            spans += self._name_after(words, i, text, caps)
        for i, m in enumerate(words):
            if i > 0 and m.group().upper().replace(".", "") in rules.after:
                spans += self._name_before(words, i, text, caps)
        if rules.suffix is not None and not text.isascii():
            for m in rules.suffix.finditer(text):
                spans.append(m.span(1))
                self.found.add(normalize_token(m.group(1)))
        return spans

    def _cues(self, words: list[re.Match[str]], text: str, caps: bool) -> list[tuple[int, int]]:
        """(start, end) of each cue in the text (titles only in all-capital text)."""
        out = []
        index = self.rules.cues
        for i, m in enumerate(words):
            w = m.group().lower()
            candidates = index.get(w, ()) + (index.get(w.rstrip("."), ()) if w.endswith(".") else ())
            for cue in candidates:
                if caps and not cue.title:
                    continue
                k = len(cue.words)
                if i + k > len(words):
                    continue
                seq = words[i : i + k]
                if any(seq[j].group().lower().rstrip(".") != cue.words[j].rstrip(".") for j in range(1, k)):
                    continue
                gaps = [text[a.end() : b.start()] for a, b in zip(seq, seq[1:], strict=False)]
                if any(g != cg and not (cg == " " and g.isspace()) for g, cg in zip(gaps, cue.gaps, strict=True)):
                    continue
                if cue.exact is not None and tuple(x.group().rstrip(".") for x in seq) != tuple(
                    e.rstrip(".") for e in cue.exact
                ):
                    continue
                out.append((m.start(), seq[-1].end()))
        return out

    def _name_word(self, m: re.Match[str], caps: bool) -> bool:
        w = m.group()
        token = normalize_token(w)
        if len(token) == 1:  # an initial: "J." anywhere, "J" in mixed-case text
            return w.endswith(".") or (not caps and w.isupper())
        if not token or token in self.rules.common or token in self.rules.cue_words:
            return False
        return caps or w[0].isupper()

    def _name_after(self, words: list[re.Match[str]], i: int, text: str, caps: bool) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        particles: list[tuple[int, int]] = []  # kept only when a name word follows them
        taken = 0
        while i < len(words) and taken < 3:
            m = words[i]
            last = (particles or spans)[-1][1] if particles or spans else None
            if last is not None and not re.fullmatch(r"[ \t]+|[ \t]*-[ \t]*", text[last : m.start()]):
                break
            if m.group().lower() in self.rules.particles or m.group().lower().rstrip(".") in self.rules.particles:
                particles.append(m.span())
                i += 1
                continue
            if _is_eponym_use(words, i, text, self.rules) or not self._name_word(m, caps):
                break
            spans += particles
            particles = []
            spans.append(_span(m))
            self.found.add(normalize_token(m.group()))
            taken += 1
            i += 1
        return spans

    def _name_before(self, words: list[re.Match[str]], i: int, text: str, caps: bool) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        j = i - 1
        end = words[i].start()
        while j >= 0 and len(spans) < 3:
            m = words[j]
            if not re.fullmatch(r"[ \t]*,?[ \t]*", text[m.end() : end]):
                break
            if _is_eponym_use(words, j, text, self.rules) or not self._name_word(m, caps):
                break
            spans.append(_span(m))
            self.found.add(normalize_token(m.group()))
            end = m.start()
            j -= 1
        return spans

    # -- layer 2: the study lexicon --------------------------------------------------------------------------
    def _lexicon(self, text: str, cued: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Words, and runs of 2-6 words (phrases) or 2-3 alphanumeric runs joined by - . / (identifiers), whose
        keyed hash the lexicon holds for this patient."""
        rules = self.rules
        words = list(_WORD.finditer(text))
        hits: list[tuple[int, int]] = []
        single: dict[int, bool] = {}  # word index -> common word (needs a neighbour)
        norm = [normalize_token(m.group()) for m in words]
        for i, token in enumerate(norm):
            if len(token) < 2 or _is_eponym_use(words, i, text, rules):
                continue
            if self._hash(token) in self.known:
                single[i] = token in rules.common
                continue
            parts = [normalize_token(p) for p in re.split(r"['’\-]", words[i].group()) if p]
            if len(parts) > 1 and any(len(p) >= 2 and self._hash(p) in self.known for p in parts):
                single[i] = False  # one part of a double-barrelled or O'-name is a known name word
        cued_starts = {a for a, _ in cued}
        for i, common in single.items():
            if common:
                neighbour = (i - 1 in single and not single[i - 1]) or (i + 1 in single and not single[i + 1])
                after_cue = i > 0 and words[i - 1].start() in cued_starts
                if not (neighbour or after_cue):
                    continue
            hits.append(words[i].span())
        for i in range(len(words) - 1):  # phrases (institution, address, station...), marked by their first word
            if not norm[i] or self._hash(PHRASE_START + norm[i]) not in self.known:
                continue
            for n in range(2, min(7, len(words) - i + 1)):
                if self._hash(" ".join(norm[i : i + n])) in self.known:
                    hits.append((words[i].start(), words[i + n - 1].end()))
        runs = list(_RUN.finditer(text))
        for i in range(len(runs)):  # identifiers, also when written with separators
            for n in (1, 2, 3):
                if i + n > len(runs):
                    break
                if n > 1 and not re.fullmatch(r"[-./]", text[runs[i + n - 2].end() : runs[i + n - 1].start()]):
                    break
                token = "".join(normalize_token(r.group()) for r in runs[i : i + n])
                if len(token) >= 3 and any(c.isdigit() for c in token) and self._hash(token) in self.known:
                    hits.append((runs[i].start(), runs[i + n - 1].end()))
        return hits


def lexicon_tokens(phi: PhiValues, found: Iterable[str] = ()) -> set[str]:
    """The normalised tokens an instance adds to its patient's lexicon: name words of every person name, the
    names its text announced, identifiers, and identifying phrases (institution, address, station...)."""
    tokens = {t for t in (normalize_token(p) for p in phi.name_parts) if len(t) >= 2}
    tokens.update(t for t in found if len(t) >= 2)
    for ident in phi.identifiers:
        t = "".join(normalize_token(r) for r in _RUN.findall(ident))
        if len(t) >= 3:
            tokens.add(t)
    for text in phi.texts:
        words = [normalize_token(w) for w in _WORD.findall(text)]
        words = [w for w in words if w]
        if len(words) >= 2:
            tokens.add(" ".join(words))
            tokens.add(PHRASE_START + words[0])
        elif words and len(words[0]) >= 3:
            tokens.add(words[0])
    return tokens
