"""An unsure reading that makes no sense is treated as unread text: its unknown words go, technical words stay."""

from __future__ import annotations

import numpy as np
import pytest
from pixels_helpers import burn_mask

from deidnode.engine.phi import PhiValues
from deidnode.engine.pixels.detect import FrameRead, judge_frame, same_place
from deidnode.engine.pixels.glyphs import TextRegion
from deidnode.engine.pixels.ocr import TextBox
from deidnode.engine.pixels.text import TextJudge
from deidnode.engine.pixels.text.garbled import GARBLED_BELOW, garbled_spans, unknown_names


@pytest.fixture(scope="module")
def judge() -> TextJudge:
    return TextJudge(PhiValues())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("YOUCOK IAR8A", ["YOUCOK", "IAR8A"]),  # "WOJCIK FRIEDA", a letter read as a digit
        ("BFRENECDINIC", ["BFRENECDINIC"]),  # "ST BRENDAN CLINIC"
        ("Tohn Nakamura", ["Nakamura"]),
        ("Fhapicians L, Taaka 3 200", ["Fhapicians", "Taaka"]),
        ("TI 150 Scanned Dy:MACKENZIE", ["MACKENZIE"]),
    ],
)
def test_unknown_words_of_four_letters_or_more_are_garbled(text: str, words: list[str]) -> None:
    assert [text[a:b] for a, b in garbled_spans(text)] == words


@pytest.mark.parametrize(
    "text",
    [
        "Z00M 150%",  # technical words misread by a letter or two
        "Depth 16cn",
        "Thk 3mm..",
        "B30f C5-1 FR30H7",  # a digit in a word: a setting or a probe
        "Sonogra",  # a label cut at the edge of its box
        "ccession",
        "Technclcgiet",  # a label misread
        "PERSIST HIGH ANGLE",
        "llr TNT BAF",  # three letters or fewer: too short to tell
        "Oct Nov September",
        "Thk.3mm. W:400/L:40",  # words joined by the marks of a setting
        "LLLLL ULLLL TLLLL",  # a ruler's ticks
        "LILrL lJLl",  # ticks of a trace: nothing but upright strokes and their corners (a clean CR, dev-drawn)
    ],
)
def test_known_words_misread_cut_or_short_are_not_garbled(text: str) -> None:
    assert garbled_spans(text) == []


def test_only_an_unsure_reading_is_judged_garbled(judge: TextJudge) -> None:
    text = "YOUCOK IAR8A"
    d = judge.garbled(text, GARBLED_BELOW - 0.2)
    assert d is not None and d.phi and d.kind == "garbled"
    assert [text[s.start : s.end] for s in d.spans] == [text]
    sure = judge.garbled(text, GARBLED_BELOW)  # read surely, only the capitalised word of letters may be a name
    assert sure is not None and sure.kind == "unknown"
    assert [text[s.start : s.end] for s in sure.spans] == ["YOUCOK"]
    assert judge.garbled("Depth 16cn", 0.3) is None
    assert judge.garbled("Depth 16cn", 0.99) is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("KRISTIANSEN", ["KRISTIANSEN"]),  # a technologist's name read without its label
        ("PTOKONKWO", ["PTOKONKWO"]),  # the label's letters run into it
        ("R Eleni Wojcik", ["Eleni", "Wojcik"]),
        ("THITECH:Tomasz Quintero", ["Tomasz", "Quintero"]),  # "THI" and "TECH:" run together: technical
        ("HAROLD W 400", ["HAROLD"]),  # HAR is technical, OLD is not: no two technical words
        ("APGen", []),  # "AP" and "Gen" run together
        ("Tana", []),  # four letters: too short to tell
        ("tanaka", []),  # no capital and short: a name is written with one
        ("istiansen,K.", ["istiansen"]),  # ... unless the reader's box cut its first letters off
        ("contrast", []),  # a known word
        ("LOGIQ E9 Focus", []),  # a maker's model and a control the allow-list knows
        ("Depth 16cm Gain 60", []),
        ("Sonographer:", []),  # a label read on its own
        ("Technclcgiet", []),  # a label misread
        ("Thk.3mm ZOOM", []),
        ("B30f C5-1", []),  # digits in a word: a kernel, a probe
        ("Deyrh 16cm", []),  # a setting's name misread before its measurement (eighth dev-drawn 400)
        ("Zoorh 1.2", []),
        ("KRISTIANSEN 45Y", ["KRISTIANSEN"]),  # a name before an age stays a name
    ],
)
def test_a_sure_readings_capitalised_unknown_words_may_be_names(text: str, words: list[str]) -> None:
    assert [text[a:b] for a, b in unknown_names(text)] == words


def test_an_unknown_name_read_surely_takes_the_initial_beside_it(judge: TextJudge) -> None:
    text = "Dubois, T  W 400 L 40"
    d = judge.garbled(text, 0.95)
    assert d is not None and d.kind == "unknown"
    assert [text[s.start : s.end] for s in d.spans] == ["Dubois, T"]


def test_a_garbled_name_takes_the_initial_beside_it(judge: TextJudge) -> None:
    text = "Fhapicians L, Taaka 3 200"
    d = judge.garbled(text, 0.75)
    assert d is not None
    assert [text[s.start : s.end] for s in d.spans] == ["Fhapicians L, Taaka"]  # "3 200" ("mA 200") stays


@pytest.mark.parametrize(
    ("text", "alternate", "garbled"),
    [
        ("plou", "P Low", False),  # the second reader read it as technical text: the first misread it
        ("plou Gnme", "Gain 60 Persist High", False),
        ("prrnTr", "wr ven Tae", True),  # a second reading with no word that makes sense
        ("JUECHE MIBEKNDF", "WAGE", True),  # a known word, but far shorter than the line
        ("Fhapicians L, Taaka 3 200", "Ll 24) 206", True),
        ("plou Gnme", "", True),
        # a second reading whose words are known only as misreadings makes no more sense than the first (dev_3219:
        # "Nm :H Farairs" for "Nm: H. Ferreira", Tesseract "eH. Pare": "Pare" is a letter from "PART")
        ("Nm :H Farairs", "eH. Pare", True),
    ],
)
def test_a_second_reading_that_makes_sense_of_the_line_keeps_it(
    judge: TextJudge, text: str, alternate: str, garbled: bool
) -> None:
    assert (judge.garbled(text, 0.7, [alternate]) is not None) is garbled


def test_a_garbled_reading_is_removed_and_technical_text_on_its_row_stays() -> None:
    # dev_0081: "WOJCIK FRIEDA" in a low-contrast outlined font, read "YOUCOK IAR8A" at 0.53; "W 400 L 40"
    # beside it on the row, read right
    mask_name = burn_mask([("WOJCIK FRIEDA", (10, 40))])
    mask_tech = burn_mask([("W 400 L 40", (200, 40))])
    view = np.where(mask_name | mask_tech, 230, 20).astype(np.uint8)
    cols = np.nonzero(mask_name.any(axis=0))[0]
    tcols = np.nonzero(mask_tech.any(axis=0))[0]
    rows = np.nonzero((mask_name | mask_tech).any(axis=1))[0]
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    name = TextBox(int(cols[0]), y0, int(cols[-1]) + 1, y1, "YOUCOK IAR8A", 0.53, ())
    tech = TextBox(int(tcols[0]), y0, int(tcols[-1]) + 1, y1, "W 400 L 40", 0.97, ())
    found = judge_frame(FrameRead(0, [name, tech], [], view), TextJudge(PhiValues()), "phi")
    assert [f.redact for f in found] == [True, False]
    assert found[0].decision.kind == "garbled"
    (target,) = found[0].targets
    assert target[0] <= cols[0] and target[2] >= cols[-1] + 1 and target[2] <= tcols[0]


@pytest.mark.parametrize(("other_frame", "garbled"), [("P Low Gain 60", False), ("Okonkwo", True), (None, True)])
def test_static_text_read_garbled_on_one_frame_is_kept_when_another_frame_makes_sense_of_it(
    other_frame: str | None, garbled: bool
) -> None:
    # cine: "P Low Gain 60" stays on every frame; one frame's reader made "plou Gnme" of it, and in a cine the
    # removals of every frame are made on all of them
    mask = burn_mask([("P Low Gain 60", (10, 40))])
    view = np.where(mask | burn_mask([("W 400 L 40", (200, 40))]), 230, 20).astype(np.uint8)
    cols, rows = np.nonzero(mask.any(axis=0))[0], np.nonzero(mask.any(axis=1))[0]
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    window = TextBox(200, box[1], 280, box[3], "W 400 L 40", 0.97, ())  # sure text on the row
    reads = [FrameRead(0, [TextBox(*box, "plou Gnme", 0.6, ()), window], [], view)]
    if other_frame is not None:
        reads.append(FrameRead(5, [TextBox(box[0] + 1, box[1], box[2], box[3] + 1, other_frame, 0.95, ())], [], view))
    elsewhere = same_place(reads)
    found, _window = judge_frame(reads[0], TextJudge(PhiValues()), "phi", elsewhere=elsewhere.get(0))
    assert found.redact is garbled


def test_a_garbled_reading_alone_is_no_text_to_remove() -> None:
    # a reader makes words up on anatomy and noise ("VGNA" on an ultrasound sector): with no line read surely on
    # its row, it is not known to be text, and a clean image stays as it is
    view = np.full((64, 320), 20, np.uint8)
    alone = TextBox(40, 20, 120, 34, "VGNAE", 0.35, ())
    faint = TextBox(200, 20, 260, 34, "AANESTO", 0.47, ())  # another unsure reading on the row is not enough
    found = judge_frame(FrameRead(0, [alone, faint], [], view), TextJudge(PhiValues()), "phi")
    assert not any(f.redact for f in found)


def test_a_garbled_reading_where_the_glyph_detector_found_text_is_removed_alone() -> None:
    # dev_0111: "St Brendan Clinic" in colour on a grey JPEG label box, read "mmEonll" at 0.45, nothing else
    # read on its row; the glyph detector found a text-like line there
    view = np.full((64, 320), 20, np.uint8)
    line = TextBox(40, 20, 200, 36, "mmEonll", 0.45, ())
    region = TextRegion(42, 21, 198, 35, False, 14, 12.0, 0.95)
    (found,) = judge_frame(FrameRead(0, [line], [], view, [region]), TextJudge(PhiValues()), "phi")
    assert found.redact
    faint = TextRegion(42, 21, 198, 35, False, 14, 12.0, 0.6)  # not text-like enough
    (found,) = judge_frame(FrameRead(0, [line], [], view, [faint]), TextJudge(PhiValues()), "phi")
    assert not found.redact
