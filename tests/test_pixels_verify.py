"""Verification on cleaned frames: what counts as PHI still there."""

from __future__ import annotations

import numpy as np

from deidnode.engine.phi import PhiValues
from deidnode.engine.pixels.ocr import TextBox
from deidnode.engine.pixels.text import TextJudge
from deidnode.engine.pixels.verify import Residual, _inside_kept_label, _value_on_fill, residual_phi


class _Reader:
    """Reads "DOB B30f" on a crop holding both sides of the removed date, else the one side it is given."""

    name = "fake"

    def __init__(self, joined: str, left: str, right: str) -> None:
        self.joined, self.left, self.right, self.crops = joined, left, right, []

    def read_region(self, crop: np.ndarray) -> list[TextBox]:
        self.crops.append(crop.shape)
        h, w = crop.shape[:2]
        text = self.joined if w > 300 else self.left if w < 120 else self.right
        return [TextBox(0, h // 3, w, 2 * h // 3, text, 0.9)]  # a line across the crop's middle


def _run(joined: str, left: str, right: str, changed: list, first: tuple[str, str] | None = None) -> list:
    """``first``: what the first pass read and kept left and right of the fill (default: what the reader reads)."""
    view = np.zeros((60, 260), np.uint8)
    judge = TextJudge(PhiValues(person_names=("DUBOIS^MARIE",), name_parts=(), identifiers=(), dates=(), texts=()))
    reader = _Reader(joined, left, right)
    first = first or (left, right)
    kept = [((20, 20, 60, 36), first[0]), ((160, 20, 220, 36), first[1])]
    return residual_phi(view, 0, changed, [((20, 20, 220, 36), 16.0)], reader, None, judge, kept=kept)


def test_a_label_joined_across_its_removed_value_to_the_text_beyond_is_not_phi() -> None:
    """The date of "DOB Jan 10,1980 B30f" was removed, and on the cleaned frame "DOB B30f" reads as a label and its
    value. The first pass read the line whole and kept B30f; the pieces either side of the fill are read alone."""
    assert _run("DOB B30f", "DOB", "B30f", [(60, 18, 160, 38)]) == []


def test_a_piece_the_first_pass_read_otherwise_keeps_the_labels_join() -> None:
    """The first pass read "Name: SMITH J0HN" and removed SMITH only; the cleaned frame reads "NAME JOHN". JOHN
    alone is no PHI, but the first pass never judged it: the label's join stands and it goes."""
    found = _run("NAME JOHN", "NAME", "JOHN", [(60, 18, 160, 38)], first=("NAME", "J0HN"))
    assert [r.box.text for r in found] == ["NAME JOHN"]


def test_a_name_beyond_the_fill_is_still_phi() -> None:
    """The dataset's own name is PHI wherever it stands, joined to a label or read alone."""
    found = _run("DOB DUBOIS", "DOB", "DUBOIS", [(60, 18, 160, 38)])
    assert found and all("DUBOIS" in r.box.text for r in found)


def test_a_piece_read_with_its_spaces_elsewhere_still_reads_as_kept() -> None:
    """The first pass kept "ETL16W400" beyond a removed identifier; alone, the piece reads "16 W400" (its first
    letters lost at the crop's edge, a space read in): the same characters, no new evidence (ninth dev-drawn
    400: "ETL 16" and "W 400" removed behind "Acc# 10"). Characters the first pass did not keep there are."""
    assert _run("DOB 16", "DOB", "16 W400", [(60, 18, 160, 38)], first=("DOB", "ETL16W400")) == []
    found = _run("DOB 16", "DOB", "16 W401", [(60, 18, 160, 38)], first=("DOB", "ETL16W400"))
    assert [r.box.text for r in found] == ["DOB 16"]


def test_a_label_and_its_value_with_no_fill_between_are_phi() -> None:
    """The fill lies beyond the value: nothing was removed between the label and the word after it."""
    found = _run("DOB B30f", "DOB", "B30f", [(230, 18, 250, 38)])
    assert found and all(r.box.text == "DOB B30f" for r in found)


class _CutReader:
    """On the cleaned frame of "Pt: OKONKWO LUCA  Page 1/3" (dev_0019): the window around the removed name reads
    "Pt: Pe", its line ending inside "Page"; a crop of that cut word reads "Pac", the whole word "Page 1/3"."""

    name = "fake"

    def read_region(self, crop: np.ndarray) -> list[TextBox]:
        h, w = crop.shape[:2]
        if w >= 250:  # the window around the fill (272 px as scaled)
            text = "Pt: Pe"
        elif w >= 180:  # the piece beyond the fill widened to the whole kept word (214 px)
            text = "Page 1/3"
        else:
            text = "Pac" if crop.max() > 0 else "Pt:"
        return [TextBox(0, h // 3, w, 2 * h // 3, text, 0.9)]


def test_a_piece_beyond_the_fill_is_read_whole_where_it_cuts_into_kept_text() -> None:
    """The joined reading stops inside a word the first pass kept: that word is read whole, and it reads as kept."""
    view = np.zeros((60, 260), np.uint8)
    view[20:36, 150:152] = 255  # ink right of the fill only: the reader tells the two pieces apart by it
    judge = TextJudge(PhiValues(person_names=("OKONKWO^LUCA",), name_parts=(), identifiers=(), dates=(), texts=()))
    kept = [((20, 20, 60, 36), "Pt:"), ((160, 20, 240, 36), "Page 1/3")]
    assert residual_phi(view, 0, [(60, 18, 140, 38)], [], _CutReader(), None, judge, kept=kept) == []


class _LabelReader:
    """Reads the kept label "Ref. Phys:" of a cleaned frame as "Ref. hys" (dev-drawn clean set: the removed name
    beyond it was quarantined as PHI still there)."""

    name = "fake"

    def read_region(self, crop: np.ndarray) -> list[TextBox]:
        ys, xs = np.nonzero(crop > 128)  # the label's ink, where it is in the crop
        if not len(xs):
            return []
        return [TextBox(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1, "Ref. hys", 0.88)]


def test_a_kept_label_read_again_as_a_label_and_a_name_is_not_phi() -> None:
    """The first pass kept "Ref." and "Phys:" (a label) and removed the name after it; a reader that reads the
    label's own letters as a name ("hys") does not find PHI there. Beside a kept word that is no label it does."""
    view = np.zeros((60, 300), np.uint8)
    view[20:32, 20:68] = 255
    judge = TextJudge(PhiValues(person_names=("DUBOIS^THABO",), name_parts=(), identifiers=(), dates=(), texts=()))
    label = [((20, 20, 42, 30), "Ref."), ((44, 20, 68, 32), "Phys:")]
    texts = [((20, 20, 68, 32), 10.0)]
    assert residual_phi(view, 0, [(120, 18, 220, 34)], texts, _LabelReader(), _LabelReader(), judge, kept=label) == []
    other = [((20, 20, 42, 30), "Ref."), ((44, 20, 68, 32), "W 400")]
    found = residual_phi(view, 0, [(120, 18, 220, 34)], texts, _LabelReader(), _LabelReader(), judge, kept=other)
    assert found and all(r.box.text == "Ref. hys" for r in found)


def _on_fill(text: str, char_pos: tuple[float, ...], changed: list) -> bool:
    line = TextBox(286, 349, 383 + 40 * (len(text) > 10), 369, text, 0.8, char_pos)
    return _value_on_fill(Residual(0, "tesseract", line, TextJudge(PhiValues()).judge(text, 0.8)), changed)


def test_a_label_read_with_the_edge_of_its_values_fill_as_a_letter_is_no_residual_phi() -> None:
    """dev_14279 (seventh dev-drawn 400): "OPERATOR Quintero, C" had its name filled from x=375; Tesseract read the
    cleaned frame "OPERATOR J", the fill's edge taken for a J after the label, and the instance was quarantined."""
    pos = (291.5, 301.2, 310.9, 320.6, 330.3, 340.0, 349.7, 359.4, 369.5, 378.9)
    fill = [(375, 350, 512, 368)]
    assert _on_fill("OPERATOR J", pos, fill)
    assert not _on_fill("OPERATOR J", pos, [(390, 350, 512, 368)])  # a J that stands before the fill is read
    assert not _on_fill("OPERATOR J", pos, [(375, 380, 512, 398)])  # a fill on another row is not this line's
    # a name read beyond the fill's end is PHI still there
    name = (*pos[:9], 378.9, 388.6, 398.3, 408.0, 417.7)
    assert not _on_fill("OPERATOR QUINT", name, [(375, 350, 400, 368)])
    assert _on_fill("OPERATOR QUINT", name, [(375, 350, 512, 368)])


def test_a_kept_label_read_again_is_known_beside_a_taller_kept_box() -> None:
    """dev_17482 (a dev-drawn cine): "Ref. Phys:" kept, its "Phys:" in a box 32 px tall (the reading's box took
    the line below's edge); Tesseract read the cleaned frame "Ref. PF", a label and a "name" that are the label's
    own letters. A kept word on the row counts when it shares half of the shorter of the two heights."""
    line = TextBox(214, 391, 275, 406, "Ref. PF", 0.8)
    res = Residual(11, "tesseract", line, TextJudge(PhiValues()).judge(line.text, 0.8))
    kept = [((211, 387, 255, 410), "Ref."), ((254, 387, 302, 419), "Phys:")]
    assert _inside_kept_label(res, kept)
    assert not _inside_kept_label(res, kept[:1])  # "PF" beyond the kept "Ref." alone: a value after it
