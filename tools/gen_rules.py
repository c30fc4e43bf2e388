"""Generate rules/standard/*.json from the standard's tables vendored in rules/standard/source/.

PS3.15 2024c Tables E.1-1, E.3.10-1 and E.3.4-1, plus the rows 2025a adds to Table E.1-1, and the PS3.6 entries
of the new tags (which pydicom 3.0 does not know; the engine adds them to pydicom's dictionary at import).
Rules are never hand-edited copies: edit the source tables or this generator and run
``python tools/gen_rules.py [SOURCE_DIR]``. Each output records its sources, their SHA-256, edition and rows.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

EDITION = "2025a"
SOURCE_NOTE = (
    "DICOM PS3.15 2024c (official chtml, as transcribed in rules/standard/source/README.md) plus the rows "
    "2025a adds (second-hand transcription, see that README)"
)
# output name: (title, source files: the first is the base table, the others add rows)
TABLES = {
    "e1-1": (
        "Table E.1-1 Application Level Confidentiality Profile Attributes",
        ["ps3.15-table-e1-1.tsv", "ps3.15-2025a-table-e1-1-additions.tsv"],
    ),
    "e3-10-1-safe-private": ("Table E.3.10-1 Safe Private Attributes", ["ps3.15-table-e3-10-1-safe-private.tsv"]),
    "e3-4-1-clean-struct-content": (
        "Table E.3.4-1 Clean Structured Content Option Content Item Concept Name Codes",
        ["ps3.15-table-e3-4-1-clean-struct-content.tsv"],
    ),
    "dictionary-additions": (
        "PS3.6 2025a data elements pydicom 3.0 does not know",
        ["dictionary-2025a-additions.tsv"],
    ),
}
SORTED_BY_TAG = {"e1-1"}  # as the base table is: rows added by a newer edition go in tag order


def _dump(doc: dict) -> str:
    """JSON with one table row per line, so diffs of a new edition read row by row."""
    head = {k: v for k, v in doc.items() if k != "rows"}
    lines = json.dumps(head, indent=1)[:-2] + ',\n "rows": [\n'
    lines += ",\n".join("  " + json.dumps(r) for r in doc["rows"])
    return lines + "\n ]\n}\n"


def read_tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="ascii") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        rows = [row for row in reader if row]
    for row in rows:
        if len(row) != len(header):
            raise SystemExit(f"{path.name}: a row has {len(row)} fields, expected {len(header)}")
    return header, rows


def build(src: Path) -> dict[str, dict]:
    """The documents to write, by output name."""
    docs = {}
    for name, (title, fnames) in TABLES.items():
        header: list[str] = []
        rows: list[list[str]] = []
        for fname in fnames:
            h, r = read_tsv(src / fname)
            if header and h != header:
                raise SystemExit(f"{fname}: columns differ from {fnames[0]}")
            header = h
            rows += r
        if name in SORTED_BY_TAG:
            tags = [r[0] for r in rows]
            if len(set(tags)) != len(tags):
                raise SystemExit(f"{name}: a tag appears twice")
            rows.sort(key=lambda r: r[0])
        docs[name] = {
            "title": title,
            "edition": EDITION,
            "source": SOURCE_NOTE,
            "source_files": {f: hashlib.sha256((src / f).read_bytes()).hexdigest() for f in fnames},
            "generated_by": "tools/gen_rules.py",
            "columns": header,
            "rows": rows,
        }
    return docs


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    src = Path(argv[1]) if len(argv) > 1 else root / "rules" / "standard" / "source"
    out = root / "rules" / "standard"
    for name, doc in build(src).items():
        (out / f"{name}.json").write_text(_dump(doc), encoding="ascii")
        print(f"rules/standard/{name}.json: {len(doc['rows'])} rows from {', '.join(doc['source_files'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
