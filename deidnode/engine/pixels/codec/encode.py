"""Arrays back into Pixel Data: changed frames re-encoded in the input's syntax where we can write it, else in
the lossless fallback; lossless round trips checked; lossy attributes kept true (PS3.3 C.7.6.1.1.5)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import JPEG2000, UID, JPEGLSNearLossless

from ....dicomio import printable
from ....reasons import Code
from ._encaps import build, split_frames
from ._errors import PixelCodecError
from ._info import WORKING_PI, PixelInfo
from ._syntax import SYNTAXES, Syntax
from .backends import native as _native
from .decode import decode_frames, decode_one, frame_codestreams
from .lookup import can_encode, decoders, encoder, transfer_syntax

DEFAULT_JPEG_QUALITY = 95
"""Quality for re-encoding changed JPEG baseline frames (libjpeg scale); >= 40 dB PSNR on 8-bit images."""


def _output_pi(info: PixelInfo, target: Syntax) -> str:
    pi = info.photometric_interpretation
    if pi in target.encode_pis:
        return pi
    working = WORKING_PI.get(pi, pi)
    if working in target.encode_pis:
        return working
    raise PixelCodecError(Code.UNENCODABLE_TRANSFER_SYNTAX, f"{target.uid} cannot hold (0028,0004) {pi}")


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
    ts_in = transfer_syntax(ds)
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
        raise PixelCodecError(Code.ENCODE_FAILED, "changed frame index outside (0028,0008)")
    working = info.with_pi(info.working_pi)
    frames = np.asarray(frames)
    if frames.shape != (info.number_of_frames, *working.frame_shape):
        detail = "frames array does not match (0028,0010)/(0028,0011)/(0028,0008)"
        raise PixelCodecError(Code.PIXEL_DATA_MISMATCH, detail)
    frames = frames.astype(info.dtype, copy=False)

    syntax_in = SYNTAXES.get(ts_in)
    if syntax_in is None:
        raise PixelCodecError(Code.UNDECODABLE_TRANSFER_SYNTAX, printable.uid(ts_in))
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
            raise PixelCodecError(Code.UNENCODABLE_TRANSFER_SYNTAX, f"fallback {fallback_transfer_syntax}")
        if target.lossy:
            raise PixelCodecError(Code.UNENCODABLE_TRANSFER_SYNTAX, f"fallback {target.uid} is lossy")
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


def transcode(
    ds: Dataset, transfer_syntax_uid: str, *, allow_lossy: bool = False, frames: np.ndarray | None = None
) -> dict[str, Any]:
    """Write every frame of ``ds`` in ``transfer_syntax_uid`` (test fixtures, benchmarks, forward fallback).

    A lossy target needs ``allow_lossy``; the pixel module stays as it is except where the target requires
    another photometric interpretation (YBR_ICT/RCT -> RGB, YBR_FULL_422 -> YBR_FULL in native syntaxes).
    """
    ts_in = transfer_syntax(ds)
    info = PixelInfo.from_dataset(ds)
    target = SYNTAXES.get(str(transfer_syntax_uid))
    if target is None or not can_encode(target.uid):
        raise PixelCodecError(Code.UNENCODABLE_TRANSFER_SYNTAX, str(transfer_syntax_uid))
    if target.lossy and not allow_lossy:
        raise PixelCodecError(Code.UNENCODABLE_TRANSFER_SYNTAX, f"{target.uid} is lossy")
    if frames is None:
        frames = decode_frames(ds)
    syntax_in = SYNTAXES[ts_in]
    # the same syntax written from scratch: every frame, no original fragment kept
    fresh = dataclasses.replace(syntax_in) if target is syntax_in else target
    encoder_name, out_pi, count = _reencode(ds, info, frames, syntax_in, fresh, list(range(info.number_of_frames)))
    return {
        "transfer_syntax_in": ts_in,
        "transfer_syntax_out": target.uid,
        "frames_reencoded": count,
        "photometric_out": out_pi,
        "encoder": encoder_name,
    }


def _reencode(
    ds: Dataset, info: PixelInfo, frames: np.ndarray, syntax_in: Syntax, target: Syntax, changed_set: list[int]
) -> tuple[str, str, int]:
    """Encode ``changed_set`` (all frames when the syntax changes) and write the result into ``ds``."""
    ts_in = syntax_in.uid
    out_pi = _output_pi(info, target)
    out_info = info.with_pi(out_pi)
    backend = encoder(target.uid)
    assert backend is not None
    originals: list[bytes] | None = None
    if target is syntax_in or out_pi == "YBR_FULL_422":
        originals = frame_codestreams(ds, info, syntax_in)

    indices = changed_set if target is syntax_in else list(range(info.number_of_frames))
    encoded: dict[int, bytes] = {}
    for i in indices:
        frame = frames[i] if not target.encapsulated else _check_range(frames[i], info)
        options = _codec_options(target, info, originals[i]) if originals and target.lossy else {}
        if out_pi == "YBR_FULL_422" and not target.encapsulated and originals is not None:
            options["original"] = _native.decode(originals[i], info, ts_in) if not syntax_in.encapsulated else None
        try:
            data = backend.encode(frame, out_info, target.uid, options)
        except PixelCodecError:
            raise
        except Exception as e:  # noqa: BLE001 - encoder libraries raise anything
            raise PixelCodecError(
                Code.ENCODE_FAILED, f"{target.uid} frame {i} ({backend.NAME}: {type(e).__name__})"
            ) from e
        if target.encapsulated and not target.lossy:
            back = decode_one(decoders(target.uid), data, out_info, target.uid, i)
            if not np.array_equal(back, frame):
                raise PixelCodecError(Code.ENCODE_FAILED, f"{target.uid} frame {i}: lossless round trip differs")
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
    return backend.NAME, out_pi, len(encoded)


def _write(
    ds: Dataset,
    info: PixelInfo,
    syntax_in: Syntax,
    target: Syntax,
    originals: list[bytes] | None,
    encoded: dict[int, bytes],
) -> None:
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
    ds.file_meta.TransferSyntaxUID = UID(target.uid)
