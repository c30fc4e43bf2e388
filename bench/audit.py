"""What the audit trail costs per instance, next to what the engine costs for the same instance, in one run.

    python bench/audit.py [--count 200] [--rounds 3] [--size 512]

Generates CT instances (pydicom's CT_small.dcm header, ``--size`` x ``--size`` 16-bit pixels), then times,
single process, best of ``--rounds``:
  engine: deidnode's deidentify_bytes with the default profile (header only: CT pixels are checked, not read)
  audit : what the worker adds per instance for its audit record: SHA-256 of the bytes received, the record
          (engine audit, destinations, versions), one locked append to a real audit file (deidnode/audit.py)
Prints microseconds per instance and the audit's share, and writes bench/results/audit.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from header import make_corpus  # noqa: E402

from deidnode.audit import AuditSink, Trail  # noqa: E402
from deidnode.buildinfo import versions  # noqa: E402
from deidnode.config import Settings  # noqa: E402
from deidnode.engine import Keys, Policy, deidentify_bytes  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", type=int, default=512, help="rows and columns of the CT pixels (default 512)")
    args = ap.parse_args()

    settings = Settings()
    policy = Policy.from_settings(settings, "default")
    keys = Keys(b"k" * 32)
    done_by = versions(settings.pixels.ocr.engine)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_corpus(Path(tmp), args.count)
        if args.size != 512:
            import numpy as np
            import pydicom

            for p in paths:
                ds = pydicom.dcmread(p)
                ds.Rows = ds.Columns = args.size
                ds.PixelData = (np.arange(args.size**2, dtype=np.uint16) % 4096).astype("<u2").tobytes()
                ds.save_as(p, enforce_file_format=True)
        raws = [p.read_bytes() for p in paths]
        results = [deidentify_bytes(r, policy, keys) for r in raws]  # warm-up, and the records' content
        assert all(r.ok for r in results)

        best = {"engine": float("inf"), "audit": float("inf")}
        sink = AuditSink(Path(tmp) / "audit" / "audit.jsonl")
        for _ in range(args.rounds):
            t = time.perf_counter()
            for r in raws:
                deidentify_bytes(r, policy, keys)
            best["engine"] = min(best["engine"], time.perf_counter() - t)
            t = time.perf_counter()
            for i, r in enumerate(raws):
                trail = Trail()
                trail.input(r)
                trail.engine = results[i].audit
                trail.destination("research", "ok")
                sink.write(trail.record("serve", "forwarded", done_by, spool_row=i, calling_aet="CT1", attempt=1))
            best["audit"] = min(best["audit"], time.perf_counter() - t)
        sink.close()
        record_bytes = (Path(tmp) / "audit" / "audit.jsonl").stat().st_size / (args.count * args.rounds)
        size = len(raws[0])

    us = {k: 1e6 * v / args.count for k, v in best.items()}
    share = us["audit"] / (us["engine"] + us["audit"])
    print(
        f"{args.count} CT instances of {size / 1e6:.2f} MB ({args.size}x{args.size}), best of {args.rounds} rounds,"
        " one process"
    )
    print("| per instance | engine (default profile) | audit record (hash + record + append) | audit share |")
    print("|---|---|---|---|")
    print(f"| microseconds | {us['engine']:.0f} | {us['audit']:.0f} | {100 * share:.1f}% |")
    print(f"audit record: {record_bytes:.0f} bytes on disk per instance")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "audit.json").write_text(
        json.dumps(
            {
                "count": args.count,
                "rounds": args.rounds,
                "size": args.size,
                "instance_bytes": size,
                "engine_us": us["engine"],
                "audit_us": us["audit"],
                "audit_share": share,
                "record_bytes": record_bytes,
                "machine": platform.platform(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
