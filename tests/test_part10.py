"""The engine's Part 10 writer gives the same bytes as pydicom's dcmwrite, and is used where it applies."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import phi_dataset as P
import pytest
from dicom_factory import make_study, to_bytes
from pydicom import dcmwrite
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset

from deidnode.config import Profile
from deidnode.dicomio.part10 import encode_part10
from deidnode.engine import Keys, Policy, deidentify_bytes
from deidnode.engine.deidentify import _encoding

KEY = Keys(b"w" * 32)
FILES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "rtplan.dcm",
    "rtdose.dcm",
    "rtstruct.dcm",
    "test-SR.dcm",
    "SC_rgb.dcm",
    "JPEG2000.dcm",
    "US1_J2KR.dcm",
    "emri_small.dcm",
    "MR-SIEMENS-DICOM-WithOverlays.dcm",
    "SC_rgb_jpeg.dcm",
    "image_dfl.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "SC_ybr_full_422_uncompressed.dcm",
    "liver.dcm",
    "waveform_ecg.dcm",
    "ExplVR_BigEnd.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
]
PROFILES = {
    "basic": Profile(options=()),
    "default": Profile(),
    "retain": Profile(
        options=("retain_safe_private", "retain_uids", "retain_long_full_dates"), unlisted_standard="keep"
    ),
}


def _inputs() -> dict[str, bytes]:
    out = {f: Path(get_testdata_file(f)).read_bytes() for f in FILES}
    out["planted"] = to_bytes(P.planted_ct())
    for i, ds in enumerate(make_study(2, 2, size=32, seed="part10")):
        out[f"factory{i}"] = to_bytes(ds)
    return out


INPUTS = _inputs()


def _both(ds: Dataset) -> tuple[bytes | None, bytes]:
    implicit, little = _encoding(str(ds.file_meta.TransferSyntaxUID))
    fast = encode_part10(copy.deepcopy(ds), implicit, little)
    buf = io.BytesIO()
    dcmwrite(buf, copy.deepcopy(ds), enforce_file_format=True, implicit_vr=implicit, little_endian=little)
    return fast, buf.getvalue()


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_fast_writer_matches_dcmwrite(name, profile):
    result = deidentify_bytes(INPUTS[name], Policy(profile=PROFILES[profile]), KEY)
    assert result.ok, result.quarantine
    fast, reference = _both(result.dataset)
    if name == "image_dfl.dcm":
        assert fast is None  # deflate is left to dcmwrite
    else:
        assert fast == reference


def test_fast_writer_declines_file_meta_it_did_not_make():
    result = deidentify_bytes(INPUTS["CT_small.dcm"], Policy(profile=Profile()), KEY)
    ds = result.dataset
    ds.file_meta.SourceApplicationEntityTitle = "ELSEWHERE"
    fast, reference = _both(ds)
    assert fast is None and reference


def test_fast_writer_declines_a_changed_character_set():
    result = deidentify_bytes(INPUTS["planted"], Policy(profile=Profile()), KEY)
    ds = result.dataset
    ds.SpecificCharacterSet = "ISO_IR 192"
    assert _both(ds)[0] is None


def test_fast_writer_matches_dcmwrite_with_file_meta_set_as_attributes():
    result = deidentify_bytes(INPUTS["CT_small.dcm"], Policy(profile=Profile()), KEY)
    ds = result.dataset
    old = ds.file_meta
    ds.file_meta = FileMetaDataset()
    for keyword in (
        "MediaStorageSOPClassUID",
        "MediaStorageSOPInstanceUID",
        "TransferSyntaxUID",
        "ImplementationClassUID",
        "ImplementationVersionName",
    ):
        setattr(ds.file_meta, keyword, getattr(old, keyword))
    fast, reference = _both(ds)
    assert fast == reference


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_fast_body_matches_write_dataset(name, profile):
    """What the forwarder sends: the data set alone, in the syntax it was read in."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import correct_ambiguous_vr, write_dataset

    from deidnode.dicomio.part10 import encode_body

    result = deidentify_bytes(INPUTS[name], Policy(profile=PROFILES[profile]), KEY)
    assert result.ok, result.quarantine
    ds = result.dataset
    implicit, little = _encoding(str(ds.file_meta.TransferSyntaxUID))
    fast = encode_body(copy.deepcopy(ds), implicit, little)
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    write_dataset(fp, correct_ambiguous_vr(copy.deepcopy(ds), little))
    if name == "image_dfl.dcm":
        assert fast is None  # deflate is left to write_dataset and zlib
    else:
        assert fast is not None and b"".join(fast) == fp.getvalue()
    assert encode_body(copy.deepcopy(ds), not implicit, little) is None  # another encoding: pydicom re-encodes


def test_fast_body_hands_large_pixel_data_on_without_copying_it():
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    from deidnode.dicomio.part10 import SPILL_BYTES, encode_body

    ds = make_study(1, 1, size=1024, seed="spill")[0]  # 2 MiB of pixel data
    assert len(ds.PixelData) >= SPILL_BYTES
    result = deidentify_bytes(to_bytes(ds), Policy(profile=Profile()), KEY)
    out = result.dataset
    parts = encode_body(out, False, True)
    assert parts is not None and len(parts) == 3  # header, pixel data as read, (empty) rest
    assert parts[1] is out._dict[0x7FE00010].value  # the very object read, not a copy
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = False, True
    write_dataset(fp, out)
    assert b"".join(parts) == fp.getvalue()


def test_the_engines_file_meta_is_built_once_from_raw_elements() -> None:
    """rebuild_file_meta's fast path (raw elements, no pydicom setters) must be what the output carries: a
    refactor left the setter-built copy running after it, at four times the cost, overwriting it."""
    from pydicom.dataelem import RawDataElement
    from pydicom.dataset import Dataset

    from deidnode.dicomio.rawvalue import elements
    from deidnode.engine.header.records import rebuild_file_meta

    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "2.25.1234"
    rebuild_file_meta(ds, "1.2.840.10008.1.2.1")
    meta = elements(ds.file_meta)
    assert all(isinstance(e, RawDataElement) for e in meta.values())
    assert ds.file_meta.MediaStorageSOPInstanceUID == "2.25.1234"
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
