"""The header engine: action codes, options, sequences, private tags, consistency, records, leaks."""

from __future__ import annotations

import copy
import io
import re

import phi_dataset as P
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from deidnode.config import Profile, TagOverride
from deidnode.engine import Keys, Policy, deidentify, deidentify_bytes, encode_dataset
from deidnode.engine.pseudonyms import pseudo_patient_id, pseudo_person_name, shift_da

KEY = Keys(b"k" * 32)
NO_OPTIONS = Profile(options=())


def run(ds: Dataset, profile: Profile = NO_OPTIONS, keys: Keys = KEY) -> Dataset:
    """De-identify and read back, so tests see what a reader of the output file sees."""
    result = deidentify(ds, Policy(profile=profile), keys)
    assert result.ok, result.quarantine
    return roundtrip(result.dataset)


def roundtrip(ds: Dataset) -> Dataset:
    return pydicom.dcmread(io.BytesIO(encode_dataset(ds)))


def normalized(s: str | bytes) -> str:
    if isinstance(s, bytes):
        s = s.decode("latin-1")
    return re.sub(r"[^0-9A-Z]", "", s.upper())


# --- action codes -------------------------------------------------------------------------------------------


def test_action_x_removes_the_element():
    out = run(P.planted_ct())
    assert "OtherPatientIDs" not in out  # (0010,1000) X
    assert "PatientAddress" not in out  # (0010,1040) X
    assert "InstitutionName" in out and out.InstitutionName == "ANONYMIZED"  # X/Z/D resolves to D


def test_action_z_empties_or_gives_a_stable_pseudonym_for_identities():
    out = run(P.planted_ct())
    assert out.ReferringPhysicianName == ""  # (0008,0090) Z
    assert str(out.PatientName) == pseudo_person_name(KEY, f"{P.NAME_FAMILY}^{P.NAME_GIVEN}")
    assert out.PatientID == pseudo_patient_id(KEY, P.PATIENT_ID)  # Z/D
    assert out.AccessionNumber and out.AccessionNumber != P.ACCESSION
    assert out.PatientBirthDate == ""  # Z


def test_action_d_gives_a_dummy_valid_for_the_vr():
    out = run(P.planted_ct())
    assert out.ContentDate == "19000101"  # Z/D -> D, no longitudinal option
    op = str(out.OperatorsName)  # X/Z/D -> D on a PN: a plausible name, not the original
    assert op and "THISTLEWAITE" not in op.upper()


def test_action_k_keeps_with_the_retaining_option():
    ds = P.planted_ct()
    ds.DeviceSerialNumber = "SN-123"
    out = run(ds, Profile(options=("retain_device_identity",)))
    assert out.DeviceSerialNumber == "SN-123"
    ds2 = P.planted_ct()
    ds2.DeviceSerialNumber = "SN-123"
    assert run(ds2).DeviceSerialNumber == "ANONYMIZED"  # X/Z/D -> D without the option


def test_action_c_cleans_descriptors_and_keeps_the_rest():
    out = run(P.planted_ct(), Profile(options=("clean_descriptors",)))
    desc = out.StudyDescription
    assert desc.startswith("CT CHEST for")
    for leak in (P.NAME_FAMILY, P.NAME_GIVEN, P.PATIENT_ID, "1961"):
        assert leak.upper() not in desc.upper()
    assert out.SeriesDescription.strip() == "AXIAL 5mm"


def test_descriptors_are_removed_without_clean_descriptors():
    out = run(P.planted_ct())
    assert "StudyDescription" not in out and "SeriesDescription" not in out


def test_action_u_maps_uids_consistently_and_keeps_structural_ones():
    ds = P.planted_ct()
    study = ds.StudyInstanceUID
    out = run(ds)
    assert out.StudyInstanceUID == KEY.uid(study)
    assert out.StudyInstanceUID.startswith("2.25.") and len(out.StudyInstanceUID) <= 64
    assert out.SOPClassUID == P.CTImageStorage  # never replaced (E.3.9)
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID


def test_x_z_u_star_keeps_referenced_image_sequence_with_remapped_uids():
    ds = P.planted_ct()
    ref_uid = ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    out = run(ds)
    assert out.ReferencedImageSequence[0].ReferencedSOPInstanceUID == KEY.uid(ref_uid)
    assert out.ReferencedImageSequence[0].ReferencedSOPClassUID == P.CTImageStorage


def test_per_tag_overrides_keep_remove_and_replace():
    profile = Profile(
        options=(),
        overrides={
            "(0010,0040)": TagOverride(action="keep"),
            "Manufacturer": TagOverride(action="remove"),
            "0008,1030": TagOverride(action="replace", value="RESEARCH STUDY"),
        },
    )
    out = run(P.planted_ct(), profile)
    assert out.PatientSex == "M"
    assert "Manufacturer" not in out
    assert out.StudyDescription == "RESEARCH STUDY"


# --- options --------------------------------------------------------------------------------------------------


def test_modified_dates_shift_every_date_by_one_patient_offset():
    ds = P.planted_ct()
    out = run(ds, Profile(options=("retain_long_modified_dates",)))
    assert out.StudyDate != P.STUDY_DATE and len(out.StudyDate) == 8
    assert out.SeriesDate == out.StudyDate == out.ContentDate
    assert out.AcquisitionDateTime == out.StudyDate + "101510"  # time of day kept
    assert out.StudyTime == "101500"
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    # the same patient in another study gets the same offset
    other = P.planted_ct()
    other.StudyDate = "20240101"
    out2 = run(other, Profile(options=("retain_long_modified_dates",)))
    offset = KEY.day_offset("id:" + P.PATIENT_ID + "|", 3650)
    assert out2.StudyDate == shift_da("20240101", offset)
    assert out.StudyDate == shift_da(P.STUDY_DATE, offset)


def test_full_dates_keep_dates_and_times():
    out = run(P.planted_ct(), Profile(options=("retain_long_full_dates",)))
    assert out.StudyDate == P.STUDY_DATE and out.StudyTime == "101500"
    assert out.LongitudinalTemporalInformationModified == "UNMODIFIED"


def test_without_longitudinal_options_dates_are_removed_or_dummied():
    out = run(P.planted_ct())
    assert out.StudyDate == ""
    assert out.LongitudinalTemporalInformationModified == "REMOVED"


def test_retain_patient_characteristics_keeps_age_and_sex():
    out = run(P.planted_ct(), Profile(options=("retain_patient_characteristics",)))
    assert out.PatientAge == "062Y" and out.PatientSex == "M"
    base = run(P.planted_ct())
    assert "PatientAge" not in base and base.PatientSex == ""


def test_retain_institution_identity_keeps_institution():
    out = run(P.planted_ct(), Profile(options=("retain_institution_identity",)))
    assert out.InstitutionName == P.INSTITUTION


def test_retain_uids_keeps_uids():
    ds = P.planted_ct()
    study = ds.StudyInstanceUID
    out = run(ds, Profile(options=("retain_uids",)))
    assert out.StudyInstanceUID == study


def test_retain_device_identity_keeps_station_name():
    out = run(P.planted_ct(), Profile(options=("retain_device_identity",)))
    assert out.StationName == "Wombat Station 7"  # K in the option's column
    assert run(P.planted_ct()).StationName == "ANONYMIZED"  # X/Z/D -> D without it


def _with_curve(ds: Dataset) -> Dataset:
    ds.add_new(0x50000005, "US", 2)  # Curve Dimensions
    ds.add_new(0x50000010, "US", 3)  # Number of Points
    ds.add_new(0x50002500, "LO", f"ECG of {P.NAME_FAMILY}")  # Curve Label
    ds.add_new(0x50003000, "OW", b"\x01\x00\x02\x00\x03\x00")  # Curve Data
    return ds


def test_curves_are_removed_or_cleaned_with_clean_graphics():
    assert not [e for e in run(_with_curve(P.planted_ct())) if 0x5000 <= e.tag.group <= 0x50FF]
    out = run(_with_curve(P.planted_ct()), Profile(options=("clean_graphics",)))
    assert out[0x50000010].value == 3 and out[0x50003000].value == b"\x01\x00\x02\x00\x03\x00"
    assert out[0x50002500].value == "ECG of"


def test_clean_structured_content_scrubs_text_items():
    out = run(P.planted_ct(), Profile(options=("clean_structured_content",)))
    text = out.ContentSequence[0].TextValue
    assert text.startswith("Discussed with Dr")
    assert "FROBISHER" not in text.upper() and P.STUDY_DATE not in text


def test_without_clean_structured_content_free_text_items_get_a_dummy():
    out = run(P.planted_ct())
    assert out.ContentSequence[0].TextValue == "ANONYMIZED"


def test_clean_graphics_and_basic_both_remove_overlays_whole():
    for profile in (NO_OPTIONS, Profile(options=("clean_graphics",))):
        out = run(P.planted_ct(), profile)
        assert not [e for e in out if 0x6000 <= e.tag.group <= 0x60FF]


def test_struct_content_table_item_with_x_is_dropped():
    ds = P.planted_ct()
    item = Dataset()
    item.ValueType = "TEXT"
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = "121022", "DCM", "Accession Number"
    item.ConceptNameCodeSequence = Sequence([c])
    item.TextValue = P.ACCESSION
    ds.ContentSequence.append(item)
    out = run(ds, Profile(options=("clean_structured_content",)))
    assert len(out.ContentSequence) == 1


def test_unknown_option_is_a_config_error_naming_the_option():
    with pytest.raises(ValueError, match="unknown option 'retain_everything'"):
        Profile(options=("retain_everything",))


# --- sequences, private tags, unlisted --------------------------------------------------------------------------


def test_nested_sequences_are_cleaned_at_any_depth():
    out = run(P.planted_ct())
    proc = out.RequestAttributesSequence[0] if "RequestAttributesSequence" in out else None
    # (0040,0275) Request Attributes Sequence is X in the basic profile
    assert proc is None
    ds = P.planted_ct()
    deep = Dataset()
    deep.PersonName = P.OPERATOR
    deep.ReferencedSOPInstanceUID = "1.2.3.4.5"
    mid = Dataset()
    mid.ContentSequence = Sequence([deep])
    ds.AnatomicRegionSequence = Sequence([Dataset()])
    ds.AnatomicRegionSequence[0].ContentSequence = Sequence([mid])  # unlisted -> recursed
    out = run(ds)
    got = out.AnatomicRegionSequence[0].ContentSequence[0].ContentSequence[0]
    assert "THISTLEWAITE" not in str(got.PersonName).upper()
    assert got.ReferencedSOPInstanceUID == KEY.uid("1.2.3.4.5")


def test_private_tags_are_removed_by_default():
    out = run(P.planted_ct())
    assert not [e for e in out if e.tag.is_private]


def test_retain_safe_private_keeps_only_listed_elements_and_their_creator():
    ds = P.planted_ct()
    # Move the Philips block to another reservation (0x12): matching must follow the creator, not the block.
    del ds[0x70530010]
    for tag in [t for t in ds.keys() if t.group == 0x7053]:
        del ds[tag]
    ds.add_new(0x70530012, "LO", "Philips PET Private Group")
    ds.add_new(0x70531200, "DS", "1.25")
    ds.add_new(0x70531277, "LO", "SPLENDIDPRIVATE")
    out = run(ds, Profile(options=("retain_safe_private",)))
    assert out[0x70531200].value == "1.25"
    assert 0x70531277 not in out
    assert out[0x70530012].value == "Philips PET Private Group"
    assert 0x00090010 not in out and 0x00091010 not in out  # unknown creator: all gone


def test_unlisted_text_attribute_is_removed_and_technique_kept():
    out = run(P.planted_ct())
    assert 0x0018003A not in out  # Intervention Description, unlisted text
    assert out.KVP == "120" and out.ConvolutionKernel == "B30f" and out.Manufacturer == "ACME Medical"
    assert out.PixelSpacing == [0.7, 0.7]


def test_unlisted_default_keep_keeps_unlisted_text_but_scrubs_it():
    out = run(P.planted_ct(), Profile(options=(), unlisted_standard="keep"))
    assert out[0x0018003A].value == "Dept of"


# --- consistency, determinism, records -------------------------------------------------------------------------


def test_two_file_study_keeps_its_structure():
    study, frame = generate_uid(), generate_uid()
    a = P.planted_ct(study_uid=study, series_uid=generate_uid(), frame_uid=frame)
    b = P.planted_ct(study_uid=study, series_uid=generate_uid(), frame_uid=frame)
    b.ReferencedImageSequence[0].ReferencedSOPInstanceUID = a.SOPInstanceUID
    profile = Profile()
    oa, ob = run(copy.deepcopy(a), profile), run(copy.deepcopy(b), profile)
    assert oa.StudyInstanceUID == ob.StudyInstanceUID != study
    assert oa.SeriesInstanceUID != ob.SeriesInstanceUID
    assert oa.FrameOfReferenceUID == ob.FrameOfReferenceUID != frame
    assert ob.ReferencedImageSequence[0].ReferencedSOPInstanceUID == oa.SOPInstanceUID
    assert oa.PatientID == ob.PatientID and oa.PatientName == ob.PatientName
    assert oa.StudyDate == ob.StudyDate and oa.AccessionNumber == ob.AccessionNumber


def test_same_input_and_key_give_identical_bytes_and_another_key_differs():
    ds = P.planted_ct(sop_uid="1.2.3.4", study_uid="1.2.3", series_uid="1.2.3.5", frame_uid="1.2.3.6")
    one = encode_dataset(run(copy.deepcopy(ds), Profile()))
    two = encode_dataset(run(copy.deepcopy(ds), Profile()))
    assert one == two
    other = run(copy.deepcopy(ds), Profile(), Keys(b"o" * 32))
    assert other.SOPInstanceUID != pydicom.dcmread(io.BytesIO(one)).SOPInstanceUID


def test_records_identity_removed_method_and_codes():
    out = run(P.planted_ct(), Profile())
    assert out.PatientIdentityRemoved == "YES"
    assert out.DeidentificationMethod
    codes = [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113103", "113104", "113105", "113107", "113108"]
    assert all(i.CodingSchemeDesignator == "DCM" for i in out.DeidentificationMethodCodeSequence)
    meta = out.file_meta
    assert meta.ImplementationClassUID.startswith("2.25.")
    assert meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert "SourceApplicationEntityTitle" not in meta


def test_pixel_data_and_transfer_syntax_untouched_without_pixel_cleaning():
    from pydicom.data import get_testdata_file

    path = get_testdata_file("JPEG2000.dcm")
    original = pydicom.dcmread(path)
    out = run(pydicom.dcmread(path), Profile())
    assert out.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert out.PixelData == original.PixelData


# --- fail closed -------------------------------------------------------------------------------------------------


def test_encapsulated_pdf_is_quarantined_unless_allowed():
    ds = P.planted_ct()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.104.1"
    r = deidentify(copy.deepcopy(ds), Policy(profile=NO_OPTIONS), KEY)
    assert not r.ok and r.quarantine.code == "uncleanable_payload"
    allowed = Profile(options=(), allowed_sop_classes=("1.2.840.10008.5.1.4.1.1.104.1",))
    assert deidentify(ds, Policy(profile=allowed), KEY).ok


def test_private_sop_class_and_burned_in_annotation_are_quarantined():
    ds = P.planted_ct()
    ds.SOPClassUID = "1.3.12.2.1107.5.9.1"
    assert deidentify(ds, Policy(profile=NO_OPTIONS), KEY).quarantine.code == "private_sop_class"
    ds = P.planted_ct()
    ds.BurnedInAnnotation = "YES"
    assert deidentify(ds, Policy(profile=NO_OPTIONS), KEY).quarantine.code == "burned_in_annotation"


def test_truncated_pixel_data_is_quarantined():
    ds = P.planted_ct()
    ds.PixelData = ds.PixelData[:100]
    r = deidentify(ds, Policy(profile=NO_OPTIONS), KEY)
    assert r.quarantine.code == "pixel_data_mismatch"
    assert P.PATIENT_ID not in str(r.quarantine.as_dict())


def test_garbage_bytes_are_quarantined_with_a_parse_reason():
    r = deidentify_bytes(b"\x00" * 128 + b"DICM" + b"garbage" * 10, Policy(), KEY)
    assert not r.ok and r.quarantine.stage == "parse"


# --- the leak test -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        (),
        (
            "clean_descriptors",
            "retain_long_modified_dates",
            "retain_patient_characteristics",
            "clean_structured_content",
            "clean_graphics",
        ),
        ("clean_descriptors", "retain_safe_private", "retain_long_modified_dates"),
    ],
)
def test_no_planted_phi_survives_anywhere_in_the_output_bytes(options):
    ds = P.planted_ct()
    ds.OtherPatientNames = "ZEBEDIAH^QUIXLEY"
    ds.PatientMotherBirthName = "QUIXLEY^ANN"
    ds.RequestingPhysician = P.REFERRER
    data = encode_dataset(deidentify(ds, Policy(profile=Profile(options=options)), KEY).dataset)
    flat = normalized(data)
    for value in P.PLANTED:
        needle = normalized(value)
        if needle == "YAMADAKOTARO":
            continue
        assert needle not in flat, f"planted value #{P.PLANTED.index(value)} leaked"


def test_japanese_person_name_groups_do_not_leak():
    ds = P.planted_ct()
    P.add_japanese_name(ds)
    raw = encode_dataset(deidentify(ds, Policy(profile=Profile()), KEY).dataset)
    assert "YAMADA" not in normalized(raw)
    assert "山田".encode("iso2022_jp")[3:7] not in raw  # the JIS X 0208 bytes of the ideographic group
    assert "KOTARO" not in normalized(raw)


def test_overlay_in_unused_high_bits_is_cleared_from_the_pixels():
    import numpy as np

    ds = P.planted_ct()
    for tag in [t for t in ds.keys() if t.group == 0x6000]:
        del ds[tag]
    ds.add_new(0x60000010, "US", ds.Rows)
    ds.add_new(0x60000011, "US", ds.Columns)
    ds.add_new(0x60000100, "US", 16)  # Overlay Bits Allocated: the overlay lives in Pixel Data
    ds.add_new(0x60000102, "US", 15)  # Overlay Bit Position: above High Bit (11)
    pixels = np.frombuffer(ds.PixelData, "<u2").copy()
    pixels[:64] |= 0x8000  # the overlay's bitmap: a burned-in mark in bit 15
    ds.PixelData = pixels.tobytes()
    out = run(ds)
    got = np.frombuffer(out.PixelData, "<u2")
    assert not (got & 0xF000).any()
    assert (got == (pixels & 0x0FFF)).all()  # the image itself is untouched
    assert not [e for e in out if e.tag.group == 0x6000]


def test_preamble_content_is_not_carried_into_the_output():
    """PS3.10 7.1: a preamble may hold anything (e.g. a TIFF header with a name in it); the output's is zeros."""
    ds = P.planted_ct()
    buf = io.BytesIO()
    ds.preamble = b"II*\x00" + b"Doe^Jane MRN123456".ljust(124, b"\x00")
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    result = deidentify_bytes(buf.getvalue(), Policy(profile=NO_OPTIONS), KEY)
    assert result.ok, result.quarantine
    out = encode_dataset(result.dataset)
    assert out[:132] == b"\x00" * 128 + b"DICM"
