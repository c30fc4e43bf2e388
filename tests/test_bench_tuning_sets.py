"""The benchmark's tuning font sets: the dev split drawn in fonts no split has, and never the held-out splits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import pixels_misses  # noqa: E402
import pixels_quick  # noqa: E402
import pixelset  # noqa: E402
import pixelset_fonts as fonts  # noqa: E402


@pytest.fixture
def dev_fonts_restored(monkeypatch):
    monkeypatch.setitem(fonts.SPLIT_FONTS, "dev", fonts.SPLIT_FONTS["dev"])
    yield
    fonts.fonts_for.cache_clear()


@pytest.mark.parametrize("name", sorted(fonts.TUNING_FONTS))
def test_a_tuning_font_set_shares_no_font_file_with_any_split(name, dev_fonts_restored) -> None:
    tuning = fonts.TUNING_FONTS[name]()
    if not tuning:
        pytest.skip("the X11 bitmap font packages are not installed (tools/test.sh installs them)")
    used = {f.path for split in fonts.SPLIT_FONTS.values() for f in split()}
    assert all(f.style == "bitmap" and f.path not in used for f in tuning)
    fonts.tune_with(name)
    assert fonts.fonts_for("dev") == tuple(tuning)


def test_tuning_fonts_draw_the_dev_split_only() -> None:
    with pytest.raises(SystemExit):
        pixelset.main(["--split", "test", "--fonts", "bitmap-small", "-n", "1"])


def test_the_quick_score_refuses_a_set_that_is_not_dev(tmp_path) -> None:
    (tmp_path / "truth.json").write_text(json.dumps([{"file": "test_0000.dcm", "split": "test", "clean": False}]))
    with pytest.raises(SystemExit):
        pixels_quick.main(["--set", str(tmp_path)])


def test_a_cine_tuning_set_is_the_dev_splits_cine_cases_only(tmp_path) -> None:
    truth = pixelset.generate(tmp_path, "dev", 2, start=250, cine_only=True)
    assert [c["file"] for c in truth] == ["dev_0257.dcm", "dev_0282.dcm"]
    assert all(c["cine"] and c["frames"] > 1 for c in truth)
    with pytest.raises(SystemExit):
        pixelset.main(["--split", "fresh", "--cine", "-n", "1"])


def test_the_miss_causes_refuse_a_set_that_is_not_dev(tmp_path) -> None:
    (tmp_path / "truth.json").write_text(json.dumps([{"file": "fresh_0000.dcm", "split": "fresh", "clean": False}]))
    (tmp_path / "dump.jsonl").write_text("")
    with pytest.raises(SystemExit):
        pixels_misses.main(["--set", str(tmp_path), "--dump", str(tmp_path / "dump.jsonl")])


@pytest.mark.parametrize(
    ("quarantined", "share", "over", "cause"),
    [
        (True, 0.0, [], "quarantined"),
        (False, 0.0, [], "undetected"),  # no reading over the segment
        (False, 0.6, [True, False], "partial"),  # removed, but not all of its box
        (False, 0.0, [True], "other_removed"),  # a neighbour's removal reaches it, none of it covered
        (False, 0.0, [False, False], "read_kept"),  # read, and judged not PHI
    ],
)
def test_a_miss_gets_its_cause_from_the_readings_over_it(quarantined, share, over, cause) -> None:
    assert pixels_misses.cause_of(quarantined, share, over) == cause


@pytest.mark.parametrize(
    ("quarantined", "reaching", "cause"),
    [
        (True, [("garbled", True)], "quarantined"),
        (False, [], "no_reading"),  # the verification's repair, an unread region, a changing line
        (False, [("date", True), ("garbled", True)], "garbled"),  # technical text misread and removed as such
        (False, [("name", True)], "in_phi_line"),  # a PHI reading over it took it
        (False, [("id", False)], "beside_phi"),  # only a neighbour's removal reaches it
    ],
)
def test_a_lost_technical_segment_gets_its_cause_from_the_removals_reaching_it(quarantined, reaching, cause) -> None:
    assert pixels_misses.technical_cause_of(quarantined, reaching) == cause


def _distinct_glyphs(spec: fonts.FontSpec) -> int:
    from PIL import Image, ImageDraw

    size = spec.strike or 14
    font = fonts.load(spec, size)
    drawn = set()
    for c in range(33, 127):
        im = Image.new("L", (3 * size, 3 * size))
        ImageDraw.Draw(im).text((size // 2, size // 2), chr(c), font=font, fill=255)
        drawn.add(im.tobytes())
    return len(drawn)


@pytest.mark.parametrize("split", sorted(fonts.SPLIT_FONTS))
def test_every_font_of_a_split_draws_readable_letters(split) -> None:
    """A font that draws every character as one box (a bitmap file in an encoding FreeType cannot map) puts text
    no one can read into the set, scored as PHI to remove: the test split had 13 such files."""
    bad = [spec.name for spec in fonts.fonts_for(split) if _distinct_glyphs(spec) < 85]
    assert bad == []
