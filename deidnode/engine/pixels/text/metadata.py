"""Layer 1: this dataset's own PHI values (``collect_phi``), matched in OCR text, tolerating OCR errors.

Names match in any order and form (each component of three or more letters on its own, shorter ones as whole
words); identifiers and free text fuzzily; dates in every common written form; ages as 057Y / 57Y / 57 YRS /
Age 57 (a bare "57" only as a whole line); sex only with a label or as MALE / FEMALE.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ...phi import MONTH_NAMES, MONTHS, date_variants
from .fuzzy import (
    find_spans,
    fold,
    fold_map,
    min_substring_distance,
    normalize,
    to_text_span,
    tolerance,
    within_edits,
)
from .patterns import LETTER_LOOKALIKES, ROLE_WORDS, misread_role

# Words too common in institution names and addresses to identify anything on their own.
_COMMON_WORDS = frozenset(
    "HOSPITAL HOSPITALS MEDICAL CENTER CENTRE CLINIC CLINICS UNIVERSITY UNIVERSITAT GENERAL REGIONAL "
    "COUNTY STATE NATIONAL DEPARTMENT RADIOLOGY IMAGING INSTITUTE HEALTH HEALTHCARE SAINT STREET ROAD AVENUE "
    "SUITE FLOOR BUILDING NORTH SOUTH EAST WEST CITY CHILDREN CHILDRENS WOMENS MEMORIAL COMMUNITY SCIENCES "
    "DIAGNOSTIC DIAGNOSTICS SERVICES ROOM".split()
)
_COMMON_FOLDED = frozenset(fold(w) for w in _COMMON_WORDS)
"""... as ``fold`` writes them, to compare with folded readings ("H05P1TA1")."""


class PhiLike(Protocol):
    """What the pixel stage reads of the instance's PHI (read-only: ``engine.phi.PhiValues``)."""

    @property
    def person_names(self) -> tuple[str, ...]: ...
    @property
    def name_parts(self) -> tuple[str, ...]: ...
    @property
    def identifiers(self) -> tuple[str, ...]: ...
    @property
    def dates(self) -> tuple[dt.date, ...]: ...
    @property
    def texts(self) -> tuple[str, ...]: ...
    @property
    def age(self) -> str | None: ...
    @property
    def sex(self) -> str | None: ...


@dataclass(frozen=True)
class MetaHit:
    """A metadata match: ``kind`` (name, id, date, text, age, sex), the original value it came from, and where
    it lies in the recognised text (``start``, ``end``: character indices, end exclusive)."""

    kind: str
    value: str
    start: int = 0
    end: int = 0


_WORD = re.compile(r"[^\W\d_]+|\d+")


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


SHORT_LOOSE = 6
"""A name part of this many folded letters or fewer matched loosely (two edits) in an unsure reading only where
its first letter was read as itself or a look-alike (``_FIRST_ALIKE``): two edits in five letters leave little
of the name ("Tell" is two from KENJI, "F& S101A" from CHIDI: technical text misread; "Mojeik" is WOJCIK)."""
_FIRST_ALIKE = ("WMNH", "EF", "C0", "1T", "8RP", "VY", "KX")
"""Groups of first letters read for one another, in folded text (``fuzzy.fold`` already makes O, Q and D one, I, L
and J one, B and 8, S and 5...): these join what folding does not."""


def _first_alike(a: str, b: str) -> bool:
    """Whether two folded characters are one letter or look-alikes (``_FIRST_ALIKE``)."""
    return a == b or any(a in g and b in g for g in _FIRST_ALIKE)


LOOSE_TEXT = 8
"""Free-text values (an institution and its words) of this many folded characters or more are matched loosely in
an unsure reading; shorter words only within ``fuzzy.tolerance``."""


_NOT_AGE = re.compile(r"/|\d[.,]\d")
"""Inside what an age pattern matched on a reading's letters and digits: a count ("1/3") or a decimal number."""


def _age_number(age: str) -> int | None:
    m = re.fullmatch(r"\s*0*(\d{1,3})\s*([DWMY]?)\s*", age.upper())
    if not m:
        return None
    return int(m.group(1))


class MetadataMatcher:
    """Matches one dataset's PHI values in recognised text."""

    def __init__(self, phi: PhiLike, technical: frozenset[str] = frozenset()) -> None:
        self.technical = technical
        """Technical vocabulary: a word of it beside a date's digits is not the date's (``_date_words``)."""
        self.long_names: list[tuple[str, str]] = []  # (folded part, original PN)
        self.short_names: dict[str, str] = {}
        parts: list[tuple[str, str]] = []  # (a long name part as written, its person name)
        for pn in phi.person_names:
            for part in re.findall(r"[^\W\d_]{2,}", pn.replace("^", " ").replace("=", " ")):
                p = normalize(part)
                if len(p) >= 4:
                    self.long_names.append((fold(p), pn))
                    parts.append((part, pn))
                elif len(p) >= 2:
                    self.short_names.setdefault(p, pn)
        for part in phi.name_parts:
            p = normalize(part)
            if len(p) >= 4 and all(fp != fold(p) for fp, _ in self.long_names):
                self.long_names.append((fold(p), part))
                parts.append((part, part))
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
        self.long_texts: list[tuple[str, str]] = []
        for t in phi.texts:
            n = normalize(t)
            if len(n) >= 5:
                self.texts.append((fold(n), t))
            if len(fold(n)) >= PIECE_OF_TEXT + 4:
                self.long_texts.append((fold(n), t))
            for w in re.findall(r"[^\W\d_]{4,}", t):
                wn = normalize(w)
                if wn not in _COMMON_WORDS:
                    self.texts.append((fold(wn), t))
        self.dates: list[tuple[str, str]] = []
        for d in phi.dates:
            forms = {fold(v) for v in date_variants(d) + extra_date_forms(d)}
            self.dates.extend((f, d.isoformat()) for f in sorted(forms, key=len, reverse=True) if len(f) >= 6)
        # digit-only forms of identifiers and dates, for a value read in part ("4197" of 535-414-4197)
        self.digit_values: list[tuple[str, str, str]] = [
            (f, "id", ident) for f, ident in self.ids if f.isdigit() and len(f) >= 6
        ] + [(f, "date", iso) for f, iso in self.dates if f.isdigit()]
        # ... and the digits of an identifier with letters, for a reading of digits alone ("1033" read down a
        # vertical "RAD33651033"; "A7394" is a piece of "A73941611" only beside the rest of it)
        self.id_digits: list[tuple[str, str]] = [
            (run, ident) for f, ident in self.ids if not f.isdigit() for run in re.findall(r"\d{6,}", normalize(ident))
        ]
        self.age_re: re.Pattern[str] | None = None
        self.age_bare: str | None = None
        self.age_run_in: re.Pattern[str] | None = None
        self.age_sex_run_in: re.Pattern[str] | None = None
        age_n = _age_number(phi.age) if phi.age else None
        if age_n is not None:
            num = rf"0*{age_n}"
            # "Age 42" with its A misread and run into the word before it too ("Thk3mmnge 42")
            # ... and the three digits of the DICOM form with its Y read as a 7, a V or a 1 ("0417" of "041Y")
            padded = f"{age_n:03d}[7V1T](?![\\dA-Z])|(?<!\\d)" if age_n < 100 else ""
            self.age_re = re.compile(
                rf"(?<!\d){padded}{num}(?:Y|YR|Y[RFI][S5]|YEARS?|YO|J|A|ANS?)(?![A-Z])|[A-Z]?GE{num}(?!\d)"
                rf"|(?<![A-Z\d]){num}(?:Y|YR|YRS)?[MF](?![A-Z])"
                # its unit or its sex misread: "44YIs", "40 RS", "62- WRS", "40 1RS" of 44, 40, 62, 40 YRS;
                # "23Y-E", "1YE" of F
                rf"|(?<![A-Z\d]){num}(?:[W1I]?R[S5]|Y(?:E|IF))(?![A-Z])"
                # its label read as one or two letters run into the number ("Me42", "A27B30f" of "Age 27 B30f")
                rf"|(?<![A-Z\d])(?:A[EQ9]?|[MN]E){age_n}(?!\d)"
            )
            self.age_bare = str(age_n)
            # its number and unit run into a number before them ("ETL1622YRS": "ETL16" and "22 YRS" read as one
            # word): the unit in full, as only an age is written, or Y and the sex ("Feb10,199324Y F")
            self.age_run_in = re.compile(rf"(?<=\d){age_n}(?:Y[RF][S5]|YEARS?)(?![A-Z])")
            self.age_sex_run_in = re.compile(rf"(?<=\d){age_n}Y[MF](?![A-Z])")
        self.age_value = phi.age or ""
        self.sex_re: re.Pattern[str] | None = None
        if phi.sex and phi.sex.strip().upper()[:1] in ("M", "F"):
            self.sex_re = re.compile(r"\b(?:SEX|GENDER)\s*[:=]?\s*(?:M|F|O|MALE|FEMALE)\b|\b(?:MALE|FEMALE)\b")
        self.sex_value = phi.sex or ""
        # every written form of a value, for ``unread_rest``: the long name parts first, then identifiers, free
        # texts and dates in every written form
        written = [part for part, _pn in parts]
        written += [ident for _f, ident in self.ids] + [t for t in phi.texts if len(normalize(t)) >= 5]
        for d in phi.dates:
            written += date_variants(d) + extra_date_forms(d)
        # ... then each person's name as the header writes it ("FERREIRA^JOHN"), marked: its rest counts only past
        # its first or last part (``unread_rest``)
        self.rest_forms: list[tuple[str, str, list[int], bool]] = [
            (form, *fold_map(form), False) for form in dict.fromkeys(written)
        ] + [(pn, *fold_map(pn), True) for pn in phi.person_names if "^" in pn]
        # values a reading may be a piece cut from the inside of (``fragment``): long name parts and free texts
        # as written (not identifiers: a piece of one read from a box over several rows of text is no sign that
        # the box holds only the identifier, and the fill would take the other rows)
        self.fragment_forms: list[tuple[str, str, str, str, list[int]]] = [
            (kind, value, form, *fold_map(form))
            for kind, value, form in (
                *(("name", pn, part) for part, pn in parts),
                *(("text", t, t) for t in phi.texts),
            )
            if len(fold(form)) >= FRAGMENT_OF
        ]

    def find(self, text: str, loose: bool = False) -> list[MetaHit]:
        """Every metadata value found in ``text``, with its span (``loose``: an unsure reading, matched with
        more tolerance: names, identifiers and free text of five characters or more)."""
        folded, idx = fold_map(text)
        if not folded:
            return []
        hits: list[MetaHit] = []

        def add(kind: str, value: str, spans: list[tuple[int, int]]) -> None:
            for a, b in spans:
                s0, s1 = to_text_span(idx, a, b)
                hits.append(MetaHit(kind, value, s0, s1))

        words = [(normalize(m.group()), m.start(), m.end()) for m in _WORD.finditer(text)]
        norm_all = normalize(text)

        def whole(kind: str, table: dict[str, str]) -> None:
            for w, a, b in words:
                if w in table:
                    hits.append(MetaHit(kind, table[w], a, b))
            if norm_all in table and not any(h.kind == kind for h in hits):
                hits.append(MetaHit(kind, table[norm_all], 0, len(text)))

        for fp, pn in self.long_names:
            spans = find_spans(folded, fp, loose)
            if loose and len(fp) <= SHORT_LOOSE:  # two edits in a short name: its first letter read as itself
                spans = [(a, b) for a, b in spans if _first_alike(folded[a], fp[0]) or (a, b) in find_spans(folded, fp)]
            add("name", pn, spans)
        whole("name", self.short_names)
        if not any(h.kind == "name" for h in hits) and (part := self._name_piece(norm_all, folded)) is not None:
            hits.append(MetaHit("name", part, 0, len(text)))
        for fi, ident in self.ids:
            add("id", ident, find_spans(folded, fi, loose))
        whole("id", self.short_ids)
        dated: list[tuple[MetaHit, bool]] = []
        for fd, iso in self.dates:
            for a, b in find_spans(folded, fd):
                s0, s1 = to_text_span(idx, a, b)
                exact = folded[a:b] == fd
                if not fd.isdigit():  # (a form of digits alone: _date_words below)
                    s0 = _past_technical_letters(text, s0, s1, self.technical)
                if s0 > 0 and text[s0 - 1].isdigit() and (lent := _LENT_DIGITS.match(text, s0)):
                    s0, exact = lent.end(), False  # the last digits of a number before it ("350  4/16/2015")
                if fd.isdigit():  # (a month's letters misread are the date's: "Ean7a 14 1990")
                    s0, s1 = _date_words(text, s0, s1, self.technical)
                    if not any(c.isdigit() for c in text[s0:s1]):
                        continue  # letters alone, folded into digits: "LO  Zoom" of "PAULO  Zoom 1.2" is no "1092002"
                    if sum(c.isalnum() for c in text[s0:s1]) <= 4 and self._after_setting(text, s0):
                        continue  # what is left is a setting's number after its word ("ZOOM 1508" of ZOOM 150%)
                dated.append((MetaHit("date", iso, s0, s1), exact))
        for h, exact in dated:
            over = [] if exact else [o for o, e in dated if e and o.start < h.end and h.start < o.end]
            if any(self._technical_beyond(text, h, o) for o in over):
                # a misread match over a date read as it is: the same digits again in a shifted window, with the
                # technical text beside them read as digits ("2007 MI 1.1" of "11/11/2007 MI 1.1", "03/26   T1";
                # not a month's name read before the digits: "Oct221O2007")
                continue
            if not exact and not over and not _cuts_number(h, text):
                # misread, where no form matched as it is: its first digits may be left out (not a short form's
                # match cut from a number, which goes: "0 12:21" of "Gn 60 12:21:13")
                h = MetaHit(h.kind, h.value, _date_lead(text, h.start), h.end)
            hits.append(h)
        for ft, t in self.texts:  # a word of an institution loosely only when long: "Name: ID" is two edits from
            add("text", t, find_spans(folded, ft, loose and len(ft) >= LOOSE_TEXT))  # CARMEL, "scannel" too
        for ft, t in self.long_texts:
            for a, b in pieces_of(text, ft):  # (not over a match of the value: "CENTERW" of "CENTERW 400" is its
                if not any(h.kind == "text" and h.start < b and a < h.end for h in hits):  # own word and a setting)
                    hits.append(MetaHit("text", t, a, b))
        hits = [_whole_value(h, text, words, self.technical) if h.kind == "text" else h for h in hits]
        for a, b in _digit_runs(folded):  # a value read in part: four digits or more of it, alone on the line
            if any(h.start < idx[b - 1] + 1 and idx[a] < h.end for h in hits):
                continue
            run = folded[a:b]
            if self._after_setting(text, idx[a]):
                continue  # a setting's number after its word ("ZOOM 1508" of "ZOOM 150%")
            read = _read_as_digits(text, idx[a], idx[b - 1] + 1)
            for value, kind, original in self.digit_values:
                if read and run in value and run != value:
                    add(kind, original, [(a, b)])
                    break
                piece = _fused_piece(run, value)  # or run into another number's digits
                if piece and _read_as_digits(text, idx[a + piece[0]], idx[a + piece[1] - 1] + 1):
                    add(kind, original, [(a + piece[0], a + piece[1])])
                    break
            else:
                if read and not any(c.isalpha() for c in text):
                    for value, original in self.id_digits:
                        if run in value:
                            add("id", original, [(a, b)])
                            break
        if self.age_re is not None:
            plain, pidx = _plain_map(text)  # the age patterns are written for unfolded text
            # "51", or "051" of "051Y" cut short; not a lone digit ("2": a two-year-old's age is any digit read)
            bare = plain == self.age_bare and len(plain) >= 2
            if bare or (len(plain) == 3 and plain.isdigit() and plain.lstrip("0") == self.age_bare):
                hits.append(MetaHit("age", self.age_value, 0, len(text)))
            else:
                for m in self.age_re.finditer(plain):
                    # "Page 1/3" is no "Age 13", nor a decimal number "5.0mm" (read "5.0m") an age 50 M
                    if _NOT_AGE.search(text[pidx[m.start()] : pidx[m.end() - 1] + 1]) is None:
                        hits.append(MetaHit("age", self.age_value, pidx[m.start()], pidx[m.end() - 1] + 1))
                if not any(h.kind == "age" for h in hits):  # a word of its own: "36Y" of "36Y H", its sex misread
                    for w in re.finditer(r"\S+", text):
                        if _NOT_AGE.search(w.group()) is not None:
                            continue
                        wp, wi = _plain_map(w.group())
                        if any(c.isdigit() for c in wp[1:]):  # its first digit misread ("B2Y'M": 82Y M)
                            wp = wp[:1].translate(_DIGIT_LOOK) + wp[1:]
                        if (wp[:1].isdigit() and self.age_re.fullmatch(wp) is not None) or self._age_word(w.group()):
                            hits.append(MetaHit("age", self.age_value, w.start() + wi[0], w.start() + wi[-1] + 1))
                if not any(h.kind == "age" for h in hits) and self.age_run_in is not None:
                    for m in self.age_run_in.finditer(plain):
                        a, b = pidx[m.start()], pidx[m.end() - 1] + 1
                        if not any(c.isspace() for c in text[a:b]):  # one word (not "24Y F 5.0mm")
                            hits.append(MetaHit("age", self.age_value, a, b))
                if not any(h.kind == "age" for h in hits) and self.age_sex_run_in is not None:
                    for m in self.age_sex_run_in.finditer(plain):  # the sex may stand apart ("199324Y F")
                        hits.append(MetaHit("age", self.age_value, pidx[m.start()], pidx[m.end() - 1] + 1))
        if self.age_bare is not None and not any(h.kind == "age" for h in hits):
            if (label := self._age_label_at_end(text)) is not None:  # its number cut off after it
                hits.append(MetaHit("age", self.age_value, label.start(), len(text)))
        if self.sex_re is not None:
            for m in self.sex_re.finditer(text.upper()):
                hits.append(MetaHit("sex", self.sex_value, m.start(), m.end()))
        hits = [h for h in hits if not _ends_inside_word(h, text) and not _cuts_number(h, text)]
        hits = [_no_setting_after(_whole_words(h, text, self.technical), text, self.technical) for h in hits]
        # a label is no name, however loosely an unsure reading of it matched one ("Patients", "PATIENT |")
        return [h for h in hits if h.kind != "name" or not _role_word(text[h.start : h.end])]

    def _after_setting(self, text: str, i: int) -> bool:
        """Whether ``text[i]`` starts the number of a setting: right after a technical word ("ZOOM 1508")."""
        word = re.search(r"([^\W\d_]+)\s*[:=]?\s*$", text[:i])
        return word is not None and _technical_run(word.group(1), self.technical)

    def _technical_beyond(self, text: str, h: MetaHit, o: MetaHit) -> bool:
        """Whether ``h`` takes in, outside ``o`` (in whole words), a technical word that is no month ("MI", "T1",
        the "OR" of "COR") or a number of its own ("350" of "W 350 4/16/2015")."""
        left = text[word_start(text, h.start) : o.start] if h.start < o.start else ""
        end = h.end
        while end < len(text) and not text[end].isspace():
            end += 1
        right = text[o.end : end] if h.end > o.end else ""
        words = re.findall(r"[^\W_]+", left) + re.findall(r"[^\W_]+", right)
        own = re.findall(r"(?<!\S)\d+%?(?=\s)", left) + re.findall(r"(?<=\s)\d+(?!\S)", right)
        return bool(own) or any(_technical_run(w, self.technical) for w in words)

    def unread_rest(self, piece: str, before: bool, after: bool) -> tuple[int, int]:
        """How many characters of a value lie before and after ``piece``, a reading's span at the edge of its box
        (``before``: at the box's start; ``after``: at its end), when the span is where the value starts or ends
        and the reader cut the rest off ("Papado" of PAPADOPOULOS: 6 after; "846 -707" of 846-707-8468: 5): the
        piece folded, or its first or last word, is the start or the end of a written form of a value, half of
        it (``REST_SHARE``; any share from ``REST_LONG`` characters, one misread allowed) and ``REST_PIECE``
        folded characters at least. A person's name as the header writes it ("FERREIRA^JOHN") counts only where
        the piece ends (starts) with a separator: "FERREIRA~" and its given name unread; the label "Age" ending a
        reading has the age's number after it. (0, 0) when none is."""
        words = piece.split()
        out = [0, 0]
        frag = self.fragment(piece)
        # as at an edge, the rest is taken only for a piece that is half of its value or long
        if frag is not None and (len(fold(piece)) >= REST_LONG or frag[3] >= REST_SHARE):
            out = [frag[1] if before else 0, frag[2] if after else 0]
        if after and self.age_bare is not None and (m := self._age_label_at_end(piece)) is not None:
            out[1] = len(self.age_bare) + 1 - len(m.group(1))  # "Age" and the age's number after it
        ends = ((0, before, (piece, words[0] if words else "")), (1, after, (piece, words[-1] if words else "")))
        for side, wanted, cands in ends:
            if not wanted:
                continue
            edge = piece.strip()[-1:] if side else piece.strip()[:1]
            after_part = edge and edge in NAME_SEPARATORS
            for cand in dict.fromkeys(cands):
                p = fold(cand)
                # (a year and the separator after it: "2016." of 2016.11.12, its month and day cut off)
                digits = REST_PIECE if edge and edge in DATE_SEPARATORS else REST_DIGITS
                if len(p) < (digits if p.isdigit() else REST_PIECE):
                    continue
                for form, f, idx, as_header in self.rest_forms:
                    n = _rest_overlap(p, f, side)
                    # a name as the header writes it: the piece ends with its separator, or runs past it into
                    # the next part ("KRISTIANSENJ", the ^ unread: JOHN's first letter read)
                    if n and as_header and not after_part and not _past_part(p, f, n, form, side):
                        continue
                    if n:
                        out[side] = max(
                            out[side],
                            len(form.rstrip()) - (idx[n - 1] + 1)
                            if side
                            else idx[len(f) - n] - (len(form) - len(form.lstrip())),
                        )
        return out[0], out[1]

    def fragment(self, text: str) -> tuple[MetaHit, int, int, float] | None:
        """A whole reading that is a piece cut from inside one of this dataset's long names or free texts, beginning
        or ending inside one of its words ("mel Hospital" of "Mount Carmel Hospital", "nsen" of KRISTIANSEN: the
        reader lost the rest, or saw only that much of it): ``FRAGMENT_MIN`` folded characters at least
        (``FRAGMENT_DIGITS`` when digits only), not all of its words technical or common. The hit for the whole
        reading, the characters of the value before and after the piece, and the piece's share of the value
        (folded); None when it is none."""
        p = fold(text)
        if len(p) < (FRAGMENT_DIGITS if p.isdigit() else FRAGMENT_MIN):
            return None
        words = [w.upper() for w in re.findall(r"[A-Za-z]{2,}", text)]
        if words and all(w in self.technical or w in _COMMON_WORDS for w in words):
            return None
        for kind, value, form, f, idx in self.fragment_forms:
            i = f.find(p)
            if i < 0 or len(f) <= len(p):
                continue
            a, b = idx[i], idx[i + len(p) - 1] + 1
            if not ((a > 0 and form[a - 1].isalnum()) or (b < len(form) and form[b].isalnum())):
                continue  # whole words of the value: the other layers' to find
            return MetaHit(kind, value, 0, len(text)), a, len(form.rstrip()) - b, len(p) / len(f)
        return None

    def _age_label_at_end(self, text: str) -> re.Match[str] | None:
        """The label "Age" ending a reading, with nothing after it but the age's first digit as itself or a letter
        read for it ("Age", "AgeB" of "Age 81"): the reader cut the rest of the value off."""
        m = _AGE_LABEL_END.search(text)
        if m is None or self.age_bare is None:
            return None
        first = m.group(1).translate(_AGE_LOOK)
        return m if first in ("", self.age_bare[0]) and len(self.age_bare) > len(first) else None

    def _age_word(self, word: str) -> bool:
        """Whether ``word`` is the dataset's age with its digits read in look-alikes or its sex run into its unit
        ("BIY" of "81Y" read downwards, "49YIN" of "49Y M", "TBY" of "18Y"): the age's number, each digit or a
        letter it is read as (two characters at least when none is a digit), then Y and the sex as it is misread
        (not a technical word run into it: "006YAP", an orientation)."""
        plain, _idx = _plain_map(word)
        lead = _AGE_LEAD.match(plain)
        if lead is None or not _AGE_UNIT_SEX.fullmatch(plain[lead.end() :]):
            return False
        if len(lead.group()) < 2 and not lead.group().isdigit():
            return False
        # (a T is a 7 or a 1: "TOY" of 70Y, "TBY" of 18Y)
        return any(lead.group().translate(look).lstrip("0") == self.age_bare for look in (_AGE_LOOK, _AGE_LOOK_T1))

    def age_after_label(self, text: str) -> MetaHit | None:
        """The dataset's age as a word after one that ends in its label misread by one letter ("GORA0e 39": "COR"
        and "Age 39" read as one line; "GOR Ade 39"): the label and the age, not what is before the label.
        Looser than ``find``'s age forms (a digit may be misread too: ``_one_digit_off``): the judge asks only
        when nothing else was found."""
        if self.age_bare is None:
            return None
        words = [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        for (label, a, _b), (age, _c, d) in zip(words, words[1:], strict=False):
            value = age.strip(".,;:")
            if value[1:] == self.age_bare and not value[0].isdigit():
                value = value[1:]  # a stray mark read before it ("Age x12")
            if len(label) < 3 or not (
                value == self.age_bare or (len(label.strip(".:;=")) == 3 and _one_digit_off(value, self.age_bare))
            ):
                continue  # one digit off only after a label of its own ("Rae 28"; not "Page 13" of "Page 1/3")
            if min_substring_distance(fold("AGE"), fold(label[-3:].upper())) <= 1:
                return MetaHit("age", self.age_value, a + len(label) - 3, d)
        return None

    def _name_piece(self, plain: str, folded: str) -> str | None:
        """The name whose long part (seven letters or more) starts or ends with the whole reading (four letters or
        more, two fifths of the part at least): a vertical "KRISTIANSEN" read as "KRIST" and "NSEN"."""
        if len(folded) < 4 or not plain.isalpha():
            return None
        for fp, pn in self.long_names:
            if len(fp) >= 7 and len(folded) < len(fp) and 5 * len(folded) >= 2 * len(fp):
                if fp.startswith(folded) or fp.endswith(folded):
                    return pn
        return None

    def match(self, text: str) -> MetaHit | None:
        """The first metadata value found in ``text``, or None."""
        hits = self.find(text)
        return hits[0] if hits else None


DATE_LEAD = 2
"""Digits, at most, before a misread date's match in its word that are the date's own: the "2" of "2721/2018" (2/21/2016
with a slash read as a 7), the "01-" of "01-olar-1945": the approximate match aligned the value from its second
character. (Before an exact match they are another number: "Se 305.07.2001" is "Se: 3" and the date.)"""


def word_start(text: str, i: int) -> int:
    """Where the word (a run of characters other than spaces) that ``i`` is in, or follows, starts."""
    while i > 0 and not text[i - 1].isspace():
        i -= 1
    return i


def _date_lead(text: str, start: int) -> int:
    """``start`` moved back over ``DATE_LEAD`` digits or fewer (and separators) before it in its word."""
    st = word_start(text, start)
    lead = text[st:start]
    if 0 < sum(c.isdigit() for c in lead) <= DATE_LEAD and not any(c.isalpha() for c in lead):
        return st
    return start


NAME_SEPARATORS = "^~,*_"
"""What a family name is followed by, as written or misread, when its given name comes after it."""
DATE_SEPARATORS = "./-"
"""What stands between a date's numbers: a piece of digits that ends (starts) with one is cut from a longer value."""
REST_LONG = 8
"""Folded characters from which a piece may be any share of its value and hold one misread character."""


def _past_part(p: str, f: str, n: int, name: str, side: int) -> bool:
    """Whether the piece ``p``, standing for ``n`` characters of ``f`` (a header-written ``name`` folded) at its
    start (``side`` 1) or end (0), runs past that end's part into the next, those characters read exactly: "JOHN"'s
    J in "KRISTIANSENJ" (a misread there is no sign of the next part: "KRISTIANSEN5")."""
    parts = [q for q in name.split("^") if fold(q)]
    k = len(fold(parts[0] if side else parts[-1])) if parts else n
    if n <= k:
        return False
    return p[k:n] == f[k:n] if side else p[len(p) - n : len(p) - k] == f[len(f) - n : len(f) - k]


def _rest_overlap(p: str, f: str, side: int) -> int:
    """How many characters of ``f`` (a value's written form, folded) the piece ``p`` stands for at its start
    (``side`` 1: the rest is after it) or end (0), when ``p`` is that part and the rest is not empty; else 0."""
    if len(f) <= len(p):
        return 0
    if len(p) >= REST_LONG:
        part = f[: len(p)] if side else f[len(f) - len(p) :]
        return len(p) if within_edits(p, part, 1) else 0
    if REST_SHARE * len(f) > len(p):
        return 0
    return len(p) if (f.startswith(p) if side else f.endswith(p)) else 0


FRAGMENT_OF = 6
"""Folded characters, at least, of a value a reading may be a piece cut from the inside of (``fragment``)."""
FRAGMENT_MIN = 4
FRAGMENT_DIGITS = 5
"""... and of that piece, at least (digits only: a technical number of four digits is often inside an identifier)."""

REST_PIECE = 4
"""Folded characters, at least, of a span taken for the start or end of a value whose rest its reader cut off."""
REST_DIGITS = 6
"""... digits, when it is digits only: a year ("2011") starts many forms of its date and ends others."""
REST_SHARE = 0.5
"""... and this share of the value's folded characters at least ("PAPADO" of PAPADOPOULOS)."""

PIECE_OF_TEXT = 8
"""Folded characters, at least, of a run of words that counts as a piece of a long free-text value."""


def pieces_of(text: str, value: str) -> list[tuple[int, int]]:
    """Spans of runs of whole words of ``text``, ``PIECE_OF_TEXT`` folded characters or more, that are a piece of
    ``value`` (folded) within one edit per eight characters: a long value read in part or run together, whose
    words are each too common to count alone ("Elm Stree" of "Elm Street Clinic", "MEDKCALCENTER" of "Northfield
    Medical Center"). The longest run from each word on, of words mostly of letters ("L 40 MEDICAL" is a window
    and a word), that is more than one common word ("DIAGNOSTIC" of "DIAGNOSTIC MODE")."""
    words = [(m.start(), m.end(), fold(m.group()), m.group()) for m in re.finditer(r"\S+", text)]
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        best, acc = None, ""
        for j in range(i, len(words)):
            w, raw = words[j][2], words[j][3]  # letters counted as read: folded, "HOSPITAL" is "H05P1TA1"
            letters = sum(c.isalpha() for c in raw)
            if letters < 2 or letters < 2 * (len(w) - letters):
                break
            acc += w
            if len(acc) > len(value) + 1:
                break
            if len(acc) < PIECE_OF_TEXT or any(within_edits(acc, c, 1) for c in _COMMON_FOLDED):
                continue
            if min_substring_distance(acc, value) <= len(acc) // 8:
                best = j
        if best is None:
            i += 1
            continue
        out.append((words[i][0], words[best][1]))
        i = best + 1
    return out


def _whole_words(h: MetaHit, text: str, technical: frozenset[str] = frozenset()) -> MetaHit:
    """A name found in part of a word takes the rest of the word: a name is whole words ("lenl S" of "Ft:Elenl
    Smlth", an unsure reading within two edits of CELINE, left the "E" and "mlth" of a name readable). (A date
    does not: the number run into its front is another value's, "Se 305.07.2001".) Not a label run into its
    front ("PWPATIENTSTRAUSS": the name starts after PATIENT) nor a ``technical`` word run into its end
    ("CELINEDepth")."""
    if h.kind != "name":
        return h

    def joined(i: int) -> bool:  # text[i - 1] and text[i] are letters of one word (a small letter before a
        # capital starts another: "PauloWF20Hz" is a name and a setting)
        return text[i - 1].isalpha() and text[i].isalpha() and not (text[i - 1].islower() and text[i].isupper())

    start, end = h.start, h.end
    while start > 0 and joined(start) and not any(text[:start].upper().endswith(r) for r in ROLE_WORDS):
        start -= 1
    start = _past_technical_front(text, start, h.start, h.value, technical)
    while end < len(text) and joined(end):
        end += 1
    if end > h.end and text[h.end : end].upper() in technical and (end - h.end >= 3 or re.match(r"\s?\d", text[end:])):
        end = h.end  # nor a setting's letters before its number ("ERIKW400L4" of "ERIK W 400 L 40", "ADEYEMIHR 72")
    # a capitalised word run into it, at either end ("KeriNakamur": "Kenji Nakamura" read with no space), is the
    # name's other word unless it is a label or technical word
    if start == h.start and start > 0 and text[start - 1].islower() and text[start].isupper():
        before = re.search(r"(?<![^\W\d_])[A-Z][a-z]{2,}$", text[:start])
        if before and _other_name_word(before.group(), technical):
            start = before.start()
    if end == h.end and end < len(text) and text[end - 1].isalpha() and text[end].isupper():
        after = re.match(r"[A-Z][a-z]{2,}(?![^\W\d_])", text[end:])
        if after and _other_name_word(after.group(), technical):
            end += after.end()
    return h if (start, end) == (h.start, h.end) else MetaHit(h.kind, h.value, start, end)


def _past_technical_front(text: str, start: int, found: int, value: str, technical: frozenset[str]) -> int:
    """Where a name found at ``found`` and widened back to ``start`` over the letters run into it begins after a
    ``technical`` word of two letters or more at their front that no word of the name starts with: a view or a
    setting run into it ("CCQUINTEROELENI"; "Gn 6OPWWOICIK" of "Gn 60 PW WOJCIK", the number's 0 read as O)."""
    i = _past_digit_lookalikes(text, start, found)
    front = text[i:found].upper()
    parts = [w for w in re.split(r"[^A-Z]+", value.upper()) if w]
    for j in range(len(front), 1, -1):
        if front[:j] in technical and not any(w.startswith(front[:j]) for w in parts):
            return i + j
    return start


_SETTING_TAIL = re.compile(r"(?<=[a-z])[A-Z]{1,4}$")


def _no_setting_after(h: MetaHit, text: str, technical: frozenset[str]) -> MetaHit:
    """A name's or free text's match ends before the capitals of a technical word run into its last small
    letter, before their number ("RadliologyTI 150": an institution's name and an inversion time)."""
    if h.kind not in ("name", "text") or not re.match(r"\s?\d", text[h.end :]):
        return h
    m = _SETTING_TAIL.search(text[h.start : h.end])
    return MetaHit(h.kind, h.value, h.start, h.end - len(m.group())) if m and m.group() in technical else h


def _other_name_word(word: str, technical: frozenset[str]) -> bool:
    """Whether a capitalised word run into a name can be its other word: no technical word, no label."""
    up = word.upper()
    return (
        up not in technical
        and word not in technical
        and not any(r.startswith(up) or up.startswith(r) for r in ROLE_WORDS)
    )


_LENT_DIGITS = re.compile(r"\d{1,2}\s+(?=\d)")
"""A date's match that starts with the last digits of another number, a space after them, then the date."""


def _technical_run(letters: str, technical: frozenset[str]) -> bool:
    """Whether letters run into a date's digits (or a word beside them) are a technical word ("COR", "T1"), not
    a month ("Oct")."""
    up = letters.upper()
    return len(up) >= 2 and up in technical and up not in MONTHS and up not in MONTH_NAMES


def _past_technical_letters(text: str, start: int, end: int, technical: frozenset[str]) -> int:
    """A date's match that begins on the last letters of a ``technical`` word run into its digits begins after
    them ("m3 JUL 2014" of "HR72bpm3 JUL 2014": the unit's "m" taken for the day's 0)."""
    if not text[start : start + 1].isalpha():
        return start
    a, e = start, start
    while a > 0 and text[a - 1].isalpha():
        a -= 1
    while e < end and text[e].isalpha():
        e += 1
    if a < start and _technical_run(text[a:e], technical) and text[e : e + 1].isdigit():
        return e
    return start


def _date_words(text: str, start: int, end: int, technical: frozenset[str]) -> tuple[int, int]:
    """A date's digits matched with tolerance take no word beside them that is not the date's: at each end of the
    match, a word of letters alone with two in a row ("PLow 1952" of "PLow 1952/08/21", "DOB: 1945" of "DOB:
    19450106", "R 1/25/2020" of "COR 1/25/2020") or whose letters are a ``technical`` word ("TL16 1945" of
    "ETL16 1945.11.01"). A word of letters and digits stays: the day run into its month misread ("ne19, 1971" of
    "Oct 9, 1971")."""
    words = [m.span() for m in re.finditer(r"\S+", text) if m.start() < end and start < m.end()]
    if words and words[0][0] < start:  # begun inside a word: from the run of letters it begins in, unless
        a = start  # those letters are a technical word run into the date ("COR10/22/2007")
        while a > words[0][0] and text[a - 1].isalpha():
            a -= 1
        words[0] = (start if _technical_run(text[a:start], technical) else a, words[0][1])
    if words and words[-1][1] > end:
        b = end
        while b < words[-1][1] and text[b].isalpha():
            b += 1
        words[-1] = (words[-1][0], end if _technical_run(text[end:b], technical) else b)

    def other(k: int) -> bool:
        w = text[words[k][0] : words[k][1]]
        letters = "".join(c for c in w if c.isalpha()).upper()
        if not any(c.isdigit() for c in w):
            return re.search(r"[^\W\d_]{2}", w) is not None
        # (a technical word with a letter read as its look-alike digit: "Z0OM")
        return len(letters) >= 2 and (letters in technical or w.upper().translate(LETTER_LOOKALIKES) in technical)

    return trim_edge_words(words, start, end, other)


def trim_edge_words(
    words: list[tuple[int, int]], start: int, end: int, drop: Callable[[int], bool], *, last_first: bool = False
) -> tuple[int, int]:
    """``(start, end)``, a match over ``words`` (their spans in the text), without the words at either end that
    ``drop`` (given a word's index in ``words``, which shrinks as they go) says are not the match's, the first
    end's (or with ``last_first`` the last end's) before the other's; one word always stays."""
    for side in (-1, 0) if last_first else (0, -1):
        while len(words) > 1 and drop(side):
            words.pop(side)
            if side == 0:
                start = max(start, words[0][0])
            else:
                end = min(end, words[-1][1])
    return start, end


def _ends_inside_word(h: MetaHit, text: str) -> bool:
    """A date matched with tolerance that ends inside a word of letters ("1953 Dop" of "03.04.1953 Dopth
    16cm"): a month is a whole word, so this is the date's numbers and a technical word beside it."""
    if h.kind != "date" or h.end >= len(text) or not (text[h.end].isalpha() and text[h.end - 1].isalpha()):
        return False
    start = h.end - 1
    while start > h.start and text[start - 1].isalpha():
        start -= 1
    return start > h.start and bool(text[h.start : start].strip())


_DATE_SHAPE = re.compile(r"\d{1,2}([/.-])\d{1,2}\1\d{2,4}")


def _cuts_number(h: MetaHit, text: str) -> bool:
    """A name, or a date's six-character form, matched in look-alike folding that starts or ends inside a number
    ("50 mAs 2" of "250 mAs 2" is within one edit of TOMASZ; "08.12C 5" of "12C 50W350" is 081205): a value
    misread as digits is not run into a number that goes on beyond it. A date written whole in its shape, two
    separators between its numbers ("18/05/78" run on from the "W350" before it), is a date whatever precedes it."""
    if h.kind != "name" and not (h.kind == "date" and sum(c.isalnum() for c in text[h.start : h.end]) <= 6):
        return False
    if h.kind == "date" and _DATE_SHAPE.fullmatch(text[h.start : h.end]):
        return False
    starts = h.start > 0 and text[h.start].isdigit() and text[h.start - 1].isdigit()
    ends = h.end < len(text) and text[h.end - 1].isdigit() and text[h.end].isdigit()
    return starts or ends


def _whole_value(
    hit: MetaHit, text: str, words: list[tuple[str, int, int]], technical: frozenset[str] = frozenset()
) -> MetaHit:
    """A free-text value (an institution, an address) found by one of its distinctive words takes the words
    beside it that stand where the value's other words stand ("Northfield" of "Northfield Medical Center" read
    "Northfield Medical": the common words do not identify alone, but these are this value's): as many words
    before and after as the value has there, letters for letters and digits for digits, whatever they read, but
    no ``technical`` word ("MountCamelHospital Page 13": the value read as one word, a page number after it)."""
    value_words = [normalize(w) for w in _WORD.findall(hit.value)]
    inside = [k for k, (_w, a, b) in enumerate(words) if a < hit.end and hit.start < b]
    if not inside or len(value_words) < 2:
        return hit
    found = fold("".join(words[k][0] for k in inside))
    # where the found words sit in the value: the window of value words they match best
    n = len(inside)
    spots = [
        (min_substring_distance(fold("".join(value_words[i : i + n])), found), i)
        for i in range(len(value_words) - n + 1)
    ]
    if not spots:
        return hit
    first = min(spots)[1]
    start, end = hit.start, hit.end
    k = inside[-1] + 1
    for vw in value_words[first + n :]:
        if k >= len(words) or words[k][0].isdigit() != vw.isdigit() or words[k][0] in technical:
            break
        end, k = words[k][2], k + 1
        extra = words[k - 1][0][len(vw) :]  # a setting's letter run into the word's end ("CENTERW 400")
        if words[k - 1][0].startswith(vw) and extra in technical and re.match(r"\s*\d", text[end:]):
            end -= len(extra)
    k = inside[0] - 1
    for vw in reversed(value_words[:first]):
        if k < 0 or words[k][0].isdigit() != vw.isdigit() or text[words[k][2] : start].strip(" ,.-").endswith(":"):
            break
        if words[k][0] in technical:
            break
        start, k = words[k][1], k - 1
        if not vw.startswith(text[start].upper()):
            start = _past_digit_lookalikes(text, start, words[k + 1][2])  # "15OMOUNT" of "TI 150 MOUNT"
    return MetaHit(hit.kind, hit.value, start, end)


def _past_digit_lookalikes(text: str, i: int, stop: int) -> int:
    """``i`` moved past the letters a digit is misread as ("O", "I", "l") that run on from a number before it
    (before ``stop``): they are that number's ("15O" of "TI 150")."""
    if i > 0 and text[i - 1].isdigit():
        while i < stop and text[i] in "OoIl|":
            i += 1
    return i


def words_of_value(text: str, value: str) -> bool:
    """Whether every word of ``text`` is a word of ``value`` (each within the edit tolerance for its length), or
    the start or end of one that a reader cut off: "Center" beside the "Northfield Medical" of "Northfield
    Medical Center", "al" beside the "Hospi" of "Mount Carmel Hospital"."""
    mine = [fold(normalize(w)) for w in _WORD.findall(text)]
    theirs = [fold(normalize(w)) for w in _WORD.findall(value)]

    def of_value(w: str, v: str) -> bool:
        if len(w) < 2:
            return False
        if v.startswith(w) or v.endswith(w):
            return True
        return min_substring_distance(w, v) <= tolerance(len(v)) and len(v) - len(w) <= 2

    return bool(mine) and all(any(of_value(w, v) for v in theirs) for w in mine)


_AGE_LABEL_END = re.compile(r"(?<![A-Za-z0-9])A[Gg6Qq][Ee]\s*[:.]?\s*([0-9BOSZGIL]?)\s*$")
"""The label "Age" (its capital as written: a reader's "age" of anatomy is none) at the end of a reading, and one
character after it at most."""
_DIGIT_LOOK = str.maketrans("BOSZG", "80526")
"""Letters a small digit is read as."""
_AGE_UNIT_SEX = re.compile(r"[YV](?:[MFHE]|IF|IN|NI|N|IVI|RN)?")
"""An age's unit (Y, or V as it is misread: "91V" of "91Y M") and the sex after it with no space, as M and F are
read ("IN", "IVI", "RN"; "E", "IF")."""
_AGE_LOOK = _DIGIT_LOOK | str.maketrans("ILT", "117")
"""... and, in an age's number of two or three characters, the letters a 1 is read as, and a T for a 7 ("TOY" of
"70Y")."""
_AGE_LOOK_T1 = _AGE_LOOK | str.maketrans("T", "1")
"""... with the T read for a 1 ("TBY" of "18Y")."""
_AGE_LEAD = re.compile("[0-9" + "".join(chr(c) for c in _AGE_LOOK) + "]{1,3}")
"""The number of an age, each digit as itself or a letter of ``_AGE_LOOK``."""


def _plain_map(text: str) -> tuple[str, list[int]]:
    """``normalize(text)`` with the index in ``text`` of each of its characters."""
    out, idx = [], []
    for i, c in enumerate(text):
        base = "".join(ch for ch in unicodedata.normalize("NFKD", c) if ch.isalnum()).upper()
        for ch in base:
            if ch.isascii():
                out.append(ch)
                idx.append(i)
    return "".join(out), idx


def _digit_runs(folded: str, minimum: int = 4) -> list[tuple[int, int]]:
    """(start, end) of each run of ``minimum`` digits or more in folded text."""
    return [(m.start(), m.end()) for m in re.finditer(rf"\d{{{minimum},}}", folded)]


def _role_word(piece: str) -> bool:
    """Whether ``piece`` is a role word of a label ("PATIENT", "Tech:"), or one with one letter more, less or
    misread ("Patients")."""
    word = re.sub(r"[^A-Z]", "", piece.upper())
    return word in ROLE_WORDS or misread_role(word)


FUSED_PIECE = 6
"""Digits of a value, read in part at one end of a longer run of digits, that identify it there."""


def _fused_piece(run: str, value: str) -> tuple[int, int] | None:
    """Where in ``run`` a piece of ``value`` of ``FUSED_PIECE`` digits or more starts or ends it, the rest of the run
    another number's ("159846707" of "TI 150 846-707-8468" read "TI 159# 846 -707": the identifier's first six
    digits after the setting's): the longest such piece at either end, or None."""
    for n in range(len(run) - 1, FUSED_PIECE - 1, -1):
        if run[-n:] in value:
            return len(run) - n, len(run)
        if run[:n] in value:
            return 0, n
    return None


def _read_as_digits(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]``, a run of four digits or more once folded, was read as four digits or more
    ("TI150" folds to T1150: a setting, its I no digit), with no single character standing alone in it ("0 100" of
    a window misread: a lone digit before a space is no piece of a value)."""
    piece = text[start:end]
    words = piece.split()
    return sum(c.isdigit() for c in piece) >= 4 and (len(words) < 2 or all(len(w) > 1 for w in words))


def _one_digit_off(value: str, age: str) -> bool:
    """A number of the age's length one digit off it ("Rae 28" of "Age 20"): after its label, a number is the age
    whatever a digit was misread as."""
    return len(value) == len(age) >= 2 and value.isdigit() and sum(a != b for a, b in zip(value, age, strict=True)) == 1
