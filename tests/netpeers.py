"""Test helpers: an in-process pynetdicom Storage SCP that records what it receives (loopback, port 0)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification


@dataclass
class RecordingSCP:
    """Accepts storage in ``transfer_syntaxes``; answers ``status`` (settable) and records the datasets."""

    transfer_syntaxes: list[str] | None = None
    status: int = 0x0000
    received: list[Dataset] = field(default_factory=list)
    syntaxes: list[str] = field(default_factory=list)
    associations: int = 0
    delay: float = 0.0
    """Seconds each C-STORE takes (a slow destination)."""
    max_in_flight: int = 0
    """The most C-STOREs this SCP was handling at once."""

    def __post_init__(self) -> None:
        from pynetdicom import ALL_TRANSFER_SYNTAXES

        self._lock = threading.Lock()
        self._in_flight = 0
        ae = AE(ae_title="RECORDER")
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, self.transfer_syntaxes or ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        self.ae = ae
        self.server = ae.start_server(
            ("127.0.0.1", 0),
            block=False,
            evt_handlers=[(evt.EVT_C_STORE, self._store), (evt.EVT_ACCEPTED, self._accepted)],
        )
        self.port = self.server.server_address[1]

    def _accepted(self, event: evt.Event) -> None:
        with self._lock:
            self.associations += 1

    def _store(self, event: evt.Event) -> int:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            return self._record(event)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _record(self, event: evt.Event) -> int:
        if self.status != 0x0000:
            return self.status
        ds = event.dataset
        ds.file_meta = event.file_meta
        with self._lock:
            self.received.append(ds)
            self.syntaxes.append(str(event.context.transfer_syntax))
        return 0x0000

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None
