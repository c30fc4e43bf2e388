"""The node works inside the restrictions the systemd unit puts on it, emulated where no systemd runs.

systemd/deidnode.service makes the file system read-only but for /var/lib/deidnode (ProtectSystem=strict,
ReadWritePaths), gives the node a private /tmp (PrivateTmp), no capabilities (CapabilityBoundingSet=,
NoNewPrivileges) and refuses writable-and-executable memory (MemoryDenyWriteExecute). Those are the settings a
Python program, its codecs and the OCR engine (onnxruntime, OpenCV) could trip over, so they are reproduced
here with the kernel's own mechanisms: a private mount namespace with / remounted read-only, a tmpfs on /tmp,
``setpriv`` dropping every capability with no_new_privs, and ``prctl(PR_SET_MDWE)`` (inherited by the worker
processes). The node then receives a CT study and an ultrasound image with a name burned in (read by OCR and
redacted) and delivers them. Not reproduced: the system call filter, PrivateUsers, ProtectKernel*.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from opsnode import ROUTES, get  # noqa: E402  (sys.path set by conftest)
from peers import NODELAY_ENV, ROOT, free_port, storescu, wait_for  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pixels_helpers import make_ds  # noqa: E402

PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1


def _mdwe_supported() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) >= 0


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"),
        reason="needs root, unshare and setpriv",
    ),
    pytest.mark.skipif(not _mdwe_supported(), reason="the kernel has no PR_SET_MDWE (Linux < 6.3)"),
]

SANDBOX = r"""
set -e
work=$1; state=$2; conf=$3; shift 3
mount -t tmpfs sandbox "$work"
mkdir -p "$work/eu" "$work/ew" "$work/vu" "$work/vw"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$work/eu,workdir=$work/ew" /etc
mkdir -p /etc/deidnode && mount --bind "$conf" /etc/deidnode
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$work/vu,workdir=$work/vw" /var/lib
mkdir -p /var/lib/deidnode && mount --bind "$state" /var/lib/deidnode
mount -t tmpfs -o mode=1777 private-tmp /tmp
mount -o remount,bind,ro /
mount -o remount,ro /etc
mount -o remount,bind,ro /etc/deidnode
mount -o remount,ro /var/lib
exec setpriv --no-new-privs --bounding-set=-all --inh-caps=-all --ambient-caps=-all "$@"
"""

MDWE_EXEC = (
    "import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True); "
    f"assert libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) == 0; "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def test_the_node_runs_read_only_without_capabilities_or_writable_code(tmp_path, study_dir):
    state, conf, work = tmp_path / "state", tmp_path / "conf", tmp_path / "ns"
    for d in (state, conf, work):
        d.mkdir()
    (conf / "routes.yaml").write_text(ROUTES)
    (conf / "deid.key").write_bytes(bytes(range(32)))
    metrics_port, port = free_port(), free_port()
    (conf / "node.yaml").write_text(
        yaml.safe_dump(
            {
                "node": {"host": "127.0.0.1", "port": port},
                "spool": {"path": "/var/lib/deidnode/spool", "min_free_bytes": 0},
                "quarantine_path": "/var/lib/deidnode/quarantine",
                "workers": {"count": 1, "poll_seconds": 0.05},
                "destinations": [{"name": "out", "type": "folder", "path": "/var/lib/deidnode/out"}],
                "routes_file": "routes.yaml",
                "keys": {"key_file": "deid.key"},
                "audit": {"path": "/var/lib/deidnode/audit/audit.jsonl"},
                "metrics": {"port": metrics_port},
            }
        )
    )
    us = make_ds("MONOCHROME2", [("SMITH JOHN", (20, 20)), ("PID448812", (20, 60))])
    us_file = tmp_path / "us.dcm"
    us.save_as(us_file, enforce_file_format=True)

    log = open(tmp_path / "node.log", "wb")
    node = subprocess.Popen(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            SANDBOX,
            "sh",
            str(work),
            str(state),
            str(conf),
            sys.executable,
            "-c",
            MDWE_EXEC,
            sys.executable,
            "-m",
            "deidnode.cli",
            "serve",
            "--config",
            "/etc/deidnode/node.yaml",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd="/",
        env={**NODELAY_ENV, "PYTHONPATH": str(ROOT)},
    )
    log.close()

    class Port:
        metrics_port = 0

    Port.metrics_port = metrics_port

    def ready() -> bool:
        try:
            return get(Port, "/readyz")[0] == 200
        except OSError:
            return False

    try:
        wait_for(lambda: node.poll() is not None or ready(), 60, "the node ready")
        assert node.poll() is None, (tmp_path / "node.log").read_text()[-3000:]
        with open(f"/proc/{node.pid}/status") as f:
            status = f.read()
        assert "CapEff:\t0000000000000000" in status and "NoNewPrivs:\t1" in status
        assert storescu(port, sorted(study_dir.iterdir())[:4], aet="CT1").returncode == 0
        assert storescu(port, [us_file], aet="CT1").returncode == 0
        audit = state / "audit" / "audit.jsonl"
        wait_for(lambda: audit.exists() and len(audit.read_text().splitlines()) == 5, 120, "5 audit records")
        recs = [json.loads(x) for x in audit.read_text().splitlines()]
        assert [r["outcome"] for r in recs] == ["forwarded"] * 5, [r.get("quarantine") for r in recs]
        (us_rec,) = [r for r in recs if r["engine"]["modality"] == "US"]
        assert us_rec["engine"]["pixels"]["engine"] == "rapidocr" and us_rec["engine"]["pixels"]["boxes_redacted"] >= 1
        assert len(list((state / "out").iterdir())) == 5
        node.send_signal(signal.SIGTERM)
        assert node.wait(60) == 0
    finally:
        if node.poll() is None:
            node.kill()
            node.wait(10)
