"""The pixel stage on real arrays with real OCR (rapidocr): policies, photometric interpretations,
multi-frame, obfuscation, verification, selection, known regions, whole-slide labels, audit."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from pixels_helpers import burn_mask, make_ds
from pydicom import dcmread
from pydicom.data import get_testdata_file

from deidnode.config import PixelSettings, Profile
from deidnode.engine.keys import Keys
from deidnode.engine.phi import collect_phi
from deidnode.engine.pixels import stage
from deidnode.engine.pixels.codec import decode_frames
from deidnode.engine.pixels.detect import to_display
from deidnode.engine.pixels.ocr import get_engine
from deidnode.engine.pixels.preview import render_preview
from deidnode.engine.pixels.select import has_text
from deidnode.engine.pixels.stage import clean_pixels
from deidnode.engine.pixels.text import Decision
from deidnode.engine.pixels.text.fuzzy import fold, fuzzy_contains
from deidnode.engine.policy import Policy
from deidnode.engine.pseudonyms import patient_key, pseudo_person_name

KEYS = Keys(b"pixel-tests-key-0123456789abcdefghij")
NAME = ("SMITH^JOHN", (12, 10))
DATE = ("05-Jul-2001", (170, 10))
KEEP = ("W 400 L 40", (12, 285))
OTHER = ("LYMPH NODE", (170, 285))


def run(ds, policy="phi", **kw):
    audit: dict = {}
    q = clean_pixels(ds, collect_phi(ds), Policy(pixels=PixelSettings(policy=policy, **kw)), KEYS, audit)
    return q, audit


def gone(ds, text, frame=0) -> bool:
    """Every glyph pixel of ``text`` changed from its burned-in value."""
    mask = burn_mask([text])
    out = decode_frames(ds)[frame]
    glyph = out[mask]
    if out.ndim == 3:
        return bool(np.all(np.any(glyph != glyph_ref(ds, out), axis=-1)))
    return bool(np.all(glyph != glyph_ref(ds, out)))


def glyph_ref(ds, out):
    pi = ds.PhotometricInterpretation
    return {
        "MONOCHROME2": 4095,
        "MONOCHROME1": 0,
        "PALETTE COLOR": 250,
        "RGB": np.array([255, 255, 255]),
        "YBR_FULL": np.array([235, 128, 128]),
    }[pi]


def kept(ds, before, text) -> bool:
    mask = burn_mask([text])
    return bool(np.array_equal(decode_frames(ds)[0][mask], before[0][mask]))


@pytest.mark.parametrize("pi", ["MONOCHROME2", "MONOCHROME1", "RGB", "YBR_FULL", "PALETTE COLOR"])
def test_phi_policy_redacts_phi_and_keeps_annotation_in_every_photometric_interpretation(pi) -> None:
    ds = make_ds(pi, [NAME, DATE, KEEP])
    before = decode_frames(ds).copy()
    q, audit = run(ds)
    assert q is None
    assert gone(ds, NAME) and gone(ds, DATE)
    assert kept(ds, before, KEEP)
    assert audit["pixels"]["clean_pixel_data"] is True
    assert ds.BurnedInAnnotation == "NO"


def test_redaction_fills_with_the_background_value_of_the_photometric_interpretation() -> None:
    ds = make_ds("MONOCHROME1", [NAME])
    run(ds)
    x, y = NAME[1]
    assert decode_frames(ds)[0][y + 5, x + 5] == decode_frames(ds).max()  # MONOCHROME1: the maximum is black


def test_multiframe_redaction_removes_the_text_on_every_frame() -> None:
    ds = make_ds("MONOCHROME2", [NAME, KEEP], frames=3)
    before = decode_frames(ds).copy()
    q, audit = run(ds)
    assert q is None
    assert all(gone(ds, NAME, f) for f in range(3))
    assert audit["pixels"]["frames_changed"] == 3
    assert kept(ds, before, KEEP)


@pytest.mark.parametrize(
    ("policy", "removed", "kept_texts"),
    [("phi", [NAME], [KEEP, OTHER]), ("strict", [NAME, OTHER], [KEEP]), ("all", [NAME, OTHER, KEEP], [])],
)
def test_policies_remove_phi_unknown_text_or_everything(policy, removed, kept_texts) -> None:
    ds = make_ds("RGB", [NAME, KEEP, OTHER])
    before = decode_frames(ds).copy()
    q, _ = run(ds, policy)
    assert q is None
    assert all(gone(ds, t) for t in removed)
    assert all(kept(ds, before, t) for t in kept_texts)


def test_policy_off_leaves_pixels_bit_identical() -> None:
    ds = make_ds("RGB", [NAME])
    raw = bytes(ds.PixelData)
    q, audit = run(ds, "off")
    assert q is None and ds.PixelData == raw and audit["pixels"]["clean_pixel_data"] is False


def test_nothing_to_remove_leaves_pixels_bit_identical() -> None:
    ds = make_ds("RGB", [KEEP])
    raw = bytes(ds.PixelData)
    q, audit = run(ds)
    assert q is None and ds.PixelData == raw
    assert audit["pixels"]["frames_changed"] == 0


def test_ct_without_burned_in_text_is_not_read_and_left_identical() -> None:
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    raw = bytes(ds.PixelData)
    q, audit = run(ds)
    assert q is None and ds.PixelData == raw
    assert audit["pixels"]["selected"] == "check" and audit["pixels"]["text_check"] is False
    assert audit["pixels"]["clean_pixel_data"] is False


def test_a_clean_ct_slice_loads_no_ocr_models(monkeypatch) -> None:
    """The check's cheap glyph pass finds no candidate line: the OCR engine (two onnxruntime sessions, ~100 MB
    of a worker's memory) is never built. A CT-only worker carried them from its first slice before."""
    built: list[object] = []
    monkeypatch.setattr(stage, "get_engine", lambda settings: built.append(settings) or get_engine(settings))
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    q, audit = run(ds)
    assert q is None and audit["pixels"]["text_check"] is False
    assert built == []
    with_text = make_ds("MONOCHROME2", [NAME], modality="CT")
    q, audit = run(with_text)
    assert q is None and audit["pixels"]["text_check"] is True and gone(with_text, NAME)
    assert built


def test_ct_with_burned_in_annotation_yes_is_read() -> None:
    ds = make_ds("MONOCHROME2", [NAME], modality="CT")
    ds.BurnedInAnnotation = "YES"
    q, audit = run(ds)
    assert q is None and audit["pixels"]["selected"] == "always" and gone(ds, NAME)


def test_text_check_fires_on_text_and_not_on_anatomy() -> None:
    with_text = make_ds("MONOCHROME2", [NAME, DATE])
    assert has_text(to_display(decode_frames(with_text)[0], "MONOCHROME2"))
    ct = dcmread(get_testdata_file("CT_small.dcm"))
    assert not has_text(to_display(decode_frames(ct)[0], "MONOCHROME2"))


def test_obfuscation_renders_the_headers_pseudonym_in_place_of_the_name() -> None:
    ds = make_ds("RGB", [NAME, KEEP], size=320)
    q, audit = run(ds, action="obfuscate")
    assert q is None and audit["pixels"]["boxes_obfuscated"] == 1
    family = pseudo_person_name(KEYS, "SMITH^JOHN").split("^")[0]
    lines = [b.text for b in get_engine(PixelSettings().ocr).read(to_display(decode_frames(ds)[0], "RGB"))]
    assert any(fuzzy_contains(fold(t), fold(family)) for t in lines)
    assert not any(fuzzy_contains(fold(t), fold("SMITH")) for t in lines)


def test_obfuscated_dates_are_shifted_like_the_header_when_dates_are_modified() -> None:
    ds = make_ds("RGB", [DATE])
    audit: dict = {}
    pol = Policy(profile=Profile(options=("retain_long_modified_dates",)), pixels=PixelSettings(action="obfuscate"))
    shift = KEYS.day_offset(patient_key(ds), pol.profile.date_shift_max_days)  # as deidentify() passes it
    assert clean_pixels(ds, collect_phi(ds), pol, KEYS, audit, date_shift_days=shift) is None
    assert audit["pixels"]["boxes_obfuscated"] == 1 and audit["pixels"]["verify_residual"] == 0


def _misread_dates(monkeypatch) -> None:
    """The first pass reads the date but judges it not PHI (as a misread can): it is kept."""
    real = stage.judge_frame

    def misread(read, judge, policy, changing=frozenset(), elsewhere=None):
        out = []
        for f in real(read, judge, policy, changing, elsewhere):
            if f.decision.kind == "date":
                f = stage.Finding(f.box, Decision(False, "none"), False, f.frame, (), (f.box.box,))
            out.append(f)
        return out

    monkeypatch.setattr(stage, "judge_frame", misread)


def test_verification_removes_phi_the_first_pass_kept(monkeypatch) -> None:
    _misread_dates(monkeypatch)
    ds = make_ds("MONOCHROME2", [NAME, DATE, KEEP])
    before = decode_frames(ds).copy()
    q, audit = run(ds)
    assert q is None
    assert audit["pixels"]["verify_residual"] >= 1 and audit["pixels"]["verify_repaired"] >= 1
    assert gone(ds, NAME) and gone(ds, DATE) and kept(ds, before, KEEP)


def test_verification_quarantines_when_the_repair_does_not_remove_the_phi(monkeypatch) -> None:
    _misread_dates(monkeypatch)
    monkeypatch.setattr(stage, "_residual_boxes", lambda *a, **k: [])
    ds = make_ds("MONOCHROME2", [NAME, DATE])
    raw = bytes(ds.PixelData)
    q, audit = run(ds)
    assert q is not None and (q.stage, q.code) == ("pixels", "phi_remains")
    assert ds.PixelData == raw  # nothing written for a quarantined instance
    assert "2001" not in q.detail and "SMITH" not in q.detail.upper()


def test_verification_off_forwards_despite_a_miss(monkeypatch) -> None:
    _misread_dates(monkeypatch)
    ds = make_ds("MONOCHROME2", [NAME, DATE])
    q, _ = run(ds, verify=False)
    assert q is None and not gone(ds, DATE)


def test_known_device_region_is_blanked_before_ocr() -> None:
    ds = make_ds("MONOCHROME2", [], modality="CT", size=512)
    ds.Manufacturer, ds.ManufacturerModelName = "DEIDNODE BENCH", "OVERLAY-1"
    q, audit = run(ds)
    assert q is None and audit["pixels"]["region_boxes"] == 1
    band = decode_frames(ds)[0][:36]
    assert np.all(band == band.flat[0])


@pytest.mark.parametrize(("setting", "code"), [("blank", None), ("drop", "wsi_label_dropped")])
def test_whole_slide_label_images_are_blanked_or_dropped(setting, code) -> None:
    ds = make_ds("RGB", [NAME], modality="SM")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LABEL", "NONE"]
    q, _ = run(ds, wsi_label=setting)
    if code is None:
        assert q is None and np.all(decode_frames(ds) == 0)
    else:
        assert q is not None and q.code == code


def test_audit_holds_counts_and_never_the_text_found() -> None:
    ds = make_ds("RGB", [NAME, DATE, KEEP])
    _, audit = run(ds)
    a = audit["pixels"]
    assert a["engine"] == "rapidocr" and a["layers"]["metadata"] == 2 and a["boxes_redacted"] == 2
    assert {"ocr", "decide", "verify", "total"} <= set(a["seconds"])
    text = json.dumps(audit).upper()
    assert "SMITH" not in text and "2001" not in text and "JUL" not in text


def test_engine_is_created_once_per_process() -> None:
    assert get_engine(PixelSettings().ocr) is get_engine(PixelSettings().ocr)


def test_preview_comes_back_as_png_bytes_and_the_engine_writes_no_file(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    ds = make_ds("MONOCHROME2", [NAME, KEEP])
    audit: dict = {}
    pol = Policy(pixels=PixelSettings())
    previews: list[tuple[str, bytes]] = []
    assert clean_pixels(ds, collect_phi(ds), pol, KEYS, audit, previews_out=previews) is None
    assert len(previews) == 1 and "SMITH" not in previews[0][0] and previews[0][1][:8] == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.iterdir()) == []
    img = np.zeros((64, 64), np.uint8)
    png = render_preview(img, img, [((2, 2, 20, 10), "metadata:name")])
    from PIL import Image

    assert Image.open(io.BytesIO(png)).size == (64 * 8 * 2 + 8, 64 * 8)
    # a span trimmed to an empty box (dev_0118 of the benchmark) is skipped, not an error that loses the image
    assert render_preview(img, img, [((2, 2, 2, 10), "metadata:name"), ((5, 5, 9, 5), "keep")])[:4] == b"\x89PNG"


def test_ner_models_missing_quarantines_with_its_own_code(monkeypatch, tmp_path) -> None:
    """A configured pixel NER whose models folder is empty fails closed with the reason that says so (before: the
    stage turned the error's code into a Code, which had no such member, and the instance left as engine_error)."""
    from deidnode.engine.pixels.text import ner

    monkeypatch.setattr(ner, "is_available", lambda: True)  # stanza installed, no models under the folder
    ner.get_ner.cache_clear()
    ds = make_ds("MONOCHROME2", [NAME, KEEP])
    q, _audit = run(ds, stanza_models_dir=tmp_path)
    assert q is not None and q.stage == "pixels" and q.code == "ner_models_missing"


def test_text_whose_glyphs_change_between_frames_is_removed_on_every_frame() -> None:
    """A cine's clock read small comes back as a different misreading on each frame, none of which looks like a
    time, and it stayed. Text whose own glyphs change between the frames read goes, whatever it reads; static
    text stays although the anatomy under it moves, and so does a frame counter read surely as one."""
    n = 4
    ds = make_ds("MONOCHROME2", [KEEP, OTHER], frames=n)
    px = decode_frames(ds).copy()
    yy, xx = np.mgrid[0:320, 0:320]
    static = burn_mask([KEEP, OTHER])
    lower = ~static & (yy >= 200)  # the anatomy moves in the lower part, under the static text
    for f in range(n):
        moving = (40 + 30 * np.sin((xx + 7 * f) / 9.0) * np.cos(yy / 13.0)) * 20
        px[f][lower] = moving[lower].astype(np.uint16)
        for text in ((f"QWZ{'KXVT'[f]}", (12, 120)), (f"Fr {f + 1}/{n}", (170, 120))):
            px[f][burn_mask([text])] = 4095
    ds.PixelData = px.tobytes()
    before = px.copy()
    q, audit = run(ds)
    assert q is None
    out = decode_frames(ds)
    for f in range(n):
        clock = burn_mask([(f"QWZ{'KXVT'[f]}", (12, 120))])
        counter = burn_mask([(f"Fr {f + 1}/{n}", (170, 120))])
        assert np.all(out[f][clock] != 4095)  # the changing text is gone on every frame
        assert np.array_equal(out[f][counter], before[f][counter])
        assert np.array_equal(out[f][static], before[f][static])
    assert audit["pixels"]["lines_changing"] >= n


def _second_reader_adds(monkeypatch, reading) -> None:
    """The verification's readers also return ``reading(line)`` (a TextBox, at a reader's low confidence) where
    the first reader surely read "W 400 L 40"."""
    real = stage.residual_phi

    def fake(view, frame, changed, texts, engine, second, judge, rendered=(), timings=None, kept=()):
        out = list(real(view, frame, changed, texts, engine, second, judge, rendered, timings, kept))
        for ln in get_engine(PixelSettings().ocr).read(view):
            if "400" in ln.text:
                box = reading(ln)
                out.append(stage.Residual(frame, "tesseract", box, judge.judge(box.text, box.confidence)))
        return out

    monkeypatch.setattr(stage, "residual_phi", fake)


def _second_reader_sees(monkeypatch, text: str) -> None:
    """... ``text`` over that line (as Tesseract read "ETL 16" as "EIL It", two edits from a given name)."""
    _second_reader_adds(monkeypatch, lambda ln: stage.TextBox(*ln.box, text, 0.5))


def test_verification_does_not_remove_sure_technical_text_for_an_unsure_match(monkeypatch) -> None:
    _second_reader_sees(monkeypatch, "SNIIH")  # two edits from SMITH: PHI only read with tolerance
    ds = make_ds("MONOCHROME2", [NAME, KEEP])
    before = decode_frames(ds).copy()
    q, audit = run(ds)
    assert q is None and audit["pixels"]["verify_residual"] == 0
    assert gone(ds, NAME) and kept(ds, before, KEEP)


def test_verification_still_acts_on_phi_read_as_such_over_technical_text(monkeypatch) -> None:
    _second_reader_sees(monkeypatch, "SMITH")
    ds = make_ds("MONOCHROME2", [NAME, KEEP])
    before = decode_frames(ds).copy()
    q, audit = run(ds)
    assert q is None and audit["pixels"]["verify_repaired"] >= 1
    assert not kept(ds, before, KEEP)  # the repair removed what was read there


KEEP_RIGHT = ("W 400 L 40", (170, 285))


def _second_reader_reads_a_label_over(monkeypatch, text: str, taller: int = 0) -> None:
    """... ``text`` ("Dr. " and a word) from blank background on to that line, the word's characters over its
    glyphs: a label whose own value was removed, read on to the technical text beyond it (``taller``: the
    reading's box that many rows taller than the line's on each side)."""

    def reading(ln):
        x0, y0, x1, y1 = ln.box
        label = (80, 80 + 12, 80 + 24, 80 + 30)  # "Dr. " over blank background left of the line
        step = (x1 - x0) / (len(text) - 4)
        pos = label + tuple(x0 + step * (k + 0.5) for k in range(len(text) - 4))
        return stage.TextBox(80, max(0, y0 - taller), x1, y1 + taller, text, 0.6, pos)

    _second_reader_adds(monkeypatch, reading)


@pytest.mark.parametrize(("value", "stays"), [("Wqxzt", True), ("Smith", False)])
def test_a_labels_value_read_over_sure_technical_text_counts_only_when_it_is_phi_read_alone(
    monkeypatch, value: str, stays: bool
) -> None:
    """Tesseract read "Ref. Phys maaan" across a removed name and on to the "mA 200" beyond it, read surely on
    every frame of a cine; the repair removed "mA 200" (dev-drawn cine). A value that is PHI read alone ("Dr.
    Smith" of the patient SMITH) still counts."""
    text = f"Dr. {value}"
    _second_reader_reads_a_label_over(monkeypatch, text)
    ds = make_ds("MONOCHROME2", [NAME, KEEP_RIGHT])
    assert stage.TextJudge(collect_phi(ds)).judge(text, 0.6).spans[0].start >= 4  # the label's value is PHI
    before = decode_frames(ds).copy()
    q, audit = run(ds)
    assert q is None and gone(ds, NAME)
    assert (audit["pixels"]["verify_residual"] == 0) is stays
    assert kept(ds, before, KEEP_RIGHT) is stays


@pytest.mark.parametrize(("value", "stays"), [("Wqxzt", True), ("Smith", False)])
def test_a_labels_value_read_over_sure_technical_text_on_a_label_box_is_that_text(
    monkeypatch, value: str, stays: bool
) -> None:
    """The same reading, its box taller than the label box the technical text sits on: the box's fill, beside
    the background above and below it, is no ink of the value (Tesseract's "Name: es" over "Gn 60" on a label
    box, dev-drawn, twelfth 400). PHI read alone still counts."""
    _second_reader_reads_a_label_over(monkeypatch, f"Dr. {value}", taller=14)
    ds = make_ds("MONOCHROME2", [NAME, KEEP_RIGHT])
    px = decode_frames(ds).copy()
    glyphs = burn_mask([KEEP_RIGHT])
    rows, cols = np.nonzero(glyphs)
    box = np.zeros_like(glyphs)
    box[rows.min() - 8 : rows.max() + 9, cols.min() - 20 : cols.max() + 21] = True
    px[0][rows.min() - 30 :][~glyphs[rows.min() - 30 :]] = 0  # a black background below the image
    px[0][box & ~glyphs] = 2000  # and a grey label box under the line
    ds.PixelData = px.tobytes()
    before = px.copy()
    q, audit = run(ds)
    assert q is None and gone(ds, NAME)
    assert (audit["pixels"]["verify_residual"] == 0) is stays
    assert kept(ds, before, KEEP_RIGHT) is stays
