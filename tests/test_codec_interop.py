"""Independent readers (dcmtk, GDCM) decode every file we write to the pixels our decoder sees."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from codec_helpers import generated, run_tool, save, tool
from pydicom import uid as U

from deidnode.engine.pixels import codec

# (syntax, PI, bits stored, dcmtk decompressor and its options)
CASES = [
    (U.ExplicitVRLittleEndian, "YBR_FULL_422", 8, None),
    (U.ImplicitVRLittleEndian, "MONOCHROME2", 16, None),
    (U.DeflatedExplicitVRLittleEndian, "MONOCHROME2", 12, None),
    (U.RLELossless, "MONOCHROME2", 16, ("dcmdrle", [])),
    (U.RLELossless, "RGB", 8, ("dcmdrle", [])),
    (U.RLELossless, "YBR_FULL", 8, ("dcmdrle", [])),
    (U.RLELossless, "PALETTE COLOR", 8, ("dcmdrle", [])),
    (U.JPEGBaseline8Bit, "MONOCHROME2", 8, ("dcmdjpeg", [])),
    (U.JPEGBaseline8Bit, "RGB", 8, ("dcmdjpeg", ["+cn"])),
    (U.JPEGBaseline8Bit, "YBR_FULL", 8, ("dcmdjpeg", ["+cn"])),
    (U.JPEGBaseline8Bit, "YBR_FULL_422", 8, ("dcmdjpeg", ["+cn"])),
    (U.JPEGLosslessSV1, "MONOCHROME2", 16, ("dcmdjpeg", [])),
    (U.JPEGLSLossless, "MONOCHROME2", 12, ("dcmdjpls", [])),
    (U.JPEGLSLossless, "RGB", 8, ("dcmdjpls", [])),
    (U.JPEGLSNearLossless, "MONOCHROME2", 16, ("dcmdjpls", [])),
    (U.JPEGLSNearLossless, "RGB", 8, ("dcmdjpls", [])),
    (U.JPEG2000Lossless, "MONOCHROME2", 16, None),
    (U.JPEG2000Lossless, "YBR_RCT", 8, None),
    (U.JPEG2000, "MONOCHROME2", 12, None),
    (U.JPEG2000, "YBR_ICT", 8, None),
]
IDS = [f"{ts.name[:16]}-{pi}-{bits}" for ts, pi, bits, _ in CASES]


def _working(path) -> np.ndarray:
    """Decode an independent reader's native output into our working space (RGB <-> YBR as ours holds it)."""
    return codec.decode_frames(pydicom.dcmread(path))


def _compare(ours: np.ndarray, theirs: np.ndarray, lossy_decoder_slack: int) -> None:
    assert theirs.shape == ours.shape
    assert int(np.abs(theirs.astype(np.int64) - ours.astype(np.int64)).max()) <= lossy_decoder_slack


@pytest.mark.parametrize(("ts", "pi", "bits", "dcmtk"), CASES, ids=IDS)
def test_independent_readers_agree_with_our_encoding(tmp_path, ts, pi, bits, dcmtk):
    ds, _ = generated(pi, bits, 2, ts=ts)
    ours = codec.decode_frames(ds)
    path = save(ds, tmp_path / "ours.dcm")
    # JPEG baseline: IDCT implementations may differ by one level (ISO 10918-2 accuracy); others exact.
    slack = 1 if ts == U.JPEGBaseline8Bit else 0
    checked = 0

    dcmdump = tool("dcmdump")
    if dcmdump:
        res = run_tool([dcmdump, "-q", "-E", str(path)])
        assert res.returncode == 0, res.stderr[-500:]
        checked += 1
    if dcmtk is not None and tool(dcmtk[0]):
        out = tmp_path / "dcmtk.dcm"
        res = run_tool([tool(dcmtk[0]), *dcmtk[1], str(path), str(out)])
        assert res.returncode == 0, res.stderr[-500:]
        _compare(ours, _working(out), slack)
        checked += 1
    gdcmconv = tool("gdcmconv")
    if gdcmconv:
        out = tmp_path / "gdcm.dcm"
        res = run_tool([gdcmconv, "--raw", str(path), str(out)])
        assert res.returncode == 0, res.stderr[-500:]
        theirs = pydicom.dcmread(out)
        if theirs.PhotometricInterpretation == "RGB" and pi in ("YBR_ICT", "YBR_RCT"):
            assert ours.shape[-1] == 3  # both in RGB: the component transform is undone by the decoder
        _compare(ours, _working(out), slack)
        checked += 1
    if checked == 0:
        pytest.skip("neither dcmtk nor gdcmconv installed")


def test_dciodvfy_accepts_a_rewritten_multiframe_jpeg(tmp_path):
    exe = tool("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy not installed")
    ds = pydicom.dcmread(pydicom.data.get_testdata_file("examples_ybr_color.dcm"))
    frames = codec.decode_frames(ds)
    frames[3, :16, :16] = codec.fill_value(ds)
    codec.encode_frames(ds, frames, [3])
    before = run_tool([exe, pydicom.data.get_testdata_file("examples_ybr_color.dcm")])
    res = run_tool([exe, str(save(ds, tmp_path / "x.dcm"))])
    errors = lambda text: sorted(line for line in text.splitlines() if line.startswith("Error"))  # noqa: E731
    assert errors(res.stderr + res.stdout) == errors(before.stderr + before.stdout)
