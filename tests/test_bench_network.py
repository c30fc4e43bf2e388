"""bench/network.py keeps the peers' logs of a failed run (its temporary folder goes with them otherwise)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import network  # noqa: E402


def test_a_failed_run_keeps_the_peer_logs_beside_its_output(tmp_path: Path, monkeypatch) -> None:
    logs = tmp_path / "tmp"
    logs.mkdir()
    (logs / "node.log").write_text('{"event": "association_aborted"}\n')
    (logs / "orthanc.log").write_text("E1204 DicomServer: ...\n")

    class Failing:
        def __init__(self, *a, **k) -> None:
            self.log_path = logs / "node.log"
            self.workdir = logs
            self.proc = None
            self.aet, self.dicom_port, self.port = "ORTHANC", 1, 2

        def start(self) -> None:
            raise RuntimeError("storescu failed: exit 1")

        def stop(self) -> None:
            pass

    monkeypatch.setattr(network, "Node", Failing)
    monkeypatch.setattr(network, "Orthanc", Failing)
    out = tmp_path / "results" / "network.json"
    with pytest.raises(RuntimeError, match="storescu failed"):
        network.main(["--instances", "4", "--size", "16", "--concurrency", "1", "--out", str(out)])
    assert (tmp_path / "results" / "network.node.log").read_text() == '{"event": "association_aborted"}\n'
    assert (tmp_path / "results" / "network.orthanc.log").read_text().startswith("E1204")
