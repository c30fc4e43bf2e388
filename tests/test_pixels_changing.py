"""Text whose own glyphs change between frames (pixels/changing.py)."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from pixels_helpers import burn_mask

from deidnode.engine.phi import PhiValues
from deidnode.engine.pixels.changing import CHANGING, changing_lines, clock, ink_changes
from deidnode.engine.pixels.detect import FrameRead, _all_of, judge_frame
from deidnode.engine.pixels.ocr import TextBox
from deidnode.engine.pixels.text import TextJudge


def _frame(text: str, shift: int = 0, noise: int = 0, seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:60, 0:200]
    img = 40 + 30 * np.sin((xx + shift) / 9.0) * np.cos(yy / 13.0)
    img[burn_mask([(text, (10, 10))], size=200, fsize=20)[:60]] = 230
    if noise:
        img += np.random.default_rng(seed).integers(-noise, noise + 1, img.shape)
    return img.clip(0, 255).astype(np.uint8)


BOX = (8, 8, 110, 34)


def test_static_glyphs_do_not_change_with_compression_noise_and_a_ticking_clock_does() -> None:
    a = _frame("12:49:53")
    assert ink_changes(a, _frame("12:49:53", noise=10, seed=1), BOX) < CHANGING
    assert ink_changes(a, _frame("12:49:54"), BOX) >= CHANGING  # the clock ticked: one digit
    assert ink_changes(a, a[:, :-1], BOX) == 0.0  # frames of different shapes are not compared


def test_text_over_moving_anatomy_is_not_judged() -> None:
    # the anatomy moves under and around the text: whether its glyphs changed cannot be told
    assert ink_changes(_frame("12:49:53"), _frame("12:49:53", shift=11), BOX) == 0.0
    assert ink_changes(_frame("12:49:53"), _frame("12:49:54", shift=11), BOX) == 0.0


def test_over_moving_anatomy_a_place_read_as_differing_numbers_is_a_clock_and_technical_text_stays() -> None:
    # dev_15007 (val8): "00:47:18" over a beating heart read "10147-18", "00 47-18", "1 47-18" on its frames
    views = {0: _frame("00:47:18"), 1: _frame("00:47:19", shift=11), 2: _frame("00:47:20", shift=23)}
    clock_reads = {0: "10147-18", 1: "00 47-18", 2: "1 47-18"}
    lines = {f: [TextBox(*BOX, clock_reads[f], 0.7)] for f in views}
    assert changing_lines(views, lines, lambda ln: False) == {0: {0}, 1: {0}, 2: {0}}
    # static technical text there, read a little differently on each frame, stays
    gain = {f: [TextBox(*BOX, t, 0.7)] for f, t in zip(views, ("Gn 60", "6n 60", "Gn 6O"), strict=True)}
    assert changing_lines(views, gain, lambda ln: False) == {}
    # and a number read the same on every frame is no clock
    same = {f: [TextBox(*BOX, "1024", 0.7)] for f in views}
    assert changing_lines(views, same, lambda ln: False) == {}


def test_a_changing_line_is_not_removed_when_one_of_its_readings_is_sure_technical_text() -> None:
    views = {0: _frame("Fr 1/24"), 1: _frame("Fr 2/24")}
    lines = {f: [TextBox(*BOX, f"Fr {f + 1}/24", 0.95)] for f in views}
    assert changing_lines(views, lines, lambda ln: ln.confidence >= 0.9) == {}
    assert changing_lines(views, lines, lambda ln: False) == {0: {0}, 1: {0}}
    assert changing_lines({0: views[0]}, {0: lines[0]}, lambda ln: False) == {}  # one frame: nothing changes
    # pixels that change under a line read the same on every frame: anatomy moving under static text
    same = {f: [TextBox(*BOX, "Gn 60", 0.98)] for f in views}
    assert changing_lines(views, same, lambda ln: False) == {}


def test_a_changing_place_is_technical_only_when_no_reading_as_sure_says_otherwise() -> None:
    # dev_24257 (val12): "03:14:22" in an outlined font on a cine read "D81428" at 0.92 on one frame (a depth
    # setting to the allow-list) and "DB1424" at 0.93 (nothing it knows) on another: it stayed on every frame
    views = {0: _frame("03:14:22"), 1: _frame("03:14:24"), 2: _frame("03:14:25")}
    reads = (("DB:1422", 0.86), ("D81428", 0.92), ("DB1424", 0.93))
    lines = {f: [TextBox(*BOX, t, c)] for f, (t, c) in zip(views, reads, strict=True)}
    technical = {"D81428", "DB:1422"}

    def sure(ln: TextBox) -> bool:
        return ln.confidence >= 0.9 and ln.text in technical

    def surely(ln: TextBox) -> bool:
        return ln.confidence >= 0.9

    assert changing_lines(views, lines, sure, surely) == {0: {0}, 1: {0}, 2: {0}}
    assert changing_lines(views, lines, sure) == {}  # without the contradicting reading, the sure one keeps it
    # a frame counter read surely as technical on every frame stays
    counter = {f: [TextBox(*BOX, f"Fr {f + 1}/24", 0.95)] for f in views}
    assert changing_lines(views, counter, lambda ln: ln.confidence >= 0.9, surely) == {}
    # static technical text whose ink was seen to change on one frame only (dev_19732, cine19k: "W 400 L 40" read
    # "H 400 L 40" and "400L40" at 0.98) stays, though one sure reading is nothing the allow-list knows
    still = {f: _frame("W 400 L 40") for f in range(12)}
    still[3][12:30, 20:30] = 255 - still[3][12:30, 20:30]  # one frame's glyphs disturbed
    static = {f: [TextBox(*BOX, "400L40", 0.98) if f == 3 else TextBox(*BOX, "H 400 L 40", 0.96)] for f in still}
    assert changing_lines(still, static, lambda ln: ln.confidence >= 0.9 and " " in ln.text, surely) == {}


def test_a_clock_read_as_a_sure_decimal_number_still_goes() -> None:
    # dev_12332 (val5): "02:41:49" on every frame of a cine read "0241.49", "0241.50", ... at 0.85-0.92: a decimal
    # number the allow-list keeps, and the clock stayed on all twenty frames
    views = {0: _frame("02:41:49"), 1: _frame("02:41:50")}
    lines = {f: [TextBox(*BOX, f"0241.{49 + f}", 0.92)] for f in views}
    assert changing_lines(views, lines, lambda ln: ln.confidence >= 0.9) == {0: {0}, 1: {0}}


@pytest.mark.parametrize(
    ("text", "is_clock"),
    [
        ("0241.50", True),
        ("02:41:50", True),
        ("0241,50", True),
        ("12.5", False),
        ("2541.50", False),
        ("Fr 12/24", False),
    ],
)
def test_a_clock_is_a_time_of_day_whatever_its_colons_were_read_as(text, is_clock) -> None:
    assert clock(text) is is_clock


def test_over_moving_anatomy_a_clock_read_as_letters_on_one_frame_in_a_few_is_still_a_clock() -> None:
    # dev_17282 (cine17k): "03:11:52" in an outlined 16 px font over a moving sector, read "73 15052",
    # "03A 511952", "XKA 554A54", "73 15054": one reading is no number, and the clock stayed on all sixteen frames
    views = {f: _frame(f"03:11:5{2 + f}", shift=11 * f) for f in range(4)}
    reads = ("73 15052", "03A 511952", "XKA 554A54", "73 15054")
    lines = {f: [TextBox(*BOX, t, 0.7)] for f, t in zip(views, reads, strict=True)}
    assert changing_lines(views, lines, lambda ln: False) == {0: {0}, 1: {0}, 3: {0}}
    # a place read as a number on one frame in three is static text there, misread once
    mixed = {f: [TextBox(*BOX, t, 0.7)] for f, t in zip(views, ("Gn 60", "6n 60", "1024", "Gn 6O"), strict=True)}
    assert changing_lines(views, mixed, lambda ln: False) == {}


def test_a_changing_line_the_judge_found_in_part_goes_whole() -> None:
    # "73 515056" of 03:11:56: the digits pattern took "515056" and left "73" (its hour) on every frame
    view = np.where(burn_mask([("03:11:56", (10, 40))]) > 0, 200, 20).astype(np.uint8)
    line = TextBox(8, 36, 120, 64, "73 515056", 0.72, ())
    judge = TextJudge(PhiValues())
    assert not _all_of(line.text, judge.judge(line.text, line.confidence).spans)  # the judge alone: in part
    (found,) = judge_frame(FrameRead(0, [line], [], view), judge, "phi", changing=frozenset({0}))
    assert found.redact and found.decision.kind == "changing" and found.keeps == ()
    # a line with words of letters loses only what was found: a setting and a date read as one line over moving
    # anatomy (dev_14382, val7: "C 50 W 350 07.07.1982 200M 150%" lost its settings with its date)
    mixed = TextBox(8, 36, 300, 64, "C 50 W 350 07.07.1982 200M 150%", 0.91, ())
    dated = TextJudge(PhiValues(dates=(datetime.date(1982, 7, 7),)))
    (found,) = judge_frame(FrameRead(0, [mixed], [], view), dated, "phi", changing=frozenset({0}))
    assert found.decision.kind != "changing" and found.keeps != ()
