"""Instructions per instance of the engine's header path (parse, de-identify, encode), counted by valgrind.

    python bench/engine_instructions.py [--instances 400] [--rev 9c35928 --rev HEAD ...] [TREE ...]

Wall-clock timings on a shared machine swing by 2x from run to run; an instruction count does not (to ~0.1%),
so it can tell a 3% change in the per-instance work. Each tree (a source tree, or a git revision exported with
``git archive``) runs ``deidentify_bytes`` + ``encode_dataset`` on ``tests/dicom_factory``'s CT study with the
pixel stage off, under ``valgrind --tool=callgrind``, once with 0 instances and once with N; the difference over
N is the count per instance (start-up and imports cancel out). Needs Debian's ``valgrind``; each tree takes about
two minutes. Prints a table; writes bench/results/engine-instructions.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = """
import sys
root, n = sys.argv[1], int(sys.argv[2])
sys.path[:0] = [root, root + "/tests"]
from dicom_factory import make_study, to_bytes
from deidnode.config import settings_from_dict
from deidnode.engine import Policy, deidentify_bytes, encode_dataset
from deidnode.engine.keys import Keys
policy = Policy.from_settings(settings_from_dict({"pixels": {"policy": "off"}}), "default")
keys = Keys(b"n" * 32)
raws = [to_bytes(d) for d in make_study(1, 4)]
for r in raws:
    encode_dataset(deidentify_bytes(r, policy, keys).dataset)
for i in range(n):
    encode_dataset(deidentify_bytes(raws[i % len(raws)], policy, keys).dataset)
"""


def _count(tree: Path, n: int, work: Path) -> int:
    script = work / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(tree)}
    p = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={work / 'cg.out'}", sys.executable, str(script)]
        + [str(tree), str(n)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    m = re.search(r"Collected : (\d+)", p.stderr)
    if p.returncode != 0 or m is None:
        raise SystemExit(f"error: valgrind run of {tree}: {p.stderr.strip().splitlines()[-1:]}")
    return int(m.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trees", nargs="*", type=Path, help="source trees (default: this one)")
    ap.add_argument("--rev", action="append", default=[], help="a git revision of this repository (repeatable)")
    ap.add_argument("--instances", type=int, default=400)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "engine-instructions.json")
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("error: valgrind: not found (apt-get install valgrind)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="deidnode-ir-") as tmp:
        work = Path(tmp)
        trees: list[tuple[str, Path]] = [(str(t), t.resolve()) for t in args.trees]
        for rev in args.rev:
            dest = work / f"rev-{len(trees)}"
            dest.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
            trees.append((rev, dest))
        if not trees:
            trees = [("working tree", ROOT)]
        for label, tree in trees:
            base = _count(tree, 0, work)
            full = _count(tree, args.instances, work)
            rows.append({"tree": label, "instructions_per_instance": round((full - base) / args.instances)})
            print(f"{label:>20} | {rows[-1]['instructions_per_instance'] / 1e6:8.3f} M instructions per instance")
    first = rows[0]["instructions_per_instance"]
    for r in rows:
        r["ratio_to_first"] = round(r["instructions_per_instance"] / first, 4)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": "engine_instructions", "instances": args.instances, "rows": rows}
    args.out.write_text(json.dumps(doc, indent=2))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
