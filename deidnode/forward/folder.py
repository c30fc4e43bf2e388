"""A folder destination: ``<path>/<new SOP Instance UID>.dcm``, written atomically and fsynced."""

from __future__ import annotations

import os
from pathlib import Path

from pydicom.dataset import Dataset

from ..config import Destination
from .base import OK, Outcome, Result


class FolderForwarder:
    def __init__(self, dest: Destination, encode) -> None:  # noqa: ANN001 - engine.encode_dataset
        assert dest.path is not None
        self.name = dest.name
        self.path = Path(dest.path)
        self._encode = encode

    def send(self, ds: Dataset) -> Result:
        try:
            data = self._encode(ds)
        except Exception as e:  # noqa: BLE001 - an unencodable dataset is this instance's problem
            return Result(Outcome.FAIL, "encode_failed", type(e).__name__)
        uid = str(ds.SOPInstanceUID)
        if not uid or "/" in uid or uid.startswith("."):
            return Result(Outcome.FAIL, "bad_sop_instance_uid")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            tmp = self.path / f".{uid}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, self.path / f"{uid}.dcm")
        except OSError as e:
            return Result(Outcome.RETRY, "folder_io_error", f"errno {e.errno}")
        return OK

    def release_if_idle(self, now: float) -> None:
        pass

    def close(self) -> None:
        pass
