"""Header-only de-identification rate vs a plain pydicom read-and-write of the same files, in one run.

    python bench/header.py [--count 200] [--rounds 3] [--profile default|basic]

Generates 512x512 16-bit CT instances with a realistic, PHI-laden header (tests/phi_dataset.py) into a temporary
folder, then times, single process, alternating rounds:
  plain: read the file's bytes, pydicom.dcmread, pydicom.dcmwrite to memory
  deid : read the file's bytes, deidnode's deidentify_bytes (parse, profile, records), encode to memory
Prints instances/s for both and the ratio (target >= 0.8), and writes bench/results/header.json.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from phi_dataset import planted_ct  # noqa: E402

from deidnode.config import Profile  # noqa: E402
from deidnode.engine import Keys, Policy, deidentify_bytes, encode_dataset  # noqa: E402


def make_corpus(folder: Path, count: int, header: str = "scanner") -> list[Path]:
    """``scanner``: the header of pydicom's CT_small.dcm (a GE CT: 95 standard and 170 private elements);
    ``planted``: tests/phi_dataset.py (PHI planted in every kind of place). Pixels: 512x512x16-bit."""
    study, frame = generate_uid(), generate_uid()
    series = [generate_uid() for _ in range(4)]
    paths = []
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    pixels = (np.arange(512 * 512, dtype=np.uint16) % 4096).astype("<u2").tobytes()
    for i in range(count):
        if header == "planted":
            ds = planted_ct(study_uid=study, series_uid=series[i % 4], frame_uid=frame, rows=512, cols=512)
        else:
            ds = copy.deepcopy(template)
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series[i % 4]
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.FrameOfReferenceUID = frame
            ds.Rows = ds.Columns = 512
            ds.PixelData = pixels
        ds.InstanceNumber = i + 1
        p = folder / f"ct{i:05d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths


def plain(paths: list[Path]) -> float:
    t0 = time.perf_counter()
    for p in paths:
        ds = pydicom.dcmread(io.BytesIO(p.read_bytes()))
        pydicom.dcmwrite(io.BytesIO(), ds, enforce_file_format=True)
    return time.perf_counter() - t0


def deid(paths: list[Path], policy: Policy, keys: Keys) -> float:
    t0 = time.perf_counter()
    for p in paths:
        result = deidentify_bytes(p.read_bytes(), policy, keys)
        if not result.ok:
            raise SystemExit(f"unexpected quarantine: {result.quarantine}")
        encode_dataset(result.dataset)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", choices=["default", "basic"], default="default")
    ap.add_argument("--header", choices=["scanner", "planted"], default="scanner")
    ap.add_argument("--json", default=str(HERE / "results" / "header.json"))
    args = ap.parse_args()
    profile = Profile() if args.profile == "default" else Profile(options=())
    policy, keys = Policy(profile=profile), Keys(b"bench-key-" * 4)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_corpus(Path(tmp), args.count, args.header)
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        deid(paths[:10], policy, keys)  # warm caches (rules load once per process)
        plain(paths[:10])
        best_plain = best_deid = float("inf")
        for _ in range(args.rounds):
            best_plain = min(best_plain, plain(paths))
            best_deid = min(best_deid, deid(paths, policy, keys))
    rate_plain, rate_deid = args.count / best_plain, args.count / best_deid
    ratio = rate_deid / rate_plain
    rows = [
        ("plain pydicom read+write", rate_plain, best_plain / args.count * 1e3),
        (f"deidnode header ({args.profile})", rate_deid, best_deid / args.count * 1e3),
    ]
    print(
        f"{args.count} CT instances ({args.header} header), 512x512x16-bit, {size_mb:.1f} MB; "
        f"best of {args.rounds} rounds"
    )
    print(f"{'path':34} {'inst/s':>9} {'ms/inst':>9}")
    for name, rate, ms in rows:
        print(f"{name:34} {rate:9.1f} {ms:9.2f}")
    verdict = "meets" if ratio >= 0.8 else "misses"
    print(f"ratio deid/plain = {ratio:.2f} ({verdict} the 0.8 target)")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "header",
                "count": args.count,
                "profile": args.profile,
                "header": args.header,
                "megabytes": round(size_mb, 2),
                "plain_instances_per_s": round(rate_plain, 2),
                "deid_instances_per_s": round(rate_deid, 2),
                "ratio": round(ratio, 3),
                "target_ratio": 0.8,
                "python": platform.python_version(),
                "pydicom": pydicom.__version__,
                "machine": platform.machine(),
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
