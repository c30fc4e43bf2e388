"""A realistic CT instance with PHI planted everywhere a de-identifier is judged: standard tags, nested
sequences, private blocks, free text, SR-style content, overlay comments, an unlisted attribute, and an
ISO 2022 Japanese name. ``PLANTED`` lists every planted value, for leak tests."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

NAME_FAMILY = "QUIXLEY"
NAME_GIVEN = "ZEBEDIAH"
PATIENT_ID = "MRN4471982"
BIRTH_DATE = "19610417"
ACCESSION = "ACC99812734"
INSTITUTION = "Saint Barnabus Riverside Hospital"
ADDRESS = "42 Wallaby Way Sydney"
PHONE = "555-867-5309"
REFERRER = "FROBISHER^MARGUERITE"
OPERATOR = "THISTLEWAITE^OSWALD"
OTHER_ID = "OTH7730021"
STUDY_DATE = "20230914"

PLANTED = [
    NAME_FAMILY,
    NAME_GIVEN,
    PATIENT_ID,
    BIRTH_DATE,
    "17.04.1961",
    "04/17/1961",
    ACCESSION,
    INSTITUTION,
    ADDRESS,
    PHONE,
    "FROBISHER",
    "MARGUERITE",
    "THISTLEWAITE",
    "OSWALD",
    OTHER_ID,
    STUDY_DATE,
    "YAMADAKOTARO",
    "SPLENDIDPRIVATE",
    "Wombat Station 7",
]


def planted_ct(
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    frame_uid: str | None = None,
    rows: int = 64,
    cols: int = 64,
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.SourceApplicationEntityTitle = "WOMBATSTATION"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.FrameOfReferenceUID = frame_uid or generate_uid()
    ds.Modality = "CT"
    ds.Manufacturer = "ACME Medical"
    ds.StationName = "Wombat Station 7"
    ds.InstitutionName = INSTITUTION
    ds.InstitutionAddress = ADDRESS
    ds.PatientName = f"{NAME_FAMILY}^{NAME_GIVEN}"
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = BIRTH_DATE
    ds.PatientSex = "M"
    ds.PatientAge = "062Y"
    ds.PatientAddress = ADDRESS
    ds.PatientTelephoneNumbers = PHONE
    ds.OtherPatientIDs = OTHER_ID
    ds.PatientComments = f"Patient {NAME_GIVEN} {NAME_FAMILY} prefers mornings"
    ds.ReferringPhysicianName = REFERRER
    ds.OperatorsName = OPERATOR
    ds.PerformingPhysicianName = REFERRER
    ds.AccessionNumber = ACCESSION
    ds.StudyID = "STUDY1"
    ds.StudyDate = STUDY_DATE
    ds.SeriesDate = STUDY_DATE
    ds.ContentDate = STUDY_DATE
    ds.StudyTime = "101500"
    ds.ContentTime = "101512.5"
    ds.AcquisitionDateTime = STUDY_DATE + "101510"
    ds.StudyDescription = f"CT CHEST for {NAME_GIVEN.title()} {NAME_FAMILY.title()} born 04/17/1961 ({PATIENT_ID})"
    ds.SeriesDescription = f"AXIAL 5mm {NAME_FAMILY}"
    ds.ImageComments = f"call {PHONE} re {NAME_FAMILY}, dob 17.04.1961"
    ds.SeriesNumber = 3
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SliceThickness = "5.0"
    ds.KVP = "120"
    ds.ConvolutionKernel = "B30f"
    ds.PixelSpacing = [0.7, 0.7]
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    # An attribute Table E.1-1 does not list, holding a name (must not survive the unlisted default).
    ds.add_new(0x00180010, "LO", "Iohexol")  # Contrast/Bolus Agent (listed)
    ds.add_new(0x0018003A, "ST", f"Dept of {NAME_FAMILY}")  # Intervention Description: not in Table E.1-1
    # Nested: Request Attributes with a requesting physician deeper inside.
    proc = Dataset()
    proc.RequestedProcedureID = ACCESSION
    proc.ScheduledProcedureStepID = OTHER_ID
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    inner = Dataset()
    inner.PersonName = OPERATOR
    inner.PersonIdentificationCodeSequence = Sequence([code])
    proc.ScheduledPerformingPhysicianIdentificationSequence = Sequence([inner])
    ds.RequestAttributesSequence = Sequence([proc])
    # Referenced image, SR-style content with free text and a name.
    ref = Dataset()
    ref.ReferencedSOPClassUID = CTImageStorage
    ref.ReferencedSOPInstanceUID = generate_uid()
    ds.ReferencedImageSequence = Sequence([ref])
    text_item = Dataset()
    text_item.ValueType = "TEXT"
    concept = Dataset()
    concept.CodeValue = "121073"  # Impression: not in Table E.3.4-1, so cleaned like a descriptor
    concept.CodingSchemeDesignator = "DCM"
    concept.CodeMeaning = "Impression"
    text_item.ConceptNameCodeSequence = Sequence([concept])
    text_item.TextValue = f"Discussed with Dr {REFERRER.split('^')[0]} on {STUDY_DATE}"
    ds.ContentSequence = Sequence([text_item])
    # Private blocks: one unknown creator with the ID, one creator from Table E.3.10-1.
    blk = ds.private_block(0x0009, "WOMBAT PRIVATE", create=True)
    blk.add_new(0x10, "LO", PATIENT_ID)
    blk.add_new(0x11, "LO", "SPLENDIDPRIVATE")
    safe = ds.private_block(0x7053, "Philips PET Private Group", create=True)
    safe.add_new(0x00, "DS", "1.25")  # SUV factor: safe
    safe.add_new(0x77, "LO", "SPLENDIDPRIVATE")  # not in the safe list
    # Overlay with comments naming the patient.
    ds.add_new(0x60000010, "US", rows)
    ds.add_new(0x60000011, "US", cols)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", b"\x00" * (rows * cols // 8))
    ds.add_new(0x60004000, "LT", f"{NAME_FAMILY} overlay")
    # Pixels: a deterministic gradient (no accidental text in the bytes).
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = (np.arange(rows * cols, dtype=np.uint16) % 4096).astype("<u2").tobytes()
    return ds


def add_japanese_name(ds: Dataset) -> None:
    """Patient's Name in ISO 2022 (JIS X 0208 ideographic and phonetic groups): PS3.5 H.3.1 style."""
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.PatientName = "Yamada^Kotaro=山田^太郎=やまだ^こうたろう"
