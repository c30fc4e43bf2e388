"""A folder destination: ``<path>/<new SOP Instance UID>.dcm``, written whole and durably or not at all."""

from __future__ import annotations

from pathlib import Path

from ..config import Destination
from ..durable import write_atomic
from ..errors import os_error_name
from .base import OK, Outcome, Outgoing, Result

OUTPUT_MODE = 0o644
"""De-identified instances are the product: readable by the research users of the folder."""


class FolderForwarder:
    def __init__(self, dest: Destination) -> None:
        assert dest.path is not None
        self.name = dest.name
        self.path = Path(dest.path)

    def send(self, out: Outgoing) -> Result:
        try:
            data = out.part10()
        except Exception as e:  # noqa: BLE001 - an unencodable dataset is this instance's problem
            return Result(Outcome.FAIL, "encode_failed", type(e).__name__)
        uid = out.sop_instance
        if not uid or "/" in uid or uid.startswith("."):
            return Result(Outcome.FAIL, "bad_sop_instance_uid")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path / f"{uid}.dcm", data, mode=OUTPUT_MODE)
        except OSError as e:  # a full or failing volume: never a delivery
            return Result(Outcome.RETRY, "folder_io_error", f"{self.path}: {os_error_name(e)}")
        return OK

    def release_if_idle(self, now: float) -> None:
        pass

    def close(self) -> None:
        pass
