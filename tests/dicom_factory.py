"""Test-only factory of synthetic CT studies with planted PHI (no real patient data anywhere).

``make_study()`` returns Part 10 datasets of one study in several series with a realistic header whose PHI is
known (``PLANTED_PHI``), so tests can assert that none of it survives de-identification:
PatientName, PatientID, PatientBirthDate, InstitutionName, ReferringPhysicianName, AccessionNumber, a
StudyDescription with the patient's name in it, and a private element (0009,xx01) holding the patient ID.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

PRIVATE_CREATOR = "DEIDNODE TEST PHI"


@dataclass(frozen=True)
class Patient:
    name: str = "MCTESTFACE^ABIGAIL^Q"
    patient_id: str = "PID8675309"
    birth_date: str = "19610412"
    institution: str = "Saint Plantedphi General Hospital"
    referring: str = "HOUSEWRIGHT^GREGORIA"
    accession: str = "ACC55501234"
    address: str = "42 Plantedphi Lane, Springfield"

    @property
    def study_description(self) -> str:
        return f"CT chest for {self.name.split('^')[1].title()} {self.name.split('^')[0].title()}"

    def planted(self) -> list[str]:
        """Strings that must not appear anywhere in a de-identified instance."""
        family, given = self.name.split("^")[:2]
        return [
            family,
            given,
            self.patient_id,
            self.birth_date,
            "Plantedphi",
            self.referring.split("^")[0],
            self.accession,
        ]


PLANTED_PHI = Patient()


def make_ct(
    *,
    patient: Patient = PLANTED_PHI,
    study_uid: str,
    series_uid: str,
    series_number: int,
    instance_number: int,
    size: int = 64,
    seed: str = "",
) -> Dataset:
    """One CT image (``size`` x ``size``, 16-bit) with file meta, Explicit VR Little Endian."""
    sop_uid = generate_uid(entropy_srcs=[seed, study_uid, series_uid, str(instance_number)])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = "20240305"
    ds.SeriesDate = "20240305"
    ds.ContentDate = "20240305"
    ds.StudyTime = "101500"
    ds.ContentTime = f"1016{instance_number % 60:02d}"
    ds.AccessionNumber = patient.accession
    ds.Modality = "CT"
    ds.Manufacturer = "ACME Imaging"
    ds.InstitutionName = patient.institution
    ds.InstitutionAddress = patient.address
    ds.ReferringPhysicianName = patient.referring
    ds.StationName = "CT-PLANTEDPHI-1"
    ds.StudyDescription = patient.study_description
    ds.SeriesDescription = f"Axial {series_number}"
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = "F"
    ds.PatientAge = "063Y"
    ds.PatientAddress = patient.address
    ds.SliceThickness = "1.0"
    ds.KVP = "120"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "S1"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[seed, study_uid, "for"])
    ds.ImagePositionPatient = [0.0, 0.0, float(instance_number)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = size
    ds.Columns = size
    ds.PixelSpacing = [0.7, 0.7]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    block = ds.private_block(0x0009, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", patient.patient_id)
    yy, xx = np.mgrid[0:size, 0:size]
    pixels = ((xx * 7 + yy * 13 + instance_number * 17) % 4096).astype(np.uint16)
    ds.PixelData = pixels.tobytes()
    return ds


def make_study(
    n_instances: int = 50,
    n_series: int = 3,
    *,
    size: int = 64,
    seed: str = "study-1",
    patient: Patient = PLANTED_PHI,
) -> list[Dataset]:
    """``n_instances`` CT images of one study spread over ``n_series`` series (deterministic per seed)."""
    study_uid = generate_uid(entropy_srcs=[seed, "study"])
    series_uids = [generate_uid(entropy_srcs=[seed, "series", str(i)]) for i in range(n_series)]
    out = []
    for i in range(n_instances):
        s = i % n_series
        out.append(
            make_ct(
                patient=patient,
                study_uid=study_uid,
                series_uid=series_uids[s],
                series_number=s + 1,
                instance_number=i // n_series + 1,
                size=size,
                seed=seed,
            )
        )
    return out


def write_study(folder: Path, datasets: list[Dataset]) -> list[Path]:
    """Write each dataset as a Part 10 file ``<folder>/<n>.dcm``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, ds in enumerate(datasets):
        p = folder / f"{i:05d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths


def to_bytes(ds: Dataset) -> bytes:
    """Part 10 bytes of ``ds`` (as an SCP's ``encoded_dataset()`` would give them)."""
    from io import BytesIO

    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
