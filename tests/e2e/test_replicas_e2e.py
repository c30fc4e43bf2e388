"""Replicas behind HAProxy: two share-nothing nodes with one key, each with its own spool, and the shipped
deploy/haproxy/haproxy.cfg (only its addresses changed) in front of them; Orthanc behind."""

from __future__ import annotations

import io
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import node_config  # noqa: E402  (sys.path set by conftest)
from dicom_factory import make_study, write_study  # noqa: E402
from peers import HAPROXY, ROOT, HAProxy, acknowledged_files, free_port, storescu, wait_for  # noqa: E402
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from deidnode.engine import Keys

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(HAPROXY).exists(), reason="haproxy is not installed")]

SHIPPED = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
BACKEND = "deidnodes"
WAITING_STATES = (0, 1, 2)  # spool rows RECEIVED, CLAIMED, RETRY_WAIT: acknowledged, not yet delivered


def haproxy_config(port: int, servers: dict[str, int], sock: Path) -> str:
    """The shipped config with the listening address, admin socket and servers of this test; nothing else."""
    text = SHIPPED.read_text()
    text, n_bind = re.subn(r"(?m)^(\s*bind) :11112$", rf"\g<1> 127.0.0.1:{port}", text)
    text, n_sock = re.subn(r"(?m)^(\s*stats socket) \S+", rf"\g<1> {sock}", text)
    text, n_srv = re.subn(r"(?m)^\s*server .*\n", "", text)
    assert (n_bind, n_sock, n_srv) == (1, 1, 2), "deploy/haproxy/haproxy.cfg changed shape: update this test"
    return text + "".join(f"    server {name} 127.0.0.1:{p} check\n" for name, p in servers.items())


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short folder for the admin socket (a UNIX socket path is limited to 107 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="hap-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def balancer(tmp_path, short_dir):
    started: list[HAProxy] = []

    def start(servers: dict[str, int]) -> HAProxy:
        port = free_port()
        lb = HAProxy(
            tmp_path / "haproxy",
            haproxy_config(port, servers, short_dir / "admin.sock"),
            port=port,
            socket=short_dir / "admin.sock",
        )
        started.append(lb.start())
        return lb

    yield start
    for lb in started:
        lb.stop()


def _replica_config(base: Path, orthanc, **overrides) -> dict:
    return node_config(base, orthanc, node={"allowed_calling_aets": ["CT1", "HAPROXY"]}, **overrides)


def _checked_up(lb: HAProxy, name: str) -> bool:
    """UP after a passed check (L7OK: the association was accepted and released), not merely presumed UP."""
    row = lb.servers(BACKEND)[name]
    return row["status"] == "UP" and row["check_status"] == "L7OK"


def _study_with_references(folder: Path, n: int, series: int, seed: str, size: int) -> list[Path]:
    """A study whose every image references the first image of its series (Referenced Image Sequence)."""
    datasets = make_study(n, series, size=size, seed=seed)
    first: dict[str, Dataset] = {}
    for ds in datasets:
        head = first.setdefault(ds.SeriesInstanceUID, ds)
        item = Dataset()
        item.ReferencedSOPClassUID = head.SOPClassUID
        item.ReferencedSOPInstanceUID = head.SOPInstanceUID
        ds.ReferencedImageSequence = Sequence([item])
    return write_study(folder, datasets)


def _originals(files: list[Path]) -> dict[str, Dataset]:
    return {str(p): dcmread(p, stop_before_pixels=True) for p in files}


def _chunks(files: list[Path], size: int) -> list[list[Path]]:
    return [files[i : i + size] for i in range(0, len(files), size)]


def test_one_study_over_several_associations_is_spread_over_replicas_and_arrives_as_one_study(
    tmp_path, orthanc, make_node, key_file, balancer
):
    files = _study_with_references(tmp_path / "study", 60, 3, "replicas-spread", 64)
    originals = _originals(files)
    nodes = [make_node(_replica_config(tmp_path / name, orthanc)).start() for name in ("a", "b")]
    lb = balancer({"node1": nodes[0].port, "node2": nodes[1].port})
    wait_for(lambda: all(_checked_up(lb, s) for s in ("node1", "node2")), 30, "both replicas checked UP")

    for chunk in _chunks(files, 10):  # six associations, as a modality sending series by series
        r = storescu(lb.port, chunk)
        assert r.returncode == 0 and len(acknowledged_files(r.stdout + r.stderr)) == len(chunk), r.stderr[-2000:]
    stored = [n.metric("deidnode_receive_instances_total", outcome="stored") for n in nodes]
    print(f"replicas: instances stored per replica {stored}")
    assert sum(stored) == 60 and min(stored) >= 20, f"not spread over the replicas: {stored}"
    assert all(int(row["stot"]) >= 3 for row in lb.servers(BACKEND).values())

    wait_for(lambda: orthanc.count() >= 60, 120, "the study in Orthanc")
    stats = orthanc.get("/statistics")
    assert (stats["CountPatients"], stats["CountStudies"], stats["CountSeries"], stats["CountInstances"]) == (
        1,
        1,
        3,
        60,
    )
    received = orthanc.received()
    # each instance delivered once, by one replica; a resend is allowed only where a replica counted a retry
    # (delivery is at least once: a C-STORE-RSP later than the destination's timeout on a loaded machine is
    # sent again, and Orthanc keeps one copy), never a second delivery no replica can account for
    retries = sum(n.metric("deidnode_forward_instances_total", destination="research", outcome="retry") for n in nodes)
    assert len(set(received)) == 60 and len(received) - 60 <= retries, (len(received), retries)

    keys = Keys.from_file(key_file)
    (patient,) = orthanc.get("/patients")
    pseudonym = orthanc.get(f"/patients/{patient}")["MainDicomTags"]["PatientID"]
    assert pseudonym and pseudonym != next(iter(originals.values())).PatientID
    by_uid = {keys.uid(str(o.SOPInstanceUID)): o for o in originals.values()}
    for iid in orthanc.get("/instances"):
        ds = dcmread(io.BytesIO(orthanc.get(f"/instances/{iid}/file", raw=True)))
        original = by_uid[str(ds.SOPInstanceUID)]
        assert ds.PatientID == pseudonym
        assert ds.StudyInstanceUID == keys.uid(str(original.StudyInstanceUID))
        assert ds.SeriesInstanceUID == keys.uid(str(original.SeriesInstanceUID))
        ref = ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID
        assert ref == keys.uid(str(original.ReferencedImageSequence[0].ReferencedSOPInstanceUID)) and ref in by_uid


def _waiting(node) -> int:
    """Acknowledged instances still in a node's spool (read from its SQLite file, the node running or dead)."""
    db = Path(node.config["spool"]["path"]) / "spool.sqlite3"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
        marks = ",".join("?" * len(WAITING_STATES))
        return int(con.execute(f"SELECT count(*) FROM items WHERE state IN ({marks})", WAITING_STATES).fetchone()[0])


def test_a_replica_killed_mid_study_and_restarted_delivers_every_acknowledged_instance_once(
    tmp_path, orthanc, make_node, key_file, balancer
):
    files = _study_with_references(tmp_path / "study", 240, 4, "replicas-kill", 64)
    originals = _originals(files)
    keys = Keys.from_file(key_file)
    expected = {keys.uid(str(o.SOPInstanceUID)) for o in originals.values()}
    # Replica A forwards with one lane, so that it holds acknowledged instances in its spool when it is killed.
    a = make_node(_replica_config(tmp_path / "a", orthanc, workers={"count": 1, "lanes": 1})).start()
    b = make_node(_replica_config(tmp_path / "b", orthanc)).start()
    lb = balancer({"node1": a.port, "node2": b.port})
    wait_for(lambda: all(_checked_up(lb, s) for s in ("node1", "node2")), 30, "both replicas checked UP")

    acked: list[str] = []
    failed_associations: list[int] = []

    def send() -> None:  # twelve associations of 20, one after the other, as a modality would
        for i, chunk in enumerate(_chunks(files, 20)):
            r = storescu(lb.port, chunk, timeout=180)
            acked.extend(acknowledged_files(r.stdout + r.stderr))
            if r.returncode != 0:
                failed_associations.append(i)

    sender = threading.Thread(target=send, name="modality")
    sender.start()
    try:
        # Killed while it holds a backlog and, most likely, in the middle of an association.
        wait_for(
            lambda: _waiting(a) >= 3 and lb.servers(BACKEND)["node1"]["scur"] != "0",
            120,
            "replica A holding a backlog while receiving",
            interval=0.005,
        )
        a.stop(signal.SIGKILL)
        waiting_at_kill = _waiting(a)
        wait_for(lambda: lb.servers(BACKEND)["node1"]["status"] == "DOWN", 30, "replica A marked DOWN")
    finally:
        sender.join(300)
    assert not sender.is_alive()
    assert waiting_at_kill > 0, "replica A had nothing in its spool when killed: the test proves nothing"
    acked_uids = {keys.uid(str(originals[f].SOPInstanceUID)) for f in acked}
    # While A is down its acknowledged instances wait on its volume; B has delivered everything it acknowledged.
    wait_for(lambda: _waiting(b) == 0, 120, "replica B's spool drained")
    missing_while_down = acked_uids - set(orthanc.received())
    print(
        f"replicas: acked={len(acked)} waiting_at_kill={waiting_at_kill} "
        f"missing_while_down={len(missing_while_down)} failed_associations={failed_associations}"
    )
    assert missing_while_down, "instances acknowledged by A should still be waiting in its spool"

    a.start()
    wait_for(lambda: _checked_up(lb, "node1"), 30, "replica A checked UP again")
    wait_for(lambda: acked_uids <= set(orthanc.received()), 120, "every acknowledged instance in Orthanc")

    # The modality sends again what was not acknowledged: the study ends complete, each instance stored once.
    rest = [Path(f) for f in originals if f not in set(acked)]
    if rest:
        r = storescu(lb.port, rest)
        assert r.returncode == 0, r.stderr[-2000:]
    wait_for(lambda: orthanc.count() >= len(files), 120, "the complete study")
    stats = orthanc.get("/statistics")
    assert (stats["CountPatients"], stats["CountStudies"], stats["CountSeries"], stats["CountInstances"]) == (
        1,
        1,
        4,
        240,
    )
    received = orthanc.received()
    assert set(received) == expected
    # A second delivery can only be of an instance in flight at the kill: forwarded by A but not yet marked (one
    # lane), or spooled by A but not acknowledged and so sent again through B. Orthanc keeps one copy of each.
    print(f"replicas: {len(received) - len(expected)} instances delivered twice")
    assert len(received) - len(expected) <= 2, f"{len(received) - len(expected)} instances delivered twice"
    wait_for(lambda: _waiting(a) == 0 and _waiting(b) == 0, 60, "both spools drained")


def test_a_replica_that_refuses_the_check_association_is_taken_out(tmp_path, orthanc, make_node, balancer):
    """The health check is a DICOM association, not a TCP connect: a replica that listens but rejects the
    check's A-ASSOCIATE-RQ (here: calling AE title HAPROXY not allowed) is marked DOWN, and senders go to the
    other replica."""
    good = make_node(_replica_config(tmp_path / "good", orthanc)).start()
    refusing = make_node(node_config(tmp_path / "refusing", orthanc, node={"allowed_calling_aets": ["CT1"]})).start()
    lb = balancer({"node1": good.port, "node2": refusing.port})
    wait_for(lambda: _checked_up(lb, "node1"), 30, "the good replica checked UP")
    wait_for(lambda: lb.servers(BACKEND)["node2"]["status"] == "DOWN", 30, "the refusing replica DOWN")
    assert lb.servers(BACKEND)["node2"]["check_status"].startswith("L7")  # an answer, and the wrong one
    files = write_study(tmp_path / "s", make_study(4, 1, seed="replicas-check"))
    for f in files:  # four associations: all to the good replica
        assert storescu(lb.port, [f]).returncode == 0
    assert good.metric("deidnode_receive_instances_total", outcome="stored") == 4
    assert refusing.metric("deidnode_receive_instances_total", outcome="stored") == 0

    # The same exchange as the Kubernetes readiness probe (deploy/k8s/statefulset.yaml).
    def probe(port: int) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "deploy" / "haproxy" / "association_check.py"), "--probe", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert probe(good.port).returncode == 0
    refused = probe(refusing.port)
    assert refused.returncode == 1 and "association not accepted (PDU type 03H)" in refused.stderr
    assert probe(free_port()).returncode == 1
