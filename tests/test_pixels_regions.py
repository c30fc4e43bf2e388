"""Device regions (rules/pixel_regions.yaml): transcribed from RSNA CTP and pydicom/deid, matched, blanked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pixels_helpers import make_ds
from pydicom.dataset import Dataset, FileMetaDataset

from deidnode.config import PixelSettings
from deidnode.engine.keys import Keys
from deidnode.engine.phi import collect_phi
from deidnode.engine.pixels.codec import decode_frames
from deidnode.engine.pixels.regions import load_signatures, regions_for
from deidnode.engine.pixels.stage import clean_pixels
from deidnode.engine.policy import Policy


def test_every_signature_loads_and_names_its_source() -> None:
    sigs = load_signatures()
    assert len(sigs) >= 90
    assert all(s.source and s.regions for s in sigs)
    assert sum(s.source.startswith("ctp") for s in sigs) >= 25
    assert sum(s.source.startswith("deid") for s in sigs) >= 50


def _ds(**kw) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    for k, v in kw.items():
        if k == "ImplementationVersionName":
            ds.file_meta.ImplementationVersionName = v
        else:
            setattr(ds, k, v)
    return ds


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        # CTP: GE 512x512 screen captures: Burned In Annotation YES, GE MEDICAL, 512 rows
        (
            {"Manufacturer": "GE MEDICAL SYSTEMS", "BurnedInAnnotation": "YES", "Rows": 512, "Columns": 512},
            [(0, 0, 512, 25)],
        ),
        # CTP: Philips iU22, 600 rows
        (
            {"Modality": "US", "Manufacturer": "Philips", "ManufacturerModelName": "iU22", "Rows": 600, "Columns": 800},
            [(0, 0, 800, 59)],
        ),
        # deid: Mindray by file meta Implementation Version Name
        (
            {"Modality": "US", "ImplementationVersionName": "MINDRAY_V1", "Rows": 768, "Columns": 1024},
            [(0, 0, 1024, 69)],
        ),
        # deid: Ultrasonix SONIX, rows 600 or 768 (a list of numbers)
        (
            {
                "Modality": "US",
                "Manufacturer": "Ultrasonix",
                "ManufacturerModelName": "SONIX RP",
                "Rows": 768,
                "Columns": 1024,
            },
            [(0, 0, 970, 60)],
        ),
        # the same without a matching row count: nothing
        (
            {
                "Modality": "US",
                "Manufacturer": "Ultrasonix",
                "ManufacturerModelName": "SONIX RP",
                "Rows": 700,
                "Columns": 1024,
            },
            [],
        ),
    ],
)
def test_signatures_match_on_attributes_file_meta_and_lists(attrs, expected) -> None:
    assert regions_for(_ds(**attrs)) == expected


def test_a_repeating_group_attribute_is_matched_by_its_tag() -> None:
    ds = _ds(Rows=512, Columns=512)
    ds.add_new(0x60000022, "LO", "Siemens MedCom Object Graphics")
    assert regions_for(ds) == [(0, 0, 512, 90)]


def test_an_unknown_keyword_is_refused_with_the_signature_named(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text("signatures:\n  - name: bad row\n    match: {Manufacurer: X}\n    regions: [[0, 0, 1, 1]]\n")
    with pytest.raises(ValueError, match="bad row.*Manufacurer"):
        load_signatures(f)


def test_a_known_device_header_band_is_blanked_even_without_text_found() -> None:
    ds = make_ds("MONOCHROME2", [], modality="CT", size=512)
    ds.Manufacturer, ds.BurnedInAnnotation = "GE MEDICAL SYSTEMS", "YES"
    audit: dict = {}
    q = clean_pixels(ds, collect_phi(ds), Policy(pixels=PixelSettings()), Keys(b"k" * 32), audit)
    assert q is None and audit["pixels"]["region_boxes"] == 1
    frame = decode_frames(ds)[0]
    assert np.all(frame[:25] == frame.min())  # the fill: the darkest value of MONOCHROME2
    assert not np.all(frame[25:30] == frame.min())


def test_signatures_skipped_a_group_at_a_time_match_as_when_tried_one_by_one() -> None:
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    from deidnode.engine.pixels.regions import matching

    sigs = load_signatures()
    names = (
        "CT_small.dcm",
        "MR_small.dcm",
        "SC_rgb.dcm",
        "emri_small.dcm",
        "eCT_Supplemental.dcm",
        "rtplan.dcm",
        "JPEG2000.dcm",
        "MR_small_RLE.dcm",
    )
    paths = [get_testdata_file(n, download=False) for n in names]  # bundled with pydicom: never downloaded
    datasets = [dcmread(p, stop_before_pixels=True) for p in paths if p]
    datasets += [
        _ds(Manufacturer="GE MEDICAL SYSTEMS", SeriesDescription="Dose Report"),
        _ds(Manufacturer="TOSHIBA", Modality="CT", SeriesDescription="Dose Info"),
    ]
    for ds in datasets:
        assert {id(s) for s in matching(ds)} == {id(s) for s in sigs if s.matches(ds)}
    assert any(matching(ds) for ds in datasets)
