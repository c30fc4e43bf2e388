"""Word-level removal: the PHI words of a line go, the technical text beside them stays; names behind role
labels; padding that never reaches into other text; text that changes between frames; unread text."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pixels_helpers import burn_mask, font, make_ds

from deidnode.config import PixelSettings
from deidnode.engine.keys import Keys
from deidnode.engine.phi import collect_phi
from deidnode.engine.pixels import stage
from deidnode.engine.pixels.codec import decode_frames
from deidnode.engine.pixels.detect import FrameRead
from deidnode.engine.pixels.glyphs import TextRegion
from deidnode.engine.pixels.ocr import TextBox
from deidnode.engine.pixels.redact import pad_clear_of
from deidnode.engine.pixels.words import span_box
from deidnode.engine.policy import Policy

KEYS = Keys(b"pixel-tests-key-0123456789abcdefghij")


def run(ds, policy="phi", **kw):
    audit: dict = {}
    q = stage.clean_pixels(ds, collect_phi(ds), Policy(pixels=PixelSettings(policy=policy, **kw)), KEYS, audit)
    return q, audit["pixels"]


def changed(before, ds, text, xy, frame=0) -> float:
    """Share of ``text``'s glyph pixels that changed."""
    m = burn_mask([(text, xy)])
    return float(np.mean(decode_frames(ds)[frame][m] != before[frame][m]))


def test_phi_and_technical_text_on_one_row_lose_only_the_phi_words() -> None:
    row = ("SMITH^JOHN   W 400 L 40", (10, 20))
    ds = make_ds("MONOCHROME2", [row])
    before = decode_frames(ds).copy()
    q, a = run(ds)
    assert q is None and a["boxes_redacted"] >= 1
    assert changed(before, ds, "SMITH^JOHN", (10, 20)) == 1.0
    x_keep = 10 + int(burn_mask([("SMITH^JOHN   ", (0, 0))]).any(axis=0).nonzero()[0].max()) + 4
    keep_mask = burn_mask([row]) & (np.arange(320)[None, :] >= x_keep)
    assert np.array_equal(decode_frames(ds)[0][keep_mask], before[0][keep_mask])


def test_padding_stops_at_technical_text_on_the_next_line() -> None:
    ds = make_ds("MONOCHROME2", [("05-Jul-2001", (10, 20)), ("W 400 L 40", (10, 44))])
    before = decode_frames(ds).copy()
    q, _ = run(ds)
    assert q is None
    assert changed(before, ds, "05-Jul-2001", (10, 20)) == 1.0
    assert changed(before, ds, "W 400 L 40", (10, 44)) == 0.0


def test_small_technical_text_just_above_a_phi_line_is_not_taken_into_its_box() -> None:
    """11 px text, the lines one pixel apart: the detector at the view's own size (512) drew one box over
    "ETL 16" and the start of the line below, and the name's fill took it; at ``DETECT_MIN_SIDE`` they part."""
    top, bottom = ("ETL 16", (270, 200)), ("Patient: SMITH JOHN", (229, 210))
    ds = make_ds("MONOCHROME2", [top, bottom], size=512, fsize=11)
    before = decode_frames(ds).copy()
    q, _ = run(ds)
    assert q is None
    top_mask = burn_mask([top], 512, 11)
    assert np.array_equal(decode_frames(ds)[0][top_mask], before[0][top_mask])
    name_at = 229 + int(burn_mask([("Patient: ", (0, 0))], 512, 11).any(axis=0).nonzero()[0].max()) + 2
    name_mask = burn_mask([bottom], 512, 11) & (np.arange(512)[None, :] >= name_at)
    assert np.mean(decode_frames(ds)[0][name_mask] != before[0][name_mask]) > 0.95


@pytest.mark.parametrize(
    ("line", "value_at"),
    [("Tech: JONES", 6), ("Scanned by: K. Patel", 12), ("Pt: DOE, JANE", 4), ("Operator MKL", 9)],
)
def test_a_name_behind_a_role_label_goes_though_it_is_not_in_the_header(line, value_at) -> None:
    ds = make_ds("MONOCHROME2", [(line, (10, 20)), ("W 400 L 40", (10, 200))])
    before = decode_frames(ds).copy()
    q, a = run(ds)
    assert q is None and a["kinds"].get("label") == 1
    value_x = 10 + int(burn_mask([(line[:value_at], (0, 0))]).any(axis=0).nonzero()[0].max()) + 3
    value = burn_mask([(line, (10, 20))]) & (np.arange(320)[None, :] >= value_x)
    assert np.all(decode_frames(ds)[0][value] != before[0][value])
    assert changed(before, ds, "W 400 L 40", (10, 200)) == 0.0


def test_a_span_box_covers_its_characters_only() -> None:
    line = TextBox(0, 0, 100, 10, "AB CD", 1.0, (5.0, 15.0, 50.0, 75.0, 85.0))
    assert span_box(line, 3, 5) == (50, 0, 100, 10)  # two words meet at the space between them
    assert span_box(line, 0, 2) == (0, 0, 50, 10)
    assert span_box(line, 1, 2) == (10, 0, 50, 10)  # halfway between two characters of a word


def test_a_word_placed_a_little_late_by_the_recogniser_keeps_its_first_stroke() -> None:
    # "NAME: NAKAMURA" in a 7 px bitmap font read "NAMEA NAKAMORA": the recogniser's steps put the value's N at
    # 232.5 while its first stem stands at 228; halfway from the space (227.6) to it would cut the stem
    pos = (203.1, 208.0, 212.9, 220.2, 225.1, 227.6, 232.5, 237.4, 242.3, 249.6, 254.5, 261.9, 269.2, 274.1)
    line = TextBox(199, 406, 288, 412, "NAMEA NAKAMORA", 0.74, pos)
    # its ink along the line from x=199: the colon (read "A") and the N touch, no blank column between them
    ink = np.array([c == "#" for c in "##.###.#######.####.#.#########.###.#######.###########.####.#.###.#.####"])
    for profile in (None, ink):
        assert span_box(line, 6, 14, profile)[0] <= 228
    assert span_box(line, 0, 5)[2] <= 228


def test_a_words_end_beside_a_blank_gap_stays_where_it_was_and_covers_the_glyph() -> None:
    # "OPERATOR Quintero" (dev_14279): a blank gap of 22 px between the words; the value's fill starts where it
    # did (halfway from the space to the Q), not in the gap's middle, where a fill beside the label is read as a
    # letter after it; and "Operator: Chidi" (dev_15037): halfway lies before the C's first ink, and stays
    pos = (289.5, 298.4, 310.4, 319.3, 328.3, 340.2, 349.2, 358.2, 370.1, 391.0, 400.0)
    line = TextBox(285, 353, 410, 365, "OPERATOR Qu", 0.9, pos)
    ink = np.zeros(125, bool)
    ink[2:81] = True  # OPERATOR: x=287..365
    ink[103:125] = True  # Qu: from x=388
    assert span_box(line, 9, 11, ink)[0] == 380
    late = (*pos[:9], 394.0, 400.0)  # the Q placed so late that halfway lies past its first stroke
    assert span_box(TextBox(285, 353, 410, 365, "OPERATOR Qu", 0.9, late), 9, 11, ink)[0] <= 388


def test_padding_is_clipped_by_kept_boxes_on_each_side() -> None:
    box = (50, 50, 80, 60)
    keep = [(82, 50, 120, 60), (50, 62, 80, 70), (10, 40, 49, 45)]
    assert pad_clear_of(box, keep, 200, 200, 5) == (45, 45, 82, 62)
    assert pad_clear_of(box, [], 200, 200, 5) == (45, 45, 85, 65)


def test_a_kept_box_across_the_whole_line_moves_no_edge_of_the_phi_box() -> None:
    # a vertical label read across a row of PHI (or a vertical misreading of it) is not a line stacked above or
    # below: the PHI box stays whole (dev: "02.12.2010" lost its top row to a kept vertical "81")
    box = (497, 450, 579, 460)
    crossing = [(563, 434, 569, 461)]
    assert pad_clear_of(box, crossing, 600, 600, 0)[1] == 450
    stacked = [(497, 440, 579, 452)]  # a kept line above whose box overlaps by a detector's margin
    assert pad_clear_of(box, stacked, 600, 600, 0)[1] > 450


def test_a_kept_reading_much_taller_than_the_line_over_it_holds_back_no_padding() -> None:
    # dev-drawn (fifteenth 400): "066434" read of "A29060434", its box walked over two stray readings 40-50 px high
    # that reach into it ("rs", "411"); the first, left of the box's middle, stopped the padding at the box's
    # left end, and the identifier's first five characters, lost by the reader, stayed
    box = (71, 113, 140, 129)
    stray = [(86, 92, 102, 143), (111, 103, 114, 143)]
    assert pad_clear_of(box, stray, 256, 256, 2, pad_x=24)[0] == 47
    beside = [(40, 113, 70, 129)]  # a reading as tall as the line beside it still does
    assert pad_clear_of(box, beside, 256, 256, 2, pad_x=24)[0] == 70


def test_a_kept_line_at_the_end_of_a_vertical_phi_line_does_not_cut_it_short() -> None:
    # a vertical name below a vertical kept label in the same column ("Technologist:" above "MACKENZIE^CELINE",
    # dev): the margin rule is for lines stacked across the line, and along a vertical line it cut off the name's
    # first letters (the box's top moved halfway to the label's middle)
    name = (768, 149, 780, 329)
    label = (764, 80, 781, 152)  # its box's end overlaps the name's by a detector's margin
    padded = pad_clear_of(name, [label], 600, 800, 3, pad_x=3, pad_y=7, vertical=True)
    assert padded[1] <= 149 and padded[3] >= 329
    beside = (781, 149, 795, 329)  # a kept vertical line beside it (across): its margin still moves the edge
    assert pad_clear_of(name, [(778, 149, 792, 329)], 600, 800, 0, vertical=True)[2] < 780
    assert pad_clear_of(name, [beside], 600, 800, 3, vertical=True)[2] == 781


def test_text_that_appears_on_some_frames_only_is_found_and_removed_on_every_frame() -> None:
    ds = make_ds("MONOCHROME2", [("W 400 L 40", (12, 285))], frames=9)
    arr = decode_frames(ds).copy()
    late = burn_mask([("05-Jul-2001", (150, 60))])
    for f in (1, 2):  # between the frames read (0, 3, 5, 8 of 9)
        arr[f][late] = 4095
    ds.PixelData = arr.astype(np.uint16).tobytes()
    q, a = run(ds)
    assert q is None and a["frames_read"] >= 5
    out = decode_frames(ds)
    assert all(np.all(out[f][late] != 4095) for f in range(9))


def _fake_read(lines):
    region = TextRegion(200, 150, 290, 165, False, 6, 12.0, 0.99)

    def read(view, engine, frame):
        return FrameRead(frame, list(lines), [region], view, [region])

    return read, region


def test_unread_text_outside_any_read_row_quarantines_the_instance(monkeypatch) -> None:
    read, _ = _fake_read([])
    monkeypatch.setattr(stage, "read_frame", read)
    ds = make_ds("MONOCHROME2", [("SMITH^JOHN", (12, 10))])
    raw = bytes(ds.PixelData)
    q, a = run(ds)
    assert q is not None and q.code == "text_unread" and ds.PixelData == raw


def test_unread_text_in_the_row_of_a_read_line_is_removed(monkeypatch) -> None:
    read, region = _fake_read([TextBox(20, 148, 120, 167, "W 400 L 40", 0.99)])
    monkeypatch.setattr(stage, "read_frame", read)
    ds = make_ds("MONOCHROME2", [("SMITH^JOHN", (12, 10))])
    q, a = run(ds)
    assert q is None and a["unread"] == 1
    x0, y0, x1, y1 = region.box
    assert np.all(decode_frames(ds)[0][y0:y1, x0:x1] == decode_frames(ds)[0][y0, x0])


@pytest.mark.parametrize("policy", ["strict", "all"])
def test_unread_text_is_removed_under_strict_and_all(monkeypatch, policy) -> None:
    read, _ = _fake_read([])
    monkeypatch.setattr(stage, "read_frame", read)
    q, a = run(make_ds("MONOCHROME2", [("SMITH^JOHN", (12, 10))]), policy)
    assert q is None and a["unread"] == 1


def test_a_span_snapped_to_the_ink_never_takes_a_character_that_stays() -> None:
    """On a busy background the ink run can be the whole rest of the line ("Pt: C. Smith AP" once lost its
    "AP"): snapping a span to the ink stops at the extent of the next character that stays."""
    line = TextBox(0, 0, 150, 10, "SMITH AP", 1.0, (5.0, 15.0, 25.0, 35.0, 45.0, 55.0, 125.0, 135.0))
    ink = np.ones(150, bool)  # no gap anywhere
    x0, _, x1, _ = span_box(line, 0, 5, ink)
    assert x0 == 0 and 50 <= x1 <= 120  # the span's own glyphs, not the "A" centred at 125
    keep = span_box(line, 6, 8)
    assert x1 <= keep[0]
    # a cut glyph is still widened to its whole stroke run where nothing stays beyond it
    gap = np.ones(150, bool)
    gap[60:] = False
    assert span_box(TextBox(0, 0, 150, 10, "SMITH", 1.0, (5.0, 15.0, 25.0, 35.0, 45.0)), 3, 5, gap)[2] >= 50


def test_a_kept_line_is_trimmed_to_its_own_band_of_ink() -> None:
    """A detector box reaching into the line below must not hold back that line's removal: across the line,
    the band of ink holding the box's middle is the line's."""
    from deidnode.engine.pixels.words import ink_band

    view = np.zeros((60, 80), np.uint8)
    view[10:20, 5:70] = 255  # the line
    view[24:34, 5:70] = 255  # the next line, which the box reaches into
    assert ink_band(view, (0, 4, 80, 28)) == (10, 20)
    vertical = view.T.copy()
    assert ink_band(vertical, (4, 0, 28, 80), vertical=True) == (10, 20)
    assert ink_band(np.zeros((20, 20), np.uint8), (0, 0, 20, 20)) == (0, 20)  # no ink: the box


def test_a_fill_that_cuts_glyphs_is_grown_over_them_but_not_over_kept_text() -> None:
    """A reader's box that stops short of the glyphs' tops (padding stopped by the kept line above, an ascender,
    an outline) left a readable sliver: across the line, the fill grows over the glyphs it cuts, and stops short
    of the kept line."""
    from deidnode.engine.pixels.cover import cover_glyphs

    img = Image.new("L", (200, 80), 30)
    d = ImageDraw.Draw(img)
    d.text((10, 4), "W 400 L 40", fill=220, font=font(16))  # kept, above
    d.text((10, 30), "Kristiansen", fill=220, font=font(20))  # PHI
    view = np.asarray(img)
    phi = burn_mask([("Kristiansen", (10, 30))], size=200, fsize=20)[:80]
    kept = burn_mask([("W 400 L 40", (10, 4))], size=200, fsize=16)[:80]
    ys, xs = np.nonzero(phi)
    full = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    ky, kx = np.nonzero(kept)
    keep_box = (int(kx.min()), int(ky.min()), int(kx.max()) + 1, int(ky.max()) + 1)
    cut = (full[0], full[1] + 4, full[2], full[3] - 2)  # the glyphs' tops and bottoms cut off
    x0, y0, x1, y1 = cover_glyphs(view, cut, full[3] - full[1], [keep_box])
    assert (x0, x1) == (full[0], full[2]) and y0 <= full[1] and y1 >= full[3]
    assert not kept[y0:y1, x0:x1].any()  # nothing of the kept line above
    # and without the kept box, it still stops short of the line above
    assert not kept[slice(*cover_glyphs(view, cut, full[3] - full[1], [])[1::2]), :].any()
    # a vertical line: the same across it
    t = cover_glyphs(np.ascontiguousarray(view.T), cut[1::-1] + cut[:1:-1], full[3] - full[1], [], vertical=True)
    assert t[0] <= full[1] and t[2] >= full[3] and (t[1], t[3]) == (full[0], full[2])
    # the box is returned as it is where no ink is cut
    blank = np.full((80, 200), 30, np.uint8)
    assert cover_glyphs(blank, cut, 20, []) == cut


def test_a_kept_reading_inside_the_phi_box_does_not_stop_its_padding() -> None:
    # the same ink read twice ("Technologist: T. Quintero" and, inside it, "Ente"): the PHI box's padding is not
    # stopped at its own letters
    box = (112, 50, 226, 66)
    assert pad_clear_of(box, [(179, 54, 207, 64)], 600, 600, 4) == (108, 46, 230, 70)


def test_a_span_at_an_end_of_a_vertical_line_reading_up_reaches_that_end_of_the_box_only() -> None:
    # "PID: 1927942968" written bottom to top: the label at the bottom, the number above it. The number ends the
    # reading: its box reaches the top of the line's box, never down over the label
    text = "PID: 1927942968"
    pos = tuple(330.0 - 10 * i for i in range(len(text)))  # first character at the bottom
    line = TextBox(470, 170, 490, 340, text, 0.95, pos, vertical=True)
    x0, y0, x1, y1 = span_box(line, 5, len(text))
    assert (x0, x1) == (470, 490)
    assert y0 == 170 and y1 <= pos[4] + 1  # from the top to the space after the label
    # and the label, which starts the reading, reaches the bottom
    assert span_box(line, 0, 4)[3] == 340 and span_box(line, 0, 4)[1] >= pos[4] - 1


def test_a_lines_own_box_is_its_characters_not_the_readers_box() -> None:
    """dev_0158: "ccession" read with a box reaching over the first digit of the accession number beside it."""
    from deidnode.engine.pixels.ocr import TextBox
    from deidnode.engine.pixels.words import own_box

    line = TextBox(0, 5, 46, 15, "abc", 0.95, (6.0, 14.0, 22.0))
    assert own_box(line) == (0, 5, 29, 15)  # 1.6 half-cells past the last centre (22 + 6.4)
    ink = np.zeros(46, bool)
    ink[[*range(3, 9), *range(11, 17), *range(19, 25), *range(40, 45)]] = True  # three glyphs, then a digit
    assert own_box(line, ink)[2] <= 40
    ink[25:40] = True  # ink running on from the last glyph is the line's own, however far
    assert own_box(line, ink)[2] >= 45


def test_a_kept_reading_that_overhangs_a_value_does_not_hold_its_fill_back() -> None:
    from deidnode.engine.phi import PhiValues
    from deidnode.engine.pixels.detect import FrameRead, judge_frame
    from deidnode.engine.pixels.ocr import TextBox
    from deidnode.engine.pixels.stage import _padded
    from deidnode.engine.pixels.text import TextJudge

    view = np.zeros((20, 120), np.uint8)
    for x in (4, 12, 20, *range(40, 104, 8)):
        view[6:14, x : x + 5] = 255
    kept = TextBox(0, 5, 46, 15, "abc", 0.95, (6.0, 14.0, 22.0))  # its box overhangs the "7" (x 40-44)
    value = TextBox(42, 5, 106, 15, "71220025", 0.99, tuple(43.0 + 8 * i for i in range(8)))  # cuts the "7"
    judge = TextJudge(PhiValues(identifiers=("71220025",)))
    findings = judge_frame(FrameRead(0, [kept, value], [], view), judge, "phi")
    keeps = [b for f in findings for b in f.keeps]
    (target,) = [t for f in findings for t in f.targets]
    assert _padded(target, 10, False, keeps, 20, 120, 0.3)[0] <= 40


def test_a_label_read_alone_in_a_box_that_runs_on_loses_the_unread_value_after_it() -> None:
    """dev-drawn dev_6153: "OPERATOR: Quintero" read "OPERGTOR", its box over the name too: the name went
    unread and stayed. The ink past the label's last character is its value."""
    from deidnode.engine.phi import PhiValues
    from deidnode.engine.pixels.detect import FrameRead, judge_frame
    from deidnode.engine.pixels.text import TextJudge

    view = np.zeros((20, 160), np.uint8)
    for x in (*range(4, 68, 8), *range(90, 150, 8)):  # eight glyphs of the label, a gap, seven of the name
        view[6:14, x : x + 5] = 255
    label = TextBox(0, 5, 152, 15, "OPERGTOR", 0.79, tuple(6.0 + 8 * i for i in range(8)))
    findings = judge_frame(FrameRead(0, [label], [], view), TextJudge(PhiValues()), "phi")
    targets = [t for f in findings for t in f.targets]
    assert len(targets) == 1 and targets[0][0] >= 68 and targets[0][2] >= 145
    short = TextBox(0, 5, 72, 15, "OPERGTOR", 0.79, tuple(6.0 + 8 * i for i in range(8)))  # nothing after it
    findings = judge_frame(FrameRead(0, [short], [], view), TextJudge(PhiValues()), "phi")
    assert not [t for f in findings for t in f.targets]


def test_a_span_beside_glyphs_its_reader_skipped_takes_them() -> None:
    """dev-drawn dev_6186: "Exam date 27 NOV 2015" read "adate2015"; the year's span stopped half-way into the
    unread "27 NOV" and the rest stayed readable."""
    from deidnode.engine.pixels.words import span_extent

    pos = (10.0, 18.0, 26.0, 34.0, 42.0, 130.0, 138.0, 146.0, 154.0)
    line = TextBox(5, 0, 160, 12, "adate2015", 0.82, pos)
    ink = np.zeros(155, bool)
    for p in pos:
        ink[int(p) - 5 - 3 : int(p) - 5 + 3] = True
    ink[60 - 5 : 75 - 5] = True  # "27"
    ink[85 - 5 : 110 - 5] = True  # "NOV"
    a, b = span_extent(line, 5, 9, ink, skipped=True)
    assert a <= 60 and b >= 157
    assert span_extent(line, 5, 9, ink)[0] >= 84  # text that stays is measured by its own characters
    ink[55:105] = False  # a blank gap: nothing more goes
    assert span_extent(line, 5, 9, ink, skipped=True)[0] >= 84


def test_a_phi_lines_box_leaves_the_glyphs_of_the_lines_above_and_below_it() -> None:
    """A detector's box reaches a few rows into the next line: a PHI line's removal takes its own ink, not the
    top of "Page 1/3" below it nor the bottom of "ZOOM 150%" above it (dev-drawn); the dot of an i stays in."""
    from deidnode.engine.pixels.words import intrusions_trimmed

    view = np.zeros((30, 60), np.uint8)
    for x in range(5, 55, 4):
        view[8:18, x : x + 2] = 200  # the line's strokes
    for x in range(5, 50, 4):
        view[20:22, x : x + 2] = 200  # the next line's glyph tops
    view[3:5, 10:12] = 200  # the dot of an i
    assert intrusions_trimmed(view, (0, 3, 60, 22)) == (0, 3, 60, 18)
    view[3:5, :] = 0
    for x in range(5, 40, 4):
        view[2:4, x : x + 2] = 200  # the line above's glyph bottoms, across the box
    assert intrusions_trimmed(view, (0, 2, 60, 22)) == (0, 8, 60, 18)
    view[20:22, :] = 0
    view[19:24, 5:50] = 0
    for x in range(5, 50, 4):
        view[20:28, x : x + 2] = 200  # a second line as tall as the first is no intrusion
    assert intrusions_trimmed(view, (0, 8, 60, 28)) == (0, 8, 60, 28)


def test_a_span_cut_halfway_through_its_last_glyph_takes_the_rest_of_that_glyph_only() -> None:
    """ "PapadopoulosF.Page1/3" (dev-drawn val6): the span's end, halfway between the last character's centre and
    the next one's, fell inside the glyph; its columns stayed. The end goes on over the glyph's ink when the run
    ends within ``BOUNDARY_SLACK`` pitches past the halfway mark, never into a glyph that touches it."""
    line = TextBox(0, 0, 60, 10, "ABCD", 1.0, (5.0, 15.0, 25.0, 35.0))
    ink = np.zeros(60, bool)
    ink[2:9] = ink[12:18] = ink[22:31] = ink[33:38] = True  # "C" runs 22..30, past the halfway mark at 30
    assert span_box(line, 0, 3, ink)[2] == 31  # its whole glyph
    touching = ink.copy()
    touching[31:33] = True  # "C" runs into "D": no gap to stop at, the halfway mark stands
    assert span_box(line, 0, 3, touching)[2] == 30
