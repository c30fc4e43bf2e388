"""The installed layout for tests: deidnode's wheel in <root>/opt/deidnode/venv and ``deploy/install.sh --root``.

The wheel is installed without its dependencies (they come from the interpreter running the tests, put on
``PYTHONPATH`` by :func:`run_env`), so that no test downloads anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def install_layout(root: Path, work: Path) -> Path:
    """Build the wheel, install it under ``root``/opt/deidnode/venv, then run deploy/install.sh --root."""
    wheels = work / "wheels"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--ignore-installed",
            "--prefix",
            str(venv(root)),
            *wheels.iterdir(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run(
        ["sh", str(ROOT / "deploy" / "install.sh"), "--root", str(root), "--no-venv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return root


def venv(root: Path) -> Path:
    return root / "opt" / "deidnode" / "venv"


def site_packages(prefix: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(prefix)}))


def run_env(root: Path) -> dict[str, str]:
    """Environment in which ``<root>/opt/deidnode/venv/bin/deidnode`` imports the installed package."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site_packages(venv(root)))
    return env
