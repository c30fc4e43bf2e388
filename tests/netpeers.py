"""Test helpers: an in-process pynetdicom Storage SCP that records what it receives (loopback, port 0), and
deidnode's own Storage SCP in a child process whose CPU and memory a test can read."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    implementations: list[tuple[str, str]] = field(default_factory=list)
    """(Implementation Class UID, Implementation Version Name) each requestor announced."""

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
        rq = event.assoc.requestor
        with self._lock:
            self.associations += 1
            self.implementations.append((str(rq.implementation_class_uid), str(rq.implementation_version_name)))

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


_SCP_CHILD = r"""
import json, signal, sys, threading
from deidnode.config import NodeSettings
from deidnode.receive import StorageSCP
from deidnode.spool import Spool
settings = NodeSettings(**json.loads(sys.argv[1]))
scp = StorageSCP(settings, Spool(sys.argv[2], min_free_bytes=0))
host, port = scp.start()
print(port, flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
stop.wait()
scp.stop(0)
"""


class ScpProcess:
    """The Storage SCP alone in a child process (127.0.0.1, free port), so a test can read what an attack
    costs it: CPU seconds and resident memory from /proc. Use as a context manager."""

    def __init__(self, spool_dir: Path, **settings: Any) -> None:
        import json
        import os
        import subprocess
        import sys

        import deidnode

        settings = {"host": "127.0.0.1", "port": 0, **settings}
        root = Path(deidnode.__file__).resolve().parents[1]  # the deidnode this test imported
        self.spool_dir = spool_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SCP_CHILD, json.dumps(settings), str(spool_dir)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(root)},
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError("SCP child did not start")
        self.port = int(line)

    def _status(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def rss_mb(self) -> float:
        return self._status("VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return self._status("VmHWM") / 1024

    def cpu_seconds(self) -> float:
        import os

        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def threads(self) -> int:
        return self._status("Threads")

    def stop(self) -> None:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> ScpProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
