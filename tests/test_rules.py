"""rules/ holds the standard's tables as generated data, with edition and source, and our own lists are sane."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydicom.datadict import keyword_dict

from deidnode.config import RULES_DIR
from deidnode.engine.header.table import Action, load_safe_private, load_struct_content, load_table

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "standard"


def test_table_e1_1_has_every_row_with_edition_and_source():
    doc = json.loads((RULES_DIR / "standard" / "e1-1.json").read_text())
    assert doc["edition"] == "2024c" and "PS3.15" in doc["source"]
    assert len(doc["rows"]) == 623
    table = load_table()
    assert len(table.exact) == 619  # plus 50xx, 60xx,3000, 60xx,4000 and the private row
    assert table.private.basic is Action.X
    assert table.exact[0x00100010].basic is Action.Z  # Patient's Name


def test_safe_private_and_structured_content_tables_load():
    assert len(load_safe_private()) == 479
    sc = load_struct_content()
    assert len(sc.by_code) == 211


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/standard is not beside the checkout")
def test_generated_rules_equal_the_standard_tables(tmp_path):
    for name, tsv in (("e1-1", "ps3.15-table-e1-1.tsv"),
                      ("e3-10-1-safe-private", "ps3.15-table-e3-10-1-safe-private.tsv"),
                      ("e3-4-1-clean-struct-content", "ps3.15-table-e3-4-1-clean-struct-content.tsv")):
        with open(SHARED / tsv, newline="") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        doc = json.loads((RULES_DIR / "standard" / f"{name}.json").read_text())
        assert doc["columns"] == rows[0] and doc["rows"] == rows[1:], name


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/standard is not beside the checkout")
def test_generator_reproduces_the_committed_rules(tmp_path):
    before = {p.name: p.read_bytes() for p in (RULES_DIR / "standard").glob("*.json")}
    subprocess.run([sys.executable, str(ROOT / "tools" / "gen_rules.py"), str(SHARED)], check=True,
                   capture_output=True)
    after = {p.name: p.read_bytes() for p in (RULES_DIR / "standard").glob("*.json")}
    assert before == after


def test_keep_list_names_only_known_keywords_outside_table_e1_1():
    doc = yaml.safe_load((RULES_DIR / "keep_attributes.yaml").read_text())
    listed = {r.keyword for r in load_table().exact.values()}
    for key in ("keep_keywords", "keep_scrubbed_keywords", "keep_verbatim"):
        for kw in doc[key]:
            assert kw in keyword_dict, kw
            assert kw not in listed, f"{kw} is governed by Table E.1-1"
