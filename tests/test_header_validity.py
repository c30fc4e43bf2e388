"""Outputs are valid DICOM to independent readers: dcmtk's dcmdump reads them and dicom3tools' dciodvfy reports
no error that the input did not already have."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import phi_dataset as P
import pytest
from pydicom.data import get_testdata_file

from deidnode.config import Profile
from deidnode.engine import Keys, Policy, deidentify_bytes, encode_dataset

KEY = Keys(b"v" * 32)
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
]
PROFILES = {"basic": Profile(options=()), "default": Profile()}


def _deid_file(src: Path, profile: Profile, out: Path) -> Path:
    result = deidentify_bytes(src.read_bytes(), Policy(profile=profile), KEY)
    assert result.ok, result.quarantine
    out.write_bytes(encode_dataset(result.dataset))
    return out


def _errors(path: Path) -> set[str]:
    """dciodvfy's error lines with values, UIDs and numbers taken out, so the same defect compares equal."""
    proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, errors="replace", timeout=60)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("Error")]
    return {re.sub(r"\[[^\]]*\]|\d[\d.]+", "#", ln.split(" - ", 1)[-1]) for ln in lines}


def _inputs(tmp_path: Path) -> list[Path]:
    paths = [Path(get_testdata_file(f)) for f in FILES]
    planted = tmp_path / "planted.dcm"
    P.planted_ct().save_as(planted, enforce_file_format=True)
    return [*paths, planted]


@pytest.mark.skipif(shutil.which("dcmdump") is None, reason="dcmtk (dcmdump) is not installed")
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_dcmdump_reads_every_output(tmp_path, profile):
    for src in _inputs(tmp_path):
        out = _deid_file(src, PROFILES[profile], tmp_path / f"out-{src.name}")
        proc = subprocess.run(["dcmdump", "-E", str(out)], capture_output=True, text=True, errors="replace", timeout=60)
        assert proc.returncode == 0, f"{src.name}: {proc.stderr[:500]}"
        assert "PatientIdentityRemoved" in proc.stdout


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools (dciodvfy) is not installed")
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_dciodvfy_reports_no_new_errors(tmp_path, profile):
    for src in _inputs(tmp_path):
        out = _deid_file(src, PROFILES[profile], tmp_path / f"out-{src.name}")
        new = _errors(out) - _errors(src)
        assert not new, f"{src.name}: {sorted(new)}"
