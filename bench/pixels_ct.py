"""The pixel stage on clean CT: milliseconds per instance with the default configuration, in ``deidnode deid``.

    python bench/pixels_ct.py [--instances 500] [--series 1] [--size 512]

A study of clean 512x512 CT slices (real anatomy: bench/textcheck.py's ``clean_slices``, as bench/network.py
``--corpus anatomy`` sends them) in ``--series`` series, de-identified by ``deidnode deid`` as a new user runs
it: the default configuration (pixel policy ``phi``: CT gets the text-presence check, decided once per series
and geometry, pixels/series.py). From the audit records: the pixel stage's seconds per instance (mean,
median, p99, the first slice of each series apart), how many checks ran and fired, and whether the pixel data
stayed bit-identical. Writes bench/results/pixels-ct.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from dicom_factory import make_study, write_study  # noqa: E402
from network import _anatomy  # noqa: E402
from pydicom import dcmread  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=500)
    ap.add_argument("--series", type=int, default=1)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pixels-ct.json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="deidnode-pixels-ct-") as tmp:
        tmpd = Path(tmp)
        study = make_study(args.instances, args.series, size=args.size, seed="pixels-ct")
        _anatomy(study, args.size)
        files = write_study(tmpd / "in", study)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        load = os.getloadavg()
        t = time.perf_counter()
        p = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from deidnode.cli import main; sys.exit(main())",
                "deid",
                str(tmpd / "in"),
                "--out",
                str(tmpd / "out"),
                "--ephemeral-key",
                "-q",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t
        if p.returncode != 0:
            raise SystemExit(f"deidnode deid failed ({p.returncode}): {p.stderr[-2000:]}")
        recs = [json.loads(x) for x in (tmpd / "out" / "audit.jsonl").read_text().splitlines()]
        by_sha = {}
        import hashlib

        for f in files:
            by_sha[hashlib.sha256(f.read_bytes()).hexdigest()] = f
        identical = 0
        for r in recs:
            out = dcmread(tmpd / "out" / r["output"])
            identical += bytes(out.PixelData) == bytes(dcmread(by_sha[r["input_sha256"]]).PixelData)
    px = [r["engine"]["pixels"] for r in recs]
    ms = [1e3 * a.get("seconds", {}).get("total", 0.0) for a in px]
    checked = [a for a in px if "text_check" in a and a.get("text_check_from") != "series"]
    first = [1e3 * a.get("seconds", {}).get("total", 0.0) for a in checked]
    rest = [m for m, a in zip(ms, px, strict=True) if a.get("text_check_from") == "series"]
    res = {
        "instances": len(recs),
        "series": args.series,
        "size": args.size,
        "pixel_stage_ms_mean": statistics.fmean(ms),
        "pixel_stage_ms_median": statistics.median(ms),
        "pixel_stage_ms_p99": sorted(ms)[int(0.99 * (len(ms) - 1))],
        "checks_run": len(checked),
        "checks_fired": sum(bool(a["text_check"]) for a in checked),
        "first_slice_ms_mean": statistics.fmean(first) if first else None,
        "memo_slice_ms_mean": statistics.fmean(rest) if rest else None,
        "pixel_data_identical": identical,
        "deid_wall_seconds": wall,
        "load_before": load,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(
        f"clean CT, {res['instances']} instances {args.size}x{args.size} in {args.series} series, default "
        f"configuration (`deidnode deid`):"
    )
    print(
        f"  pixel stage ms/instance: mean {res['pixel_stage_ms_mean']:.3f}, median "
        f"{res['pixel_stage_ms_median']:.3f}, p99 {res['pixel_stage_ms_p99']:.3f}"
    )
    print(
        f"  full text checks: {res['checks_run']} ({res['checks_fired']} fired), first slice of a series "
        f"{res['first_slice_ms_mean'] or 0:.1f} ms; slices decided by the series memo "
        f"{res['memo_slice_ms_mean'] or 0:.3f} ms"
    )
    print(
        f"  pixel data bit-identical: {identical}/{res['instances']}; deid wall {wall:.1f} s "
        f"(load before {load[0]:.2f})"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
