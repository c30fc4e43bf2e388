"""OCR backends: both installed engines read overlay text from real arrays; no model is downloaded."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from pixels_helpers import burn_mask, make_ds

from deidnode.config import OcrSettings
from deidnode.engine.pixels.codec import decode_frames
from deidnode.engine.pixels.detect import to_display
from deidnode.engine.pixels.ocr import OcrUnavailableError, _module, get_engine, is_available
from deidnode.engine.pixels.text.fuzzy import fold, fuzzy_contains


def _read(engine: str) -> list[str]:
    ds = make_ds("MONOCHROME2", [("SMITH^JOHN", (12, 10)), ("W 400 L 40", (12, 285))])
    img = to_display(decode_frames(ds)[0], "MONOCHROME2")
    boxes = get_engine(OcrSettings(engine=engine)).read(img)
    assert all(0 <= b.x0 < b.x1 <= 330 and 0 <= b.y0 < b.y1 <= 330 for b in boxes)
    return [b.text for b in boxes]


def test_rapidocr_reads_overlay_text() -> None:
    texts = _read("rapidocr")
    assert any(fuzzy_contains(fold(t), fold("SMITHJOHN")) for t in texts)
    assert any(fuzzy_contains(fold(t), fold("W400L40")) for t in texts)


@pytest.mark.slow
@pytest.mark.skipif(not is_available("easyocr"), reason="easyocr extra not installed")
def test_easyocr_reads_overlay_text_with_offline_weights() -> None:
    texts = _read("easyocr")
    assert any(fuzzy_contains(fold(t), fold("SMITHJOHN")) for t in texts)


def test_blank_image_gives_no_text() -> None:
    assert get_engine(OcrSettings()).read(np.zeros((128, 128), np.uint8)) == []


def test_unknown_engine_is_named_in_the_error() -> None:
    with pytest.raises(OcrUnavailableError) as e:
        _module("ocropus")
    assert "ocropus" in e.value.detail


@pytest.mark.skipif(not is_available("tesseract"), reason="tesseract not installed")
def test_leptonica_prints_nothing_once_tesseract_reads() -> None:
    # Leptonica (under Tesseract) prints its errors to stderr, outside the JSON logs; once the engine has made
    # its reader, an error inside Leptonica (here provoked directly: clipping no box) prints nothing
    import subprocess
    import sys

    script = """
import ctypes, numpy as np
from deidnode.config import OcrSettings
from deidnode.engine.pixels.ocr import get_engine
from deidnode.engine.pixels.ocr.tess import leptonica
get_engine(OcrSettings(engine="tesseract")).read(np.zeros((64, 64), np.uint8))
lept = leptonica()
assert lept is not None
lept.boxClipToRectangle.restype = ctypes.c_void_p
lept.boxClipToRectangle(None, 10, 10)
print("done")
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0 and r.stdout.strip() == "done", r.stderr[-2000:]
    assert "Error in" not in r.stderr


def test_lanes_asking_at_once_share_one_engine() -> None:
    """Two lanes of a worker load the engine at the same moment: one engine is loaded, no lane fails (each
    loading its own once mixed the message classes of two model rewrites: TypeError, quarantined)."""
    settings = OcrSettings(min_confidence=0.37)  # no other test asks for this one: not loaded yet
    barrier = threading.Barrier(4)
    got: list[object] = []
    errors: list[BaseException] = []

    def ask() -> None:
        barrier.wait()
        try:
            got.append(get_engine(settings))
        except Exception as e:  # the test reports whatever a lane hit
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({id(e) for e in got}) == 1


def test_chinese_punctuation_in_a_reading_is_the_ascii_it_looks_like() -> None:
    """The recogniser also reads Chinese: a comma or full stop beside a name came back as "，" or "。", and
    "Ref. Phys: l。 Kristlansen" was not taken for a label and a name."""
    from deidnode.engine.phi import PhiValues
    from deidnode.engine.pixels.ocr.rapid import latin_punctuation
    from deidnode.engine.pixels.text.decide import TextJudge

    engine = get_engine(OcrSettings())
    chars = set(engine._chars)
    assert not chars & {"。", "，", "：", "（", "）", "、"}
    assert latin_punctuation("漢") == "漢"  # letters of other scripts stay (a Latin reading is also tried)
    assert [latin_punctuation(c) for c in "。，：；（）、－／＃"] == list(".,:;(),-/#")
    judge = TextJudge(PhiValues(person_names=("NAKAMURA^TOMASZ",), name_parts=(), identifiers=(), dates=(), texts=()))
    line = "".join(latin_punctuation(c) for c in "Ref. Phys: l。 Kristlansen")
    assert judge.judge(line).phi


def test_small_line_crops_are_scaled_up_bilinearly_and_larger_ones_bicubically(monkeypatch) -> None:
    """Bicubic overshoot rings around the thin strokes of 7-10 px text (dev split, read at true boxes: 107 -> 133
    of 209 lines exact bilinear); above ``SMALL_LINE`` bicubic keeps the gaps between words."""
    import cv2

    from deidnode.engine.pixels.ocr import rapid

    used: list[tuple[int, int]] = []
    real = cv2.resize

    def resize(img, size, *args, interpolation=None, **kw):
        used.append((img.shape[0], interpolation))
        return real(img, size, *args, interpolation=interpolation, **kw)

    monkeypatch.setattr(rapid.cv2, "resize", resize)
    engine = get_engine(OcrSettings())
    engine.recognize([np.zeros((h, 60), np.uint8) for h in (10, rapid.SMALL_LINE, rapid.SMALL_LINE + 1, 60)])
    assert sorted(used) == [
        (10, cv2.INTER_LINEAR),
        (rapid.SMALL_LINE, cv2.INTER_LINEAR),
        (rapid.SMALL_LINE + 1, cv2.INTER_CUBIC),
        (60, cv2.INTER_AREA),
    ]


def test_a_small_line_still_unsure_is_read_once_more_enlarged_as_blocks(monkeypatch) -> None:
    """After the padded retry, a line of ``SMALL_LINE`` px or less still under ``RETRY_BELOW`` is read from its
    pixels enlarged ``BLOCK_SCALE`` times; the more confident reading stands, its character positions brought back
    to the line's own pixels. A larger line is not read a third time."""
    from deidnode.engine.pixels.ocr import rapid

    engine = get_engine(OcrSettings())
    calls: list[list[tuple[int, int]]] = []

    def recognize(crops):
        calls.append([c.shape[:2] for c in crops])
        if len(calls) < 3:
            return [("SM1TH", 0.5, [1.0, 2.0, 3.0, 4.0, 5.0])] * len(crops)
        # the blocky crop: characters centred at 3x their positions in the padded crop (pad 2 px)
        return [("SMITH", 0.95, [3.0 * (2 + x) for x in (4.0, 12.0, 20.0, 28.0, 36.0)])] * len(crops)

    monkeypatch.setattr(engine, "recognize", recognize)
    view = np.zeros((40, 100), np.uint8)
    small = np.array([[10, 10], [50, 10], [50, 19], [10, 19]], np.float32)  # 9 px high
    large = np.array([[10, 20], [90, 20], [90, 40], [10, 40]], np.float32)  # 20 px high
    lines = engine.read_boxes(view, [small, large])
    assert [len(c) for c in calls] == [2, 2, 1]  # read, padded retry of both, blocks of the small one only
    assert calls[2][0] == (rapid.BLOCK_SCALE * (9 + 4), rapid.BLOCK_SCALE * (40 + 4))
    assert lines[0].text == "SMITH" and lines[0].confidence == 0.95
    assert [round(p, 3) for p in lines[0].char_pos] == [14.0, 22.0, 30.0, 38.0, 46.0]  # x0 10 + positions in the line
    assert lines[1].text == "SM1TH"


def test_text_a_few_levels_off_its_box_in_another_hue_is_read_on_its_own_plane_past_the_boxs_edge() -> None:
    # dev_15232 (val8): "Ref. Phys: QUINTERO" in pale yellow on a light grey label box (the same luminance);
    # the detector's box took in a strip of the black image above the label box, a thin dark band whose
    # response on the luminance plane outshone the text on the yellow-blue one: read as nothing
    from deidnode.engine.pixels.detect import best_plane

    mask = burn_mask([("Ref. Phys: QUINTERO", (8, 6))], size=200, fsize=16)[:26, :190]
    crop = np.zeros((26, 190, 3), np.uint8)
    crop[4:] = (200, 200, 200)
    crop[mask] = (214, 206, 150)  # luminance within a few levels of the box's
    plane = best_plane(crop)
    ink, box = plane[mask], plane[4:][~mask[4:]]
    assert abs(float(np.median(ink)) - float(np.median(box))) > 60  # the text stands out on the chosen plane
    quad = np.array([[0, 0], [189, 0], [189, 25], [0, 25]], np.float32)
    (line,) = get_engine(OcrSettings()).read_boxes(crop, [quad], best_plane)
    assert fuzzy_contains(fold(line.text), fold("QUINTERO"))
