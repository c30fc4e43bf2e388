"""Pixel data codec: decode to stored values, re-encode only what changed (PS3.5 Section 8 and Annex A).

Public contract (used by the engine and the burned-in-text pipeline):

- :func:`decode_frames` returns every frame as ``(frames, rows, cols[, samples])`` stored values: no rescale, no
  VOI, no palette lookup; dtype from Bits Allocated / Pixel Representation (uint8 for Bits Allocated 1). Colour
  is held in the *working* photometric interpretation, the space the encoder takes back:

  ======================  ==================================================================================
  stored PI               array holds
  ======================  ==================================================================================
  MONOCHROME1/2, PALETTE  the stored values (palette indices for PALETTE COLOR)
  RGB, YBR_FULL           the stored samples
  YBR_FULL_422            full-resolution YBR_FULL samples (chroma upsampled); re-encoding subsamples again
  YBR_ICT, YBR_RCT        RGB: the component transform is part of the JPEG 2000 codestream (PS3.5 8.2.4)
  ======================  ==================================================================================

  So filling a rectangle with one value per sample (e.g. :func:`fill_value`) gives a uniform rectangle after
  :func:`encode_frames` and a new decode (exactly for lossless syntaxes; for native YBR_FULL_422 the pixel pair
  straddling an odd edge takes the fill's chroma).
- :func:`encode_frames` writes frames back: same transfer syntax where we can encode it, else the configured
  lossless fallback (recorded in the audit); lossless inputs are never written lossy; with nothing changed
  the dataset is left untouched; encapsulated unchanged frames keep their original fragments.
- :func:`fill_value`, :func:`clear_overlay_bits`, :func:`can_decode`, :func:`can_encode`.

Errors are :class:`PixelCodecError` (stage ``pixels``) with a stable ``code``; messages carry tags, transfer
syntax UIDs and frame numbers only.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import JPEG2000, ExplicitVRBigEndian, JPEGLSNearLossless

from ._encaps import build, split_frames
from ._errors import PixelCodecError
from ._info import WORKING_PI, PixelInfo
from ._syntax import SYNTAXES, Syntax
from .backends import BACKENDS
from .backends import native as _native

__all__ = [
    "DEFAULT_JPEG_QUALITY",
    "SYNTAXES",
    "PixelCodecError",
    "PixelInfo",
    "can_decode",
    "can_encode",
    "transcode",
    "clear_overlay_bits",
    "decode_frames",
    "encode_frames",
    "fill_value",
]

DEFAULT_JPEG_QUALITY = 95
"""Quality for re-encoding changed JPEG baseline frames (libjpeg scale); >= 40 dB PSNR on 8-bit images."""


# --------------------------------------------------------------------------------------------------- lookup
def _available(name: str, ts: str) -> bool:
    backend = BACKENDS[name]
    try:
        return bool(backend.is_available(ts))  # pylibjpeg checks the sub-plugin per syntax
    except TypeError:
        return bool(backend.is_available())


def _decoders(ts: str) -> list[ModuleType]:
    syntax = SYNTAXES.get(ts)
    if syntax is None:
        raise PixelCodecError("undecodable-transfer-syntax", ts)
    found = [BACKENDS[n] for n in syntax.decoders if _available(n, ts)]
    if not found:
        deps = "; ".join(BACKENDS[n].DEPENDENCY for n in syntax.decoders)
        raise PixelCodecError("backend-unavailable", f"{ts} needs one of: {deps}")
    return found


def _encoder(ts: str) -> ModuleType | None:
    syntax = SYNTAXES.get(ts)
    if syntax is None:
        return None
    return next((BACKENDS[n] for n in syntax.encoders if _available(n, ts)), None)


def can_decode(transfer_syntax_uid: str) -> bool:
    """Whether pixel data in this transfer syntax can be decoded with the installed backends."""
    try:
        return bool(_decoders(str(transfer_syntax_uid)))
    except PixelCodecError:
        return False


def can_encode(transfer_syntax_uid: str) -> bool:
    """Whether we can write pixel data in this transfer syntax (Big Endian and HTJ2K: no)."""
    return _encoder(str(transfer_syntax_uid)) is not None


def _transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if not ts:
        raise PixelCodecError("missing-attribute", "(0002,0010)")
    return str(ts)


# --------------------------------------------------------------------------------------------------- decode
def _native_frames(ds: Dataset, info: PixelInfo) -> list[bytes]:
    data = ds.PixelData
    total_bits = info.frame_bits * info.number_of_frames
    expected = (total_bits + 7) // 8
    if len(data) not in (expected, expected + expected % 2):
        raise PixelCodecError("pixel-data-mismatch", "(7FE0,0010) length differs from (0028,0010) x (0028,0011) x "
                                                     "(0028,0002) x (0028,0100) x (0028,0008)")
    if info.bits_allocated == 1 and info.frame_bits % 8:
        # frames are not byte aligned (PS3.5 8.1.1 note): unpack everything, then re-pack each frame alone
        from pydicom.pixels.utils import pack_bits, unpack_bits

        bits = unpack_bits(data, as_array=True)[:total_bits].reshape(info.number_of_frames, -1)
        return [pack_bits(row, pad=False) for row in bits]
    n = info.frame_bytes
    return [bytes(data[i * n:(i + 1) * n]) for i in range(info.number_of_frames)]


def _frame_codestreams(ds: Dataset, info: PixelInfo, syntax: Syntax) -> list[bytes]:
    if "PixelData" not in ds:
        raise PixelCodecError("missing-attribute", "(7FE0,0010)")
    if not syntax.encapsulated:
        return _native_frames(ds, info)
    return [b"".join(f) for f in split_frames(ds, info.number_of_frames)]


def _decode_one(backends: list[ModuleType], data: bytes, info: PixelInfo, ts: str, index: int) -> np.ndarray:
    failures = []
    for backend in backends:
        try:
            arr = backend.decode(data, info, ts)
        except Exception as e:  # noqa: BLE001 - any codec failure: try the next backend, then report
            failures.append(f"{backend.NAME}: {type(e).__name__}")
            continue
        shape = info.with_pi(info.working_pi).frame_shape
        if arr.shape != shape:
            failures.append(f"{backend.NAME}: decoded geometry differs from (0028,0010)/(0028,0011)/(0028,0002)")
            continue
        return arr
    raise PixelCodecError("decode-failed", f"{ts} frame {index} ({'; '.join(failures)})")


def decode_frames(ds: Dataset) -> np.ndarray:
    """Decode all frames to stored values, shape ``(frames, rows, cols[, samples])`` (see module docstring).

    Raises :class:`PixelCodecError`: ``undecodable-transfer-syntax``, ``backend-unavailable``,
    ``pixel-data-mismatch`` (length or fragments do not match Rows x Columns x Samples x Bits x Frames),
    ``decode-failed``.
    """
    ts = _transfer_syntax(ds)
    backends = _decoders(ts)
    info = PixelInfo.from_dataset(ds)
    syntax = SYNTAXES[ts]
    streams = _frame_codestreams(ds, info, syntax)
    out = np.empty((info.number_of_frames, *info.with_pi(info.working_pi).frame_shape), dtype=info.dtype)
    for i, data in enumerate(streams):
        out[i] = _decode_one(backends, data, info, ts, i)
    return out


# --------------------------------------------------------------------------------------------------- encode
def _output_pi(info: PixelInfo, target: Syntax) -> str:
    pi = info.photometric_interpretation
    if pi in target.encode_pis:
        return pi
    working = WORKING_PI.get(pi, pi)
    if working in target.encode_pis:
        return working
    raise PixelCodecError("unencodable-transfer-syntax", f"{target.uid} cannot hold (0028,0004) {pi}")


def _jls_near(codestream: bytes) -> int:
    """NEAR parameter of a JPEG-LS scan (ISO 14495-1 C.2.3: SOS ... NEAR, ILV, Al/Ah)."""
    pos = codestream.find(b"\xff\xda")
    if pos < 0:
        return 2
    ns = codestream[pos + 4]
    return int(codestream[pos + 5 + 2 * ns])


def _codec_options(syntax: Syntax, info: PixelInfo, original: bytes) -> dict[str, Any]:
    options: dict[str, Any] = {"jpeg_quality": DEFAULT_JPEG_QUALITY}
    if syntax.uid == JPEGLSNearLossless:
        options["jls_error"] = _jls_near(original)
    elif syntax.uid == JPEG2000:
        # no more loss than the original: twice the original's bytes (half its compression ratio), >= 1:1
        ratio = info.frame_bytes / max(len(original), 1)
        options["j2k_cr"] = [max(ratio / 2, 1.0)]
    return options


def _check_range(frame: np.ndarray, info: PixelInfo) -> np.ndarray:
    """Codecs carry Bits Stored bits: unsigned values above High Bit (overlay leftovers) are masked."""
    if info.pixel_representation or info.bits_stored >= info.bits_allocated or info.bits_allocated == 1:
        return frame
    mask = (1 << info.bits_stored) - 1
    if (frame > mask).any():
        frame = frame & np.asarray(mask, dtype=frame.dtype)
    return frame


def _set_lossy_attributes(ds: Dataset, ratio: float | None, method: str) -> None:
    """PS3.3 C.7.6.1.1.5: successive lossy steps append their ratio and method."""
    ds.LossyImageCompression = "01"
    if ratio is None:
        return
    for keyword, value in (("LossyImageCompressionRatio", f"{ratio:.2f}"), ("LossyImageCompressionMethod", method)):
        old = ds.get(keyword)
        values = list(old) if isinstance(old, MultiValue) else ([old] if old not in (None, "") else [])
        setattr(ds, keyword, [*values, value] if values else value)


def encode_frames(
    ds: Dataset,
    frames: np.ndarray,
    changed: Iterable[int],
    fallback_transfer_syntax: str = "1.2.840.10008.1.2.1",
) -> dict[str, Any]:
    """Write ``frames`` (as returned by :func:`decode_frames`, modified) back into ``ds``.

    Only frames in ``changed`` are re-encoded when the output syntax is the input's; the other frames keep their
    original bytes (encapsulated: their original fragments; offset tables are rebuilt, extended when the input
    had one). Where the input syntax cannot be written (Big Endian, HTJ2K, JPEG lossless/extended without an
    encoder) every frame is written in ``fallback_transfer_syntax``, which must be lossless. With no changed
    frame nothing in ``ds`` is touched. Returns a PHI-free audit dict.
    """
    ts_in = _transfer_syntax(ds)
    info = PixelInfo.from_dataset(ds)
    changed_set = sorted({int(i) for i in changed})
    audit: dict[str, Any] = {
        "transfer_syntax_in": ts_in,
        "transfer_syntax_out": ts_in,
        "frames_total": info.number_of_frames,
        "frames_reencoded": 0,
        "syntax_changed": False,
        "photometric_in": info.photometric_interpretation,
        "photometric_out": info.photometric_interpretation,
        "lossy_out": False,
        "encoder": None,
        "reason": "unchanged",
    }
    if not changed_set:
        return audit
    if changed_set[0] < 0 or changed_set[-1] >= info.number_of_frames:
        raise PixelCodecError("encode-failed", "changed frame index outside (0028,0008)")
    working = info.with_pi(info.working_pi)
    frames = np.asarray(frames)
    if frames.shape != (info.number_of_frames, *working.frame_shape):
        raise PixelCodecError("pixel-data-mismatch", "frames array does not match (0028,0010)/(0028,0011)/(0028,0008)")
    frames = frames.astype(info.dtype, copy=False)

    syntax_in = SYNTAXES.get(ts_in)
    if syntax_in is None:
        raise PixelCodecError("undecodable-transfer-syntax", ts_in)
    same = (
        can_encode(ts_in)
        and info.photometric_interpretation in syntax_in.encode_pis
        and info.bits_stored <= syntax_in.max_bits
        and (info.bits_allocated > 1 or not syntax_in.encapsulated)
    )
    if same:
        target, reason = syntax_in, "reencoded-same-syntax"
    else:
        target = SYNTAXES.get(str(fallback_transfer_syntax))  # type: ignore[assignment]
        if target is None or not can_encode(target.uid):
            raise PixelCodecError("unencodable-transfer-syntax", f"fallback {fallback_transfer_syntax}")
        if target.lossy:
            raise PixelCodecError("unencodable-transfer-syntax", f"fallback {target.uid} is lossy")
        reason = "input-syntax-not-writable"
    encoder_name, out_pi, count = _reencode(ds, info, frames, syntax_in, target, changed_set)
    audit.update(
        transfer_syntax_out=target.uid,
        frames_reencoded=count,
        syntax_changed=target.uid != ts_in,
        photometric_out=out_pi,
        lossy_out=target.lossy,
        encoder=encoder_name,
        reason=reason,
    )
    return audit


def transcode(ds: Dataset, transfer_syntax_uid: str, *, allow_lossy: bool = False,
              frames: np.ndarray | None = None) -> dict[str, Any]:
    """Write every frame of ``ds`` in ``transfer_syntax_uid`` (test fixtures, benchmarks, forward fallback).

    A lossy target needs ``allow_lossy``; the pixel module stays as it is except where the target requires
    another photometric interpretation (YBR_ICT/RCT -> RGB, YBR_FULL_422 -> YBR_FULL in native syntaxes).
    """
    ts_in = _transfer_syntax(ds)
    info = PixelInfo.from_dataset(ds)
    target = SYNTAXES.get(str(transfer_syntax_uid))
    if target is None or not can_encode(target.uid):
        raise PixelCodecError("unencodable-transfer-syntax", str(transfer_syntax_uid))
    if target.lossy and not allow_lossy:
        raise PixelCodecError("unencodable-transfer-syntax", f"{target.uid} is lossy")
    if frames is None:
        frames = decode_frames(ds)
    syntax_in = SYNTAXES[ts_in]
    # the same syntax written from scratch: every frame, no original fragment kept
    fresh = dataclasses.replace(syntax_in) if target is syntax_in else target
    encoder_name, out_pi, count = _reencode(ds, info, frames, syntax_in, fresh, list(range(info.number_of_frames)))
    return {"transfer_syntax_in": ts_in, "transfer_syntax_out": target.uid, "frames_reencoded": count,
            "photometric_out": out_pi, "encoder": encoder_name}


def _reencode(ds: Dataset, info: PixelInfo, frames: np.ndarray, syntax_in: Syntax, target: Syntax,
              changed_set: list[int]) -> tuple[str, str, int]:
    """Encode ``changed_set`` (all frames when the syntax changes) and write the result into ``ds``."""
    ts_in = syntax_in.uid
    out_pi = _output_pi(info, target)
    out_info = info.with_pi(out_pi)
    encoder = _encoder(target.uid)
    assert encoder is not None
    originals: list[bytes] | None = None
    if target is syntax_in or out_pi == "YBR_FULL_422":
        originals = _frame_codestreams(ds, info, syntax_in)

    indices = changed_set if target is syntax_in else list(range(info.number_of_frames))
    encoded: dict[int, bytes] = {}
    for i in indices:
        frame = frames[i] if not target.encapsulated else _check_range(frames[i], info)
        options = _codec_options(target, info, originals[i]) if originals and target.lossy else {}
        if out_pi == "YBR_FULL_422" and not target.encapsulated and originals is not None:
            options["original"] = _native.decode(originals[i], info, ts_in) if not syntax_in.encapsulated else None
        try:
            data = encoder.encode(frame, out_info, target.uid, options)
        except PixelCodecError:
            raise
        except Exception as e:  # noqa: BLE001 - encoder libraries raise anything
            raise PixelCodecError("encode-failed", f"{target.uid} frame {i} ({encoder.NAME}: "
                                                   f"{type(e).__name__})") from e
        if target.encapsulated and not target.lossy:
            back = _decode_one(_decoders(target.uid), data, out_info, target.uid, i)
            if not np.array_equal(back, frame):
                raise PixelCodecError("encode-failed", f"{target.uid} frame {i}: lossless round trip differs")
        encoded[i] = bytes(data)

    _write(ds, info, syntax_in, target, originals, encoded)
    if out_pi != info.photometric_interpretation:
        ds.PhotometricInterpretation = out_pi
    if target.lossy:
        new_bytes = sum(len(v) for v in encoded.values())
        ratio = info.frame_bytes * len(encoded) / new_bytes if new_bytes else None
        _set_lossy_attributes(ds, ratio, target.lossy_method)
    elif syntax_in.lossy:
        ds.LossyImageCompression = "01"  # once lossy, always lossy (PS3.3 C.7.6.1.1.5)
    return encoder.NAME, out_pi, len(encoded)


def _write(ds: Dataset, info: PixelInfo, syntax_in: Syntax, target: Syntax, originals: list[bytes] | None,
           encoded: dict[int, bytes]) -> None:
    n = info.number_of_frames
    if target.encapsulated:
        if target is syntax_in:
            old = split_frames(ds, n)
            frame_list = [[encoded[i]] if i in encoded else list(old[i]) for i in range(n)]
        else:
            frame_list = [[encoded[i]] for i in range(n)]
        extended = "ExtendedOffsetTable" in ds
        pixel_data, eot, eot_lengths = build(frame_list, extended)
        ds.PixelData = pixel_data
        elem = ds["PixelData"]
        elem.VR = "OB"
        elem.is_undefined_length = True
        if eot is not None:
            ds.ExtendedOffsetTable = eot
            ds.ExtendedOffsetTableLengths = eot_lengths
        else:
            for kw in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
                if kw in ds:
                    del ds[kw]
    else:
        parts = [encoded[i] if i in encoded else (originals or [])[i] for i in range(n)]
        if info.bits_allocated == 1 and info.frame_bits % 8:
            from pydicom.pixels.utils import pack_bits, unpack_bits

            bits = np.concatenate([unpack_bits(p, as_array=True)[: info.frame_bits] for p in parts])
            data = pack_bits(bits, pad=False)
        else:
            data = b"".join(parts)
        if len(data) % 2:
            data += b"\x00"
        ds.PixelData = data
        elem = ds["PixelData"]
        elem.VR = "OW" if info.bits_allocated > 8 else "OB"
        elem.is_undefined_length = False
        for kw in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
            if kw in ds:
                del ds[kw]
    ds.file_meta.TransferSyntaxUID = target.uid


# ----------------------------------------------------------------------------------------------- fill value
def fill_value(ds: Dataset, frames: np.ndarray | None = None) -> int | tuple[int, ...]:
    """Background value to paint redactions with, in the stored (working) space of :func:`decode_frames`.

    Monochrome: the stored value that displays darkest *and occurs in the image*: the minimum for MONOCHROME2,
    the maximum for MONOCHROME1 (PS3.3 C.7.6.3.1.2), swapped when Rescale Slope is negative. Taking a value from
    the image keeps its range (viewers that auto-window on min/max show the same picture) and paints black under
    any window, which is how a radiologist reads background. Colour: black in the colour space (RGB / YBR_ICT /
    YBR_RCT held as RGB: (0, 0, 0); YBR_FULL(_422): (0, 2^(n-1), 2^(n-1))). PALETTE COLOR: the index whose
    palette entry is darkest. ``frames`` (from :func:`decode_frames`) saves a second decode.
    """
    info = PixelInfo.from_dataset(ds)
    pi = info.working_pi
    if pi == "RGB":
        return (0, 0, 0)
    if pi == "YBR_FULL":
        mid = 1 << (info.bits_stored - 1)
        return (0, mid, mid)
    if pi == "PALETTE COLOR":
        return _darkest_palette_index(ds, info)
    if pi not in ("MONOCHROME1", "MONOCHROME2"):
        raise PixelCodecError("unsupported-pixel-layout", f"(0028,0004) {pi}")
    if frames is None:
        frames = decode_frames(ds)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    want_max = (pi == "MONOCHROME1") != (slope < 0)
    values = frames
    if not info.pixel_representation and info.bits_stored < info.bits_allocated and info.bits_allocated > 1:
        values = frames & np.asarray((1 << info.bits_stored) - 1, dtype=frames.dtype)
    return int(values.max() if want_max else values.min())


def _darkest_palette_index(ds: Dataset, info: PixelInfo) -> int:
    from pydicom.pixels import apply_color_lut

    desc = ds.get("RedPaletteColorLookupTableDescriptor")
    if desc is None:
        raise PixelCodecError("missing-attribute", "(0028,1101)")
    first = int(desc[1])
    if info.pixel_representation:
        first = struct.unpack("<h", struct.pack("<H", first & 0xFFFF))[0]
    count = int(desc[0]) or 65536
    indices = np.arange(first, first + count, dtype=np.int64).astype(info.dtype)
    try:
        rgb = apply_color_lut(indices, ds).astype(np.float64)
    except Exception as e:  # noqa: BLE001 - malformed LUT
        raise PixelCodecError("unsupported-pixel-layout", "(0028,1201)-(0028,1203) palette unreadable") from e
    luminance = rgb @ np.array([0.299, 0.587, 0.114])
    return int(indices[int(np.argmin(luminance))])


# -------------------------------------------------------------------------------------------- overlay bits
def clear_overlay_bits(ds: Dataset, frames: np.ndarray) -> bool:
    """Remove overlays stored in the unused high bits of Pixel Data (PS3.3 C.9.2, retired usage with Overlay Bit
    Position (60xx,0102) > High Bit): every bit above High Bit is cleared in ``frames`` (in place).

    Unsigned data: bits above High Bit are masked. Signed data: ``frames`` are already sign-extended by
    :func:`decode_frames`; the raw native pixel data is checked for anything else in those bits. Returns True
    when something was removed: the caller must then treat every frame as changed.
    """
    info = PixelInfo.from_dataset(ds)
    if info.bits_allocated == 1 or info.bits_stored >= info.bits_allocated:
        return False
    if not info.pixel_representation:
        mask = np.asarray((1 << info.bits_stored) - 1, dtype=frames.dtype)
        if not (frames & ~mask).any():
            return False
        frames &= mask
        return True
    ts = _transfer_syntax(ds)
    syntax = SYNTAXES.get(ts)
    if syntax is None or syntax.encapsulated:
        return False
    dtype = np.dtype(f"u{info.bits_allocated // 8}").newbyteorder(">" if ts == ExplicitVRBigEndian else "<")
    raw = np.frombuffer(ds.PixelData, dtype=dtype, count=len(ds.PixelData) // dtype.itemsize)
    sign = (raw >> (info.bits_stored - 1)) & 1
    high = raw >> info.bits_stored
    full = (1 << (info.bits_allocated - info.bits_stored)) - 1
    return bool(((high != 0) & (high != full)).any() or ((high == full) & (sign == 0)).any()
                or ((high == 0) & (sign == 1)).any())
