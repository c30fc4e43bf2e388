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

import deidnode.engine  # noqa: F401 - extends pydicom's dictionary with the 2025a tags
from deidnode.config import RULES_DIR, Option
from deidnode.engine.header.table import Action, load_safe_private, load_struct_content, load_table

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "rules" / "standard" / "source"  # vendored: the generator and these tests need nothing outside
SHARED = ROOT.parent / "shared" / "standard"


def _tsv(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_table_e1_1_has_every_row_of_2025a_with_edition_and_sources():
    doc = json.loads((RULES_DIR / "standard" / "e1-1.json").read_text())
    assert doc["edition"] == "2025a" and "PS3.15" in doc["source"]
    assert len(doc["rows"]) == 631  # 623 of 2024c + 8 that 2025a adds
    assert set(doc["source_files"]) == {"ps3.15-table-e1-1.tsv", "ps3.15-2025a-table-e1-1-additions.tsv"}
    table = load_table()
    assert len(table.exact) == 627  # plus 50xx, 60xx,3000, 60xx,4000 and the private row
    assert table.private.basic is Action.X
    assert table.exact[0x00100010].basic is Action.Z  # Patient's Name
    montage = table.exact[0x0040B03B]  # Montage Name (2025a)
    assert montage.keyword == "MontageName" and montage.basic is Action.X
    assert montage.action(frozenset({Option.clean_descriptors})) is Action.C


def test_safe_private_and_structured_content_tables_load():
    assert len(load_safe_private()) == 479
    sc = load_struct_content()
    assert len(sc.by_code) == 211


def test_generated_rules_equal_the_vendored_source_tables():
    doc = json.loads((RULES_DIR / "standard" / "e1-1.json").read_text())
    base, added = _tsv(SOURCE / "ps3.15-table-e1-1.tsv"), _tsv(SOURCE / "ps3.15-2025a-table-e1-1-additions.tsv")
    assert doc["columns"] == base[0] == added[0]
    assert doc["rows"] == sorted(base[1:] + added[1:], key=lambda r: r[0])
    assert [r for r in doc["rows"] if r in base[1:]] == base[1:]  # 2024c rows unchanged and in their order
    for name, tsv in (
        ("e3-10-1-safe-private", "ps3.15-table-e3-10-1-safe-private.tsv"),
        ("e3-4-1-clean-struct-content", "ps3.15-table-e3-4-1-clean-struct-content.tsv"),
        ("dictionary-additions", "dictionary-2025a-additions.tsv"),
    ):
        rows = _tsv(SOURCE / tsv)
        doc = json.loads((RULES_DIR / "standard" / f"{name}.json").read_text())
        assert doc["columns"] == rows[0] and doc["rows"] == rows[1:], name


def test_generator_reproduces_the_committed_rules(tmp_path):
    before = {p.name: p.read_bytes() for p in (RULES_DIR / "standard").glob("*.json")}
    subprocess.run([sys.executable, str(ROOT / "tools" / "gen_rules.py")], check=True, capture_output=True)
    after = {p.name: p.read_bytes() for p in (RULES_DIR / "standard").glob("*.json")}
    assert before == after


def test_the_2025a_additions_are_new_tags_pydicom_learns_from_the_rules():
    added = _tsv(SOURCE / "ps3.15-2025a-table-e1-1-additions.tsv")[1:]
    dictionary = {r[0]: r for r in _tsv(SOURCE / "dictionary-2025a-additions.tsv")[1:]}
    assert len(added) == 8 and set(dictionary) == {r[0] for r in added}
    base = {r[0] for r in _tsv(SOURCE / "ps3.15-table-e1-1.tsv")[1:]}
    for row in added:
        assert row[0] not in base
        assert keyword_dict[row[1]] == int(row[0].replace(",", ""), 16) and dictionary[row[0]][4] == row[1]


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/standard is not beside the checkout")
def test_vendored_tables_are_the_shared_ones():
    for tsv in (
        "ps3.15-table-e1-1.tsv",
        "ps3.15-table-e3-10-1-safe-private.tsv",
        "ps3.15-table-e3-4-1-clean-struct-content.tsv",
    ):
        assert (SOURCE / tsv).read_bytes() == (SHARED / tsv).read_bytes(), tsv


def test_keep_list_names_only_known_keywords_outside_table_e1_1():
    doc = yaml.safe_load((RULES_DIR / "keep_attributes.yaml").read_text())
    listed = {r.keyword for r in load_table().exact.values()}
    for key in ("keep_keywords", "keep_scrubbed_keywords", "keep_verbatim"):
        for kw in doc[key]:
            assert kw in keyword_dict, kw
            assert kw not in listed, f"{kw} is governed by Table E.1-1"
