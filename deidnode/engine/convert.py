"""Lossless conversion of a de-identified instance to a native little endian transfer syntax, as a new object.

Used when a destination does not accept the instance's own syntax (PS3.5 A.2, A.4, A.5, A.1 reversed): pixel
data is decoded and written native with the engine's codec, keeping the photometric interpretation's meaning
(YBR_FULL_422 becomes YBR_FULL, never RGB), every UID and every other value; Explicit VR Big Endian bulk values
(OW, OF, OL, OD, OV) are byte-swapped. The input dataset is never changed: other destinations send it as is.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from ..dicomio.rawvalue import clone, elements
from .pixels.codec import PixelCodecError, decode_frames, transcode

NATIVE_LITTLE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
_SWAP_WIDTH = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
PIXEL_DATA = 0x7FE00010


class ConversionError(Exception):
    """The instance cannot be converted losslessly; ``code`` is a PHI-free reason."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code, self.detail = code, detail


def to_native_little_endian(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> Dataset:
    """``ds`` converted to Explicit (or Implicit) VR Little Endian, as a new dataset.

    Raises :class:`ConversionError` when pixels cannot be decoded (missing codec, corrupt fragments).
    """
    if transfer_syntax not in NATIVE_LITTLE:
        raise ConversionError("conversion-target-not-native", transfer_syntax)
    ts_in = str(ds.file_meta.TransferSyntaxUID)
    new = clone(ds)
    if ts_in in NATIVE_LITTLE or ts_in == DeflatedExplicitVRLittleEndian:
        new.file_meta.TransferSyntaxUID = transfer_syntax
        return new
    big_endian = ts_in == ExplicitVRBigEndian
    if big_endian:
        swapped = _swapped_bulk(new, skip_pixels=True)
        if swapped is not None:
            new = swapped
    if PIXEL_DATA in elements(new):
        try:
            frames = decode_frames(new)
            transcode(new, ExplicitVRLittleEndian, frames=_little(frames))
        except PixelCodecError as e:
            raise ConversionError("pixel-conversion-failed", e.code) from e
    new.file_meta.TransferSyntaxUID = transfer_syntax
    return new


def _little(frames: np.ndarray) -> np.ndarray:
    return frames if frames.dtype.byteorder in ("<", "=", "|") else frames.astype(frames.dtype.newbyteorder("<"))


def _swapped_bulk(ds: Dataset, *, skip_pixels: bool = False) -> Dataset | None:
    """A clone of ``ds`` with big endian OW/OF/OL/OD/OV values byte-swapped, at any depth; None if it has none.

    pydicom re-encodes numbers when the byte order changes on write but writes these VRs as the bytes they are.
    """
    changed: dict[int, DataElement] = {}
    for tag, elem in elements(ds).items():
        if skip_pixels and tag == PIXEL_DATA:
            continue
        vr = elem.VR
        if vr == "SQ":
            value = ds[tag].value
            items = [_swapped_bulk(item) for item in value]
            if any(i is not None for i in items):
                seq = Sequence([new if new is not None else old for new, old in zip(items, value, strict=True)])
                changed[tag] = DataElement(tag, "SQ", seq)
        elif vr in _SWAP_WIDTH:
            raw = elem.value if isinstance(elem, RawDataElement) else ds[tag].value
            if raw:
                width = _SWAP_WIDTH[vr]
                data = bytes(raw)
                usable = len(data) - len(data) % width
                arr = np.frombuffer(data[:usable], dtype=f">u{width}").astype(f"<u{width}")
                changed[tag] = DataElement(tag, vr, arr.tobytes() + data[usable:])
    if not changed:
        return None
    new = clone(ds)
    for tag, elem in changed.items():
        elements(new)[tag] = elem
    return new


def convertible(transfer_syntax: str, accepted: Iterable[str]) -> str | None:
    """The syntax to send an instance in when the destination accepted ``accepted`` for its class: its own,
    else Explicit, else Implicit VR Little Endian; None when none of those was accepted."""
    accepted = set(accepted)
    if transfer_syntax in accepted:
        return transfer_syntax
    for ts in NATIVE_LITTLE:
        if ts in accepted:
            return ts
    return None
