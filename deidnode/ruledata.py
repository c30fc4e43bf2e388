"""Where the rule data (``rules/``: the standard's tables, profiles, allow-lists, device regions) is found.

The rules are package data of ``deidnode`` (``deidnode/rules``; in the source tree a link to the top-level
``rules/`` folder, in a wheel a copy), read through :mod:`importlib.resources`: no path guessing, the same answer
in a checkout, an editable install, a venv, a ``--prefix`` install or a Spark executor.

The lowest layer of the package: it imports nothing of deidnode, so the bytes-level layer, the configuration and
the engine can all read rules.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _rules_dir() -> Path:
    rules = files("deidnode") / "rules"
    # Installed as files (wheel, editable, checkout); the readers take paths. A zipped install would not be.
    return Path(str(rules))


RULES_DIR = _rules_dir()
