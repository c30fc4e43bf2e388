"""The installed layout runs: deidnode installed by deploy/install.sh (wheel in /opt/deidnode/venv, config in
/etc/deidnode, state in /var/lib/deidnode) serves from exactly those paths and delivers to Orthanc.

The test may not write to the machine's /etc or /var/lib: the layout is built under a temporary root and shown
at its real paths in a private mount namespace (overlays on /etc and /var/lib, bind mounts of the layout's
folders, /opt bound to the layout's /opt). The program, its rules and routes are the installed ones.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from opsnode import get  # noqa: E402  (sys.path set by conftest)
from peers import NODELAY_ENV, free_port, storescu, wait_for  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from layout import install_layout, site_packages  # noqa: E402

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("unshare"),
        reason="showing the layout at /etc and /var/lib needs root and unshare",
    ),
    pytest.mark.skipif(not shutil.which("systemd-sysusers"), reason="systemd-sysusers not installed"),
]

NAMESPACE = r"""
set -e
work=$1; root=$2; shift 2
mount -t tmpfs deidnode-layout "$work"
mkdir -p "$work/etc-up" "$work/etc-work" "$work/var-up" "$work/var-work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$work/etc-up,workdir=$work/etc-work" /etc
mkdir -p /etc/deidnode && mount --bind "$root/etc/deidnode" /etc/deidnode
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$work/var-up,workdir=$work/var-work" /var/lib
mkdir -p /var/lib/deidnode && mount --bind "$root/var/lib/deidnode" /var/lib/deidnode
mount --bind "$root/opt" /opt
exec "$@"
"""


def test_the_installed_node_serves_from_etc_and_var_lib(tmp_path, orthanc, study_dir):
    root = install_layout(tmp_path / "root", tmp_path / "work")
    cfg_path = root / "etc" / "deidnode" / "node.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    # What an operator edits after install.sh: the research PACS, and (for this test) free loopback ports.
    cfg["destinations"][0].update(ae_title=orthanc.aet, host="127.0.0.1", port=orthanc.dicom_port)
    cfg["node"].update(host="127.0.0.1", port=free_port())
    cfg["metrics"]["port"] = free_port()
    cfg["workers"] = {"count": 1, "poll_seconds": 0.05}
    cfg["spool"]["min_free_bytes"] = 0
    cfg_path.write_text(yaml.safe_dump(cfg))
    (tmp_path / "ns").mkdir()
    installed_site = site_packages(Path("/opt/deidnode/venv"))  # as the namespace sees it
    env = {**NODELAY_ENV, "PYTHONPATH": str(installed_site), "DEIDNODE_KEY_FILE": "/etc/deidnode/deid.key"}

    def in_layout(*cmd: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(
            [
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                NAMESPACE,
                "sh",
                str(tmp_path / "ns"),
                str(root),
                *cmd,
            ],
            env=env,
            cwd=tmp_path,
            **kw,
        )

    probe = in_layout(
        sys.executable,
        "-c",
        "import deidnode.config as c; print(c.__file__); print(c.RULES_DIR)",
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = probe.communicate(timeout=60)
    package, rules = out.split()
    assert package.startswith("/opt/deidnode/venv/lib/") and rules == str(Path(package).parent / "rules")
    check = in_layout(
        "/opt/deidnode/venv/bin/deidnode",
        "check-config",
        "--config",
        "/etc/deidnode/node.yaml",
        stdout=subprocess.PIPE,
        text=True,
    )
    effective = json.loads(check.communicate(timeout=60)[0])
    assert effective["routes_file"] == "/etc/deidnode/routes.yaml"
    assert effective["spool"]["path"] == "/var/lib/deidnode/spool"

    log = open(tmp_path / "node.log", "wb")
    node = in_layout(
        "/opt/deidnode/venv/bin/deidnode",
        "serve",
        "--config",
        "/etc/deidnode/node.yaml",
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()

    class Port:
        metrics_port = cfg["metrics"]["port"]

    def ready() -> bool:
        try:
            return get(Port, "/readyz")[0] == 200
        except OSError:  # not listening yet
            return False

    try:
        wait_for(lambda: node.poll() is not None or ready(), 60, "the node ready")
        assert node.poll() is None, (tmp_path / "node.log").read_text()[-3000:]
        files = sorted(study_dir.iterdir())[:6]
        assert storescu(cfg["node"]["port"], files, aet="CT1").returncode == 0
        wait_for(lambda: orthanc.count() == 6, 60, "6 instances in Orthanc")
        state = root / "var" / "lib" / "deidnode"
        wait_for(
            lambda: (
                (state / "audit" / "audit.jsonl").exists()
                and len((state / "audit" / "audit.jsonl").read_text().splitlines()) == 6
            ),
            30,
            "6 audit records",
        )
        assert (state / "spool" / "spool.sqlite3").exists()
        recs = [json.loads(x) for x in (state / "audit" / "audit.jsonl").read_text().splitlines()]
        assert {r["destinations"][0]["name"] for r in recs} == {"research"}  # routed by /etc/deidnode/routes.yaml
        node.send_signal(signal.SIGTERM)
        assert node.wait(60) == 0
    finally:
        if node.poll() is None:
            node.kill()
            node.wait(10)
