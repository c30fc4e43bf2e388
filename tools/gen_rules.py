"""Generate rules/standard/*.json from the standard's tables in ../shared/standard/ (PS3.15 2024c).

Rules are never hand-edited copies: edit the source tables or this generator and run
``python tools/gen_rules.py [SOURCE_DIR]``. Each output records its source file, edition and row count.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

EDITION = "2024c"
SOURCE_NOTE = "DICOM PS3.15 2024c (official chtml, as transcribed in shared/standard/README.md)"
TABLES = {
    "e1-1": ("ps3.15-table-e1-1.tsv", "Table E.1-1 Application Level Confidentiality Profile Attributes"),
    "e3-10-1-safe-private": ("ps3.15-table-e3-10-1-safe-private.tsv", "Table E.3.10-1 Safe Private Attributes"),
    "e3-4-1-clean-struct-content": (
        "ps3.15-table-e3-4-1-clean-struct-content.tsv",
        "Table E.3.4-1 Clean Structured Content Option Content Item Concept Name Codes",
    ),
}


def _dump(doc: dict) -> str:
    """JSON with one table row per line, so diffs of a new edition read row by row."""
    head = {k: v for k, v in doc.items() if k != "rows"}
    lines = json.dumps(head, indent=1)[:-2] + ',\n "rows": [\n'
    lines += ",\n".join("  " + json.dumps(r) for r in doc["rows"])
    return lines + "\n ]\n}\n"


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    src = Path(argv[1]) if len(argv) > 1 else root.parent / "shared" / "standard"
    out = root / "rules" / "standard"
    out.mkdir(parents=True, exist_ok=True)
    for name, (fname, title) in TABLES.items():
        raw = (src / fname).read_bytes()
        with open(src / fname, newline="", encoding="ascii") as f:
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader)
            rows = [row for row in reader if row]
        for row in rows:
            if len(row) != len(header):
                raise SystemExit(f"{fname}: a row has {len(row)} fields, expected {len(header)}")
        doc = {
            "title": title,
            "edition": EDITION,
            "source": SOURCE_NOTE,
            "source_file": fname,
            "source_sha256": hashlib.sha256(raw).hexdigest(),
            "generated_by": "tools/gen_rules.py",
            "columns": header,
            "rows": rows,
        }
        (out / f"{name}.json").write_text(_dump(doc), encoding="ascii")
        print(f"rules/standard/{name}.json: {len(rows)} rows from {fname}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
