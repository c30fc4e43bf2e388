"""The configuration shown in the README is valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from deidnode.config import settings_from_dict

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_yaml_block_in_the_readme_is_a_valid_config():
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 3
    for block in blocks:
        settings_from_dict(yaml.safe_load(block))
