"""systemd/: the unit passes ``systemd-analyze verify`` and scores <= 2.0 in ``systemd-analyze security``; the
sysusers.d and tmpfiles.d files make the documented layout; Documentation= points at installed files."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from layout import ROOT, install_layout, venv

UNIT = ROOT / "systemd" / "deidnode.service"
ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
needs_analyze = pytest.mark.skipif(not Path(ANALYZE).exists(), reason="systemd-analyze not installed")
needs_tools = pytest.mark.skipif(
    not shutil.which("systemd-sysusers") or not shutil.which("systemd-tmpfiles"),
    reason="systemd-sysusers/systemd-tmpfiles not installed",
)


def unit() -> configparser.RawConfigParser:
    p = configparser.RawConfigParser(strict=False, delimiters=("=",))
    p.optionxform = str  # type: ignore[assignment,method-assign]
    p.read_string(UNIT.read_text())
    return p


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    if not shutil.which("systemd-sysusers") or not shutil.which("systemd-tmpfiles"):
        pytest.skip("systemd-sysusers/systemd-tmpfiles not installed")
    root = tmp_path_factory.mktemp("root")
    return install_layout(root, tmp_path_factory.mktemp("work"))


@needs_analyze
def test_security_exposure_is_at_most_2_0():
    r = subprocess.run(
        [ANALYZE, "security", "--offline=yes", "--threshold=20", str(UNIT)], capture_output=True, text=True, timeout=60
    )
    m = re.search(r"Overall exposure level for deidnode\.service: (\d+\.\d)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.0, r.stdout
    assert r.returncode == 0, r.stdout + r.stderr  # --threshold=20: non-zero above 2.0


@needs_analyze
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_systemd_analyze_verify_is_clean_on_the_installed_layout(installed):
    # verify checks that ExecStart exists: show it the installed /opt (a bind mount in a private namespace).
    r = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount --bind "$0/opt" /opt && exec "$1" verify "$0/etc/systemd/system/deidnode.service"',
            str(installed),
            ANALYZE,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


def test_the_unit_notifies_reloads_and_is_watched():
    s = unit()["Service"]
    assert s["Type"] == "notify" and s["NotifyAccess"] == "main" and int(s["WatchdogSec"]) >= 10
    assert s["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert s["ExecStart"].startswith("/opt/deidnode/venv/bin/deidnode serve --config /etc/deidnode/node.yaml")
    assert s["UMask"] == "0077" and s["User"] == "deidnode" and s["ReadWritePaths"] == "/var/lib/deidnode"
    assert s["KillMode"] == "mixed"


def test_documentation_points_at_files_the_install_puts_there(installed):
    docs = [line.split("=", 1)[1] for line in UNIT.read_text().splitlines() if line.startswith("Documentation=")]
    files = [d.removeprefix("file://") for d in docs if d.startswith("file://")]
    assert files and all(f.startswith(str(Path("/opt/deidnode/venv"))) for f in files)
    for f in files:
        assert (installed / f.lstrip("/")).is_file(), f
    assert (venv(installed) / "share" / "doc" / "deidnode" / "operations.md").read_text().startswith("# Operat")
    assert (installed / unit()["Service"]["ExecStart"].split()[0].lstrip("/")).is_file()


@needs_tools
def test_sysusers_and_tmpfiles_make_the_documented_layout(installed):
    passwd = (installed / "etc" / "passwd").read_text()
    (entry,) = [line for line in passwd.splitlines() if line.startswith("deidnode:")]
    _, _, uid, gid, _, home, shell = entry.split(":")
    assert home == "/var/lib/deidnode" and shell == "/usr/sbin/nologin"
    expect = {
        "etc/deidnode": (0o750, 0, int(gid)),
        "etc/deidnode/deid.key": (0o440, 0, int(gid)),
        "etc/deidnode/node.yaml": (0o640, 0, int(gid)),
        "var/lib/deidnode": (0o700, int(uid), int(gid)),
        "var/lib/deidnode/spool": (0o700, int(uid), int(gid)),
        "var/lib/deidnode/quarantine": (0o700, int(uid), int(gid)),
        "var/lib/deidnode/audit": (0o700, int(uid), int(gid)),
    }
    for rel, (mode, owner, group) in expect.items():
        st = (installed / rel).stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, owner, group), rel
    assert len((installed / "etc" / "deidnode" / "deid.key").read_bytes()) == 32


def test_install_sh_never_overwrites_the_configuration(installed, tmp_path):
    node_yaml = installed / "etc" / "deidnode" / "node.yaml"
    key = installed / "etc" / "deidnode" / "deid.key"
    before = (node_yaml.read_bytes(), key.read_bytes())
    node_yaml.write_text(before[0].decode() + "# edited by the operator\n")
    r = subprocess.run(
        ["sh", str(ROOT / "deploy" / "install.sh"), "--root", str(installed), "--no-venv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert node_yaml.read_text().endswith("# edited by the operator\n") and key.read_bytes() == before[1]
    node_yaml.write_bytes(before[0])


def test_the_installed_config_resolves_routes_and_rules_in_the_layout(installed):
    from deidnode.config import load_settings

    s = load_settings(installed / "etc" / "deidnode" / "node.yaml")
    assert s.routes_file == installed / "etc" / "deidnode" / "routes.yaml" and s.routes_file.is_file()
    assert s.keys.key_file == installed / "etc" / "deidnode" / "deid.key"
    assert str(s.spool.path) == "/var/lib/deidnode/spool" and str(s.audit.path).startswith("/var/lib/deidnode/")
    assert str(s.quarantine_path) == "/var/lib/deidnode/quarantine"
    rules = list(venv(installed).glob("lib/python3*/site-packages/deidnode/rules/standard/e1-1.json"))
    assert len(rules) == 1 and rules[0].is_file()  # package data inside the installed package
