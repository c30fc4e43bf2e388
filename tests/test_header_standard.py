"""The standard, complete: the rows PS3.15 2025a adds, private blocks the file declares safe in its Private Data
Element Characteristics Sequence (0008,0300), and the Encrypted Attributes Sequence, each in files that use them."""

from __future__ import annotations

import io
import subprocess
import sys

import phi_dataset as P
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from deidnode.config import Profile, TagOverride
from deidnode.engine import Keys, Policy, deidentify_bytes, encode_dataset
from deidnode.engine.pseudonyms import shift_dt

KEY = Keys(b"s" * 32)
BASIC = Profile(options=())
DEFAULT = Profile()
FULL_DATES = Profile(options=("retain_long_full_dates", "clean_descriptors"))
SAFE_PRIVATE = Profile(options=("retain_safe_private", "clean_descriptors"))


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def with_2025a_attributes(ds: Dataset) -> Dataset:
    """Patient Study diagnoses (0008,1301-1304) and a waveform annotation with montage (0040,B034-B03F)."""
    ds.PrincipalDiagnosisCodeSequence = Sequence([_code("254637007", "SCT", "Non-small cell lung cancer")])
    ds.PrimaryDiagnosisCodeSequence = Sequence([_code("C34.1", "I10", "Malignant neoplasm of upper lobe")])
    ds.SecondaryDiagnosesCodeSequence = Sequence([_code("38341003", "SCT", "Hypertensive disorder")])
    ds.HistologicalDiagnosesCodeSequence = Sequence([_code("35917007", "SCT", "Adenocarcinoma")])
    note = Dataset()
    note.AnnotationDateTime = "20230914101530.250000"
    note.SegmentDefinitionDateTime = "20230914101500"
    note.MontageName = f"Bipolar montage of {P.NAME_FAMILY}"
    note.MontageChannelLabel = "Fp1-F7"
    ds.MontageName = f"Referential {P.NAME_GIVEN} {P.NAME_FAMILY}"
    ds.MontageChannelLabel = "C3-A2"
    ds.AnnotationDateTime = "20230914101530"
    ds.SegmentDefinitionDateTime = "20230914101000"
    ds.add_new(0x0040B020, "SQ", Sequence([note]))  # Waveform Annotation Sequence (X/D in Table E.1-1)
    return ds


def to_bytes(ds: Dataset, implicit: bool = False) -> bytes:
    buf = io.BytesIO()
    if implicit:
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
    ds.save_as(buf, enforce_file_format=True, implicit_vr=implicit)
    return buf.getvalue()


def deid(raw: bytes, profile: Profile) -> tuple[bytes, pydicom.Dataset, dict]:
    result = deidentify_bytes(raw, Policy(profile=profile), KEY)
    assert result.ok, result.quarantine
    out = encode_dataset(result.dataset)
    return out, pydicom.dcmread(io.BytesIO(out)), result.audit


NEW_2025A = [
    "PrincipalDiagnosisCodeSequence",
    "PrimaryDiagnosisCodeSequence",
    "SecondaryDiagnosesCodeSequence",
    "HistologicalDiagnosesCodeSequence",
    "AnnotationDateTime",
    "SegmentDefinitionDateTime",
    "MontageName",
    "MontageChannelLabel",
]


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_the_2025a_rows_are_removed_by_the_basic_profile(implicit):
    raw, out, audit = deid(to_bytes(with_2025a_attributes(P.planted_ct()), implicit), BASIC)
    assert audit["table_edition"] == "2025a"
    for kw in NEW_2025A:
        assert kw not in out, kw
    assert P.NAME_FAMILY.encode() not in raw


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_the_2025a_rows_follow_their_options(implicit):
    src = with_2025a_attributes(P.planted_ct())
    _, out, audit = deid(to_bytes(src, implicit), DEFAULT)  # clean descriptors + modified dates
    offset = KEY.day_offset("id:" + P.PATIENT_ID + "|", 3650)
    # diagnoses: C on a sequence: kept, the codes inside kept
    assert out.PrincipalDiagnosisCodeSequence[0].CodeValue == "254637007"
    assert out.HistologicalDiagnosesCodeSequence[0].CodeMeaning == "Adenocarcinoma"
    # montage labels: cleaned of the instance's PHI, the rest kept
    assert out.MontageName == "Referential" and out.MontageChannelLabel == "C3-A2"
    # DateTimes: C with modified dates: shifted by the patient's offset, time of day kept
    assert out.AnnotationDateTime == shift_dt("20230914101530", offset)
    assert out.SegmentDefinitionDateTime == shift_dt("20230914101000", offset)
    note = out[0x0040B020].value[0]  # Waveform Annotation Sequence: X/D resolves to D, the items are walked
    assert note.MontageName == "Bipolar montage of" and note.MontageChannelLabel == "Fp1-F7"
    assert note.AnnotationDateTime == shift_dt("20230914101530.250000", offset)
    _, full, _ = deid(to_bytes(with_2025a_attributes(P.planted_ct()), implicit), FULL_DATES)
    assert full.AnnotationDateTime == "20230914101530"  # K with full dates


def test_pydicom_knows_the_2025a_tags_once_the_engine_is_imported():
    code = (
        "import deidnode.engine; from pydicom.datadict import tag_for_keyword, dictionary_VR; "
        "print(hex(tag_for_keyword('MontageChannelLabel')), dictionary_VR(0x0040B034))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0x40b03f", "DT"]


# --- (0008,0300) Private Data Element Characteristics Sequence ------------------------------------------------


def _declare(
    group: int,
    creator: str,
    status: str,
    nonid: list[int] | None = None,
    actions: list[tuple[list[int], str]] | None = None,
) -> Dataset:
    item = Dataset()
    item.PrivateGroupReference = group
    item.PrivateCreatorReference = creator
    item.BlockIdentifyingInformationStatus = status
    if nonid:
        item.NonidentifyingPrivateElements = nonid
    if actions:
        seq = []
        for elems, code in actions:
            a = Dataset()
            a.IdentifyingPrivateElements = elems
            a.DeidentificationAction = code
            seq.append(a)
        item.DeidentificationActionSequence = Sequence(seq)
    return item


def declared_private_file(implicit: bool = False) -> bytes:
    ds = P.planted_ct()
    safe = ds.private_block(0x0011, "ACME SAFE BLOCK", create=True)
    safe.add_new(0x01, "US", 7)
    safe.add_new(0x02, "LO", "FASTSPIN ECHO")
    safe.add_new(0x03, "LO", f"operator {P.NAME_FAMILY}")  # declared safe, but holds the patient's name
    mixed = ds.private_block(0x0013, "ACME MIXED BLOCK", create=True)
    mixed.add_new(0x01, "DS", "2.5")  # non-identifying
    mixed.add_new(0x02, "LO", P.PATIENT_ID)  # identifying, Z
    mixed.add_new(0x03, "LO", P.ACCESSION)  # identifying, X
    mixed.add_new(0x04, "SH", "BED 4")  # identifying, D
    mixed.add_new(0x05, "UI", "1.2.3.4.5.6")  # identifying, U
    mixed.add_new(0x06, "LO", "SPLENDIDPRIVATE")  # not described: Table E.3.10-1 does not list it either
    ds.PrivateDataElementCharacteristicsSequence = Sequence(
        [
            _declare(0x0011, "ACME SAFE BLOCK", "SAFE"),
            _declare(
                0x0013,
                "ACME MIXED BLOCK",
                "MIXED",
                [0x01],
                [([0x02], "Z"), ([0x03], "X"), ([0x04], "D"), ([0x05], "U")],
            ),
            _declare(0x7053, "Philips PET Private Group", "UNSAFE"),  # the file overrides Table E.3.10-1
        ]
    )
    return to_bytes(ds, implicit)


def _private(out: pydicom.Dataset, group: int, creator: str, byte: int):
    block = out.private_block(group, creator)
    tag = block.get_tag(byte)
    return out[tag].value if tag in out else None


def test_retain_safe_private_honours_the_blocks_the_file_declares():
    raw, out, audit = deid(declared_private_file(), SAFE_PRIVATE)
    assert _private(out, 0x0011, "ACME SAFE BLOCK", 0x01) == 7
    assert _private(out, 0x0011, "ACME SAFE BLOCK", 0x02) == "FASTSPIN ECHO"
    assert _private(out, 0x0011, "ACME SAFE BLOCK", 0x03) is None  # safe by declaration, PHI by content
    assert _private(out, 0x0013, "ACME MIXED BLOCK", 0x01) == 2.5
    assert _private(out, 0x0013, "ACME MIXED BLOCK", 0x02) in ("", None)  # Z
    assert 0x00131003 not in out  # X
    assert _private(out, 0x0013, "ACME MIXED BLOCK", 0x04) == "ANONYMIZED"  # D
    assert _private(out, 0x0013, "ACME MIXED BLOCK", 0x05) == KEY.uid("1.2.3.4.5.6")  # U
    assert 0x00131006 not in out
    assert not [e for e in out if e.tag.group == 0x7053]  # declared UNSAFE
    for value in (P.PATIENT_ID, P.ACCESSION, P.NAME_FAMILY, "SPLENDIDPRIVATE"):
        assert value.encode() not in raw
    declared = out.PrivateDataElementCharacteristicsSequence
    assert [i.PrivateCreatorReference for i in declared][:2] == ["ACME SAFE BLOCK", "ACME MIXED BLOCK"]
    assert audit["actions"]["private_declared_Z"] == 1


def test_declared_blocks_are_removed_without_retain_safe_private():
    _, out, _ = deid(declared_private_file(), DEFAULT)
    assert not [e for e in out if e.tag.is_private]


def test_declared_blocks_in_an_implicit_vr_file_keep_only_what_can_be_checked():
    """Implicit VR: private values arrive as UN. Declared-safe numbers stay; text with the patient's name goes."""
    raw, out, _ = deid(declared_private_file(implicit=True), SAFE_PRIVATE)
    assert P.NAME_FAMILY.encode() not in raw and P.PATIENT_ID.encode() not in raw
    assert _private(out, 0x0011, "ACME SAFE BLOCK", 0x01) is not None


# --- Encrypted Attributes Sequence ---------------------------------------------------------------------------


def with_encrypted_attributes(ds: Dataset) -> Dataset:
    item = Dataset()
    item.EncryptedContentTransferSyntaxUID = "1.2.840.10008.1.2.1"
    item.EncryptedContent = b"0\x82" + P.PATIENT_ID.encode() + b"\x00" * 30  # a CMS envelope, readable or not
    ds.EncryptedAttributesSequence = Sequence([item])
    inner = Dataset()
    inner.EncryptedAttributesSequence = Sequence([item])
    ds.ReferencedImageSequence[0].AnatomicRegionSequence = Sequence([inner])
    return ds


@pytest.mark.parametrize(
    "profile",
    [
        BASIC,
        DEFAULT,
        SAFE_PRIVATE,
        Profile(unlisted_standard="keep"),
        Profile(overrides={"EncryptedAttributesSequence": TagOverride(action="keep")}),
    ],
    ids=["basic", "default", "safe_private", "unlisted_keep", "override_keep"],
)
def test_encrypted_attributes_sequence_is_never_forwarded(profile):
    raw, out, audit = deid(to_bytes(with_encrypted_attributes(P.planted_ct())), profile)
    tags: list[int] = []
    out.walk(lambda _ds, elem: tags.append(int(elem.tag)))
    assert 0x04000500 not in tags and 0x04000520 not in tags
    assert P.PATIENT_ID.encode() not in raw
    assert audit["actions"]["encrypted_attributes_removed"] == 2
