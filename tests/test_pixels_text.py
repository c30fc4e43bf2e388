"""The PHI decision layers on recognised text: metadata values, patterns, allow-list, NER (optional)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from deidnode.engine.phi import PhiValues
from deidnode.engine.pixels.text import TextJudge
from deidnode.engine.pixels.text.fuzzy import distance, fold, min_substring_distance, within_edits
from deidnode.engine.pixels.text.ner import NerUnavailableError, StanzaNer

PHI = PhiValues(
    person_names=("Smith^John",),
    name_parts=("JOHN", "SMITH"),
    identifiers=("PID448812", "ACC99417"),
    dates=(dt.date(2001, 7, 5),),
    texts=("Riverside General Hospital",),
    age="057Y",
    sex="M",
)


@pytest.fixture(scope="module")
def judge() -> TextJudge:
    return TextJudge(PHI)


def test_min_substring_distance_matches_dynamic_programming() -> None:
    def dp(p: str, t: str) -> int:
        prev = [0] * (len(t) + 1)
        for i, c in enumerate(p, 1):
            cur = [i] + [0] * len(t)
            for j, d in enumerate(t, 1):
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (c != d))
            prev = cur
        return min(prev)

    for p, t in [("SMITH", "XXSMYTHXX"), ("ABC", ""), ("JOHN", "JHON"), ("20010705", "2001O7O5"), ("A", "B")]:
        assert min_substring_distance(p, t) == dp(p, t)


def test_the_bounded_distance_is_exact_up_to_its_bound_and_over_it_beyond() -> None:
    for a, b in [
        ("SMITH", "SMYTH"),
        ("WOJCIK", "Wojsk".upper()),
        ("ABC", ""),
        ("", "AB"),
        ("KENJI", "KENJT"),
        ("A", "B"),
    ]:
        d = distance(a, b)
        for k in range(5):
            assert (distance(a, b, k) == d) if d <= k else distance(a, b, k) > k
            assert within_edits(a, b, k) is (d <= k)


@pytest.mark.parametrize("text", ["SMITH^JOHN", "John Smith", "SMITH, JOHN", "SMlTH~J0HN", "Jonn Smyth"])
def test_metadata_layer_finds_the_patients_name_in_any_order_and_with_ocr_errors(judge, text) -> None:
    d = judge.judge(text)
    assert (d.phi, d.layer, d.kind) == (True, "metadata", "name")


@pytest.mark.parametrize(
    "text",
    ["20010705", "2001 JUL 05", "2001JUL05", "05-Jul-2001", "07/05/2001", "05.07.2001", "2001-07-05", "Jul 5, 2001"],
)
def test_metadata_layer_finds_the_studys_date_in_every_common_format(judge, text) -> None:
    d = judge.judge(text)
    assert (d.layer, d.kind) == ("metadata", "date")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("ID: PID448812", "id"),
        ("PlD44B812", "id"),
        ("ACC 99417", "id"),
        ("057Y", "age"),
        ("57Y M", "age"),
        ("Age 57", "age"),
        ("57", "age"),
        ("057", "age"),  # "057Y" with its unit cut off
        ("ge 57", "age"),  # the label's first letter lost
        ("Thk3mmnge 57", "age"),
        ("57 YFS", "age"),  # YRS misread
        ("Sex: M", "sex"),
        ("RIVERSIDE GENERAL", "text"),
    ],
)
def test_metadata_layer_finds_ids_ages_sex_and_institution(judge, text, kind) -> None:
    d = judge.judge(text)
    assert (d.phi, d.layer, d.kind) == (True, "metadata", kind)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("1999/03/04", "date"),
        ("12-Mar-1987", "date"),
        ("12:34:56", "time"),
        ("Tel 555-123-4567", "phone"),
        ("jane.doe@mail.org", "email"),
        ("k.lindqvistcmail.org", "email"),  # the @ misread
        ("21/96/95", "date"),  # a date misread past any calendar
        ("8/3/1", "date"),  # cut short
        ("65/83/", "date"),
        ("THI 70YRS", "age"),
        ("YRS", "age"),  # its number unread
        ("YR", "age"),  # and its S lost ("33 YRS", dev-drawn twelfth 400)
        ("Age 82", "age"),
        ("043Y", "age"),
        ("07Y", "age"),  # "077Y", a digit lost (dev-drawn twelfth 400)
        ("61Y F", "age"),
        ("34YM", "age"),  # the space between age and sex not read
        ("www.northfield-clinic.org", "email"),
        ("646) 244", "phone"),  # the area code and the exchange, the rest read apart
        (".28 PM", "time"),  # the hour lost
        ("88812345", "digits"),
        ("Name: Doe", "label"),
        ("Dr. Jones", "label"),
        ("390-4692", "phone"),  # pieces read alone: a local number, an area code, a year and month, seconds
        ("(618)", "phone"),
        ("2003-02", "date"),
        ("2013/1", "date"),  # "2013/12/14" read apart, the month's second digit with the rest (dev-drawn)
        ("49:05 AM", "time"),
        (":12", "time"),
        ("50420 AM TI 150", "time"),  # a 12-hour time with its colons lost
        ("1249PM", "time"),
        ("2129PM", "time"),  # "3:21:29 PM", its colons and its hour lost (val9)
        ("18T M", "age"),  # "18Y M", its Y read as T (val9)
        ("73191 438-4036", "phone"),  # "(319) 433-4036", its brackets read as 7 and 1 (val9)
        ("[282)4242", "phone"),  # "(282) 429-4142", its space and dash lost (val9)
        ("Age!", "age"),  # "Age 1", the one read as a stroke (val9)
        ("24 06 201", "date"),  # a whole reading of 24.06.2001, a digit of its year lost (val9)
        ("203.2018", "date"),  # 23.03.2018 with two digits lost (val9)
        ("tor: KRISTIANSEN", "label"),  # "Operator:" cut at the reading's start
        ("Dr, Dubois", "label"),  # the period read as a comma
        ("Sranned by:Strauss", "label"),  # the role word before "by:" misread
        ("Scann ed b BAERK", "label"),  # "Scanned by SMITH ERIK": by's y lost, a space read inside the verb
        ("546-495-23", "id"),  # three groups of digits, the last cut short
        ("4003-07-", "id"),  # a date with its year misread and its day lost
        ("P: OKONKWO", "label"),  # "Pt:" with its t lost
        ("T:PERREIRAF", "label"),  # "PT:" with its P lost at the box's edge
        ("11724/1995", "date"),  # "11/24/1995", its first slash read as a 7 (dev-drawn fifteenth 400)
        ("250 mAs   01727/2013", "date"),  # "01/27/2013" (dev-drawn thirteenth 400)
        ("24/11741", "date"),  # "28/11/91", its second slash read as a 7 (dev-drawn fifteenth 400)
        ("Exam date 2036.83.18", "date"),  # "2012.03.18", its month misread past the months (dev-drawn)
        ("09:0124", "time"),  # "09:01:24", its second colon lost (dev-drawn fourteenth 400)
        ("tomasz.quinterofmail.oeg", "email"),  # the @ and the R of "org" misread (dev-drawn)
        ("PT:Mbek+", "label"),  # the name's last letter read as a plus (dev-drawn)
        ("AccessionRAD80707", "label"),  # the label run into a value that starts with letters (dev-drawn)
    ],
)
def test_pattern_layer_finds_phi_that_is_not_in_the_metadata(judge, text, kind) -> None:
    d = judge.judge(text)
    assert (d.phi, d.layer, d.kind) == (True, "pattern", kind)


@pytest.mark.parametrize(
    "text",
    [
        "W 400 L 40",
        "W:1500 L:-600",
        "R",
        "AP",
        "LAT",
        "Im: 12/40",
        "Se: 3",
        "5.0mm",
        "120 kVp",
        "250 mAs",
        "10 cm",
        "FR 30Hz",
        "LEFT",
        "MLO",
        "Gain 52%",
        "DFOV 36.0cm",
        "C5-1",  # ultrasound transducers (a date beside one once took it as a piece of the date: val6)
        "L12-5",
        "9L4",
    ],
)
def test_allowlist_keeps_technical_annotation(judge, text) -> None:
    d = judge.judge(text)
    assert (d.phi, d.layer) == (False, "allowlist")


@pytest.mark.parametrize(
    "text",
    [
        "Sag T2.FLAIR",
        "1.5T",
        "Ser.No 3",
        "IMG.NET",
        "Ax.COR",
        "Y 120",
        "2.5Y",
        "HR 72 bpm",
        "DLP 120",
        "Im: 12/40",
        "Zoom (150) W 120-1500",
        "300 AMP",  # digits before AM/PM are a time only where AM/PM stands alone
        "1300 mA",
        "1.5T M",  # a field strength is no age with its Y misread
        "Page!",
        "Zoom (150) W 120",
        "Im: 3/21700",  # a count is no date with its second slash read as a 7 (21 is no month)
        "Scale 1:1000",  # a scale is no time with its second colon lost (one digit before the colon)
        "ACCESSIONS 12",  # no identifier label run into a value
    ],
)
def test_dotted_technical_text_and_numbers_are_not_read_as_an_address_or_an_age(judge, text) -> None:
    assert not judge.judge(text).phi


def test_a_kernel_name_is_not_an_age_and_sex(judge) -> None:
    # "B57f" (a reconstruction kernel) holds the patient's age and an F: letters before it make it no age
    assert not judge.judge("B57f").phi
    assert judge.judge("57F").phi


def test_technical_text_next_to_no_phi_is_neither_phi_nor_allowlisted(judge) -> None:
    d = judge.judge("LYMPH NODE")
    assert (d.phi, d.layer) == (False, "none")


def test_pattern_does_not_read_a_date_into_glyph_noise(judge) -> None:
    assert not judge.judge("R9APR39").phi


@pytest.mark.parametrize(
    ("policy", "redact"),
    [
        ("phi", [True, False, False]),
        ("strict", [True, False, True]),
        ("all", [True, True, True]),
        ("off", [False, False, False]),
    ],
)
def test_policy_decides_which_lines_go(judge, policy, redact) -> None:
    lines = ["SMITH^JOHN", "W 400 L 40", "LYMPH NODE"]
    assert [judge.must_redact(judge.judge(t), policy) for t in lines] == redact


def test_fold_maps_common_ocr_confusions_together() -> None:
    assert fold("S0MITH 1O") == fold("SOMlTH IO")


def test_ner_without_stanza_or_models_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(NerUnavailableError) as e:
        StanzaNer(tmp_path)
    assert e.value.code in ("ner_unavailable", "ner_models_missing")


@pytest.mark.skipif(not os.environ.get("DEIDNODE_STANZA_MODELS"), reason="no stanza models folder configured")
def test_ner_layer_flags_a_person_name_not_in_the_metadata() -> None:
    judge = TextJudge(PHI, stanza_models_dir=Path(os.environ["DEIDNODE_STANZA_MODELS"]))
    d = judge.judge("Seen by Margaret Thatcher")
    assert (d.phi, d.layer) == (True, "ner")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Ref. Phys: MACKENZIE F", "MACKENZIE F"),  # an initial at the end of the line belongs to the name
        ("Tech: MBEKI M 040Y", "MBEKI M"),
        ("Pt: OKONKWO LUCA Page 1/3", "OKONKWO LUCA"),
        ("Tech: SMITH C 50 W 350", "SMITH"),  # C, W, L before a number are a window, not initials
        ("Pt: Page 1/3", None),  # technical text right after the label: no name
        ("W400L40", None),  # "00L" is no "DOB", though each glyph is a look-alike
        ("10801", None),  # nor is "10" an "ID"
        ("Dr.Smith,L.", "Smith,L."),  # a comma ends a word with no space after it (dev-drawn)
        ("Ret. Phys: Dubois", "Dubois"),  # "Ref. Phys:" with its first word misread: "Phys:" alone (dev-drawn)
        ("Physics: 3", None),
        ("Pi Boe", None),  # a second reader's "PI" (a pulsatility index) of "mA 200" is no "PT" (dev-drawn)
        ("PI: Boe", "Boe"),  # with its colon it is a label misread
        ("TECH: KRISTIANSB4", "KRISTIANSB4"),  # a name's A read as 4 (dev-drawn)
        ("Pafent: PTP", "PTP"),  # "Patient:" two letters off, before a capitalised name (dev-drawn)
        ("Pafent: 3", None),
        ("DR quintero, E", "quintero, E"),  # a short label, a name in its written form, its case misread (dev-drawn)
        ("DR 5", None),
        ("ch: Hiroshi woic", "Hiroshi woic"),  # "Tech:" with its first letters cut off (dev-drawn)
        ("Ch: 1", None),
        ("ch: gain", None),
        ("TECH:NAKAMURALZOOM150%", "NAKAMURAL"),  # a setting run into the name stays (val9)
        ("PhysStrauss", "Strauss"),  # "Phys" run into the name, the case changing at the join (val9)
        ("PHYSICS 3", None),
    ],
)
def test_values_after_labels_end_where_the_name_ends(text, value) -> None:
    from deidnode.engine.pixels.text.allowlist import load_allowlist
    from deidnode.engine.pixels.text.patterns import find_labelled

    found = [text[a:b] for _k, a, b in find_labelled(text, load_allowlist().words)]
    assert found == ([value] if value else [])


def test_an_initial_ending_the_line_is_part_of_the_name(judge) -> None:
    d = judge.judge("Smith J.")
    assert d.phi and (d.spans[0].start, d.spans[0].end) == (0, 8)


def test_an_unsure_loose_match_that_technical_text_explains_is_not_phi() -> None:
    """Read at 0.74, "250 mAs i" is within two edits of "TOMASZ" in look-alike folding; the technical
    vocabulary explains it. A loose match it does not explain still counts."""
    judge = TextJudge(PhiValues(person_names=("NAKAMURA^TOMASZ",), name_parts=(), identifiers=(), dates=(), texts=()))
    assert not judge.judge("250 mAs i", 0.74).phi
    assert judge.judge("T0masz", 0.6).phi
    assert judge.judge("Nakamurra", 0.6).phi


def test_a_rulers_ticks_read_as_letters_are_no_loose_match_of_a_name() -> None:
    """A clean ultrasound's depth ruler read "ELLLL" at 0.67 is within two edits in five of ELENI: the loose match
    of an unsure reading changed a clean image (dev-drawn clean set). A letter three times in a row, or nothing
    but upright strokes, is a ruler's ticks; a name misread as much still counts."""
    judge = TextJudge(PhiValues(person_names=("WOJCIK^ELENI",), name_parts=(), identifiers=(), dates=(), texts=()))
    assert not judge.judge("ELLLL", 0.67).phi
    assert judge.judge("ELEMI", 0.67).phi
    assert judge.judge("ELENI").phi


def test_a_name_does_not_start_or_end_inside_a_number() -> None:
    """Tesseract reads "250 mAs" and a "2" below it as one line on a cleaned frame: "50 mAs 2" is one edit from
    TOMASZ in look-alike folding even to the strict matcher, but a name is not cut out of the number "250"."""
    judge = TextJudge(PhiValues(person_names=("WOJCIK^TOMASZ",), name_parts=(), identifiers=(), dates=(), texts=()))
    assert not judge.judge("250 mAs 2", 0.63).phi
    assert not judge.judge("250 mAs 2").phi
    assert judge.judge("50MAS2", 0.63).phi  # the name misread as digits, alone
    assert judge.judge("ID 4411 T0MASZ").phi


def test_an_identifier_or_date_read_in_part_is_still_phi() -> None:
    """Low-contrast or bitmap text is often read in pieces: "4197" of 535-414-4197, "2003-02" of a date.
    Four digits or more of a value, alone on a line, count; technical numbers do not."""
    phi = PhiValues(
        person_names=(), name_parts=(), identifiers=("535-414-4197",), dates=(dt.date(2003, 2, 19),), texts=()
    )
    judge = TextJudge(phi)
    assert judge.judge("4197").kind == "id"
    assert judge.judge("2003-02").kind == "date"
    for technical in ("W 400 L 40", "1024", "TI 150", "250 mAs", "41"):
        assert not judge.judge(technical).phi


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("PERATORNAKAMURA J", "NAKAMURA J"),  # OPERATOR, its first letter lost at the box edge, run into the name
        ("TechJAL", "JAL"),
        ("Phusiciant FERREIRA F", "FERREIRA F"),  # a long role word read with two errors and no colon
        ("Phusieian: FERREIRA F", "FERREIRA F"),  # two errors and its colon
        ("Technologlst:JONES", "JONES"),
        ("TECHNIQUE FSE", None),  # no case change at the join of a short role word: a technical word
        ("OPERATOR MODE 2", None),
        ("Nane TANAKA", "TANAKA"),  # a short role word with one letter misread and its colon lost
        ("Sonognphar: TANAKA", "TANAKA"),  # a long role word, a third of its letters misread, and its colon
        ("Sono grapher: TFB", "TFB"),  # a role word split by a space
        ("REFERENCE: LINE A", None),  # four letters from REFERRING: a technical word
        ("Focus Depth: 12", None),
        ("Tecn Okonkwo", "Okonkwo"),
        ("Nane tanaka", None),  # not before a capitalised word
        ("SAME DAY", None),
        ("LANE 2", None),
        ("Sumoed by Faulo Moretti", "Faulo Moretti"),  # "Scanned by", the verb misread: who did it follows
        ("vowed by AIeYBDPOA", "AIeYBDPOA"),
        ("Sammed by: TararA ?", "TararA"),
        ("Sumoedby: JONES", "JONES"),
        ("STANDBY MODE", None),  # "by" inside a word
        ("Gain by 3 dB", None),  # no name after it
        ("Physician+ Strauss", "Strauss"),  # a label's colon read as "+" or ";" in small text
        ("Tech; JONES", "JONES"),
        ("PtDUBOISE", "DUBOISE"),  # the short labels too, where the case changes at the join
        ("DrSmith", "Smith"),
        ("PTDUBOIS", None),
        ("Ptosis", None),
        ("P: OKONKWO", "OKONKWO"),  # "Pt:" with a letter lost, before a capitalised name
        ("T: 37.5", None),  # a setting's letter and its number
        ("T: Head", None),  # a technical word
        ("P: lo", None),
        ("OPERATORL.Smith", "L.Smith"),  # run into the name's initial (dev-drawn: "OPERATOR L. Smith")
        ("OPERATORS", None),
        ("Technologist : Papadopoulo5,", "Papadopoulo5,"),  # a space before the colon, a letter read as a digit
        ("Tech: SE3 W 400", None),  # a setting's word and number is no name
    ],
)
def test_a_role_word_run_into_the_name_or_misread_still_labels_it(text, value) -> None:
    from deidnode.engine.pixels.text.allowlist import load_allowlist
    from deidnode.engine.pixels.text.patterns import find_labelled

    found = [text[a:b] for _k, a, b in find_labelled(text, load_allowlist().words)]
    assert found == ([value] if value else [])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("SMITHAJOHN W 400", "SMITHAJOHN"),  # the ^ read as a letter: one box, not two with a sliver between
        ("PID448812K3", "PID448812K3"),  # a stray character or two at the end belong to the value
        ("SMITH, JOHN!", "SMITH, JOHN!"),
        ("SMITH~JOH! W 400", "SMITH~JOH!"),  # the given name after the header's "^", misread
    ],
)
def test_a_phi_span_takes_a_stray_character_and_bridges_a_misread_separator(judge, text, value) -> None:
    d = judge.judge(text)
    assert d.phi
    assert [text[s.start : s.end] for s in d.spans] == [value]


def test_a_number_fused_before_a_date_is_not_taken_with_it(judge) -> None:
    text = "Se 305.07.2001"  # "Se: 3" and the date, read as one word
    assert [text[s.start : s.end] for s in judge.judge(text).spans] == ["05.07.2001"]


@pytest.mark.parametrize(
    ("date", "text", "value"),
    [
        ((2016, 2, 21), "2721/2018", "2721/2018"),  # 2/21/2016, a slash read as a 7: matched from the "7"
        ((2016, 2, 21), "Date: 2721/201E", "2721/201E"),
        ((1945, 3, 1), "01-olar-1945.", "01-olar-1945."),  # matched from "olar"
        ((2004, 6, 21), "22L ,JIUNI 20041", "22L ,JIUNI 20041"),
        ((2001, 7, 5), "Se 305.07.2001", "05.07.2001"),  # matched as written: the "3" before is another number
        ((1973, 12, 16), "Gn 60 12:21:13", "12:21:13"),  # a short form's match cut from "60": no date (the time)
    ],
)
def test_a_misread_dates_first_digits_go_with_it(date, text, value) -> None:
    d = TextJudge(PhiValues(dates=(dt.date(*date),))).judge(text, 0.8)
    assert [text[s.start : s.end] for s in d.spans] == [value]


def test_a_phone_number_after_its_label_goes_whole_with_a_digit_read_as_a_plus() -> None:
    text = "Tel 3+5-278-1762"  # dev_12203 (val5): only the "3" went
    d = TextJudge(PhiValues()).judge(text, 0.94)
    assert [text[s.start : s.end] for s in d.spans] == ["3+5-278-1762"]


def test_an_unsure_reading_matches_a_name_only_with_two_thirds_of_its_length() -> None:
    judge = TextJudge(PhiValues(person_names=("TANAKA^PAULO", "WOJCIK^ERIK"), name_parts=("TANAKA", "PAULO")))
    assert not judge.judge("P Low", 0.84).phi  # "PLO": two edits from PAULO, but three letters of five
    assert judge.judge("Pavlo", 0.84).phi
    assert judge.judge("Gn PE WOIC", 0.66).phi  # four of six: a small-font misreading of WOJCIK


def test_a_phone_number_goes_with_its_label_and_an_initial_read_as_a_digit_with_the_name(judge) -> None:
    for text, value in [
        ("Tel 555-123-4567", "Tel 555-123-4567"),
        ("Te1 555-123-4567", "Te1 555-123-4567"),  # its l read as a 1
        ("SMITH 7", "SMITH 7"),
        ("SMITH 7 W 400", "SMITH"),
    ]:
        assert [text[s.start : s.end] for s in judge.judge(text).spans] == [value]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Riverside General", "Riverside General"),  # the common word beside the distinctive one
        ("Rlversde Genrel Hosptl", "Rlversde Genrel Hosptl"),  # misread: the words stand where the value's do
        ("W 400 Riverside General Hospital L 40", "Riverside General Hospital"),  # no further than the value
        ("General Riverside 3.0mm", "Riverside"),  # out of order: only the word itself
        ("Site: Riverside", "Riverside"),
    ],
)
def test_an_institution_found_by_one_word_takes_the_words_standing_where_its_other_words_stand(
    judge, text, value
) -> None:
    d = judge.judge(text)
    assert d.phi and d.kind == "text"
    assert [text[s.start : s.end] for s in d.spans] == [value]


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("Elm Stree", "Elm Stree"),  # "Elm Street Clinic" cut at the box's edge: each word too common alone (dev-drawn)
        ("Elm Stree 1010", "Elm Stree"),
        ("MEDKCALCENTER", "MEDKCALCENTER"),  # "NORTHFIELD MEDICAL CENTER", its end run together (dev-drawn)
        ("DIAGNOSTIC MODE", None),  # one common word is no piece of the name
        ("W 400 L 40 MEDICAL", None),  # nor is a window before one
        ("Street 5", None),
        # a word with letters that fold to digits counts as letters ("HOSPITAL" folds to "H05P1TA1"): "Mount Carmel
        # Hospital" cut inside its second word, a letter misread (dev-drawn eighth 400); the common word alone is
        # still none, however its letters fold
        ("rmal Hospital", "rmal Hospital"),
        ("Hospital", None),
        ("Normal Hospital", None),
    ],
)
def test_a_long_institution_name_read_in_part_is_known_by_the_piece(text, piece) -> None:
    phi = PhiValues(
        texts=("Elm Street Clinic", "NORTHFIELD MEDICAL CENTER", "Westgate Diagnostics", "Mount Carmel Hospital")
    )
    d = TextJudge(phi).judge(text, 0.9)
    assert [text[s.start : s.end] for s in d.spans] == ([piece] if piece else [])


@pytest.mark.parametrize(
    ("text", "taken"),
    [("Center", True), ("al", True), ("Hospi", True), ("Medcal", True), ("AP", False), ("W 400", False), ("C", False)],
)
def test_a_word_of_a_value_or_the_cut_off_start_or_end_of_one_is_recognised(text, taken) -> None:
    from deidnode.engine.pixels.text.metadata import words_of_value

    assert words_of_value(text, "Mount Carmel Hospital Medical Center") is taken


@pytest.mark.parametrize(
    ("text", "phi"), [("KRIST", True), ("Kristia", True), ("ANSEN", True), ("NSEN", True), ("SEN", False)]
)
def test_a_long_name_part_read_in_pieces_is_known_by_its_start_or_end(text, phi) -> None:
    # a vertical "KRISTIANSEN" read as "KRIST" and "NSEN": a piece of two fifths of the part or more, alone on
    # its line, is the name; so is a piece of four letters cut from it ("NSEN": ``MetadataMatcher.fragment``); a
    # shorter one is not (it goes with the other piece beside it, or not at all)
    d = TextJudge(PhiValues(person_names=("KRISTIANSEN^PAULO",), name_parts=("KRISTIANSEN", "PAULO"))).judge(text)
    assert (d.phi and d.kind == "name") is phi


@pytest.mark.parametrize(
    ("text", "removed"),
    [
        ("GORA0e 57", "A0e 57"),
        ("Agc 57", "Agc 57"),
        ("COR 57", None),
        ("GOR Ade 57", "Ade 57"),
        ("Ade 57 T1", "Ade 57"),
    ],
)
def test_the_age_after_its_label_misread_and_run_into_the_word_before_it(judge, text, removed) -> None:
    # "COR" and "Age 57" read as one line, "Age" misread: the label and the age go, "COR" before it stays
    d = judge.judge(text)
    assert [text[s.start : s.end] for s in d.spans] == ([removed] if removed else [])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # small bitmap text: the label misread past recognition, the name written as names are
        ("Ppyaidan: Smith, K.", "Smith, K."),
        ("Isnxka, P", "Isnxka, P"),
        ("Patie nt: K. Mackenzie", "K. Mackenzie"),
        ("Noe: E. Stwu E301", "E. Stwu"),
        ("Ed: MACKENZE E", "MACKENZE E"),  # a capitals name and its initial after a label's colon
        ("AURIS F.", None),  # ... but not alone (a misreading of "Angle 60")
        ("L. Spine", None),  # technical words are no family name
        ("Lt: SPINE C", None),
        ("Page 1, 2", None),
    ],
)
def test_a_name_in_the_form_names_are_written_in_is_phi_without_its_label(text, value) -> None:
    from deidnode.engine.pixels.text.allowlist import load_allowlist
    from deidnode.engine.pixels.text.patterns import find_name_forms

    found = [text[a:b] for _k, a, b in find_name_forms(text, load_allowlist().words)]
    assert found == ([value] if value else [])


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        ("22-Lec-2012", True),  # a month misread: still a day, three characters and a year
        ("10-nua-2010", True),
        ("409 28,2004", True),  # "Aug 26, 2008"
        ("26Psb,2013", True),
        ("Awg 26, 200", True),  # the year cut at the box's edge
        ("FOV 24, 240", False),  # a setting and a number: no year's start
        ("C5-1 2-5 MHz", False),
        ("20 kVp 2000", False),  # a unit between two numbers is no month
        ("Gn 12 PRF 2000", False),
        ("Se 12 Im 2012", False),
        ("006SEP 24", True),  # "2006 SEP 24", the year's first digit cut at the box's edge (dev-drawn)
        ("TI150 SEP 2", False),
    ],
)
def test_a_date_with_its_month_misread_keeps_the_shape_of_a_date(text, phi) -> None:
    from deidnode.engine.pixels.text.patterns import find_patterns

    assert any(k == "date" for k, _a, _b in find_patterns(text)) == phi


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("34VRE", True),
        ("49 YES", True),
        ("120 VES", False),
        ("4 VRF", False),
        ("88 YRG", True),  # "88 YRS", its S read as G (dev-drawn)
        ("SYF", True),  # "5Y F", its number read as a letter and run together (dev-drawn)
        ("BY F. Ferreira", False),  # a label's "by" before an initial is no age
        ("BYE", False),
        ("54 TRS", True),  # "54 YRS", its Y read as T (dev-drawn)
        ("39 VP5", True),  # its Y as V, R as P and S as 5 (dev-drawn)
        ("3SYRS", True),  # "35 YRS", a digit read as S, run together (dev-drawn)
        ("DB2Y", True),  # "082Y", its digits read as look-alike letters (dev-drawn)
        ("070YMI1.1", True),  # an age string run into the mechanical index after it (dev-drawn)
        ("2 TR500", False),  # a repetition time with its number run on
        ("TR 12", False),
        ("BOBY", False),
        ("120YMI", False),  # no leading zero: not the age string's form run into a word
    ],
)
def test_an_age_whose_unit_was_read_in_look_alikes_is_an_age(text, age) -> None:
    from deidnode.engine.pixels.text.patterns import find_patterns

    assert any(k == "age" for k, _a, _b in find_patterns(text)) == age


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("SMITH Gn 60", ["SMITH"]),  # a word before a bare number is a setting's name, not a given name
        ("SMITH Angle 60", ["SMITH"]),
        ("Thk Jmm SMITH", ["SMITH"]),  # a setting's value misread after its word ("Thk 3mm": dev-drawn twelfth 400)
        ("Dr Emm SMITH", ["Emm SMITH"]),  # (a label before a given name is no setting)
        ("SMITH P Low", ["SMITH"]),  # a letter before a technical word is the setting's, not an initial
        ("SMITH P", ["SMITH P"]),
        ("Pt DUBOIS E", ["DUBOIS E"]),  # a label's value starts after the label
        ("H  Tech:Mackerzie", ["Mackerzie"]),  # and takes nothing before it ("H" of the orientation)
        ("Tech: JONES P Low", ["JONES"]),
        ("SMITH M 040Y", ["SMITH M 040Y"]),  # an initial before the age, as after a label ("Tech: MBEKI M 040Y")
        ("SMITH W 400", ["SMITH"]),  # but W, L and C before a number are a window
        ("SMITH T. DR 5", ["SMITH T."]),  # written with its full stop, an initial before a technical word too
        ("Pt:.1 Smith", [".1 Smith"]),  # the initial run into the label, read as a digit (dev-drawn "J. Quintero")
        (".1 Smith", [".1 Smith"]),
        ("Pt: 1. SMITH", ["1. SMITH"]),
        ("Pt:SMITH", ["SMITH"]),
        ("5.0 SMITH", ["SMITH"]),  # a setting before the name is no initial
        ("Name: FTH,JOHN", ["FTH,JOHN"]),  # a misread family name run into the given name by its comma
        ("Patatnt: Smith, @aaa", ["Smith, @aaa"]),  # the given name misread after the comma (dev-drawn)
        ("Smith T+", ["Smith T+"]),  # an initial's full stop read as a plus (dev-drawn "Tanaka T.")
        ("Patenta [, Smith", ["[, Smith"]),  # an initial read as a bracket ("C. Mbeki")
        ("Smith T+ DR 5", ["Smith T+"]),
    ],
)
def test_a_name_is_not_widened_over_the_technical_text_or_label_beside_it(judge, text, spans) -> None:
    assert [text[s.start : s.end] for s in judge.judge(text).spans] == spans


def test_a_date_matched_with_tolerance_does_not_end_inside_a_word_beside_it() -> None:
    """Read at 0.96, "03.04.1953 Dopth 16cm" held the date and, with one edit, "1953 Dop" as "1953 APR": a
    month is a whole word, so "Depth" stays. A month read as its own word still counts."""
    judge = TextJudge(PhiValues(person_names=(), name_parts=(), identifiers=(), dates=(dt.date(1953, 4, 3),)))
    text = "03.04.1953 Dopth 16cm"
    assert [text[s.start : s.end] for s in judge.judge(text, 0.96).spans] == ["03.04.1953"]
    for text in ("1953 APR 03", "DOB 1953 Apr", "1953APR"):
        assert judge.judge(text).phi, text


def test_an_unsure_name_match_holding_a_whole_number_is_not_a_name() -> None:
    judge = TextJudge(PhiValues(person_names=("STRAUSS^KENJI",), name_parts=("STRAUSS", "KENJI")))
    assert not judge.judge("Sen 31", 0.83).phi  # "Se: 3" misread, two edits from KENJI
    assert judge.judge("STRAUS KENJ1", 0.7).phi


def test_a_technical_word_run_into_a_value_is_not_taken_as_a_stray_character() -> None:
    judge = TextJudge(PhiValues(person_names=("SMITH^JOHN",), name_parts=("SMITH", "JOHN"), identifiers=("43699361",)))
    for text, value in [("43699361CC", "43699361"), ("43699361K3", "43699361K3"), ("SMITH!", "SMITH!")]:
        assert [text[s.start : s.end] for s in judge.judge(text).spans] == [value], text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Performedbv_E.Tanaka", "E.Tanaka"),
        ("Scannedby:JONES", "JONES"),
        ("STANDBY MODE", None),
        ("SPEED B MODE", None),  # "-ED B" and a technical word: no name
    ],
)
def test_by_run_into_its_verb_still_announces_a_name(judge, text, value) -> None:
    d = judge.judge(text)
    assert [text[s.start : s.end] for s in d.spans] == ([value] if value else [])


@pytest.mark.parametrize(("text", "age"), [("Aq= 59", True), ("A9B 32", True), ("AVG 12", False), ("SAGE 3", False)])
def test_an_age_whose_label_was_read_in_look_alikes_is_an_age(text, age) -> None:
    assert (TextJudge(PhiValues()).judge(text).kind == "age") is age


def test_a_time_with_one_of_its_colons_read_as_a_semicolon_is_a_time() -> None:
    from deidnode.engine.pixels.text.patterns import find_patterns

    for text in ("12:46;13 PM", "12;46:13"):
        assert ("time", 0, len(text)) in find_patterns(text), text
    assert not any(k == "time" for k, _a, _b in find_patterns("12;46"))  # one semicolon alone is no time


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("8:46:17 Pr", "8:46:17 Pr"),  # PM read in look-alikes goes with the time
        ("4:11:16 PW", "4:11:16 PW"),  # (dev-drawn: "PM" left beside the removed time)
        ("21:09-59", "21:09-59"),  # its second colon read as a dash (dev-drawn: ":59" left)
        ("12:30 PRF 2000", "12:30"),
        ("Te1l 952-913-28910", "Te1l 952-913-28910"),  # a phone number after its label, a group misread longer
        ("Tel 952-903-2890", "Tel 952-903-2890"),
        (".e1 657420-5576", ".e1 657420-5576"),  # its label misread
        ("Te1487-408-568125Y", "Te1487-408-56812"),  # its label run into it, and the age after it
        ("ele ni.quintero@mail.org", "ele ni.quintero@mail.org"),  # an e-mail address with a space read into it
        ("maris ol.nakamura@mail. org", "maris ol.nakamura@mail. org"),  # dev_12283 (val5): five letters before it
        ("W 400 john@mail.org", "john@mail.org"),
        ("250 mAs erik.smith@mail.org", "erik.smith@mail.org"),  # a unit after its number is no piece of it
        ("@mail.org", "@mail.org"),  # its host alone: the name part before it was not read
    ],
)
def test_a_time_phone_number_or_email_misread_at_an_end_is_removed_whole(text, value) -> None:
    from deidnode.engine.pixels.text.patterns import find_patterns

    assert max((text[a:b] for _k, a, b in find_patterns(text)), key=len) == value


def test_a_technical_word_run_into_the_front_of_a_value_stays() -> None:
    """A stray character or two before a value goes with it, but not a technical word ("CC" of "CCAge 82")."""
    judge = TextJudge(PhiValues(person_names=(), name_parts=(), age="082Y"))
    for text, span in (("CCAge 82", "Age 82"), ("MRAge 82", "MRAge 82")):
        assert [text[s.start : s.end] for s in judge.judge(text, 0.88).spans] == [span], text


def test_a_long_number_with_a_percent_sign_is_a_setting_not_an_identifier() -> None:
    from deidnode.engine.pixels.text.patterns import find_patterns

    assert not any(k == "digits" for k, _a, _b in find_patterns("200150%"))  # "ZOOM 150%" misread
    assert any(k == "digits" for k, _a, _b in find_patterns("ID 1234567 50%"))


def test_a_by_label_run_into_a_number_before_it_and_a_name_cut_by_a_full_stop() -> None:
    """ "Se:3Scanedby:Suss.1C50W350": the label fused to the series number before it, and the name fused to its
    misread initial and the window after it: the name's letters up to the full stop are the value."""
    from deidnode.engine.pixels.text.patterns import find_labelled

    text = "Se:3Scanedby:Suss.1C50W350"
    assert [text[a:b] for _k, a, b in find_labelled(text)] == ["Suss"]
    assert find_labelled("3Scanned by 40") == []


def test_a_technical_setting_run_into_the_end_of_a_value_stays() -> None:
    """ "Born2/7/1937Gn 60": the gain's name run into the date after a label; "D0B:2005.08.12C 50W350": the
    window centre's letter after the date, and 08.12C 5 is the date's 081205 in look-alike folding."""
    from deidnode.engine.pixels.text.allowlist import load_allowlist
    from deidnode.engine.pixels.text.patterns import find_labelled

    phi = PhiValues(
        person_names=(), name_parts=(), identifiers=(), dates=(dt.date(1937, 2, 7), dt.date(2005, 8, 12)), texts=()
    )
    judge = TextJudge(phi)
    for text, value in [("Born2/7/1937Gn 60", "2/7/1937"), ("D0B:2005.08.12C 50W350", "2005.08.12")]:
        d = judge.judge(text, 0.95)
        removed = "".join(text[s.start : s.end] for s in d.spans)
        assert value in removed and not removed.endswith(("G", "n", "C", "5"))
    ident = "ID: RAD123AB"  # an identifier's own letters stay part of it
    assert [ident[a:b] for _k, a, b in find_labelled(ident, load_allowlist().words)] == ["RAD123AB"]


def test_an_initials_full_stop_and_an_age_labels_misread_a_go_with_their_value() -> None:
    """ "Tech:Ferreira,E.mA200": the full stop after the initial goes with the name, whatever is run into it;
    "Thk3mmnge 42": the A of Age read as "n" and run into the word before it goes with the age."""
    judge = TextJudge(
        PhiValues(person_names=("FERREIRA^EMMA",), name_parts=(), identifiers=(), dates=(), texts=(), age="042Y")
    )
    for text, value in [("Tech:Ferreira,E.mA200", "Ferreira,E."), ("Thk3mmnge 42", "nge 42")]:
        assert [text[s.start : s.end] for s in judge.judge(text, 0.95).spans] == [value]


def test_an_initial_after_the_name_goes_with_it_when_technical_text_is_run_into_it() -> None:
    """ "Name:Papadopouos P.mA200T1" (dev-drawn: "Papadopoulos P. mA 200"): the initial "P." goes with the name;
    the technical text run into it stays."""
    judge = TextJudge(PhiValues(person_names=(), name_parts=()))
    text = "Name:Papadopouos P.mA200T1"
    assert [text[s.start : s.end] for s in judge.judge(text).spans] == ["Papadopouos P."]
    text = "Name: SMITH W.400"
    assert [text[s.start : s.end] for s in judge.judge(text).spans] == ["SMITH"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("wojcik@mail", "wojcik@mail"),  # a vertical address read in pieces (dev-drawn)
        ("mail.org", "mail.org"),  # its host read as a line of its own
        ("Dept: radiology.example.net", "radiology.example.net"),
        ("2.5cm@3.5MHz", None),
        ("T1@3", None),
        ("v2.0", None),
    ],
)
def test_an_address_cut_before_its_hosts_dot_and_a_host_alone_are_an_email(text, found) -> None:
    from deidnode.engine.pixels.text.patterns import find_patterns

    got = {text[a:b] for k, a, b in find_patterns(text) if k == "email"}
    assert got == ({found} if found else set())


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("328:25PM", "time"),  # "3:28:25 PM", its first colon lost (dev-drawn)
        ("04 :5 4: 4 8", "time"),  # "04:54:48" read with spaces inside its numbers (dev-drawn)
        ("(69B) 865-90)", "phone"),  # "(693) 865-5026", the area code and the end misread (dev-drawn)
        ("(SU) 741-7723", "phone"),  # "(690) 741-7723", the area code misread beyond look-alikes (dev-drawn)
        ("Q2)885-4326", "phone"),  # "(592) 885-4326", its opening bracket lost too (dev-drawn)
        ("Tel 484:465-1637", "phone"),  # its first dash read as a colon (dev-drawn)
        ("100:120:1500", None),
        ("TR (ms) 500", None),
        ("TR(ms)500-1200", None),
        ("1 : 2 : 3", None),
        ("Zoom (150) W 120-1500", None),
        ("1328:25", "time"),  # "13:28:25", its first colon lost (a cine clock read "9157:21", dev-drawn)
        ("MI1.1 6:57:01 AM", "time"),  # the time alone, not the "1" of a setting before it
        ("83:31:53", "time"),  # "03:31:53", its hour misread beyond the hours (dev-drawn)
        ("38AM", "time"),  # "2:56:38 AM", its seconds and AM read as a line of their own (dev-drawn)
        ("2 AM", None),
        ("(287> 595-7541", "phone"),  # its closing bracket read as a look-alike (dev-drawn)
        ("252]619-168", "phone"),  # ... and its opening one lost, the line cut short (dev-drawn)
        ("(816)51", "phone"),  # the area code and the exchange's start, the rest read as another line (dev-drawn)
        ("Tel 911=813=6904", "phone"),  # its dashes read as equals signs
        ("W=400 L=40", None),
        ("TR(ms) 50", None),
    ],
)
def test_a_time_and_a_phone_number_misread_in_their_separators_or_digits(text, kind) -> None:
    from deidnode.engine.pixels.text.patterns import find_patterns

    found = {(k, text[a:b]) for k, a, b in find_patterns(text)}
    kinds = {k for k, _v in found}
    assert (kind in kinds) if kind else not kinds & {"time", "phone"}
    assert ("time", "1 6:57:01") not in found


def test_a_settings_at_sign_is_no_email_host() -> None:
    from deidnode.engine.pixels.text.patterns import find_patterns

    assert not any(k == "email" for k, _a, _b in find_patterns("@ 3.5 MHz"))
    assert not any(k == "email" for k, _a, _b in find_patterns("2.5 cm @ 3.5"))


@pytest.mark.parametrize(
    ("text", "removed"),
    [
        ("36Y H", "36Y H"),  # the sex after it misread (dev-drawn: "36Y M" read "36Y H") goes with it
        ("T1 36Y K", "36Y K"),
        ("Age x12", "Age x12"),  # a stray mark before the age after its label
        ("x12", None),
        ("T1 x12", None),
        ("1r 150 B2Y'M", "B2Y'M"),  # its first digit read as a letter (dev-drawn: "82Y M")
        ("0827", "0827"),  # the DICOM form with its Y read as a 7 (dev-drawn: "0417" of "041Y")
        ("08271", None),
        ("SE 8 B2", None),
    ],
)
def test_the_datasets_age_as_a_word_of_its_own_or_after_a_stray_mark_is_an_age(text, removed) -> None:
    age = "036Y" if "36" in text else "082Y" if ("82" in text or "B2" in text) else "012Y"
    judge = TextJudge(PhiValues(person_names=(), name_parts=(), age=age))
    d = judge.judge(text, 0.85)
    got = [text[sp.start : sp.end] for sp in d.spans if sp.kind == "age"]
    assert got == ([removed] if removed else [])


def test_the_age_read_with_its_y_as_a_seven_does_not_take_a_window_value_before_it() -> None:
    """A technical value's digits before the age ("L 40 34 YRS" reads "...40034YRS" without its spaces) are not
    the padded DICOM form of the age."""
    judge = TextJudge(PhiValues(person_names=(), name_parts=(), age="034Y"))
    text = "W 400 L 40 34 YRS"
    assert [text[sp.start : sp.end] for sp in judge.judge(text, 0.92).spans] == ["34 YRS"]
    # a word with no digit is not an age with its first digit misread: "SA &" (a "Se: 3" misread) is no "5A"
    assert not TextJudge(PhiValues(person_names=(), name_parts=(), age="005Y")).judge("SA &", 0.8).phi


def test_a_name_after_a_short_label_with_its_first_letters_case_misread_is_a_name() -> None:
    """ "Dr. wOJCIK J" (dev-drawn, 0.93): a short label needs a capitalised name after it ("Pat ient" is a label
    misread, not "Pat" and a name), and a name in capitals with its first letter read small is capitalised."""
    d = TextJudge(PhiValues(person_names=(), name_parts=())).judge("Dr. wOJCIK J")
    assert d.phi and "wOJCIK J" in [("Dr. wOJCIK J")[sp.start : sp.end] for sp in d.spans]
    assert not TextJudge(PhiValues(person_names=(), name_parts=())).judge("Pat ient").phi
    assert not TextJudge(PhiValues(person_names=(), name_parts=())).judge("Dr. sono").phi


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("57Y H", ["57Y H"]),  # the sex after the age, its M misread (dev-drawn "53Y M")
        ("57Y M 5.0mm", ["57Y M"]),
        ("57Y IM", ["57Y IM"]),  # an M read as two glyphs (dev_12198, val5: "2ZY IM" of "22Y M")
        ("57Y IVI", ["57Y IVI"]),
        ("57Y IMA", ["57Y"]),
        ("057Y W 400", ["057Y"]),  # a window's W before its number is no sex
        ("057Y ETL 16", ["057Y"]),
        ("9358309 AH", ["9358309 AH"]),  # AM misread after a time whose colons were read as digits
        ("12:46:13 PH", ["12:46:13 PH"]),
        ("12:46:13 PHASE", ["12:46:13"]),
        ("RAD47444824 PW", ["47444824"]),  # Doppler's PW after an accession number stays (dev-drawn)
    ],
)
def test_what_is_misread_at_a_values_end_goes_with_it(judge, text, spans) -> None:
    assert [text[s.start : s.end] for s in judge.judge(text).spans] == spans


@pytest.mark.parametrize(
    ("text", "kind", "found"),
    [
        ("/07//93", "date", True),  # "17/07/93", cut before its first slash, a slash doubled (dev-drawn)
        ("28a2004", "date", True),  # "28-Mar-2004", its month read as one letter (dev-drawn)
        ("Depth16m2001", "date", False),  # a depth's unit run into a year (dev-drawn twelfth 400)
        ("Im: 12/40", "date", False),
        ("9157:21", "time", True),  # "01:57:21" of a cine clock, its first colon lost (dev-drawn)
        ("D151:07TI150", "time", True),  # "01:51:07" run into "TI 150", its 0 read as a D (dev-drawn)
        ("2007 HOV 03", "date", True),  # "2007 NOV 03", its month misread (dev-drawn: "H09", "10V", "HOY" too)
        ("2007 10V 02", "date", True),
        ("1500 ETL 16", "date", False),
        ("2000 MAS 10", "date", False),
        ("2019 AX 12", "date", False),
        ("W1024:50", "time", False),
        ("ZOOM 150%", "time", False),
        ("1:2", "time", False),
    ],
)
def test_a_date_or_time_read_with_a_separator_lost_or_doubled(text, kind, found) -> None:
    from deidnode.engine.pixels.text.patterns import find_patterns

    assert any(k == kind for k, _a, _b in find_patterns(text)) is found


@pytest.mark.parametrize(
    ("text", "age"), [("Rae 28", True), ("Rae 2", False), ("Rae 31", False), ("Age 20", True), ("Page 10", False)]
)
def test_a_number_after_a_misread_age_label_one_digit_off_the_age_is_the_age(text, age) -> None:
    judge = TextJudge(PhiValues(person_names=(), name_parts=(), age="020Y"))
    assert (judge.judge(text, 0.65).kind == "age") is age


def test_a_name_found_from_inside_a_word_takes_the_whole_word() -> None:
    # dev-drawn: "Pt: Celine Smith" read "Ft:Elenl Smlth" at 0.89: "lenl S" is within two edits of CELINE, its C
    # lost; the "E" and "mlth" stayed readable
    phi = PhiValues(
        person_names=("NAKAMURA^KENJI", "SMITH^CELINE"), name_parts=("SMITH", "NAKAMURA", "CELINE", "KENJI")
    )
    text = "Ft:Elenl Smlth"
    d = TextJudge(phi).judge(text, 0.89)
    assert d.phi and d.layer == "metadata"
    assert [text[sp.start : sp.end] for sp in d.spans] == ["Elenl Smlth"]
    # (its label is found misread too: "Ft:" of "Pt:"); but two edits from a short name part, its first letter no
    # look-alike of the part's, are no match: the image's "Eleni Smith" was another person's name, which CELINE
    # matched by chance
    phi = PhiValues(person_names=("KRISTIANSEN^CELINE",), name_parts=("KRISTIANSEN", "CELINE"))
    assert not TextJudge(phi).meta.find("Elenl Smlth", loose=True)
    assert [text[sp.start : sp.end] for sp in TextJudge(phi).judge(text, 0.89).spans] == ["Elenl Smlth"]
    # a setting run into the name after it, a capital after a small letter, stays (dev-drawn)
    phi = PhiValues(person_names=("PAPADOPOULOS^PAULO",), name_parts=("PAPADOPOULOS", "PAULO"))
    text = "Papadopoulos,PauloWF20Hz"
    d = TextJudge(phi).judge(text, 0.96)
    assert all(not text[sp.start : sp.end].endswith("WF") for sp in d.spans)


@pytest.mark.parametrize(
    ("text", "born", "spans"),
    [
        # dev-drawn: the technical text beside a value was removed with it
        ("PID:8884334998ETL16", None, ["8884334998"]),  # a setting run into an identifier with its number
        ("Patient ID:3018375700ETL16 1945.11.01", dt.date(1945, 11, 1), ["3018375700", "1945.11.01"]),
        ("DOB: 19450106 ID: 926-446-9273 H", dt.date(1945, 1, 6), ["19450106", "926-446-9273"]),  # no initial
        ("COR 1/25/2020", dt.date(2020, 1, 25), ["1/25/2020"]),  # a date's digits take no letters beside them
        ("PLow 1952/08/21 Acc:RAD93459313", dt.date(1952, 8, 21), ["1952/08/21", "RAD93459313"]),
        ("Acc# A26391816 73 YRS P Low", None, ["A26391816 73 YRS"]),  # a letter before a setting's word is no sex
        ("Pat. Name: SMTH^KENJ TH1", None, ["SMTH^KENJ"]),  # a name matched across a space takes no setting
        ("73 YRS P", None, ["73 YRS P"]),  # the sex letter misread still goes
        ("Ean7a 14 1990", dt.date(1990, 3, 14), ["7a 14 1990"]),  # "Born Mar 14, 1990": the month's letters go
        ("ne19, 1971", dt.date(1971, 10, 9), ["ne19, 1971"]),  # "Oct 9, 1971": the day run into its month misread
    ],
)
def test_technical_text_beside_a_value_is_not_taken_with_it(text, born, spans) -> None:
    phi = PhiValues(
        person_names=("SMITH^KENJI",),
        name_parts=("SMITH", "KENJI"),
        identifiers=("8884334998", "3018375700", "926-446-9273", "A26391816", "RAD93459313"),
        dates=(born,) if born else (),
    )
    d = TextJudge(phi).judge(text, 0.8 if born in (dt.date(1990, 3, 14), dt.date(1971, 10, 9)) else 0.95)
    assert [text[s.start : s.end] for s in d.spans] == spans


@pytest.mark.parametrize(
    ("text", "span"), [("Tal 330-617-6749", "Tal 330-617-6749"), ("DATA 330-617-6749", "330-617-6749")]
)
def test_a_phone_numbers_label_misread_goes_with_it(text, span) -> None:
    # dev-drawn: "Tel 339-617-6748" read "Tal 330-617-6749", and "Tal" stayed readable beside the removed number
    from deidnode.engine.pixels.text.patterns import find_patterns

    assert any(k == "phone" and text[a:b] == span for k, a, b in find_patterns(text))


def test_a_technical_word_that_is_a_piece_of_the_name_stays_in_it() -> None:
    # dev-drawn: "Papadopoulos E." read "Pa pado poulos E.": PA (posteroanterior) is the name's first piece
    phi = PhiValues(person_names=("PAPADOPOULOS^ERIK",), name_parts=("PAPADOPOULOS", "ERIK"))
    text = "Pa pado poulos E."
    assert [text[s.start : s.end] for s in TextJudge(phi).judge(text, 0.96).spans] == ["Pa pado poulos E."]


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        ("TI150", False),  # folds to T1150, four digits of the identifier: its I was read as a letter (dev-drawn)
        ("TI 1505", False),
        ("Page 1/3", False),  # folds to PAGE13, "Age 13": a page count (dev-drawn)
        ("0 100 M", False),  # a window misread: "0100" is in the date's digits, but "0" stands alone (dev-drawn)
        ("1505828", True),  # the identifier read in part
        ("Age 13", True),
        ("2010 08", True),  # the date read in part
    ],
)
def test_technical_text_is_no_piece_of_a_value_by_letters_folded_into_digits(text, phi) -> None:
    values = PhiValues(identifiers=("5511505828",), dates=(dt.date(2010, 8, 8),), age="013Y")
    assert TextJudge(values).judge(text, 0.95).phi is phi


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        ("5.0m", False),  # "5.0mm" cut short: its letters and digits are "50M", the age and sex (dev-drawn)
        ("5,0M", False),
        ("50M", True),
        ("50Y M", True),
    ],
)
def test_a_decimal_number_is_no_age(text, phi) -> None:
    assert TextJudge(PhiValues(age="050Y", sex="M")).judge(text, 0.95).phi is phi


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("PLow Fiona Okonkwo", ["Fiona Okonkwo"]),  # "P Low" run together before the name (dev-drawn)
        ("PLOWPATIENT ADEYEMI", ["ADEYEMI"]),  # a setting run into the label before the name (dev-drawn)
        ("PWPATIENTSTRAUSS Tech:KRISTIANSEN", ["STRAUSS", "KRISTIANSEN"]),  # ... and the name into the label
        (":TANAKA^FIONADepth 16cm", [":TANAKA^FIONA"]),  # a setting run into the name's end (dev-drawn)
        ("Fiona Okonkwo Paulo", ["Fiona Okonkwo Paulo"]),  # a word beside the name is still taken
    ],
)
def test_a_setting_or_label_run_into_a_name_is_not_taken_with_it(text, spans) -> None:
    phi = PhiValues(
        person_names=("OKONKWO^FIONA", "ADEYEMI^CELINE", "STRAUSS^FRIEDA", "TANAKA^FIONA"),
        name_parts=("OKONKWO", "FIONA", "ADEYEMI", "CELINE", "STRAUSS", "FRIEDA", "TANAKA"),
    )
    d = TextJudge(phi).judge(text, 0.95)
    assert [text[s.start : s.end] for s in d.spans] == spans


@pytest.mark.parametrize(
    ("text", "confidence", "phi"),
    [
        # what the verification read on cleaned frames and judged PHI, so that its repair removed technical text
        # beside it (dev-drawn)
        ("Patients", 0.53, False),  # a label, loosely within reach of PAPADOPOULOS
        ("PATIENT |", 0.54, False),
        ("2", 0.49, False),  # a lone digit is no two-year-old's age
        ("23", 0.9, True),  # two digits alone on a line are the age
        ("WE_12@HzZ", 0.4, False),  # "WF 120Hz", its 0 read as @: no e-mail address
        ("— Pt: DOB: 5.0mm", 0.87, False),  # both labels' values removed; a setting beyond them
        ("Pt: SMITH DOB: 1945", 0.95, True),
        ("Papadopo", 0.53, True),
    ],
)
def test_a_label_a_lone_digit_or_a_setting_is_no_value_when_read_again(text, confidence, phi) -> None:
    values = PhiValues(
        person_names=("PAPADOPOULOS^ELENI", "SMITH^JOHN"), name_parts=("PAPADOPOULOS", "ELENI"), age="002Y"
    )
    if text == "23":
        values = PhiValues(age="023Y")
    assert TextJudge(values).judge(text, confidence).phi is phi


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("14YFAngle60ThkSmm", ["14YF"]),  # "14Y F Angle 60 Thk 3mm" read with its spaces lost (dev-drawn)
        ("14YFOO", []),  # no technical word after it: no age form ends there
    ],
)
def test_an_age_and_sex_with_a_setting_run_into_them_is_an_age(judge, text, spans) -> None:
    d = judge.judge(text, 0.91)
    assert [text[s.start : s.end] for s in d.spans] == spans


@pytest.mark.parametrize(
    ("text", "age", "spans"),
    [
        ("BIY", "081Y", ["BIY"]),  # "81Y" read downwards in look-alike letters (dev-drawn)
        ("49YIN", "049Y", ["49YIN"]),  # "49Y M", the M read as "IN" and the space lost (dev-drawn)
        ("0721", "072Y", ["0721"]),  # "072Y", its Y read as a 1 (dev-drawn)
        ("250mAs ETL1622YRS", "022Y", ["22YRS"]),  # "ETL16" and "22 YRS" read as one word (dev-drawn)
        ("006YAP", "006Y", ["006Y"]),  # an orientation run into the age stays
        ("BIY", "082Y", []),  # another age
        ("SY", "005Y", []),  # one letter alone is no digit
        ("2022YRS", "022Y", ["22YRS"]),
        ("0721", "071Y", []),
        ("Me42", "042Y", ["Me42"]),  # "Age 42", its label read as two letters run into the number (dev-drawn)
        ("A27B30f", "027Y", ["A27"]),  # "Age 27" and the kernel "B30f" beside it (dev-drawn)
        ("TE42", "042Y", []),  # a setting's name with the same number
        ("Gn60", "060Y", []),
        # its unit or sex misread (dev-drawn, twelfth and eleventh 400s)
        ("019T", "019Y", ["019T"]),  # the DICOM form, its Y read as a T
        ("44YIs", "044Y", ["44YIs"]),  # "44 YRS"
        ("40 RS", "040Y", ["40 RS"]),  # "40 YRS", the Y lost
        ("40 1RS", "040Y", ["40 1RS"]),  # its Y read as a one (dev-drawn, seventeenth 400)
        ("H47YRS", "047Y", ["47YRS"]),  # an orientation letter run into its front stays (the same)
        ("62- WRS", "062Y", ["62- WRS"]),  # the Y read as a W
        ("23Y-E", "023Y", ["23Y-E"]),  # "23Y F", the F read as an E
        ("TOY IF", "070Y", ["TOY"]),  # "70Y F" in look-alike letters: the age, the F read "IF" left as a word
        ("TBY P", "018Y", ["TBY P"]),  # "18Y F", its 1 read as a T (dev-drawn, seventeenth 400)
        ("TBY", "078Y", ["TBY"]),  # ... or a 7
        ("TBY", "081Y", []),
        ("TR 40 RS", "040Y", []),  # a setting's name before the number
        ("3T", "003Y", []),  # a field strength is no age
        ("1.5T", "005Y", []),
        ("40 RS", "041Y", []),  # another age
    ],
)
def test_the_datasets_age_read_in_look_alikes_or_run_into_its_neighbours(text, age, spans) -> None:
    d = TextJudge(PhiValues(age=age)).judge(text, 0.9)
    assert [text[s.start : s.end] for s in d.spans] == spans


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("Scanned by ADEYEMI!", ["ADEYEMI!"]),  # a stroke read after the name (dev-drawn, vertical)
        ("Performed by Smith", ["Smith"]),  # the label's "by" is no name
        ("Tech: Smith| W 400", ["Smith|"]),  # and the name ends there
        ("TechnologisPAPADOPOULOS", ["PAPADOPOULOS"]),  # a long label, a letter lost, run into the name
        ("OperatrKIM", ["KIM"]),
        ("ReferingJONES", ["JONES"]),
        ("RofFERREIRA", ["FERREIRA"]),  # "Ref", its vowel misread, run into the name (dev-drawn)
        ("ReFORMAT", []),
        ("TechniqueSE", []),  # no role word: "TECHNIQUE" is two letters off
        ("Pel 573-703-7164", ["Pel 573-703-7164"]),  # the phone's label misread goes with it
        ("LEVEL 573-703-7164", ["573-703-7164"]),
        ("john.ferreira@m ail org", ["john.ferreira@m ail org"]),  # spaces read into the host (dev-drawn)
        ("ETL 16 paulo.adeyemi@mail.org W 400 L 40", ["paulo.adeyemi@mail.org"]),
        ("fiona.mackenzie@mail.org Se: 3", ["fiona.mackenzie@mail.org"]),  # a label after it stays (val9)
        ("A.B @ LEFT SIDE", []),
        ("celine.terreiradmail.ord", ["celine.terreiradmail.ord"]),  # the @ read as d, the g as d (dev-drawn)
        ("6/26/202314:42:56", ["202314:42:56"]),  # a date and its time read as one word (dev-drawn)
        ("ID:893342252714APR 1991", ["893342252714APR 1991"]),  # a date run into the identifier before it
        ("2024 DEC", ["2024 DEC"]),  # a year and month, the day cut at the box's edge (dev-drawn)
        ("DEC 2024", ["DEC 2024"]),
        ("2024 DECT", []),
        ("W 2000 MARK", []),
        # (dev-drawn, seventh 400:) a space read into an address's name part after its dot, the phone before it
        ("#207-983-7571 tomasz.ferreir a@mail.org", ["#207-983-7571 tomasz.ferreir a@mail.org"]),
        ("T1 tomasz.ferreir a@mail.org", ["tomasz.ferreir a@mail.org"]),
        ("eloni.mackonzie@ma T1 TI 150", ["eloni.mackonzie@ma"]),  # cut before its host's second letter
        ("3:04:58/AM", ["3:04:58/AM"]),  # a mark read in the space before AM
        ("16731 948 8861", ["16731 948 8861"]),  # "(476) 748-8861", its brackets read as ones
        ("W 1500 L 500 1200", []),
        # the name's capital read as a digit, an identifier after it (the name was cut to "0eline")
        ("Scanned by: 0eline Tanaka 1154202409", ["0eline Tanaka 1154202409"]),
        ("nedby OKON", ["OKON"]),  # "Scanned by OKONKWO" read in pieces, the label's start cut off (dev-drawn)
        ("Planned", []),
        ("10uu)605-3105", ["10uu)605-3105"]),  # "(600) 665-8005", its opening bracket read as a one (dev-drawn)
        ("TCI525:8341846", ["TCI525:8341846"]),  # "Tel 525-834-1846", the label's e read as c (dev-drawn)
        ("T1 tomasz:qulintero@mall.org mA 200", ["tomasz:qulintero@mall.org"]),  # the dot read as a colon
        ("TechnolG!Ist: MKG", ["MKG"]),  # the label misread inside (dev-drawn)
        ("Technique: SE", []),
        ("Date: 4", []),  # no label: a second reader's "4" of a kept "P Low" beyond a filled date (dev-drawn)
        # (dev-drawn, eighth 400:) AM or PM misread, a time's second colon read as a dot before it
        ("5:55:20 IHM", ["5:55:20 IHM"]),
        ("7:29:05-BH", ["7:29:05-BH"]),
        ("W 400 L 40 1:53.39 PM", ["1:53.39 PM"]),
        ("12:10:10 R", ["12:10:10"]),  # an orientation letter after a time stays
        ("85:37:97", ["85:37:97"]),  # "05:37:27", hour and seconds misread beyond their range
        ("21+57+13", ["21+57+13"]),  # its colons read as plus signs
        ("8+07+56 PM", ["8+07+56 PM"]),  # ... a one-digit hour (dev-drawn, twelfth 400)
        ("2+1+12", []),
        ("1007.12.15", ["1007.12.15"]),  # "1997.12.19", its year misread beyond the years
        ("V 1.2.3", []),
        ("SW 2000.5", []),
        ("Ts] 906-333-1916", ["Ts] 906-333-1916"]),  # "Tel", its e read as s and its l as a bracket
        ("age 1/3", []),  # "Page 1/3" read with its P lost, a count after it: no age
        ("paulo,okonkwo@mail,org", ["paulo,okonkwo@mail,org"]),  # an address's dots read as commas
        ("PRF 4@Hz,kHz", []),
        ("2006 JUL 17 Operator: F. Ferreira06:07:10", ["2006 JUL 17", "F. Ferreira06:07:10"]),  # a time run in
        ("Tech: J. SMITH Gn60", ["J. SMITH"]),
        ("Ttel s6293-8138", ["Ttel s6293-8138"]),  # "Tel 313-293-8138", its area code misread, its T doubled
        ("TE 100-2000", []),
        ("Age 45/M", ["Age 45/M"]),
        # (dev-drawn, small bitmap fonts:) a space read inside a phone number's last group
        ("(301) 505-46 39", ["(301) 505-46 39"]),
        ("Te1 646-226-16 87 PW", ["Te1 646-226-16 87"]),
        ("646-226-1687 2", ["646-226-1687"]),
        # (dev-drawn, sixteenth and seventeenth 400:) the phone's label misread into look-alikes of its letters
        ("ral 801-586-7528", ["ral 801-586-7528"]),
        ("T-1 391 598-2753", ["T-1 391 598-2753"]),
        ("P Low 1el 872-928=7570", ["1el 872-928=7570"]),
        ("Tor 347-758-4889", ["Tor 347-758-4889"]),
        ("P Low 872-928-7570", ["872-928-7570"]),  # a setting's word before it is no label
        # an initial read in small letters after a short label ("L. Mbeki")
        ("Pt:i. Mbeki", ["i. Mbeki"]),
        ("Pt: i. mbeki", []),
        # an address read with spaces put inside it, its @ or its domain misread: all of it goes
        ("erik.wo jcik@nai l.org", ["erik.wo jcik@nai l.org"]),
        ("folake.s traus s@mai 1.org", ["folake.s traus s@mai 1.org"]),
        ("fiona. quintero@mail.@rg", ["fiona. quintero@mail.@rg"]),
        ("erik,kristianseneail.org", ["erik,kristianseneail.org"]),
        ("folake.ferreiramail.ong", ["folake.ferreiramail.ong"]),
        ("paulo.wo.tcikemail.or?", ["paulo.wo.tcikemail.or?"]),
        ("eleni.kristianseng", ["eleni.kristianseng"]),  # its name part alone, its host cut off
        ("5 cm erik.smith@mail.org 5.0 mm", ["erik.smith@mail.org"]),  # not the settings beside it
        ("SE 3.IM 4.ONE", []),
        ("Img.Series", []),
        ("1990.10:05", ["1990.10:05"]),  # a year-first date, its second mark read as a colon
        ("10:8:01", ["10:8:01"]),  # a time, a digit of its minutes lost
        ("Pat. Name: Okonkwo ]", ["Okonkwo ]"]),  # the initial J read as a bracket
        ("SMITH ] W 400", []),
        # technical text run into a value stays (dev-drawn, seventeenth 400): an orientation letter before a
        # phone number's bracket, a CT kernel after a date
        ("H[418) 987-7217", ["[418) 987-7217"]),
        ("DOB: 4/21/1940B30f", ["4/21/1940"]),
        ("ID: 12345678Br40d", ["12345678"]),
        ("ID: 2024567D12A", ["2024567D12A"]),  # an identifier's own letters are capitals
        # a decimal setting's whole number run into a value's last digit (dev-drawn "Date:200301165.0mm")
        ("Date:200301165.0mm", ["20030116"]),
        ("4471208932.5 MHz", ["447120893"]),
        ("200301165.0", ["200301165.0"]),  # no unit: no setting (the digits after the mark go with it)
        ("200301165.0mmHg", ["200301165"]),  # (no unit this list knows)
        # every digit misread: a time read with spaces after its colons, a day-first date (dev-drawn); an age's
        # unit and sex read alone, its number lost ("YM" of "11Y M")
        ("31: 43:51", ["31: 43:51"]),
        ("88.89.2888", ["88.89.2888"]),
        ("YM", ["YM"]),
        ("W:L 1:1", []),
        ("1.25.2", []),
        ("Y", []),
        ("Yf", []),  # a stray reading in small letters
    ],
)
def test_labels_values_and_dates_misread_or_run_together_are_found(text, spans) -> None:
    d = TextJudge(PhiValues()).judge(text, 0.9)
    assert [text[s.start : s.end] for s in d.spans] == spans


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("KeriNakamur", ["KeriNakamur"]),  # "Kenji Nakamura" read with no space, the given name misread
        ("NakamuraKenji", ["NakamuraKenji"]),
        ("ThkNakamura", ["Nakamura"]),  # a technical word run into the name stays
        ("NakamuraDepth", ["Nakamura"]),
        ("TechNakamura", ["Nakamura"]),  # so does a label
        ("Nakamura (", ["Nakamura ("]),  # an initial read as a bracket ending the line (dev-drawn "Quintero C.")
        ("W 400 (", []),
    ],
)
def test_a_capitalised_word_run_into_a_name_and_a_bracket_initial_go_with_it(text, spans) -> None:
    d = TextJudge(PhiValues(person_names=("NAKAMURA^KENJI",), name_parts=("NAKAMURA", "KENJI"))).judge(text, 0.9)
    assert [text[s.start : s.end] for s in d.spans] == spans


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("TI 159# 846 -707", ["846 -707"]),  # the identifier's first six digits read after a setting's (dev-drawn)
        ("W 400 L 40 846707", ["846707"]),  # run into the window's level
        ("W 400 L 40 84670", []),  # five digits run on are no piece
        ("TI 159# 846", []),
    ],
)
def test_a_piece_of_an_identifier_run_into_another_number_is_found(text, spans) -> None:
    d = TextJudge(PhiValues(identifiers=("846-707-8468",))).judge(text, 0.9)
    assert [text[s.start : s.end] for s in d.spans] == spans


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        # technical text run into a value, lost with it before (dev-drawn)
        ("HR 72 bpmErik Smith", ["Erik Smith"]),  # a unit run into the given name
        ("MACKENZIE^ERIKW400L4", ["MACKENZIE^ERIK"]),  # a window's W run into the name's end
        ("NORTHFIELD MEDICAL CENTERW 400 L 40", ["NORTHFIELD MEDICAL CENTER"]),  # ... into an institution's
        ("MountCamelHospital Page 13", ["MountCamelHospital"]),  # no page number with the value's words
        ("Acc:28642515T1 OkonkwoK", ["28642515", "OkonkwoK"]),  # a sequence name run into an identifier
        ("NORTHFIELD MEDICAL CENTERW", ["NORTHFIELD MEDICAL CENTERW"]),  # no number after: the letter goes
        ("Acc:28642515Q1", ["28642515Q1"]),
    ],
)
def test_technical_text_run_into_a_value_stays(text, spans) -> None:
    phi = PhiValues(
        person_names=("SMITH^ERIK", "MACKENZIE^ERIK", "OKONKWO^KENJI"),
        name_parts=("SMITH", "ERIK"),
        identifiers=("28642515",),
        texts=("NORTHFIELD MEDICAL CENTER", "Mount Carmel Hospital"),
    )
    d = TextJudge(phi).judge(text, 0.95)
    assert [text[s.start : s.end] for s in d.spans] == spans


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Physician: ADEYEM1 ^ KENJ1", "ADEYEM1 ^ KENJ1"),  # the caret between the parts goes too (val6)
        ("PATIENT PapadopoulosF.Page1/3", "PapadopoulosF."),  # an initial run into the name keeps its stop
        ("PATIENT 2. Olonkwo 5.0mm", "2. Olonkwo"),  # the initial E read as "2"
    ],
)
def test_what_stands_between_and_before_the_parts_of_a_name_goes_with_it(text: str, value: str) -> None:
    judge = TextJudge(PhiValues(person_names=("ADEYEMI^KENJI", "PAPADOPOULOS^FIONA", "OKONKWO^ELENI")))
    assert [text[s.start : s.end] for s in judge.judge(text, 0.93).spans] == [value]


def test_a_word_joined_by_a_full_stop_goes_with_a_name_but_not_with_a_label() -> None:
    """ "eleni.mackenzi" (an address cut before its @): the word before the dot goes with the name; "Pat.Na" (the
    label "Pat. Name" over two rows of text): the label's first word stays where it is."""
    judge = TextJudge(PhiValues(person_names=("MACKENZIE^JOHN",)))
    assert [(s.start, s.end) for s in judge.judge("eleni.mackenzi", 0.98).spans] == [(0, 14)]
    assert ["Pat.Na"[s.start : s.end] for s in judge.judge("Pat.Na", 0.71).spans] == ["Na"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("ltell 316-758-1238", "ltell 316-758-1238"),  # the label "Tel" misread (val6)
        ("1 331-654-3640", "1 331-654-3640"),  # ... read as "1"
        ("ZOOM 150% Te 261-986-81", "Te 261-986-81"),  # a number cut at the box's edge keeps its label
        ("T1 331-654-3640", "331-654-3640"),  # a weighting is no label
        ("C5-1 471-087-0134", "471-087-0134"),  # nor a transducer's last digit (dev_0058)
        ("24 MAY  001", "24 MAY  001"),  # a day, a month and a year that lost its first digit
    ],
)
def test_a_phone_numbers_misread_label_and_a_date_missing_a_digit_go(judge, text: str, value: str) -> None:
    assert [text[s.start : s.end] for s in judge.judge(text, 0.95).spans] == [value]


def test_an_age_whose_unit_is_read_as_v_goes() -> None:
    judge = TextJudge(PhiValues(person_names=(), name_parts=(), age="091Y", sex="M"))
    for text in ("91V", "91V M"):
        assert [text[s.start : s.end] for s in judge.judge(text, 0.99).spans] == [text]
    assert not judge.judge("90V", 0.99).phi  # another number: not this patient's age


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("mel Hospital", "text"),  # "Mount Car" unread (val6)
        ("DAN CLINIC", "text"),
        ("ANAK", "name"),  # of TANAKA, read down a column
        ("Wo jc", "name"),  # of WOJCIK
    ],
)
def test_a_reading_cut_from_inside_a_value_is_that_value(text: str, kind: str) -> None:
    judge = TextJudge(
        PhiValues(
            person_names=("TANAKA^ELENI", "WOJCIK^THABO"),
            identifiers=("E4973295",),
            texts=("Mount Carmel Hospital", "St Brendan Clinic"),
        )
    )
    d = judge.judge(text, 0.95)
    assert (d.phi, d.kind, [(s.start, s.end) for s in d.spans]) == (True, kind, [(0, len(text))])


@pytest.mark.parametrize("text", ["Hospital", "Carmel", "CLINIC", "ELENI", "E497", "97329"])
def test_whole_words_and_pieces_of_identifiers_are_no_fragment(text: str) -> None:
    """Whole words of a value are the other layers' to judge ("Carmel" is found as the institution's word there);
    a piece of an identifier read from a box over several rows is no sign the box holds only the identifier."""
    from deidnode.engine.pixels.text.metadata import MetadataMatcher

    m = MetadataMatcher(
        PhiValues(person_names=("TANAKA^ELENI",), identifiers=("E4973295",), texts=("Mount Carmel Hospital",))
    )
    assert m.fragment(text) is None


def test_the_rest_of_a_value_around_a_fragment_is_counted_on_both_sides() -> None:
    judge = TextJudge(PhiValues(person_names=("TANAKA^ELENI",), texts=("Mount Carmel Hospital",)))
    assert judge.unread_rest("mel Hospital", True, True) == (9, 0)
    assert judge.unread_rest("ANAK", True, True) == (1, 1)
    assert judge.unread_rest("ANAK", False, True) == (0, 1)


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("ETL16C50W35018/05/78", ["18/05/78"]),  # run on from the window before it (dev-drawn eighth 400)
        ("12C 50W350", []),
    ],
)
def test_a_date_written_whole_in_its_shape_is_found_run_on_from_a_number(text, spans) -> None:
    d = TextJudge(PhiValues(dates=(dt.date(1978, 5, 18),))).judge(text, 0.9)
    assert [text[s.start : s.end] for s in d.spans] == spans


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        # the study's date read as it is: a misread match of its digits in a shifted window takes no technical text
        # beside it ("2007 MI 1.1" read as 20071111, "03/26   T1" as 032671: ninth dev-drawn 400)
        ("ADEYEMI LUCA Study: 11/11/2007 MI 1.1", "ADEYEMI LUCA Study: 11/11/2007"),
        ("2001/03/26   T1", "2001/03/26"),
        # settings run into the end of an identifier, one after another, are not part of it
        ("ACC#E38605898ETL16W400 L 40", "E38605898"),
        # the name, and not a setting's two letters run into its end before their number ("HR 72")
        ("W 400 L 40ADEYEMIHR 72 bpm", "ADEYEMI"),
        # nor a technical word run into a date's front ("COR": an orientation), nor a number before it
        ("COR10/22/2007", "10/22/2007"),
        ("W 350 4/16/2015", "4/16/2015"),
        ("Oct 22 2007", "Oct 22 2007"),  # a month's name is the date's
        # nor a setting's letter before its word ("P Low"), nor a setting's capitals run into free text
        ("404-471-8107P Low", "404-471-8107"),
        ("Harbor View RadliologyTI 150", "Harbor View Radliology"),
        # a setting's number after its word is no piece of a date two digits off it ("ZOOM 150%" read "ZOOM 1508",
        # within two edits of 20040508); after a label it is
        ("ZOOM 1508", None),
        ("DOB 1508", "1508"),
    ],
)
def test_values_found_beside_technical_text_end_where_the_value_ends(text, phi) -> None:
    values = PhiValues(
        person_names=("ADEYEMI^LUCA",),
        name_parts=("ADEYEMI", "LUCA"),
        identifiers=("E38605898", "404-471-8107"),
        dates=(
            dt.date(2007, 11, 11),
            dt.date(2001, 3, 26),
            dt.date(2007, 10, 22),
            dt.date(2015, 4, 16),
            dt.date(2004, 5, 8),
        ),
        texts=("Harbor View Radiology",),
    )
    d = TextJudge(values).judge(text, 0.9)
    assert [text[s.start : s.end] for s in d.spans] == ([phi] if phi else [])


@pytest.mark.parametrize(
    ("text", "phi", "spans"),
    [
        # a date's digit form folded out of letters alone: "LO  Zoom" folds to "10200M", one edit from "1092002"
        # (dev-drawn, twelfth 400)
        (
            "SMITH, TOMASZ Dr. TANAKA^PAULO  Zoom 1.2",
            PhiValues(person_names=("SMITH^TOMASZ", "TANAKA^PAULO"), dates=(dt.date(2002, 10, 9),)),
            ["SMITH, TOMASZ", "TANAKA^PAULO"],
        ),
        ("1O/O9/2OO2", PhiValues(dates=(dt.date(2002, 10, 9),)), ["1O/O9/2OO2"]),  # digits among look-alikes
        # a setting's number with its percent sign before the date is its own ("ZOOM 150%  2017.01.24")
        (
            "Z00M 150%  2017.01.24  Depth 16cm",
            PhiValues(dates=(dt.date(2017, 1, 24),)),
            ["2017.01.24"],
        ),
        # a technical word with a letter read as its look-alike digit after a date misread ("17/05/17" read
        # "7/05/17", then "Z0OM 150%")
        ("7/05/17 Z0OM 150%", PhiValues(dates=(dt.date(2017, 5, 17),)), ["7/05/17"]),
        ("7/05/17 ZOOM 150%", PhiValues(dates=(dt.date(2017, 5, 17),)), ["7/05/17"]),
        # a setting's word run into the name's end, where the case changes ("TanakaDepth 16cm")
        ("Technologist TanakaDepth 16cm", PhiValues(), ["Tanaka"]),
        ("Technologist McKenzie", PhiValues(), ["McKenzie"]),  # a name's own capital stays the name's
    ],
)
def test_technical_words_read_beside_a_value_or_inside_its_match_stay(text, phi, spans) -> None:
    d = TextJudge(phi).judge(text, 0.95)
    assert [text[s.start : s.end] for s in d.spans] == spans


@pytest.mark.parametrize(("text", "phi"), [("1033", True), ("3365", True), ("1034", False), ("RAD", False)])
def test_the_digits_of_an_identifier_with_letters_read_in_part_are_the_identifier(text, phi) -> None:
    # dev-drawn (twelfth 400): "1033" read alone down a vertical "RAD33651033", as digits of an all-digit
    # identifier read in part are
    d = TextJudge(PhiValues(identifiers=("RAD33651033",))).judge(text)
    assert d.phi is phi
    assert not phi or d.kind == "id"


@pytest.mark.parametrize(
    ("text", "confidence", "spans"),
    [
        # dev-drawn fifteenth 400: technical text run into a value (no space read) went with it
        ("CCQUINTEROELENI", 0.97, ["QUINTEROELENI"]),  # a view run into the name's front
        ("Gn6OPWWOICIKPAULO", 0.85, ["WOICIKPAULO"]),  # "Gn 60 PW WOJCIK PAULO": the 0 read as O, then PW
        ("TI 15OMOUNT CARMELHOSPITAL", 0.93, ["MOUNT CARMELHOSPITAL"]),  # "TI 150": its 0 read as O
        ("HR72bpm3 JUL 2014", 0.95, ["3 JUL 2014"]),  # the unit's m taken for the day's 0
        ("Se: 3FR 30Hz 1987.02.14", 0.94, ["1987.02.14"]),  # a number and its unit are no day and month
        ("Quintero, Eleni Depthlocm", 0.85, ["Quintero, Eleni"]),  # "Depth 16cm", its value misread, run in
        ("64 YRSWF 120Hz", 0.95, ["64 YRS"]),  # an age run into the setting after it
        # ... and on the fourteenth
        ("CCAccession 65223963MorettiM.", 0.93, ["65223963MorettiM."]),  # the name not widened past the number
        ("Patient: Marisol DuboisSe: 3", 0.95, ["Marisol Dubois"]),  # the series' label run into the name
        ("Feb10,199364Y F 5.0mm", 0.92, ["Feb10,199364Y F"]),  # the age and sex run into the date; a setting
        ("Nama: INiVI ZOOMI 150%", 0.84, ["INiVI"]),  # a stroke read after a setting's word
    ],
)
def test_technical_text_run_into_a_value_without_its_space_stays(text, confidence, spans) -> None:
    names = {"PAULO": "WOJCIK^PAULO", "MORET": "MORETTI^MARISOL", "DUBOI": "DUBOIS^MARISOL"}
    name = next((n for key, n in names.items() if key in text.upper()), "QUINTERO^ELENI")
    phi = PhiValues(
        person_names=(name,),
        name_parts=tuple(name.split("^")),
        identifiers=("65223963",),
        dates=(dt.date(2014, 7, 3), dt.date(1987, 2, 14), dt.date(1993, 2, 10)),
        texts=("Mount Carmel Hospital",),
        age="064Y",
    )
    d = TextJudge(phi).judge(text, confidence)
    assert [text[s.start : s.end] for s in d.spans] == spans


def test_an_orientation_letter_run_into_a_dates_month_stays() -> None:
    """ "ETL 16 HMay 21, 1976" (dev-drawn, seventeenth 400): the H of the orientation read run into the month."""
    judge = TextJudge(PhiValues(dates=(dt.date(1976, 5, 21),)))
    text = "ETL 16 HMay 21, 1976"
    assert [text[s.start : s.end] for s in judge.judge(text, 0.9).spans] == ["May 21, 1976"]


def test_a_values_one_digit_before_a_decimal_setting_stays_the_value() -> None:
    # review of the decimal setting's cut: a value of one digit before ".0mm" kept its digit (an empty span before)
    from deidnode.engine.pixels.text.decide import Span, merge_spans

    assert merge_spans([Span(4, 5, "pattern", "age")], "Age 5.0mm") == (Span(4, 5, "pattern", "age"),)
    assert merge_spans([Span(0, 9, "pattern", "digits")], "200301165.0mm") == (Span(0, 8, "pattern", "digits"),)
