"""Part 10 bytes (or a memory map of a spool file) to a pydicom Dataset, with the structure checked first.

See :mod:`.framing` for what is checked around pydicom's reader and why.
"""

from __future__ import annotations

import io
import mmap
from typing import BinaryIO, cast

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from . import framing

DEFAULT_MAX_INFLATED_BYTES = 128 * 1024 * 1024
"""How large a deflated data set may inflate (``node.max_inflated_bytes``'s default)."""


def as_file(raw: bytes | mmap.mmap) -> BinaryIO:
    """A file-like view of ``raw``: BytesIO shares a ``bytes`` object; a memory map (the spool's file) is read
    in place, so a large instance is not first copied into the worker's memory."""
    if isinstance(raw, mmap.mmap):
        raw.seek(0)
        return cast(BinaryIO, raw)  # an mmap has the file methods dcmread uses (read, seek, tell)
    return io.BytesIO(raw)


def parse_bytes(raw: bytes | mmap.mmap, *, max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES) -> Dataset:
    """Parse a Part 10 byte string (preamble optional, file meta required) and read every element.

    Structure is checked around pydicom (:mod:`.framing`): a deflated data set may inflate to
    ``max_inflated_bytes`` and no more (:class:`~.framing.InflateLimit`); an element, item or fragment
    running past the end of its container is :class:`~.framing.Truncated`; group 0002 elements inside the
    data set are dropped, so only the file meta's own say which transfer syntax the data set is in.
    """
    layout = framing.locate(raw)
    if layout is None:
        return _parse_bare(raw)
    if layout.transfer_syntax == framing.DEFLATED:
        body = framing.inflate_bounded(raw[layout.dataset_start :], max_inflated_bytes)
        framing.check_framing(body, 0, False, True)
        del body
    else:
        framing.check_framing(raw, layout.dataset_start, *framing.encoding(layout.transfer_syntax))
    data: bytes | mmap.mmap = raw
    if layout.dataset_start != layout.meta_end:
        data = bytes(raw[: layout.meta_end]) + bytes(raw[layout.dataset_start :])
    ds = dcmread(as_file(data), force=False)
    _drop_group_0002(ds)
    if "SOPClassUID" not in ds and "SOPInstanceUID" not in ds:
        raise InvalidDicomError("no SOP Class or Instance UID")
    return ds


def _parse_bare(raw: bytes | mmap.mmap) -> Dataset:
    """A bare data set without Part 10 header (older archives write these): accepted only when it parses to
    a composite instance; its encoding becomes the transfer syntax of the output."""
    ds = dcmread(as_file(raw), force=True)
    if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds or "PatientID" not in ds and "Modality" not in ds:
        raise InvalidDicomError("not a DICOM instance")
    implicit, little = ds.original_encoding
    if not little:
        raise InvalidDicomError("bare big endian data set")
    start = 132 if len(raw) >= 132 and raw[128:132] == b"DICM" else 0
    framing.check_framing(raw, start, bool(implicit), True)
    _drop_group_0002(ds)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    return ds


def _drop_group_0002(ds: Dataset) -> None:
    """File meta elements belong in the file meta (PS3.10 7.1); inside the data set they are dropped."""
    for tag in [t for t in ds.keys() if t.group == 0x0002]:
        del ds[tag]
