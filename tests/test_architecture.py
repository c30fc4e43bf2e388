"""The picture of the data path as checks: import contracts, and one module touching pydicom's internals."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    """pyproject.toml [tool.importlinter]: the engine is pure, receive and forward stay apart, config is below
    the engine, and the package's layers run one way."""
    lint = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "BROKEN" not in r.stdout and "5 kept, 0 broken" in r.stdout


def test_only_dicomio_touches_the_element_dict_of_a_dataset():
    offenders = []
    for path in (ROOT / "deidnode").rglob("*.py"):
        if path.parent.name == "dicomio":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\._dict\b", line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert offenders == []
