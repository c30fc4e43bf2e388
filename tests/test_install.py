"""What `pip install .` ships: an installed deidnode (not a source checkout) finds its rules and works."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from pydicom.data import get_testdata_file

ROOT = Path(__file__).resolve().parents[1]


def test_an_installed_wheel_carries_the_rules_and_deidentifies(tmp_path):
    # --ignore-installed: without it pip would uninstall the deidnode this test suite runs from
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    prefix = tmp_path / "prefix"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--ignore-installed",
            "--prefix",
            str(prefix),
            *wheels.iterdir(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    site = Path(sysconfig.get_path("purelib", vars={"base": str(prefix)}))
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import deidnode.config as c; print(c.__file__); print(c.RULES_DIR)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    package, rules = where.stdout.split()
    # the rules are package data, a real copy inside the installed package (not a link back to the checkout)
    assert Path(package).is_relative_to(prefix) and Path(rules) == Path(package).parent / "rules"
    assert not Path(rules).is_symlink() and (Path(rules) / "standard" / "e1-1.json").is_file()
    assert (Path(rules) / "pixel_regions.yaml").is_file()
    out = tmp_path / "out"
    deid = subprocess.run(
        [
            sys.executable,
            "-m",
            "deidnode.cli",
            "deid",
            get_testdata_file("CT_small.dcm"),
            "--out",
            str(out),
            "--ephemeral-key",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert deid.returncode == 0, deid.stderr[-2000:]
    assert len(list(out.rglob("*.dcm"))) == 1
