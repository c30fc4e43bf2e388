"""Readings that come in pieces: a PHI span whose reading stops short of its glyphs is followed along its row;
a value read as two neighbouring lines is judged joined; a role label misread by one letter still announces a
name."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pixels_helpers import burn_mask

from deidnode.engine.phi import PhiValues
from deidnode.engine.pixels.detect import (
    JOIN_GAP,
    FrameRead,
    box_behind_text,
    extend_along_row,
    judge_frame,
    no_words,
    past_the_edge,
    solid_blots,
    trim_unread,
)
from deidnode.engine.pixels.glyphs import TextRegion
from deidnode.engine.pixels.ocr import TextBox
from deidnode.engine.pixels.text import TextJudge
from deidnode.engine.pixels.text.patterns import find_labelled, lone_label
from deidnode.engine.pixels.words import ink_box


def _view(texts: list[tuple[str, tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray]:
    mask = burn_mask(texts)
    return np.where(mask, 230, 20).astype(np.uint8), mask


def _cols(mask: np.ndarray) -> tuple[int, int]:
    c = np.nonzero(mask.any(axis=0))[0]
    return int(c[0]), int(c[-1]) + 1


def test_a_span_cut_short_by_the_reader_is_followed_over_the_rest_of_its_glyphs() -> None:
    view, mask = _view([("MOUNT CARMEL HOSPITAL", (10, 40))])
    x0, x1 = _cols(mask)
    rows = np.nonzero(mask.any(axis=1))[0]
    short = (x0, int(rows[0]), x0 + (x1 - x0) * 3 // 4, int(rows[-1]) + 1)  # "MOUNT CARMEL HOSPI"
    grown = extend_along_row(view, short, [], left=False, right=True)
    assert grown[2] >= x1 and grown[0] == short[0]


def test_following_a_span_stops_at_the_next_line_read_on_the_row() -> None:
    view, mask = _view([("SMITH JOHN W 400", (10, 40))])
    name_end = _cols(burn_mask([("SMITH JOHN", (10, 40))]))[1]
    tech_x0 = _cols(burn_mask([("SMITH JOHN W 400", (10, 40))]) & ~burn_mask([("SMITH JOHN", (10, 40))]))[0]
    rows = np.nonzero(mask.any(axis=1))[0]
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    grown = extend_along_row(view, (10, y0, name_end - 12, y1), [(tech_x0, y0, 320, y1)], left=False, right=True)
    assert name_end - 2 <= grown[2] <= tech_x0


def test_a_line_whose_box_only_reaches_into_the_row_does_not_stop_the_span() -> None:
    # dev_0129: "TI 150" read above an identifier, its box a few rows into the identifier's, ending where the
    # reader's "924405001" starts: the dropped "7" must still go
    view, mask = _view([("7924405001", (60, 40))])
    x0, x1 = _cols(mask)
    rows = np.nonzero(mask.any(axis=1))[0]
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    digit = _cols(burn_mask([("7", (60, 40))]))[1]
    cut = (digit + 1, y0 - 3, x1, y1 + 2)  # the reader's box, taller than the ink
    above = (x0 - 30, y0 - 14, digit + 1, y0 - 1)  # its bottom row in the identifier's box, not in its ink
    assert extend_along_row(view, cut, [above], left=True, right=False)[0] <= x0
    beside = (x0 - 30, y0, digit + 1, y1)  # a line on the row itself still stops it
    assert extend_along_row(view, cut, [beside], left=True, right=False)[0] > x0


@pytest.mark.parametrize(("text", "taken"), [("F.  MORETTI", True), ("W 400 F.  MORETTI", False)])
def test_a_name_span_hops_one_word_gap_to_a_lone_initial_only(text: str, taken: bool) -> None:
    # the reader dropped the initial a space before the name: it goes with the name; a short word with more
    # text just beyond it ("W 400 F.") is not taken
    view, mask = _view([(text, (10, 40))])
    head = text[: text.index("MORETTI")]
    initial = _cols(burn_mask([(head, (10, 40))]) & ~burn_mask([(head[: head.index("F.")], (10, 40))]))[0]
    nx0 = _cols(mask & ~burn_mask([(head, (10, 40))]))[0]
    rows = np.nonzero(mask.any(axis=1))[0]
    box = (nx0, int(rows[0]), _cols(mask)[1], int(rows[-1]) + 1)
    assert extend_along_row(view, box, [], left=True, right=False)[0] > initial
    assert (extend_along_row(view, box, [], left=True, right=False, hop=True)[0] <= initial) is taken


@pytest.mark.parametrize(("text", "taken"), [("KRISTIANSEN  MI 1.1", False), ("KRISTIANSEN  MI           1.1", True)])
def test_a_hop_does_not_take_a_short_word_that_another_reading_follows(text: str, taken: bool) -> None:
    # dev-drawn (twelfth 400): "MI" dropped between a name and "1.1", which was read on its own and so cuts the
    # walk along the row; that reading follows "MI" within a word gap as the ink of "W 400 F." does
    view, mask = _view([(text, (10, 40))])
    name = _cols(burn_mask([("KRISTIANSEN", (10, 40))]))
    word = _cols(burn_mask([(text[: text.index("1.1")].rstrip(), (10, 40))]) & ~burn_mask([("KRISTIANSEN", (10, 40))]))
    rest = _cols(mask & ~burn_mask([(text[: text.index("1.1")], (10, 40))]))
    rows = np.nonzero(mask.any(axis=1))[0]
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    box, stop = (name[0], y0, name[1], y1), (rest[0], y0, rest[1], y1)
    assert extend_along_row(view, box, [stop], left=False, right=True)[2] < word[0]
    assert (extend_along_row(view, box, [stop], left=False, right=True, hop=True)[2] >= word[1]) is taken


def test_a_much_taller_reading_over_a_spans_end_does_not_stop_the_walk() -> None:
    # dev-drawn (eighteenth 400): "894)390-57" read of "(894) 390-5771", a stray reading "sa!" 49 px high over
    # its end; the walk stopped at the stray box and "71" stayed
    view, mask = _view([("(894) 390-5771", (10, 40))])
    x0, x1 = _cols(mask)
    rows = np.nonzero(mask.any(axis=1))[0]
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    cut = (x0, y0 - 1, x1 - 22, y1 + 1)
    stray = (x1 - 40, y0 - 25, x1 + 30, y1 + 25)
    assert extend_along_row(view, cut, [stray], left=False, right=True)[2] >= x1
    beside = (x1 - 40, y0, x1 + 30, y1)  # a reading as tall as the line stops it
    assert extend_along_row(view, cut, [beside], left=False, right=True)[2] < x1


def test_a_lone_initial_at_the_image_edge_is_taken_by_the_hop() -> None:
    # the initial's first column is column 0 of the image: the hop must not read that edge as "nothing found"
    view, mask = _view([("F.  MORETTI", (10, 40))])
    head = burn_mask([("F.  ", (10, 40))])
    initial = _cols(head)[0]
    view, mask = view[:, initial:], mask[:, initial:]
    nx0 = _cols(mask & ~head[:, initial:])[0]
    rows = np.nonzero(mask.any(axis=1))[0]
    box = (nx0, int(rows[0]), _cols(mask)[1], int(rows[-1]) + 1)
    assert extend_along_row(view, box, [], left=True, right=False, hop=True)[0] == 0


def test_text_that_stays_beside_phi_is_held_to_its_own_band_of_ink() -> None:
    # dev_0079: the box of "PID: 7752080981" reached a row into the time below it; the kept "PID:" then held
    # back the removal of the time's top row of glyphs
    pid, time_ = burn_mask([("PID: 7752080981", (10, 40))]), burn_mask([("12:35:35", (10, 62))])
    view = np.where(pid | time_, 230, 20).astype(np.uint8)
    p_rows, t_rows = np.nonzero(pid.any(axis=1))[0], np.nonzero(time_.any(axis=1))[0]
    assert p_rows[-1] < t_rows[0]
    line = TextBox(8, int(p_rows[0]) - 1, _cols(pid)[1] + 2, int(t_rows[0]) + 1, "PID: 7752080981", 0.99, ())
    judge = TextJudge(PhiValues(identifiers=("7752080981",)))
    (found,) = judge_frame(FrameRead(0, [line], [], view), judge, "phi")
    assert found.redact and found.keeps
    assert all(k[3] <= t_rows[0] for k in found.keeps)


def test_a_phone_number_read_as_two_lines_goes_as_a_whole() -> None:
    view, _mask = _view([("535-414-4197", (10, 40))])
    left = TextBox(10, 40, 80, 60, "535-414", 0.99, ())
    right = TextBox(86, 40, 120, 60, "4197", 0.99, ())
    read = FrameRead(0, [left, right], [], view)
    findings = judge_frame(read, TextJudge(PhiValues()), "phi")
    assert [f.redact for f in findings] == [True, True]
    assert all(f.decision.kind == "phone" for f in findings)


def test_technical_neighbours_are_not_joined_into_phi() -> None:
    view, _mask = _view([("120 kVp 250 mAs", (10, 40))])
    read = FrameRead(
        0, [TextBox(10, 40, 70, 60, "120 kVp", 0.99, ()), TextBox(76, 40, 140, 60, "250 mAs", 0.99, ())], [], view
    )
    assert not any(f.redact for f in judge_frame(read, TextJudge(PhiValues()), "phi"))


@pytest.mark.parametrize(
    ("line", "name"), [("Nane: ADEYEMI", "ADEYEMI"), ("Teah: E. Tanaka", "E. Tanaka"), ("Perator: SMITH J", "SMITH J")]
)
def test_a_role_label_misread_by_one_letter_still_announces_a_name(line: str, name: str) -> None:
    spans = [(a, b) for _k, a, b in find_labelled(line)]
    assert (line.index(name), len(line)) in spans


@pytest.mark.parametrize("line", ["Gain: 52%", "Zoom: 1.2", "Mode: PW", "Rate: 30 bpm", "Time: 2D"])
def test_technical_words_before_a_colon_are_not_taken_for_misread_labels(line: str) -> None:
    assert find_labelled(line) == []


def test_a_phone_number_read_as_three_lines_goes_as_a_whole() -> None:
    view, _mask = _view([("875-645-3888", (10, 40))])
    pieces = [
        TextBox(10, 40, 40, 60, "875", 1.0, ()),
        TextBox(46, 40, 76, 60, "645", 1.0, ()),
        TextBox(82, 40, 122, 60, "3888", 1.0, ()),
    ]
    findings = judge_frame(FrameRead(0, pieces, [], view), TextJudge(PhiValues()), "phi")
    assert [f.redact for f in findings] == [True, True, True]


def test_an_unread_vertical_region_loses_the_glyphs_of_a_line_read_across_it() -> None:
    # a letter of one row over the "C" of a kept "C 50 W 350": the column is no vertical text
    col = TextRegion(341, 272, 355, 298, True, 3, 11.0, 0.97)
    kept = TextBox(344, 289, 431, 299, "C 50 W 350", 0.92, ())
    part = trim_unread(col, [kept])
    assert part is not None and (part.y0, part.y1) == (272, 289)
    assert trim_unread(col, [TextBox(330, 270, 400, 300, "x", 0.9, ())]) is None  # nothing of it left
    beside = TextBox(380, 289, 431, 299, "W 350", 0.92, ())  # a line that does not cross it changes nothing
    assert trim_unread(col, [beside]) is col


def test_a_region_whose_glyphs_are_twice_as_tall_as_a_line_read_inside_it_is_the_box_behind_the_text() -> None:
    # a filled label box (two marks 24 px tall) holding "Born" and "CC" (dev_0029): removing it as unread text
    # took the technical "CC" with it
    box = TextRegion(21, 21, 130, 45, False, 2, 24.0, 1.0)
    lines = [TextBox(23, 22, 51, 34, "Born", 0.9, ()), TextBox(23, 31, 37, 41, "CC", 0.74, ())]
    assert box_behind_text(box, lines)
    assert not box_behind_text(box, [TextBox(140, 22, 180, 34, "beside", 0.9, ())])  # nothing read inside
    text = TextRegion(21, 21, 130, 33, False, 9, 10.0, 1.0)  # glyphs as tall as the line: text
    assert not box_behind_text(text, [TextBox(23, 22, 51, 33, "Born", 0.9, ())])


def test_three_filled_blots_are_not_glyphs_but_small_text_is() -> None:
    # holes in bone on a CT slice, stacked like a vertical word: no reason to quarantine the instance
    view = np.full((60, 40), 230, np.uint8)
    for y in (10, 22, 34):
        view[y : y + 6, 15:21] = 20
    assert solid_blots(view, TextRegion(10, 5, 26, 45, True, 3, 6.0, 0.99))
    text, mask = _view([("C5", (10, 40))])
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    box = (int(cols[0]) - 2, int(rows[0]) - 2, int(cols[-1]) + 3, int(rows[-1]) + 3)
    assert not solid_blots(text, TextRegion(*box, False, 2, float(rows[-1] - rows[0] + 1), 0.99))


def test_one_symbol_or_a_grid_of_filled_squares_is_no_unread_text_but_words_are() -> None:
    # a caliper's cross beside faint anatomy (a clean colour ultrasound, dev-drawn: quarantined as unread text)
    view = np.full((40, 60), 10, np.uint8)
    view[15:24, 19] = 170
    view[19, 15:24] = 170
    assert no_words(view, TextRegion(12, 12, 40, 27, False, 2, 9.0, 0.9))
    # the cells of a test pattern in a column (a clean OT, dev-drawn: removed as text in a read row)
    grid = np.full((60, 30), 140, np.uint8)
    for y in (5, 20, 35, 50):
        grid[y : y + 6, 10:16] = 40
    assert no_words(grid, TextRegion(8, 3, 18, 58, True, 4, 6.0, 1.0))
    for word in ("C5", "Oct 16", "I1 l1"):
        text, mask = _view([(word, (10, 40))])
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        box = (int(cols[0]) - 2, int(rows[0]) - 2, int(cols[-1]) + 3, int(rows[-1]) + 3)
        assert not no_words(text, TextRegion(*box, False, 2, float(rows[-1] - rows[0] + 1), 0.99)), word


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("Name:", "role"),
        ("Paient:", "role"),  # a letter dropped
        ("Nane", "role"),  # a letter misread, no colon: the first letter is right
        ("Technclcgiet", "role"),  # three letters misread in twelve
        ("So no gra phg", "role"),  # spaces read inside the word
        ("Seanned b4t", "role"),  # "Scanned by"
        ("ysician", "role"),  # the end of "Physician:" (the reading began inside it)
        ("ID:", "id"),
        ("Gain", None),
        ("AXIAL", None),
        ("Mama:", None),
        ("TECHNIQUE", None),
        ("W 400", None),
    ],
)
def test_a_line_that_is_only_a_role_word_misread_is_a_lone_label(line: str, what: str | None) -> None:
    assert lone_label(line) == what


def _vertical(y0: int, y1: int, text: str, up: bool) -> TextBox:
    pos = np.linspace(y1 - 3, y0 + 3, len(text)) if up else np.linspace(y0 + 3, y1 - 3, len(text))
    return TextBox(90, y0, 104, y1, text, 0.99, tuple(float(p) for p in pos), True)


@pytest.mark.parametrize("up", [True, False])
def test_a_vertical_lone_label_names_the_lines_that_follow_it_in_its_reading_direction(up: bool) -> None:
    # "Patient: Celine Okonkwo" written up the image (or down it): the label, then the given name, then the family
    # name, each read as a line of its own; the line before the label is not its value
    view = np.zeros((300, 200), np.uint8)
    spans = [(180, 230, "Paient:"), (128, 176, "Celine"), (82, 124, "Okonkwo"), (232, 280, "Ross")]
    if not up:
        spans = [(300 - b, 300 - a, t) for a, b, t in spans]
    lines = [_vertical(a, b, t, up) for a, b, t in spans]
    findings = judge_frame(FrameRead(0, lines, [], view), TextJudge(PhiValues()), "phi")
    assert [f.redact for f in findings] == [False, True, True, False]


@pytest.mark.parametrize(
    ("pieces", "removed"),
    [
        (["DOB: 1935", "SEP 22"], [True, True]),  # a date read in two pieces, the label on the first
        (["Ref: STRAUSS", "CELINE"], [True, True]),  # a name in two pieces
        (["DOB: 1935", "W 400"], [True, False]),  # technical text the allow-list knows stays
        (["Ref: STRAUSS", "120 kVp"], [True, False]),
        (["DOB: 1935", "ROSA"], [True, False]),  # letters are not part of a number (a word of five letters or
        # more no list knows would go as a name of its own: garbled.unknown_names)
        (["DOB: 1935", "22"], [True, True]),  # a bare number beside a number is a piece of it
        (["#255", "ID: 139-7174"], [True, True]),  # with the "#" before it ("#255-139-7174")
        (["#3", "W 400"], [False, False]),  # not beside a value: technical text stays
        (["kenji", "adeyemi@mail.org"], [True, True]),  # an address's name part read apart (dev-drawn)
        (["mm", "adeyemi@mail.org"], [False, True]),  # a unit the allow-list knows stays
        (["XOSI WOOZ", "fiona.tanaka@mail.org"], [False, True]),  # words in capitals are no address's piece
    ],
)
def test_a_piece_read_beside_a_phi_line_goes_with_it_when_it_is_of_the_same_sort(
    pieces: list[str], removed: list[bool]
) -> None:
    view = np.zeros((80, 400), np.uint8)
    lines, x = [], 10
    for text in pieces:
        w = 9 * len(text)
        view[30:44, x : x + w] = 220
        lines.append(TextBox(x, 28, x + w, 46, text, 0.99, ()))
        x += w + 10  # a gap of about half a text height: one space
    findings = judge_frame(FrameRead(0, lines, [], view), TextJudge(PhiValues()), "phi")
    assert [f.redact for f in findings] == removed


@pytest.mark.parametrize(("row", "removed"), [("DOB: 1935         SEP 22", False), ("DOB: 1935 1 SEP 22", True)])
def test_a_piece_further_away_goes_only_when_the_glyphs_run_on_to_it(row: str, removed: bool) -> None:
    # "SEP 22" several text heights from the PHI line: another field when blank columns part them; the rest of
    # the value when glyphs no reader read ("1") fill the gap
    view, mask = _view([(row, (10, 40))])
    rows = np.nonzero(mask.any(axis=1))[0]
    y0, y1 = int(rows[0]) - 2, int(rows[-1]) + 3
    head = _cols(burn_mask([("DOB: 1935", (10, 40))]))
    tail_x0 = _cols(mask & ~burn_mask([(row[: row.index("SEP")], (10, 40))]))[0]
    lines = [
        TextBox(head[0], y0, head[1], y1, "DOB: 1935", 0.99, ()),
        TextBox(tail_x0, y0, _cols(mask)[1], y1, "SEP 22", 0.99, ()),
    ]
    assert (tail_x0 - head[1]) > JOIN_GAP * (y1 - y0)  # beyond the gap between words
    findings = judge_frame(FrameRead(0, lines, [], view), TextJudge(PhiValues()), "phi")
    assert [f.redact for f in findings] == [True, removed]


def test_pieces_read_from_overlapping_detector_boxes_go_together() -> None:
    view = np.zeros((80, 400), np.uint8)
    view[30:44, 10:150] = 220
    lines = [TextBox(10, 28, 110, 46, "Ref: SMITH^", 0.99, ()), TextBox(100, 28, 150, 46, "H^ERIK", 0.99, ())]
    findings = judge_frame(FrameRead(0, lines, [], view), TextJudge(PhiValues()), "phi")
    assert [f.redact for f in findings] == [True, True]


def test_text_a_few_grey_levels_off_its_background_is_detected_on_the_normalised_view() -> None:
    from deidnode.config import PixelSettings
    from deidnode.engine.pixels.detect import _as_box, detect_both
    from deidnode.engine.pixels.ocr import get_engine

    engine = get_engine(PixelSettings().ocr)
    yy, xx = np.mgrid[0:256, 0:256]
    background = 120 + 40 * np.sin(xx / 17.0) * np.cos(yy / 23.0)
    mask = burn_mask([("SMITH JOHN", (20, 100))], 256, 14)
    view = np.clip(background + 10 * mask, 0, 255).astype(np.uint8)  # ten grey levels above its background
    rows, cols = np.nonzero(mask)
    assert engine.detect(view) == []  # the detector alone, on the view as displayed, finds nothing
    found = [_as_box(q) for q in detect_both(engine, view)]
    assert any(b[0] <= cols.min() + 2 and b[2] >= cols.max() - 2 and b[1] <= rows.min() <= b[3] for b in found)


@pytest.mark.parametrize("levels", [4, 8, 12])
def test_a_faint_value_after_a_bright_label_on_its_row_is_detected(levels: int) -> None:
    """A label drawn bright and its value a few grey levels off the background, on one row: the detector on the
    view as displayed finds the label, and the value's box on the normalised view, which touches the label's,
    was dropped as already found (a second pass kept only boxes clear of the first's). One run on the
    luminance and its normalised view together (``detection_view``) finds the value."""
    from deidnode.config import PixelSettings
    from deidnode.engine.pixels.detect import _as_box, detect_both
    from deidnode.engine.pixels.ocr import get_engine

    engine = get_engine(PixelSettings().ocr)
    label = burn_mask([("Name:", (10, 100))], 256, 14)
    value = burn_mask([("SMITH JOHN", (60, 100))], 256, 14)
    yy, xx = np.mgrid[0:256, 0:256]
    background = 90 + 30 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    view = np.clip(background + 120 * label + levels * value, 0, 255).astype(np.uint8)
    rows, cols = np.nonzero(value)
    found = [_as_box(q) for q in detect_both(engine, view)]
    assert any(b[0] <= cols.min() + 2 and b[2] >= cols.max() - 2 and b[1] <= rows.min() <= b[3] for b in found)


def test_a_grey_view_costs_one_detector_run_over_the_whole_view() -> None:
    """The detector runs once over a grey view (it ran twice: the view as displayed, then its normalised view),
    besides once on each edge strip turned a quarter."""
    from deidnode.config import PixelSettings
    from deidnode.engine.pixels.detect import detect_both
    from deidnode.engine.pixels.ocr import get_engine

    engine = get_engine(PixelSettings().ocr)
    view = np.clip(90 + 120 * burn_mask([("SMITH JOHN", (60, 100))], 256, 14), 0, 255).astype(np.uint8)
    calls: list[tuple[int, ...]] = []

    class Counting:
        def detect(self, image: np.ndarray, **kw: object) -> list[np.ndarray]:
            calls.append(image.shape[:2])
            return engine.detect(image, **kw)  # type: ignore[arg-type]

    assert detect_both(Counting(), view)
    assert calls.count(view.shape[:2]) == 1
    assert len(calls) == 3  # the whole view, and the two edge strips


def _vertical_text(text: str, fsize: int, font: str) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    f = ImageFont.truetype(font, fsize)
    _l, _t, r, b = f.getbbox(text)
    strip = Image.new("L", (r + 4, b + 4), 0)
    ImageDraw.Draw(strip).text((2, 2), text, fill=1, font=f)
    return np.rot90(np.asarray(strip) > 0, 1)  # reading up the image


@pytest.mark.parametrize(
    ("font", "fsize", "x"),
    [
        ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", 14, 6),  # found in two pieces upright
        ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 12, 490),  # found whole upright: that stands
    ],
)
def test_a_vertical_line_at_the_edge_is_detected_whole(font: str, fsize: int, x: int) -> None:
    """The detector on the view as displayed finds a vertical line in pieces or not at all; on the edge's strip
    turned a quarter it finds it whole (dev-drawn: "Patient: F. Moretti" read as "e" and "len")."""
    from deidnode.config import PixelSettings
    from deidnode.engine.pixels.detect import _as_box, detect_both
    from deidnode.engine.pixels.ocr import get_engine

    engine = get_engine(PixelSettings().ocr)
    mask = _vertical_text("Patient: F. Moretti" if x < 100 else "Scanned by: E. Nakamura", fsize, font)
    view = (30 + np.random.default_rng(3).normal(0, 8, (512, 512))).clip(0, 255).astype(np.uint8)
    view[150 : 150 + mask.shape[0], x : x + mask.shape[1]][mask] = 110
    y0, y1 = 150, 150 + mask.shape[0]
    along = [
        (min(b[3], y1) - max(b[1], y0)) / (y1 - y0)
        for b in map(_as_box, detect_both(engine, view))
        if b[0] < x + mask.shape[1] and x < b[2]
    ]
    assert max(along, default=0.0) >= 0.95  # one box along the whole line


@pytest.mark.parametrize("fsize", [9, 10])
def test_a_small_vertical_line_the_upright_pass_misses_is_found_on_the_turned_edge(fsize: int) -> None:
    """Small vertical text at the left edge of which the upright pass finds no piece at all: the edge strips were
    turned only where it had found a vertical box, so the line went unfound; both strips are now turned."""
    from deidnode.config import PixelSettings
    from deidnode.engine.pixels.detect import _as_box, detect_both
    from deidnode.engine.pixels.ocr import get_engine

    engine = get_engine(PixelSettings().ocr)
    mask = _vertical_text("Patient: F. Moretti", fsize, "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    view = (30 + np.random.default_rng(3).normal(0, 8, (512, 512))).clip(0, 255).astype(np.uint8)
    view[150 : 150 + mask.shape[0], 6 : 6 + mask.shape[1]][mask] = 110
    y0, y1 = 150, 150 + mask.shape[0]
    along = [
        (min(b[3], y1) - max(b[1], y0)) / (y1 - y0)
        for b in map(_as_box, detect_both(engine, view))
        if b[0] < 6 + mask.shape[1] and 6 < b[2]
    ]
    assert max(along, default=0.0) >= 0.95


def test_a_vertical_line_found_turned_ends_before_a_row_it_runs_into() -> None:
    """The turned strip's detector joined the first glyphs of "DUBOIS^MARISOL" below a vertical line to it
    (dev-drawn): the vertical box ends where that row starts, and a row beside its middle does not cut it."""
    from deidnode.engine.pixels.detect import _as_box, _short_of_rows

    def quad(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)

    line = quad(19, 69, 35, 235)
    assert _as_box(_short_of_rows(line, [quad(21, 229, 99, 235)])) == (19, 69, 35, 229)
    assert _as_box(_short_of_rows(line, [quad(10, 60, 90, 75)])) == (19, 75, 35, 235)
    assert _as_box(_short_of_rows(line, [quad(30, 140, 90, 150), quad(200, 229, 260, 235)])) == (19, 69, 35, 235)
    # a short box cut to a pixel's height is no line (it broke the ink columns of ``line_boxes``: an engine error)
    assert _short_of_rows(quad(10, 740, 20, 757), [quad(0, 741, 200, 760)]) is None
    from deidnode.engine.pixels.detect import line_boxes

    view = np.zeros((64, 64), np.uint8)
    view[20:30, 10:40] = 200
    assert len(line_boxes(view, [quad(10, 40, 20, 41)])) == 1  # a box a pixel high does not raise


def test_a_span_on_a_label_box_is_not_followed_over_the_image_its_box_overhangs() -> None:
    """A reading's box reaching a row above a filled label box: the image there is no glyph of the line, and the
    walk along the row stays on the label box (it followed the black image to the edges before)."""
    mask = burn_mask([("1974 SEP 24", (110, 42))])
    view = np.zeros(mask.shape, np.uint8)
    view[40:80, 100:260] = 150  # the label box
    view[mask] = 190  # dim text: the image is further from the box's value than the glyphs are
    rows = np.nonzero(mask.any(axis=1))[0]
    x0, x1 = _cols(mask)
    box = (x0 - 3, 36, x1, int(rows[-1]) + 2)  # overhangs the label box above its top edge
    grown = extend_along_row(view, box, [], left=True, right=True)
    assert 100 <= grown[0] <= box[0] and box[2] <= grown[2] <= 260


def test_a_box_overhanging_a_label_box_is_trimmed_to_its_glyphs_not_to_the_image_beyond() -> None:
    """The image beyond the label box stands out more than faint text on it; trimming to what stands out most
    kept the whole box (and with it the next line's glyphs that the box reaches)."""
    mask = burn_mask([("1974 SEP 24", (110, 42))])
    view = np.zeros(mask.shape, np.uint8)
    view[40:80, 100:260] = 150
    view[mask] = 190
    rows = np.nonzero(mask.any(axis=1))[0]
    x0, x1 = _cols(mask)
    box = (x0 - 3, 34, x1 + 3, int(rows[-1]) + 2)
    trimmed = ink_box(view, box)
    assert trimmed[1] == int(rows[0]) and trimmed[3] == int(rows[-1]) + 1
    assert trimmed[0] == x0 and trimmed[2] == x1


def test_a_second_reading_that_is_a_misread_role_word_labels_the_name_beside_it() -> None:
    """The second reader's reading of an unsure line replaces the first when it is a lone label, misread role words
    included ("Paient:"); before, only the exact label forms did, so the name beside it stayed."""
    view = np.zeros((100, 300), np.uint8)
    first = TextBox(10, 40, 70, 52, "Pa1e", 0.6, tuple(float(x) for x in range(14, 70, 14)))
    name = TextBox(80, 40, 150, 52, "Okonkwo", 0.99, tuple(float(x) for x in range(84, 150, 10)))
    second = TextBox(10, 40, 70, 52, "Paient:", 0.8, tuple(float(x) for x in range(13, 70, 8)))
    read = FrameRead(0, [first, name], [], view, alternates={0: second})
    findings = judge_frame(read, TextJudge(PhiValues()), "phi")
    assert [f.redact for f in findings] == [False, True]


def test_a_word_of_the_institution_read_as_its_own_line_goes_with_it_whatever_its_ink() -> None:
    # "Riverside General" | "Hospital": the common word alone identifies nothing, beside the rest of this
    # dataset's institution it is part of it, even when the first box's ink is taller (a shadow, anatomy)
    view, _mask = _view([("RIVERSIDE GENERAL", (10, 40)), ("HOSPITAL", (200, 40))])
    view[26:36, 10:190] = 230  # ink above the first line: its ink box is taller than the second's
    left = TextBox(10, 26, 190, 60, "RIVERSIDE GENERAL", 0.99, ())
    right = TextBox(196, 40, 290, 60, "HOSPITAL", 0.99, ())
    phi = PhiValues(texts=("Riverside General Hospital",))
    findings = judge_frame(FrameRead(0, [left, right], [], view), TextJudge(phi), "phi")
    assert [f.redact for f in findings] == [True, True]
    other = TextBox(196, 40, 290, 60, "HOSPITAL", 0.99, ())
    findings = judge_frame(
        FrameRead(0, [left, other], [], view), TextJudge(PhiValues(texts=("Riverside Clinic",))), "phi"
    )
    assert [f.redact for f in findings] == [True, False]


def test_a_vertical_line_reading_up_is_followed_toward_its_first_characters_at_the_bottom() -> None:
    # "MOUNT CARMEL HOSPITAL  W 400" written bottom to top; the reader dropped "MOUNT ", its first word, at the
    # bottom: the institution's span starts the reading, so it is followed down, not up into "W 400"
    full = "MOUNT CARMEL HOSPITAL  W 400"
    flat, mask = _view([(full, (10, 40))])
    view, vmask = np.ascontiguousarray(np.rot90(flat)), np.rot90(mask)  # counter-clockwise: reads up
    cols = np.nonzero(vmask.any(axis=0))[0]
    x0, x1 = int(cols[0]), int(cols[-1]) + 1

    def y_extent(prefix: str) -> tuple[int, int]:  # the rows of the glyphs of ``prefix`` in the turned view
        m = np.rot90(burn_mask([(prefix, (10, 40))]))
        r = np.nonzero(m.any(axis=1))[0]
        return int(r[0]), int(r[-1]) + 1

    mount_top, bottom = y_extent("MOUNT")
    top, _ = y_extent(full)
    text = full[len("MOUNT ") :]
    start = mount_top - 4
    step = (start - top) / len(text)
    pos = tuple(start - step * (i + 0.5) for i in range(len(text)))  # first character at the bottom
    line = TextBox(x0, top, x1, start, text, 0.99, pos, vertical=True)
    phi = PhiValues(texts=("Mount Carmel Hospital",))
    (f,) = judge_frame(FrameRead(0, [line], [], view), TextJudge(phi), "phi")
    assert f.redact and max(t[3] for t in f.targets) >= bottom - 1


def test_a_short_reading_across_a_vertical_phi_line_goes_with_it_and_one_beside_it_stays() -> None:
    # the detector also read two glyphs of a vertical phone number the wrong way ("39"), one just past the end the
    # reader lost ("6"); an orientation letter beside the column is not part of it
    view = np.zeros((300, 200), np.uint8)
    phone = TextBox(90, 40, 110, 200, "755-334-9394", 0.97, (), vertical=True)
    across = TextBox(92, 60, 108, 80, "39", 0.92, ())
    past_end = TextBox(91, 205, 108, 222, "6", 0.5, ())
    beside = TextBox(140, 100, 152, 114, "R", 0.99, ())
    read = FrameRead(0, [phone, across, past_end, beside], [], view)
    findings = judge_frame(read, TextJudge(PhiValues()), "phi")
    assert [f.redact for f in findings] == [True, True, True, False]
    # read down the column as well: the "0" of "RADIOLOGY" past the end of "HARBOR VIEW RADIOL" (dev_0054)
    column = TextBox(91, 224, 108, 236, "0", 0.47, (), vertical=True)
    read = FrameRead(0, [phone, column, beside], [], view)
    assert [f.redact for f in judge_frame(read, TextJudge(PhiValues()), "phi")] == [True, True, False]
    # but not a piece of a line that stays, read again on its own ("350" of "C 50 W 350" below it: dev_0022)
    window = TextBox(90, 220, 110, 290, "C 50 W 350", 0.9, (), vertical=True)
    read = FrameRead(0, [phone, column, window], [], view)
    assert [f.redact for f in judge_frame(read, TextJudge(PhiValues()), "phi")] == [True, False, False]
    # nor a technical word in a row of its own just past the end ("Gen" and "Se:3" under a vertical identifier,
    # dev-drawn eighth 400); across the line's glyphs a reading goes whatever it reads
    gen = TextBox(88, 205, 108, 218, "Gen", 1.0, ())
    series = TextBox(89, 219, 109, 230, "Se:3", 0.96, ())
    read = FrameRead(0, [phone, gen, series, TextBox(92, 60, 108, 80, "T1", 0.6, ())], [], view)
    assert [f.redact for f in judge_frame(read, TextJudge(PhiValues()), "phi")] == [True, False, False, True]
    # nor one the line read itself, as a word of its own that stays, read again inside its box ("5:03:07 AM Gen",
    # then "Gen" alone: dev-drawn twelfth 400)
    clock = TextBox(88, 40, 108, 218, "5:03:07 AM Gen", 0.98, (), vertical=True)
    read = FrameRead(0, [clock, gen], [], view)
    assert [f.redact for f in judge_frame(read, TextJudge(PhiValues()), "phi")] == [True, False]
    # a lone letter there is a piece: a name's initial read apart ("I" of "MBEKI T", dev-drawn eighth 400)
    read = FrameRead(0, [phone, TextBox(92, 206, 107, 217, "I", 0.97, ())], [], view)
    assert [f.redact for f in judge_frame(read, TextJudge(PhiValues()), "phi")] == [True, True]


def test_a_span_is_followed_past_a_piece_of_its_value_removed_whole_but_not_past_text_that_stays() -> None:
    # dev_0054, a vertical line: "0" of "RADIOLOGY" read on its own past the end of "HARBOR VIEW RADIOL" goes
    # with it and must not stop it short of the "GY" beyond; a line that stays there still stops it
    text = "HARBOR VIEW RADIOLOGY"
    view, mask = _view([(text, (10, 40))])
    view, mask = view.T.copy(), mask.T.copy()  # written down the image
    rows = np.nonzero(mask.any(axis=0))[0]
    x0, x1 = int(rows[0]), int(rows[-1]) + 1
    end = int(np.nonzero(mask.any(axis=1))[0][-1]) + 1
    cut = _cols(burn_mask([("HARBOR VIEW RADIOL", (10, 40))]))[1]
    o_end = _cols(burn_mask([("HARBOR VIEW RADIOLO", (10, 40))]))[1]
    judge = TextJudge(PhiValues(texts=("Harbor View Radiology",)))
    value = TextBox(x0, 10, x1, cut, "HARBOR VIEW RADIOL", 0.95, (), vertical=True)
    for piece, removed in (("0", True), ("W 400", False)):
        lines = [value, TextBox(x0, cut + 1, x1, o_end, piece, 0.47, (), vertical=True)]
        found = judge_frame(FrameRead(0, lines, [], view), judge, "phi")
        assert found[1].redact is removed
        assert (max(t[3] for t in found[0].targets) >= end) is removed


def test_text_that_stays_keeps_the_whole_of_its_glyphs_where_the_character_positions_fall_short() -> None:
    # the recogniser's positions put "%" left of where it is drawn: the kept box still ends at its ink, so the
    # padding of the name after it stops there
    text = "ZOOM 150%   SMITH JOHN"
    view, mask = _view([(text, (10, 40))])
    zoom_end = _cols(burn_mask([("ZOOM 150%", (10, 40))]))[1]
    x0, x1 = _cols(mask)
    rows = np.nonzero(mask.any(axis=1))[0]
    right = [x0] + [_cols(burn_mask([(text[: i + 1], (10, 40))]))[1] if text[i] != " " else 0 for i in range(len(text))]
    for i in range(1, len(right)):
        right[i] = right[i] or right[i - 1] + 4  # a space: a few pixels on
    pos = tuple((right[i] + right[i + 1]) / 2 - (4 if i < 9 else 0) for i in range(len(text)))
    line = TextBox(x0, int(rows[0]), x1, int(rows[-1]) + 1, text, 0.99, pos)
    (f,) = judge_frame(FrameRead(0, [line], [], view), TextJudge(PhiValues(person_names=("SMITH^JOHN",))), "phi")
    assert f.redact and f.keeps
    assert max(k[2] for k in f.keeps) >= zoom_end


def test_the_end_of_an_institution_word_read_apart_goes_with_the_piece_before_it() -> None:
    # "MOUNT CARMEL" | "HOSPI" | "AL": the last piece is joined through the middle one, which carries the value
    view, _mask = _view([("MOUNT CARMEL", (10, 40)), ("HOSPI", (150, 40)), ("AL", (215, 40))])
    view[26:36, 150:205] = 230  # ink above the middle piece: its ink box is taller than the last one's
    lines = [
        TextBox(10, 40, 140, 60, "MOUNT CARMEL", 0.99, ()),
        TextBox(150, 26, 205, 60, "HOSPI", 0.99, ()),
        TextBox(212, 40, 245, 60, "AL", 0.99, ()),
    ]
    phi = PhiValues(texts=("Mount Carmel Hospital",))
    findings = judge_frame(FrameRead(0, lines, [], view), TextJudge(phi), "phi")
    assert [f.redact for f in findings] == [True, True, True]


def test_the_other_piece_of_a_name_read_in_two_goes_with_it_whatever_its_ink() -> None:
    view, _mask = _view([("KRIST", (10, 40)), ("IANSEN", (80, 40))])
    view[26:36, 80:150] = 230  # ink above the second piece: its ink box is taller than the first one's
    lines = [TextBox(10, 40, 70, 60, "KRIST", 0.93, ()), TextBox(78, 26, 150, 60, "NSEN", 0.9, ())]
    phi = PhiValues(person_names=("KRISTIANSEN^PAULO",), name_parts=("KRISTIANSEN", "PAULO"))
    findings = judge_frame(FrameRead(0, lines, [], view), TextJudge(phi), "phi")
    assert [f.redact for f in findings] == [True, True]


def test_a_names_initial_read_on_its_own_beside_it_goes_with_it_and_a_letter_of_another_row_stays() -> None:
    # dev-drawn (eighth 400): "Quintero K." read as "Quintero" and "K", the initial's box tight around its ink and
    # the name's box holding the Q's tail and the reader's margin
    view = np.zeros((80, 400), np.uint8)
    view[30:42, 10:110] = 220
    view[42:46, 16:22] = 220  # the Q's tail: the name's ink is taller than a capital
    view[31:40, 126:136] = 220
    name = TextBox(9, 27, 111, 47, "Quintero", 1.0, ())
    phi = PhiValues(person_names=("QUINTERO^KENJI",), name_parts=("QUINTERO", "KENJI"))
    for letter, removed in (
        (TextBox(126, 30, 136, 39, "K", 0.98, ()), True),
        (TextBox(126, 44, 136, 53, "R", 0.99, ()), False),
    ):
        findings = judge_frame(FrameRead(0, [name, letter], [], view), TextJudge(phi), "phi")
        assert [f.redact for f in findings] == [True, removed]
    # beside a setting that is no name, a letter stays
    setting = TextBox(9, 27, 111, 43, "W 400", 1.0, ())
    findings = judge_frame(
        FrameRead(0, [setting, TextBox(126, 30, 136, 39, "K", 0.98, ())], [], view), TextJudge(phi), "phi"
    )
    assert [f.redact for f in findings] == [False, False]


def test_a_vertical_line_is_judged_in_its_reading_the_other_way_up_too() -> None:
    """A vertical phone number read down the image as "7199 247-199 184" (0.67) and up it as "2N 661-427614"
    (0.60): only the less confident reading holds the number, and the line stayed. Both readings are judged."""
    from deidnode.engine.pixels.detect import read_frame

    other = TextBox(100, 10, 112, 110, "2N 661-427614", 0.6, (), True)
    line = TextBox(100, 10, 112, 110, "7199 247-199 184", 0.67, (), True, other)

    class Engine:
        name = "stub"

        def detect(self, image, min_side=512, max_side=1536):
            return [np.array([[100, 10], [112, 10], [112, 110], [100, 110]], np.float32)]

        def read_boxes(self, image, quads, prepare=None):
            return [line]

    read = read_frame(np.zeros((128, 128), np.uint8), Engine(), 0)
    assert read.alternates == {0: other}
    (finding,) = judge_frame(read, TextJudge(PhiValues()), "phi")
    assert finding.redact and finding.box.text == "2N 661-427614"


def test_rapidocr_gives_a_vertical_line_its_reading_the_other_way_up() -> None:
    from PIL import Image, ImageDraw
    from pixels_helpers import font

    from deidnode.config import OcrSettings
    from deidnode.engine.pixels.ocr import get_engine

    img = Image.new("L", (200, 40), 0)
    ImageDraw.Draw(img).text((6, 8), "6089 1961", fill=255, font=font(20))  # digits read either way up
    view = np.ascontiguousarray(np.rot90(np.asarray(img), 1))  # reads up the image
    engine = get_engine(OcrSettings())
    (line,) = engine.read_boxes(view, [np.array([[0, 0], [40, 0], [40, 200], [0, 200]], np.float32)])
    assert line.vertical and line.text == "6089 1961"
    assert line.other is not None and line.other.vertical and line.other.text == "1961 6809"
    assert line.other.confidence <= line.confidence


def test_text_a_few_grey_levels_off_a_label_box_near_its_edge_is_detected() -> None:
    """A label box a few rows above the text: the box's edge against the dark image inflated the deviation of a
    31 px neighbourhood, and text 12 grey levels off the box came out too faint to detect (dev_0124)."""
    from deidnode.config import PixelSettings
    from deidnode.engine.pixels.detect import _as_box, detect_both
    from deidnode.engine.pixels.ocr import get_engine

    engine = get_engine(PixelSettings().ocr)
    mask = burn_mask([("SMITH JOHN", (40, 106))], 256, 13)
    rows, cols = np.nonzero(mask)
    view = np.zeros((256, 256), np.uint8)
    view[rows.min() - 5 : rows.max() + 40, cols.min() - 6 :] = 70  # the label box, from five rows above the text
    view = np.clip(view.astype(np.int16) + 12 * mask, 0, 255).astype(np.uint8)
    found = [_as_box(q) for q in detect_both(engine, view)]
    assert any(b[0] <= cols.min() + 2 and b[2] >= cols.max() - 2 and b[1] <= rows.min() <= b[3] for b in found)


def test_text_of_the_same_luminance_as_the_colour_behind_it_is_detected_on_the_chroma_view() -> None:
    """Iso-luminant coloured text (red-green 16 levels off, luminance the same) on a textured colour image: neither
    the view as displayed nor its normalised luminance shows it; the normalised opponent channels do."""
    from deidnode.config import PixelSettings
    from deidnode.engine.pixels.detect import _as_box, chroma_view, detect_both, text_view
    from deidnode.engine.pixels.ocr import get_engine

    engine = get_engine(PixelSettings().ocr)
    mask = burn_mask([("SMITH JOHN", (20, 100))], 256, 16)
    rows, cols = np.nonzero(mask)
    yy, xx = np.mgrid[0:256, 0:256]
    texture = (20 * np.sin(xx / 9.0) * np.cos(yy / 13.0))[..., None]
    view = np.empty((256, 256, 3), np.float64)
    view[:] = (150, 100, 100)
    view[mask > 0] = (128, 110, 104)
    view = np.clip(view + texture, 0, 255).astype(np.uint8)

    def found(boxes: list[tuple[int, int, int, int]]) -> bool:
        return any(b[0] <= cols.min() + 2 and b[2] >= cols.max() - 2 and b[1] <= rows.min() <= b[3] for b in boxes)

    assert not found([_as_box(q) for q in engine.detect(view)])
    assert not found([_as_box(q) for q in engine.detect(text_view(view))])
    assert found([_as_box(q) for q in detect_both(engine, view)])
    assert chroma_view(view[..., 0]) is None  # a grey view has no chroma pass


def test_a_second_reading_of_an_identifiers_glyphs_goes_with_it_whatever_its_box() -> None:
    """dev-drawn dev_6008: "A73941611" read as "3941611" (the identifier, found) and, from a taller box over
    its start, "A7394" (kept: its box held the fill back from the "A7")."""
    view = np.zeros((80, 300), np.uint8)
    for x in range(20, 110, 10):
        view[34:43, x : x + 7] = 220
    lines = [TextBox(40, 33, 110, 44, "3941611", 1.0, ()), TextBox(18, 29, 70, 46, "A7394", 0.97, ())]
    findings = judge_frame(FrameRead(0, lines, [], view), TextJudge(PhiValues(identifiers=("A73941611",))), "phi")
    assert [f.redact for f in findings] == [True, True]
    # dev_6314: a box over three rows ("31-6295") holds a piece of the number, not the text of the other rows
    view[10:20, 20:60] = 220
    view[60:70, 20:60] = 220
    tall = [TextBox(40, 33, 110, 44, "3941611", 1.0, ()), TextBox(18, 8, 62, 72, "A7394", 0.97, ())]
    findings = judge_frame(FrameRead(0, tall, [], view), TextJudge(PhiValues(identifiers=("A73941611",))), "phi")
    assert [f.redact for f in findings] == [True, False]


def test_a_piece_as_tall_as_its_neighbour_by_its_box_goes_with_it_though_its_ink_is_taller() -> None:
    """dev-drawn dev_6177: "09-F" | "1980" of "09-Feb-1980", the year's ink on a bright band measured 6 rows,
    the first piece's 11; the reader's boxes were the same height."""
    view = np.zeros((80, 300), np.uint8)
    view[30:41, 20:60] = 220  # "09-F": ink 11 rows
    view[32:38, 70:110] = 220  # "1980": ink 6 rows
    lines = [TextBox(18, 29, 62, 42, "09-F", 0.97, ()), TextBox(68, 29, 112, 42, "1980", 0.99, ())]
    phi = PhiValues(dates=(__import__("datetime").date(1980, 2, 9),))
    findings = judge_frame(FrameRead(0, lines, [], view), TextJudge(phi), "phi")
    assert [f.redact for f in findings] == [True, True]


def test_a_date_read_in_two_pieces_down_a_column_is_judged_joined() -> None:
    """dev-drawn dev_6172: a vertical "1990/10/09" read as "1990/" and "10/09", each kept alone."""
    view = np.zeros((120, 60), np.uint8)
    view[10:88, 20:30] = 220
    first = TextBox(18, 8, 32, 52, "1990/", 0.91, tuple(12.0 + 9 * i for i in range(5)), True)
    second = TextBox(18, 50, 32, 90, "10/09", 1.0, tuple(54.0 + 8 * i for i in range(5)), True)
    findings = judge_frame(FrameRead(0, [first, second], [], view), TextJudge(PhiValues()), "phi")
    assert [f.redact for f in findings] == [True, True]


def test_pieces_of_a_line_running_down_the_image_are_read_as_one_line() -> None:
    # dev-drawn: the glyph grouping cut "F. Papadopoulos" (vertical, 18 px) into "los" | "poul" | "pad", and
    # each piece alone read as nothing the judge could call a name
    from deidnode.engine.pixels.glyphs import join_columns

    pieces = [
        TextRegion(487, 141, 502, 168, True, 3, 11.0, 0.96),
        TextRegion(488, 95, 499, 127, True, 4, 10.0, 0.95),
        TextRegion(490, 71, 499, 94, True, 3, 9.0, 0.68),
    ]
    across = TextRegion(438, 59, 488, 68, False, 6, 9.0, 0.99)
    joined = join_columns([*pieces, across])
    assert across in joined
    upright = [r for r in joined if r.vertical]
    assert [(r.box, r.score) for r in upright] == [((487, 71, 502, 168), 0.96)]
    # a region half again as wide is no piece of the same line; nor is one further down than two text heights
    wide = TextRegion(480, 170, 510, 190, True, 3, 10.0, 0.9)
    far = TextRegion(488, 200, 500, 230, True, 3, 10.0, 0.9)
    assert len([r for r in join_columns([pieces[0], wide, far]) if r.vertical]) == 3


def test_a_detector_line_running_down_the_image_is_joined_and_followed_along_its_column() -> None:
    from deidnode.engine.pixels.detect import _as_box, line_boxes

    across, mask = _view([("PAPADOPOULOS JOHN", (10, 40))])
    view, mask = np.ascontiguousarray(np.rot90(across)), np.rot90(mask)  # the line now runs up the image
    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    x0, x1, top, bottom = int(cols[0]), int(cols[-1]) + 1, int(rows[0]), int(rows[-1]) + 1
    h, mid = x1 - x0, (top + bottom) // 2
    quads = [  # two pieces a few pixels apart, each end of the line a text height short
        np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
        for y0, y1 in ((top + h, mid - 3), (mid + 3, bottom - h))
    ]
    got = [_as_box(q) for q in line_boxes(view, quads)]
    assert len(got) == 1
    assert got[0][1] <= top + 2 and got[0][3] >= bottom - 2


def test_a_detector_box_several_times_taller_beside_a_line_is_not_joined_to_it() -> None:
    # dev-drawn: "DR Kristiansen" and a box the detector put over a Doppler blob beside it, overlapping it, were
    # joined into one box five times the line's height, read as nonsense
    from deidnode.engine.pixels.detect import _as_box, line_boxes

    view, _mask = _view([("DR KRISTIANSEN", (10, 100))])
    line = (8, 98, 190, 124)
    blob = (180, 40, 300, 150)
    quads = [np.array([[a, b], [c, b], [c, d], [a, d]], np.float32) for a, b, c, d in (line, blob)]
    got = sorted(_as_box(q) for q in line_boxes(view, quads))
    assert len(got) == 2
    assert got[0][1] == line[1] and got[0][3] == line[3]


def _noisy(mask: np.ndarray, seed: int = 7) -> np.ndarray:
    """Text at full white on speckled mid-grey anatomy, where the row extension finds no text-on-background."""
    rng = np.random.default_rng(seed)
    return np.where(mask, 255, rng.integers(60, 240, mask.shape)).astype(np.uint8)


def _name_phi() -> PhiValues:
    return PhiValues(person_names=("PAPADOPOULOS^FRIEDA",), identifiers=("846-707-8468",))


@pytest.mark.parametrize(
    ("piece", "before", "after", "expected"),
    [
        ("Papado", True, True, (0, 6)),  # the start of a family name: six letters cut off after it
        ("Frieda Papado", True, True, (0, 6)),  # its last word is
        ("846 -707", True, True, (0, 5)),  # an identifier's first digits, as read: "-8468" after
        ("707-8468", True, True, (4, 0)),  # its last digits: "846-" before
        ("dopoulos", True, True, (4, 0)),
        ("Papado", True, False, (0, 0)),  # not at the end of its reading: nothing was cut off there
        ("Papadopoulos", True, True, (0, 0)),  # the whole value (an initial before it is not counted: it may
        # not be there, and growing over where it would be took unread technical text: dev_9228, val2)
        ("Pap", True, True, (0, 0)),  # too short to say
        ("Papa", True, True, (0, 0)),  # under half of the name
        ("846707", True, True, (0, 5)),  # as read without its hyphens
        ("8467", True, True, (0, 0)),  # four digits start many values
    ],
)
def test_the_rest_of_a_value_cut_off_at_a_readings_edge_is_counted(piece, before, after, expected) -> None:
    judge = TextJudge(_name_phi())
    assert judge.unread_rest(piece, before, after) == expected


def test_a_date_cut_off_by_its_reader_counts_the_characters_left() -> None:
    judge = TextJudge(PhiValues(dates=(dt.date(2011, 3, 12),)))
    assert judge.unread_rest("12MAR 201", True, True) == (0, 1)
    assert judge.unread_rest("2011", True, True) == (0, 0)  # a year alone starts and ends many forms
    assert judge.unread_rest("2011.", True, True) == (0, 6)  # but not with the separator after it: ".03.12"
    assert judge.unread_rest("-2011", True, True) == (6, 0)  # or before it: "03/12/" (a separator before)


def test_a_family_name_ending_in_a_separator_has_its_given_name_after_it() -> None:
    judge = TextJudge(PhiValues(person_names=("FERREIRA^JOHN",)))
    assert judge.unread_rest("FERREIRA~", True, True) == (0, 5)  # dev_12362 (val5): "^JOHN" cut off
    assert judge.unread_rest("FERREIRA", True, True) == (0, 0)  # no separator: the line may end there


def test_a_family_name_run_into_its_given_names_first_letter_has_the_rest_after_it() -> None:
    """ "KRISTIANSENJ" (dev-drawn, sixteenth 400): the ^ unread, JOHN's J read and "OHN" cut off; the piece runs
    past the family name, so the rest is counted as after "FERREIRA~"."""
    judge = TextJudge(PhiValues(person_names=("KRISTIANSEN^JOHN",)))
    assert judge.unread_rest("KRISTIANSENJ", True, True) == (0, 3)
    assert judge.unread_rest("IANSENJOHN", True, True) == (5, 0)  # the family name's end and the given name
    assert judge.unread_rest("KRISTIANSEN5", True, True) == (0, 0)  # a misread past it is no sign of JOHN
    assert judge.unread_rest("KRISTIANSEN", True, True) == (0, 0)


def test_a_long_piece_may_hold_one_misread_and_be_under_half_its_value() -> None:
    judge = TextJudge(PhiValues(texts=("Lakeshore Imaging Institute",)))
    assert judge.unread_rest("Lakeshone Imaging Ins", True, True) == (0, 6)  # dev_12237 (val5)
    assert judge.unread_rest("Imaging Institute", True, True) == (10, 0)
    assert judge.unread_rest("Lakeshone", True, True) == (0, 18)  # nine letters, one misread
    assert judge.unread_rest("Lakesh", True, True) == (0, 0)  # six of twenty-four


def test_a_value_cut_off_by_its_reader_on_anatomy_goes_whole() -> None:
    # dev_11074 (val4): "Frieda Papadopoulos" on bright anatomy read as "Frieda" and "Papado"; the row extension
    # found no text-on-background past "Papado", and "poulos" stayed
    mask = burn_mask([("Frieda Papadopoulos", (10, 40))])
    view = _noisy(mask)
    x0, x1 = _cols(mask)
    cut = _cols(burn_mask([("Frieda Papado", (10, 40))]))[1]
    rows = np.nonzero(mask.any(axis=1))[0]
    line = TextBox(x0 - 1, int(rows[0]) - 1, cut + 1, int(rows[-1]) + 2, "Frieda Papado", 0.97, ())
    (found,) = judge_frame(FrameRead(0, [line], [], view), TextJudge(_name_phi()), "phi")
    assert found.redact and max(t[2] for t in found.targets) >= x1


def test_the_rest_of_a_cut_off_value_stops_at_the_next_reading_on_the_row() -> None:
    mask = burn_mask([("846-707-8468 W 400", (10, 40))])
    view = _noisy(mask)
    x0, _x1 = _cols(mask)
    cut = _cols(burn_mask([("846-707", (10, 40))]))[1]
    tech_x0 = _cols(mask & ~burn_mask([("846-707-8468", (10, 40))]))[0]
    rows = np.nonzero(mask.any(axis=1))[0]
    y0, y1 = int(rows[0]) - 1, int(rows[-1]) + 2
    ident = TextBox(x0 - 1, y0, cut + 1, y1, "846-707", 0.97, ())
    tech = TextBox(tech_x0 - 1, y0, tech_x0 + 60, y1, "W 400", 0.97, ())
    found = judge_frame(FrameRead(0, [ident, tech], [], view), TextJudge(_name_phi()), "phi")
    assert [f.redact for f in found] == [True, False]
    assert found[0].targets[0][2] <= tech_x0 and found[0].targets[0][2] > cut + 10


def test_the_rest_of_a_value_read_up_the_image_is_taken_below_it() -> None:
    # a vertical line read upwards: its first characters at the bottom, so what follows the span is above it
    line = TextBox(20, 100, 34, 160, "846-707", 0.97, tuple(float(y) for y in range(156, 100, -8)), True)
    assert line.reads_up
    grown = past_the_edge(line, (20, 100, 34, 160), (0, 5), [], (512, 512))
    assert grown[1] < 100 - 4 * 8 and grown[3] == 160


@pytest.mark.parametrize(
    ("age", "text", "span", "rest"),
    [
        ("001Y", "Zo0m 1.2 Age", "Age", 2),  # dev_12003 (val5): "Age 1", its number past the reading's box
        ("007Y", "Age", "Age", 2),
        ("081Y", "AgeB", "AgeB", 2),  # its 8 read as a B, the 1 cut off
        ("081Y", "AgeC", None, 0),  # a C is no 8
        ("047Y", "Page", None, 0),
        ("072Y", "age", None, 0),  # dev_11131 (val4): the second reader's "age" of anatomy at 0.43
        ("072Y", "Ace", None, 0),  # dev_9053 (val2): the label "Acc:" misread
        ("047Y", "Age 47", "Age 47", 0),  # read whole
    ],
)
def test_the_label_age_ending_a_reading_has_the_age_cut_off_after_it(age, text, span, rest) -> None:
    judge = TextJudge(PhiValues(age=age))
    d = judge.judge(text, 0.9)
    assert [text[s.start : s.end] for s in d.spans] == ([span] if span else [])
    if span:
        assert judge.unread_rest(span, False, True) == (0, rest)
