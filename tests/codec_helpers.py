"""Test-only helpers for the pixel codec: generated images, Part 10 round trips, independent decoders."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    SecondaryCaptureImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

from deidnode.engine.pixels.codec import transcode
from deidnode.engine.pixels.codec.backends import native


def synthetic_frames(
    rows: int, cols: int, frames: int, samples: int, bits_stored: int, signed: bool, seed: int = 0
) -> np.ndarray:
    """Smooth gradients, a bright block and mild noise: compresses like a real image, exercises every bit."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols]
    top = (1 << bits_stored) - 1
    out = []
    for f in range(frames):
        chans = []
        for s in range(samples):
            base = ((x + y * (f + 1)) / 2 + 11 * s) % cols / max(cols - 1, 1)
            img = base * 0.8 * top + rng.normal(0, top * 0.01 + 0.5, size=(rows, cols))
            img[rows // 4 : rows // 2, cols // 4 : cols // 2] = top * (0.9 - 0.1 * s)
            chans.append(np.clip(np.rint(img), 0, top))
        arr = np.stack(chans, axis=-1) if samples > 1 else chans[0]
        out.append(arr)
    data = np.stack(out).astype(np.int64)
    if signed:
        data -= 1 << (bits_stored - 1)
    kind = "i" if signed else "u"
    bits_allocated = 8 if bits_stored <= 8 else 16 if bits_stored <= 16 else 32
    return data.astype(f"{kind}{bits_allocated // 8}")


def make_dataset(
    frames: np.ndarray, pi: str, bits_stored: int, signed: bool = False, planar: int = 0, samples: int | None = None
) -> Dataset:
    """A Secondary Capture dataset in Explicit VR Little Endian holding ``frames`` (working space)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["codec-test", pi, str(bits_stored)])
    n = frames.shape[0]
    if n > 1 and pi == "PALETTE COLOR":
        ds.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    elif n > 1 and frames.ndim == 4:
        ds.file_meta.MediaStorageSOPClassUID = MultiFrameTrueColorSecondaryCaptureImageStorage
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    n, rows, cols = frames.shape[:3]
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = samples or (frames.shape[3] if frames.ndim == 4 else 1)
    ds.PhotometricInterpretation = pi
    if ds.SamplesPerPixel > 1:
        ds.PlanarConfiguration = planar
    ds.BitsAllocated = frames.dtype.itemsize * 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if n > 1:
        ds.NumberOfFrames = n
        ds.FrameTime = 40.0
        ds.FrameIncrementPointer = 0x00181063
    from deidnode.engine.pixels.codec._info import PixelInfo

    ds.PixelData = b"\x00"  # placeholder so that PixelInfo can be read
    info = PixelInfo.from_dataset(ds)
    data = b"".join(native.encode(f, info, ExplicitVRLittleEndian, {}) for f in frames)
    ds.PixelData = data + b"\x00" * (len(data) % 2)
    ds["PixelData"].VR = "OW" if ds.BitsAllocated > 8 else "OB"
    return ds


def generated(
    pi: str,
    bits_stored: int,
    frames: int,
    signed: bool = False,
    size: tuple[int, int] = (64, 48),
    ts: str = ExplicitVRLittleEndian,
    seed: int = 0,
) -> tuple[Dataset, np.ndarray]:
    """A generated dataset in ``ts`` and the working-space frames it was made from (before any lossy step)."""
    samples = 1 if pi.startswith("MONO") or pi == "PALETTE COLOR" else 3
    arr = synthetic_frames(size[0], size[1], frames, samples, bits_stored, signed, seed)
    if pi == "YBR_FULL_422":
        arr[:, :, 1::2, 1:] = arr[:, :, 0::2, 1:]  # chroma shared by each pixel pair, as 4:2:2 stores it
    ds = make_dataset(arr, "RGB" if pi in ("YBR_ICT", "YBR_RCT") else pi, bits_stored, signed)
    if pi == "PALETTE COLOR":
        add_palette(ds)
    if pi in ("YBR_ICT", "YBR_RCT"):
        ds.PhotometricInterpretation = pi  # set after the native placeholder; the J2K encoder applies the MCT
    if ts != ExplicitVRLittleEndian:
        transcode(ds, ts, allow_lossy=True, frames=arr)
    return roundtrip_file(ds), arr


def add_palette(ds: Dataset) -> None:
    """A 256-entry 16-bit palette, darkest entry at index 200 (so the fill value is not trivially 0)."""
    idx = np.arange(256)
    lum = (idx + 56) % 256
    for name, scale in (("Red", 1.0), ("Green", 0.8), ("Blue", 0.6)):
        setattr(ds, f"{name}PaletteColorLookupTableDescriptor", [256, 0, 16])
        data = (lum * scale * 257).astype("<u2").tobytes()
        setattr(ds, f"{name}PaletteColorLookupTableData", data)


def roundtrip_file(ds: Dataset) -> Dataset:
    """Write as Part 10 and read back, as the node does between engine and forwarder."""
    buf = io.BytesIO()
    write(ds, buf)
    return pydicom.dcmread(io.BytesIO(buf.getvalue()))


def write(ds: Dataset, target: Path | io.BytesIO) -> None:
    """Encode as the file meta's transfer syntax says: the encoding is passed explicitly because pydicom refuses
    to switch endianness implicitly (a Big Endian input leaves the codec as Explicit VR Little Endian)."""
    ts = pydicom.uid.UID(ds.file_meta.TransferSyntaxUID)
    pydicom.dcmwrite(
        target, ds, implicit_vr=ts.is_implicit_VR, little_endian=ts.is_little_endian, enforce_file_format=True
    )


def save(ds: Dataset, path: Path) -> Path:
    write(ds, path)
    return path


def psnr(a: np.ndarray, b: np.ndarray, bits: int) -> float:
    err = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if err == 0 else 10 * np.log10(((1 << bits) - 1) ** 2 / err)


def tool(name: str) -> str | None:
    """Full path of an independent reader, None if not installed (tests skip then)."""
    path = Path("/usr/bin") / name
    return str(path) if path.exists() else shutil.which(name)


def run_tool(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def htj2k_codestream(frame: np.ndarray, bits_stored: int) -> bytes:
    """One HTJ2K (reversible) codestream made with OpenJPH's ``ojph_compress`` (an independent encoder)."""
    import tempfile

    exe = tool("ojph_compress")
    if exe is None:
        raise FileNotFoundError("ojph_compress (Debian package openjph-tools)")
    samples = frame.shape[2] if frame.ndim == 3 else 1
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / ("in.pgm" if samples == 1 else "in.ppm")
        header = f"{'P5' if samples == 1 else 'P6'}\n{frame.shape[1]} {frame.shape[0]}\n{(1 << bits_stored) - 1}\n"
        src.write_bytes(header.encode() + frame.astype(">u2" if bits_stored > 8 else "u1").tobytes())
        out = Path(tmp) / "out.j2c"
        args = [exe, "-i", str(src), "-o", str(out), "-reversible", "true"]
        if samples == 3:
            args += ["-colour_trans", "true"]
        subprocess.run(args, check=True, capture_output=True, timeout=60)
        return out.read_bytes()


def htj2k_dataset(pi: str, bits_stored: int, frames: int, ts: str) -> tuple[Dataset, np.ndarray]:
    """A generated dataset in an HTJ2K syntax (frames encoded by OpenJPH), and its frames."""
    from pydicom.encaps import encapsulate

    samples = 1 if pi.startswith("MONO") else 3
    arr = synthetic_frames(48, 64, frames, samples, bits_stored, False)
    ds = make_dataset(arr, "RGB" if samples == 3 else pi, bits_stored)
    if samples == 3:
        ds.PhotometricInterpretation = "YBR_RCT"
    ds.PixelData = encapsulate([htj2k_codestream(f, bits_stored) for f in arr], has_bot=True)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = ts
    return roundtrip_file(ds), arr
