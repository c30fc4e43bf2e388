"""Combine the layers into one decision per recognised line, with the spans of the line that are PHI.

Order: (1) this dataset's PHI values, (2) PHI patterns and values after labels, (4) the allow-list, (3) NER.
A metadata or pattern match is PHI even when the line also looks technical; the allow-list only vetoes NER,
and under policy ``strict`` it is what keeps text. Spans let the redaction remove the PHI words of a line and
keep the technical text beside them ("SMITH^JOHN  W 400 L 40").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .allowlist import AllowList, load_allowlist
from .garbled import GARBLED_BELOW, garbled_spans, known_words, ticks, unknown_names
from .metadata import MetadataMatcher, MetaHit, PhiLike, trim_edge_words, word_start
from .ner import StanzaNer, get_ner
from .patterns import (
    INITIAL_EDGE,
    LETTER_LOOKALIKES,
    STOP_WORDS,
    before_setting,
    find_labelled,
    find_name_forms,
    find_patterns,
    find_run_in_ages,
    fused_label_or_setting,
    ident_after,
    is_initial,
    lone_label,
    name_after,
    name_like,
    run_in_technical,
)

Layer = Literal["metadata", "pattern", "ner", "allowlist", "none"]
UNSURE = 0.9
"""A reading less confident than this is matched with more tolerance (``MetadataMatcher.find(loose=True)``)."""


@dataclass(frozen=True)
class Span:
    """Characters ``start``..``end`` (exclusive) of a line judged PHI, by which layer and of which kind."""

    start: int
    end: int
    layer: Layer
    kind: str


@dataclass(frozen=True)
class Decision:
    """``phi``: judged PHI; ``layer``: which layer decided; ``kind``: what was found (never the text);
    ``spans``: where in the line (empty when the decision is about the whole line)."""

    phi: bool
    layer: Layer
    kind: str = ""
    hit: MetaHit | None = None
    spans: tuple[Span, ...] = ()

    @property
    def allowlisted(self) -> bool:
        return self.layer == "allowlist"


_WORDS = re.compile(r"[^\s,]+,*|,+")  # a comma ends a word: "FTH,CHIDI" is a family name and a given name
_INITIAL_RUN_IN = re.compile(r"[A-Z]\.(?=[^\d\s.])")
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?%?")
_MISREAD_LENGTH = re.compile(r"\w{1,2}(?:MM|CM)", re.IGNORECASE)
"""A short word ending in a unit of length: after a setting's word, its value misread ("Thk Jmm" of "Thk 3mm")."""
_DIGIT_INITIAL = re.compile(r"\.?[1705|\[(]\.|\.[1705|\[(]|[\[(],")
"""An initial read as a look-alike digit or bracket, with its full stop ("J." read ".1" or "1.", "C." read "[,"): a
name's initial only right before a family name that matched."""
_LABEL_INITIAL = re.compile(r"[A-Za-z]{2}[:;]\s*(\.?[A-Z1705|]\.|\.[A-Z1705|])$")


def extend_names(spans: list[Span], text: str, allowlist: AllowList) -> list[Span]:
    """A name rarely stands alone: a span that is a name is widened over up to two name-like words on each
    side (a misread given name beside a family name that matched), stopping at technical words, digits, a
    word followed by a bare number (a setting's name: "SMITH Gn 60"), a setting's value misread after its word
    or run into it ("Thk Jmm ADEYEMI", "Adeyemi, Celine Depthlocm") and, to the left, a label ("Pt DUBOIS";
    the value of a label starts after it, so a label's span is not widened to the left at all)."""
    words = [(m.start(), m.end(), m.group()) for m in _WORDS.finditer(text)]

    def nameish(k: int) -> bool:
        w = words[k][2]
        core = w.strip(INITIAL_EDGE)
        nxt = words[k + 1][2] if k + 1 < len(words) else ""
        if len(core) == 1 and core.isalpha():
            return is_initial(w, nxt, allowlist.words)
        if len(core) == 1 and core in "710582([" and k == len(words) - 1:
            return True  # an initial read as its look-alike digit or bracket, ending the line ("SMITH 7", "Quintero (")
        if _NUMBER.fullmatch(nxt):
            return False
        if k > 0 and _MISREAD_LENGTH.fullmatch(core) and words[k - 1][2].strip(":").upper() in allowlist.words:
            return False
        cuts = range(2, len(core))
        if any(core[:i].upper() in allowlist.words and _MISREAD_LENGTH.fullmatch(core[i:]) for i in cuts):
            return False  # ... or run into it ("Depthlocm" of "Depth 16cm")
        return (
            name_like(w)
            and core.upper() not in allowlist.words
            and core.upper() not in STOP_WORDS
            and not fused_label_or_setting(core, allowlist.words)
        )

    out = []
    for s in spans:
        if s.kind not in ("name", "label", "garbled", "unknown"):
            out.append(s)
            continue
        a, b = s.start, s.end
        inside = [k for k, (ws, we, _w) in enumerate(words) if ws < b and a < we]
        if inside:
            k0, k1 = inside[0], inside[-1]
            taken = 0
            # (a value that ends in a digit is an identifier's, after its label: no name follows it, "ID:
            # 926-446-9273 H" ends with an orientation letter)
            ident = s.kind == "label" and text[b - 1 : b].isdigit()
            for k in range(k1 + 1, k1 + 1 if ident else len(words)):
                w = words[k][2]
                if taken == 0 and words[k - 1][2].endswith(",") and _misread_given(w, allowlist):
                    b, taken = words[k][1], 1  # the given name after "Family," misread ("Straass, @aaa")
                    continue
                if not any(c.isalnum() for c in w) and not (w in ("(", "[") and k == len(words) - 1):
                    continue  # punctuation read as a word of its own
                if taken == 2 or not nameish(k):
                    if _INITIAL_RUN_IN.match(w):  # an initial with technical text run into it ("P.mA200T1")
                        b = words[k][0] + 2
                    break
                b, taken = words[k][1], taken + 1
            taken = 0
            for k in range(k0 - 1, -1, -1):
                if s.kind == "label" or any(c.isdigit() for c in text[words[k0][0] : a]):
                    break  # (nor over a number before it in its word: "CCAccession 65223963Moretti")
                w = words[k][2]
                if taken == 0 and s.kind == "name" and _DIGIT_INITIAL.fullmatch(w):
                    a, taken = words[k][0], 1  # the initial before the name read as a digit (".1 Ouintero")
                    continue
                if not any(c.isalnum() for c in w):
                    continue
                if taken == 0 and s.kind == "name" and (m := _LABEL_INITIAL.search(w)) is not None:
                    a = words[k][0] + m.start(1)  # the initial run into the label before it ("Pt:.1 Ouintero")
                    break
                if taken == 2 or not nameish(k) or w.rstrip().endswith(":") or lone_label(w) is not None:
                    break
                if (cut := _technical_front(w, allowlist.words)) is not None:
                    a = words[k][0] + cut  # a setting's unit run into the given name ("bpmErik Smith")
                    break
                a, taken = words[k][0], taken + 1
        out.append(Span(a, b, s.layer, s.kind))
    return out


def _technical_front(word: str, technical: frozenset[str]) -> int | None:
    """Where a capitalised word starts in ``word`` after a technical word of two letters or more run into its
    front ("bpmErik": the unit of "HR 72 bpm" and a given name), or None."""
    m = re.match(r"[A-Za-z]*?[a-z](?=[A-Z][a-z])", word)
    if m is None or len(m.group()) < 2 or m.group().upper() not in technical:
        return None
    return m.end()


def _misread_given(word: str, allowlist: AllowList) -> bool:
    """A word that can be a given name misread: no digit, two characters or more, half of them letters or more,
    and no technical word."""
    core = word.strip(".,;:")
    return (
        len(core) >= 2
        and not any(c.isdigit() for c in core)
        and 2 * sum(c.isalpha() for c in core) >= len(core)
        and core.upper() not in allowlist.words
    )


_SEX_AFTER = re.compile(r"\s{1,2}(?:[MFO]|IM|IVI|RN|[A-Z](?!\s*[-+\d]))(?![A-Za-z\d])", re.IGNORECASE)
_MERIDIEM_AFTER = re.compile(r"\s{0,2}[AP][MNRWH](?![A-Za-z])", re.IGNORECASE)


def extend_tails(spans: list[Span], text: str, technical: frozenset[str]) -> list[Span]:
    """What a reader misreads at a value's end goes with it: the sex letter after an age ("53Y H" of "53Y M", an M
    read as "IM", "IVI" or "RN"; a letter before a number stays: "045Y W 400"), AM or PM after a time or a long
    number ("9358309 AH" of "9:58:09 AM", its colons read as digits), unless that is a ``technical`` word
    ("RAD47444824 PW": Doppler)."""
    out = []
    for s in spans:
        rx = _SEX_AFTER if s.kind == "age" else _MERIDIEM_AFTER if s.kind in ("time", "digits") else None
        m = rx.match(text, s.end) if rx is not None else None
        if m is not None and rx is _SEX_AFTER and m.group().strip().upper() not in "MFO":
            after = text[m.end() :].split(maxsplit=1)  # a letter before a setting's word is the setting's ("P Low")
            if after and after[0].strip(".,:;").upper() in technical:
                m = None
        if m is not None and (rx is _SEX_AFTER or m.group().strip().upper() not in technical):
            s = Span(s.start, m.end(), s.layer, s.kind)
        out.append(s)
    return out


_TEL_LOOKS = r"[TEL1I|!RAO\]-]"
"""The characters the label "Tel" is read as (its own letters, and 1, I, |, !, R, A, O, a bracket, a dash)."""
_PHONE_LABEL_BEFORE = re.compile(
    rf"(?<!\S)(?:[L1I|!]?T[EA][L1I|!]{{0,2}}|[L1I|!]|(?!T[12]\s)(?=\S{{0,3}}[TEL]){_TEL_LOOKS}{{2,4}})\s*[.:#]?\s*$",
    re.IGNORECASE,
)
"""The label "Tel" as it is misread ("Te", "Tal", "ltell"; "1" alone; a short word of look-alikes of its letters,
a T, an E or an L among them: "ral", "lel", "T-1", "11e1", "Tor") right before a phone number, a word of its own
(not the end of a transducer's name: "C5-1 471-087-0134"; not a weighting: "T1")."""
_PHONE_START = re.compile(r"[(<\[{]?\d{3}[)>\]}]?[\s.:=-]")


def phone_labels(spans: list[Span], text: str) -> list[Span]:
    """A phone number (read whole, or cut: "261-986-81") takes its label misread before it ("ltell 316-758-1238",
    "1 331-654-3640"): the label goes with the number, and a label left beside the removal tells its kind."""
    out = []
    for s in spans:
        if s.kind in ("phone", "id", "digits") and _PHONE_START.match(text, s.start):
            m = _PHONE_LABEL_BEFORE.search(text, 0, s.start)
            if m is not None:
                s = Span(m.start(), s.end, s.layer, s.kind)
        elif s.kind == "phone" and _LABEL_LOOKALIKES.fullmatch(text, st := word_start(text, s.start), s.start):
            s = Span(st, s.end, s.layer, s.kind)  # the label found in part ("1el 872-...": its "el")
        out.append(s)
    return out


_LABEL_LOOKALIKES = re.compile(rf"{_TEL_LOOKS}{{1,3}}", re.IGNORECASE)
"""Characters of the label "Tel" as misread, before the part of it that a phone number's pattern took."""


def _technical_ends(h: MetaHit, text: str, technical: frozenset[str]) -> MetaHit:
    """A name matched with tolerance across a space takes no technical word at its ends ("KENJ TH" of "SMTH^KENJ
    TH1": KENJI within one edit of "KENJT", the orientation "THI" read "TH1"), unless nothing else is left or
    the word is a piece of the name ("Pa pado poulos": PA)."""
    if h.kind != "name":
        return h
    words = [m.span() for m in re.finditer(r"\S+", text) if m.start() < h.end and h.start < m.end()]
    name = re.sub(r"[^A-Z]", "", h.value.upper())

    def tech(k: int) -> bool:
        w = text[words[k][0] : words[k][1]].strip(".,:;").upper().translate(LETTER_LOOKALIKES)
        return len(w) >= 2 and w in technical and w not in name

    start, end = trim_edge_words(words, h.start, h.end, tech, last_first=True)
    return h if (start, end) == (h.start, h.end) else MetaHit(h.kind, h.value, start, end)


SNAP = 2
"""A span that stops this many characters or fewer short of its word's end takes the rest of the word: a reader's
stray character ("ADEYEMI, KENJ!", "437968300K3") is part of the value, and a sliver left between two removed
boxes stays readable."""


_DOTTED_KINDS = frozenset({"name", "unknown", "garbled", "email", "entity"})
"""Spans that take a word joined to them by a full stop ("eleni." of "eleni.mackenzi"); a label does not
("Pat." of "Pat.Na")."""
_NO_LETTER_FRONT = frozenset({"age", "date", "time", "phone"})
"""Values whose first character is never a letter before their digits: a technical letter run into one stays."""
_INITIAL_BEFORE = re.compile(r"(?:^|\s)([^\s.])\.\s?$")
"""One character and a full stop right before a name: its initial, whatever it was read as."""


def _initial_after(text: str, i: int) -> bool:
    """Whether ``text[i]`` stands as an initial: after a character that is no letter or digit, or a capital
    run into the lower-case name before it ("PapadopoulosF.")."""
    return not text[i - 1].isalnum() or (text[i].isupper() and text[i - 1].islower())


def _snapped(s: Span, text: str, technical: frozenset[str], spans: Sequence[Span] = ()) -> Span:
    a, b = s.start, before_setting(text, s.start, s.end)
    e = b
    while e < len(text) and not text[e].isspace():
        e += 1
    # "43699361CC": a view's name; "2005.08.12C 50": a setting's letter before its number
    if 0 < e - b <= SNAP and not run_in_technical(text[b:e], text[e:], technical):
        b = e
    elif text[b : b + 1] == "." and b >= 1 and text[b - 1].isalpha() and (b < 2 or _initial_after(text, b - 1)):
        b += 1  # an initial's full stop, whatever is run into it ("Ferreira,E.mA200", "PapadopoulosF.Page1/3")
    elif text[b : b + 1] in ("^", "~") and text[b - 1 : b].isalpha() and not any(b < o.start < e for o in spans):
        b = e  # a name as the header writes it: its given name after the "^", misread ("MACKENZIE~JOH!")
    st = word_start(text, a)
    # a number fused before a date is another number, and a technical word before a value stays ("CCAge 82")
    # ... nor an orientation letter run into a value that never starts with a letter ("H47YRS", "HMay 21, 1976")
    front = re.sub(r"\W", "", text[st:a])  # (a bracket misread between: "H[418) 987-7217")
    lone = s.kind in _NO_LETTER_FRONT and len(front) == 1 and front.isalpha() and front.upper() in technical
    if 0 < a - st <= SNAP and not text[st:a].isdigit() and not run_in_technical(text[st:a], text[a:], technical):
        if not lone:
            a = st
    elif s.kind in _DOTTED_KINDS and 0 < a - st and text[a - 1] == "." and text[st : a - 1].isalpha():
        a = st  # the words an address joins with a dot to a name ("eleni.mackenzi" of eleni.mackenzie@mail.org)
    elif text[a : a + 1].isalpha() and (m := _INITIAL_BEFORE.search(text, 0, a)) is not None:
        a = m.start(1)  # an initial read as a digit or a mark before a name ("2. Olonkwo" of "E. Okonkwo")
    return Span(a, b, s.layer, s.kind)


def merge_spans(spans: list[Span], text: str, technical: frozenset[str] = frozenset()) -> tuple[Span, ...]:
    """Spans widened to the end of a word they stop just short of (``SNAP``), unless what is left of the word is
    a ``technical`` word run into the value; then overlapping spans, spans separated only by punctuation and
    spaces (three characters at most: "ADEYEM1 ^ KENJ1"), and spans one character apart (a separator misread as a
    letter: "DUBOISAPAULO"), joined (the first layer and kind stand for the joined span)."""
    out: list[Span] = []
    for s in sorted((_snapped(s, text, technical, spans) for s in spans), key=lambda s: (s.start, -s.end)):
        if out:
            gap = text[out[-1].end : s.start]
            if s.start <= out[-1].end or (len(gap) <= 3 and not any(c.isalnum() for c in gap)) or len(gap) == 1:
                p = out[-1]
                out[-1] = Span(p.start, max(p.end, s.end), p.layer, p.kind)
                continue
        out.append(s)
    return tuple(out)


class TextJudge:
    """Judges recognised lines for one dataset."""

    def __init__(
        self, phi: PhiLike, *, stanza_models_dir: Path | None = None, allowlist: AllowList | None = None
    ) -> None:
        self.allowlist = allowlist or load_allowlist()
        self.meta = MetadataMatcher(phi, self.allowlist.words)
        self.ner: StanzaNer | None = get_ner(stanza_models_dir) if stanza_models_dir is not None else None

    def judge(self, text: str, confidence: float = 1.0) -> Decision:
        """The decision on one recognised line; an unsure reading (``confidence`` below ``UNSURE``) is matched
        against this dataset's values with more tolerance (small text is misread in several places)."""
        spans: list[Span] = []
        hits = self.meta.find(text, loose=confidence < UNSURE)
        if confidence < UNSURE:
            hits = self._plausible(text, hits)
        hits = [_technical_ends(h, text, self.allowlist.words) for h in hits]
        spans += [Span(h.start, h.end, "metadata", h.kind) for h in hits]
        if not hits and (age := self.meta.age_after_label(text)) is not None:
            spans.append(Span(age.start, age.end, "metadata", "age"))
        if not hits and (frag := self.meta.fragment(text)) is not None:
            hits.append(frag[0])  # a piece cut from inside a value: the reading whole
            spans.append(Span(0, len(text), "metadata", frag[0].kind))
        spans += [Span(a, b, "pattern", k) for k, a, b in find_patterns(text)]
        spans += [Span(a, b, "pattern", k) for k, a, b in find_labelled(text, self.allowlist.words)]
        spans += [Span(a, b, "pattern", k) for k, a, b in find_name_forms(text, self.allowlist.words)]
        spans += [Span(a, b, "pattern", k) for k, a, b in find_run_in_ages(text, self.allowlist.words)]
        if spans:
            first = spans[0]
            spans = extend_tails(extend_names(spans, text, self.allowlist), text, self.allowlist.words)
            spans = phone_labels(spans, text)
            return Decision(
                True, first.layer, first.kind, hits[0] if hits else None, merge_spans(spans, text, self.allowlist.words)
            )
        if self.allowlist.allows(text):
            return Decision(False, "allowlist")
        if self.ner is not None:
            ents = [Span(a, b, "ner", "entity") for a, b in self.ner.entity_spans(text)]
            if ents:
                return Decision(True, "ner", "entity", None, merge_spans(ents, text, self.allowlist.words))
        return Decision(False, "none")

    def _plausible(self, text: str, hits: list[MetaHit]) -> list[MetaHit]:
        """Loose hits (an unsure reading, matched with two edits in five) that technical vocabulary explains
        better are dropped: "250 mAs i" is not "TOMASZ". A hit the strict matcher also finds always stays."""
        strict = {(h.kind, h.start, h.end) for h in self.meta.find(text)}
        allowed = self.allowlist.allowed_spans(text)
        out = []
        for h in hits:
            if (h.kind, h.start, h.end) not in strict:
                chars = [i for i in range(h.start, h.end) if text[i].isalnum()]
                covered = sum(any(a <= i < b for a, b in allowed) for i in chars)
                if chars and covered * 2 > len(chars):
                    continue
                if ticks(text[h.start : h.end]):
                    continue  # a ruler's ticks read "ELLLL" are not ELENI
                if h.kind == "name" and any(_NUMBER.fullmatch(w) for w in text[h.start : h.end].split()):
                    continue  # a name is not misread as a whole number beside it: "Sen 31" is "Se: 3"
            out.append(h)
        return out

    def garbled(self, text: str, confidence: float, alternates: Sequence[str] = ()) -> Decision | None:
        """PHI for the words of an unsure reading (below ``GARBLED_BELOW``) that match no known word
        (``garbled.garbled_spans``), and for the unknown words of a sure one that may be a name no layer knows
        (``garbled.unknown_names``); widened over an initial or name beside them like a name. Not when the line is
        technical annotation, or one of the ``alternates`` (the second reader's reading of the line, the same
        place read on another frame) makes sense of it: then the first reading misread technical text ("plou"
        for "P Low"). None when nothing is found."""
        if self.allowlist.allows(text):
            return None
        sure = confidence >= GARBLED_BELOW
        found = unknown_names(text) if sure else garbled_spans(text)
        if not found or any(self._makes_sense(alt, text) for alt in alternates):
            return None
        kind = "unknown" if sure else "garbled"
        spans = extend_names([Span(a, b, "pattern", kind) for a, b in found], text, self.allowlist)
        return Decision(True, "pattern", kind, None, merge_spans(spans, text, self.allowlist.words))

    def _makes_sense(self, alternate: str, text: str) -> bool:
        """Whether a second reading of a garbled line reads at least half as many letters and digits, all of it
        technical annotation or known words, one of four letters or more at least, known as it is: a second
        reader's "Tae", "WAGE", "Ll 24) 206" or "eH. Pare" (a letter from "PART") of a line it could not read
        either make no sense of it)."""
        if 2 * sum(c.isalnum() for c in alternate) < sum(c.isalnum() for c in text):
            return False
        if self.allowlist.allows(alternate):
            return any(c.isalnum() for c in alternate)
        return not garbled_spans(alternate) and bool(known_words(alternate, exact=True))

    def unread_rest(self, piece: str, before: bool, after: bool) -> tuple[int, int]:
        """Characters of a value of this dataset that a reader cut off before and after ``piece``, a span at the
        start (``before``) or end (``after``) of its reading (``MetadataMatcher.unread_rest``)."""
        return self.meta.unread_rest(piece, before, after)

    def judge_value_after_label(self, text: str, *, person: bool = True) -> Decision:
        """The line to the right of a lone label ("Tech:" | "JONES  W 400", "ID" | "A12345"): its leading name
        (``person``) or identifier is PHI, besides whatever the line holds itself."""
        span = name_after(text, 0, self.allowlist.words) if person else ident_after(text, 0, self.allowlist.words)
        base = self.judge(text)
        if span is None:
            return base
        spans = [Span(span[0], span[1], "pattern", "label"), *base.spans]
        return Decision(True, "pattern", "label", base.hit, merge_spans(spans, text, self.allowlist.words))

    def must_redact(self, decision: Decision, policy: str) -> bool:
        """Whether a line with ``decision`` loses anything under pixel ``policy`` (phi, strict, all, off)."""
        if policy == "all":
            return True
        if policy == "strict":
            return decision.phi or not decision.allowlisted
        if policy == "phi":
            return decision.phi
        return False

    def removed_spans(self, text: str, decision: Decision, policy: str) -> list[tuple[int, int]] | None:
        """What of the line goes under ``policy``: character spans, or None for the whole line."""
        if policy == "all":
            return None
        if policy == "strict":
            if decision.allowlisted:
                return []
            keep = self.allowlist.allowed_spans(text)
            phi = [(s.start, s.end) for s in decision.spans]
            out, i = [], 0
            for a, b in sorted(keep):
                if a > i:
                    out.append((i, a))
                i = max(i, b)
            if i < len(text):
                out.append((i, len(text)))
            out = [(a, b) for a, b in out if text[a:b].strip(" :=/,;()[]")] + phi
            return out
        if policy == "phi":
            return [(s.start, s.end) for s in decision.spans] if decision.phi else []
        return []
