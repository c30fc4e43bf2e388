"""Where the rule data (``rules/``: the standard's tables, profiles, allow-lists, device regions) is found.

The lowest layer of the package: it imports nothing of deidnode, so the bytes-level layer, the configuration and
the engine can all read rules.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _rules_dir() -> Path:
    """``rules/`` beside the package in a source checkout; ``<prefix>/share/deidnode/rules`` when installed
    (pyproject's data-files; the prefix is the one the package sits in: venv, --prefix or system)."""
    here = Path(__file__).resolve()
    candidates = [here.parents[1] / "rules"]
    if len(here.parents) > 4:  # <prefix>/lib/pythonX.Y/site-packages/deidnode/config.py
        candidates.append(here.parents[4] / "share" / "deidnode" / "rules")
    candidates.append(Path(sys.prefix) / "share" / "deidnode" / "rules")
    for c in candidates:
        if (c / "standard").is_dir():
            return c
    return candidates[0]  # missing: the first rule file read names the path


RULES_DIR = _rules_dir()
