"""One text-presence decision per CT/MR series: kept by the caller, with an expiry, keyed by series and geometry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pixels_helpers import make_ds
from pydicom import dcmread
from pydicom.data import get_testdata_file

from deidnode.config import PixelSettings
from deidnode.engine.keys import Keys
from deidnode.engine.phi import collect_phi
from deidnode.engine.pixels.series import SeriesMemo
from deidnode.engine.pixels.stage import clean_pixels
from deidnode.engine.policy import Policy

KEYS = Keys(b"pixel-tests-key-0123456789abcdefghij")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ct_slice(n: int, series: str = "1.2.3.4") -> object:
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    ds.SeriesInstanceUID = series
    ds.SOPInstanceUID = f"1.2.3.4.{n}"
    return ds


def run(ds, memo):
    audit: dict = {}
    q = clean_pixels(ds, collect_phi(ds), Policy(pixels=PixelSettings()), KEYS, audit, series_memo=memo)
    return q, audit["pixels"]


def test_a_clean_series_is_checked_once_and_then_not_decoded_again() -> None:
    memo = SeriesMemo(Clock())
    _, first = run(ct_slice(1), memo)
    assert first["text_check"] is False and "text_check_from" not in first and "decode" in first["seconds"]
    for n in range(2, 6):
        ds = ct_slice(n)
        raw = bytes(ds.PixelData)
        q, a = run(ds, memo)
        assert q is None and ds.PixelData == raw
        assert a["text_check_from"] == "series" and a["text_check"] is False and "decode" not in a["seconds"]


def test_a_series_decision_expires_after_its_time_and_its_count() -> None:
    clock = Clock()
    memo = SeriesMemo(clock, ttl_seconds=60, max_uses=2)
    run(ct_slice(1), memo)
    assert run(ct_slice(2), memo)[1].get("text_check_from") == "series"
    clock.now = 61
    assert "text_check_from" not in run(ct_slice(3), memo)[1]  # expired by time: checked again
    assert run(ct_slice(4), memo)[1].get("text_check_from") == "series"
    assert run(ct_slice(5), memo)[1].get("text_check_from") == "series"
    assert "text_check_from" not in run(ct_slice(6), memo)[1]  # two uses: checked again


@pytest.mark.parametrize("change", ["series", "rows", "image_type"])
def test_another_series_or_geometry_is_checked_on_its_own(change) -> None:
    memo = SeriesMemo(Clock())
    run(ct_slice(1), memo)
    ds = ct_slice(2, series="1.2.3.5" if change == "series" else "1.2.3.4")
    if change == "rows":
        ds.Rows, ds.Columns = 64, 256  # same pixel count, another geometry
    if change == "image_type":
        ds.ImageType = ["DERIVED", "SECONDARY", "SCREEN SAVE"]
    _, a = run(ds, memo)
    assert "text_check_from" not in a


def test_a_series_with_text_sends_its_next_slices_straight_to_ocr() -> None:
    memo = SeriesMemo(Clock())
    texts = [("SMITH^JOHN", (12, 10)), ("W 400 L 40", (12, 285))]
    first = make_ds("MONOCHROME2", texts, modality="CT")
    first.SeriesInstanceUID = "1.2.9"
    _, a = run(first, memo)
    assert a["text_check"] is True and a["boxes_redacted"] >= 1
    second = make_ds("MONOCHROME2", texts, modality="CT")
    second.SeriesInstanceUID = "1.2.9"
    _, b = run(second, memo)
    assert b["text_check_from"] == "series" and b["selected"] == "check" and b["boxes_redacted"] >= 1


def test_the_batch_command_keeps_one_decision_per_series(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for n in range(4):
        ct_slice(n).save_as(src / f"{n}.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from deidnode.cli import main; sys.exit(main())",
            "deid",
            str(src),
            "--out",
            str(out),
            "--ephemeral-key",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    audits = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    froms = sorted(a["engine"]["pixels"].get("text_check_from", "checked") for a in audits)
    assert froms == ["checked", "series", "series", "series"]
    assert all(np.isfinite(a["engine"]["pixels"]["seconds"]["total"]) for a in audits)
