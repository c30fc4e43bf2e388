"""The CT/MR text-presence check: anatomy that looks like glyphs to two detectors does not make it fire; text
does."""

from __future__ import annotations

import numpy as np
import pytest
from pixels_helpers import burn_mask
from pydicom import dcmread
from pydicom.data import get_testdata_file

from deidnode.config import OcrSettings
from deidnode.engine.pixels.detect import to_display
from deidnode.engine.pixels.ocr import get_engine
from deidnode.engine.pixels.select import has_text


@pytest.fixture(scope="module")
def brain() -> np.ndarray:
    """A brain CT slice whose dark sulci on bright tissue pass the glyph detector and the OCR detector."""
    ds = dcmread(get_testdata_file("eCT_Supplemental.dcm"))
    return to_display(ds.pixel_array[0], "MONOCHROME2")


def test_the_check_does_not_fire_on_sulci_that_look_like_glyphs(brain: np.ndarray) -> None:
    assert not has_text(brain, get_engine(OcrSettings()))


def test_the_check_fires_on_a_name_burned_into_the_same_slice(brain: np.ndarray) -> None:
    img = brain.copy()
    mask = burn_mask([("SMITH^JOHN 05-JUL-2001", (20, 470))], size=img.shape[0], fsize=14)
    img[mask] = 255
    assert has_text(img, get_engine(OcrSettings()))


def test_the_check_fires_on_text_a_few_grey_levels_above_its_label_box(brain: np.ndarray) -> None:
    """Dev-drawn dev_6101: a date ten grey levels above its label box, invisible to the OCR detector as stored; the
    whole slice was released unread."""
    img = brain.copy()
    img[455:500, 10:330] = 70
    mask = burn_mask([("2020/03/27 SMITH^JOHN", (20, 465))], size=img.shape[0], fsize=20)
    img[mask] = 80
    assert has_text(img, get_engine(OcrSettings()))
