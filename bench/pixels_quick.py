"""A quick score of the pixel stage for tuning, in-process, on the dev split only (no readers, no subprocess).

    python bench/pixels_quick.py [--limit 200]
    python bench/pixels_quick.py --set bench/results/pixelset-dev-bitmap-small   # a dev-generated tuning set
    python bench/pixels_quick.py --set bench/results/pixelset-dev-cine   # pixelset.py --cine --start 250 -n 24
    python bench/pixels_quick.py --set bench/results/pixelset-dev-clean --clean   # pixelset.py --start 7000 -n 1500

Runs ``clean_pixels`` with the default policy on the dev split's images with text (clean images are skipped:
``bench/pixels.py`` covers them) and scores every segment exactly as ``bench/pixels.py`` does (its
``evaluate_case``, readers off). Deterministic: two runs of one tree give the same numbers, so a change's effect
shows in one run (``bench/pixels.py`` remains the measure a closing note reports: the installed command, with
the readers). It refuses the held-out splits: they are not for tuning. ``--clean`` scores the set's clean images
instead: how many the stage changed or quarantined (each should stay bit-identical), and why.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pixels import ensure_set, evaluate_case, print_report, summarise  # noqa: E402
from pydicom import dcmread  # noqa: E402

from deidnode.config import load_settings, settings_from_dict  # noqa: E402
from deidnode.engine.keys import Keys  # noqa: E402
from deidnode.engine.phi import collect_phi  # noqa: E402
from deidnode.engine.pixels.stage import clean_pixels  # noqa: E402
from deidnode.engine.policy import Policy  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=200, help="images with text to score (the first N)")
    ap.add_argument("-n", type=int, default=250, help="images in the dev split (as bench/pixels.py)")
    ap.add_argument(
        "--dump",
        type=Path,
        help="write each segment's outcome (file, text, role, ok) and each image's collateral as JSON lines",
    )
    ap.add_argument("--set", type=Path, help="another dev-generated set (pixelset.py --split dev --fonts ...)")
    ap.add_argument(
        "--config", type=Path, help="score this configuration file instead of the default (label the numbers so)"
    )
    ap.add_argument("--clean", action="store_true", help="score the clean images: changed or quarantined, and why")
    args = ap.parse_args(argv)
    if args.set:
        set_dir = args.set
        truth = json.loads((set_dir / "truth.json").read_text(encoding="utf-8"))
        if not all(c["split"] == "dev" for c in truth):
            ap.error(f"{set_dir}: not a dev-generated set (held-out splits are not for tuning)")
    else:
        set_dir = ROOT / "bench" / "results" / "pixelset-dev"
        truth = ensure_set("dev", args.n, set_dir)
    settings = load_settings(args.config) if args.config else settings_from_dict({})
    policy = Policy.from_settings(settings, "default")
    keys = Keys(b"pixels-quick-benchmark-key-0123456789")
    if args.clean:
        return _clean_images(set_dir, [c for c in truth if c["clean"]], policy, keys)
    truth = [c for c in truth if not c["clean"]][: args.limit]
    results = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp)
        for case in truth:
            ds = dcmread(set_dir / case["file"])
            audit: dict = {}
            q = clean_pixels(ds, collect_phi(ds), policy, keys, audit)
            record = {"status": "quarantined" if q else "deidentified", "pixels": audit.get("pixels", {})}
            if q is not None:
                record["quarantine"] = {"code": str(q.code)}
            else:
                ds.save_as(out_dir / case["file"])
                record["output"] = case["file"]
            results.append(evaluate_case(case, set_dir, out_dir, record, read=False))
    s = summarise(results, truth, time.perf_counter() - t0)
    if args.dump:
        with args.dump.open("w") as fh:
            for case, res in zip(truth, results, strict=True):
                for seg in res["segments"]:
                    fh.write(
                        json.dumps({"file": case["file"], **{k: seg[k] for k in ("text", "role", "ok", "share")}})
                        + "\n"
                    )
                if "collateral" in res:
                    image = {"file": case["file"], "role": "image", "collateral": res["collateral"]}
                    fh.write(json.dumps(image) + "\n")
    what = f"configuration {args.config}" if args.config else "default policy"
    print_report(s, "dev", f"images with text; {what}, clean_pixels in-process, no readers")
    return 0


def _clean_images(set_dir: Path, cases: list[dict], policy: Policy, keys: Keys) -> int:
    """Clean images the stage changed or quarantined, with the layers of the lines it removed (no text: the
    counts say why, never what was read)."""
    bad = 0
    for case in cases:
        ds = dcmread(set_dir / case["file"])
        before = ds.PixelData
        audit: dict = {}
        q = clean_pixels(ds, collect_phi(ds), policy, keys, audit)
        if q is None and ds.PixelData == before:
            continue
        bad += 1
        p = audit.get("pixels", {})
        why = f"quarantined {q.code}" if q is not None else f"changed: kinds {p.get('kinds')}, unread {p.get('unread')}"
        print(f"{case['file']} {case['modality']} ({case['source']}): {why}")
    print(f"clean images changed or quarantined: {bad} of {len(cases)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
