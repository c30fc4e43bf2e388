"""Burned-in text benchmark: ``deidnode deid`` with the default configuration on a split of bench/pixelset.py.

    python bench/pixels.py --split dev            # tune on this one
    python bench/pixels.py --split test           # held out: run when the code is done
    python bench/pixels.py --split fresh          # a third split, unseen until the final run

The set is generated (cached under bench/results/pixelset-<split>/ by a hash of the generator) and given to
``deidnode deid DIR --out OUT --ephemeral-key`` in a subprocess, as a new user runs it: no config, so the
default settings (pixel policy ``phi``, rapidocr, verification by two readers). Then, per text segment (and per
frame for cines):

- a PHI segment is *removed* when at least 98% of its box is the redaction fill (within 24 levels for a lossy
  output) on every frame that shows it, or its instance was quarantined (not released);
- a technical segment is *kept* when at least 98% of its glyph pixels are unchanged on every frame and its
  instance released;
- a PHI value is *readable* when rapidocr or Tesseract, reading the written image as a viewer shows it
  (``pixreaders``), finds it;
- a clean image is a false positive when its pixel data changed or it was quarantined.

Prints the overall numbers, one table per category (contrast, size, colour, font family and style, background,
effect, orientation, two-line, row sharing, JPEG, modality, cine, PHI kind), clean images per modality, the
CT/MR text-presence check's recall, and seconds per image (512x512 images with text: mean, median, p90; the
pixel stage's own stages from the audit). Writes bench/results/pixels-<split>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from pydicom import dcmread

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pixreaders  # noqa: E402

from deidnode.engine.pixels.codec import decode_frames, fill_value  # noqa: E402

REMOVED = KEPT = 0.98
LOSSY_TOL = 24
CATEGORIES = (
    "contrast_bin",
    "size_bin",
    "colour",
    "style",
    "family",
    "background",
    "effect",
    "orientation",
    "two_line",
    "row_shared",
    "jpeg",
    "modality",
    "cine",
    "kind",
    "layout",
)
LOSSY = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.91"}


def _generator_hash() -> str:
    h = hashlib.sha256()
    for name in ("pixelset.py", "pixelset_fonts.py", "pixelset_sources.py"):
        h.update((ROOT / "bench" / name).read_bytes())
    return h.hexdigest()[:16]


def ensure_set(split: str, n: int, set_dir: Path) -> list[dict]:
    """The split's files and truth, generated unless a set from the same generator is already there."""
    stamp = set_dir / "generator.json"
    want = {"hash": _generator_hash(), "n": n, "split": split}
    if stamp.is_file() and json.loads(stamp.read_text()) == want and (set_dir / "truth.json").is_file():
        return json.loads((set_dir / "truth.json").read_text())
    import pixelset

    for f in set_dir.glob("*"):
        f.unlink()
    truth = pixelset.generate(set_dir, split, n)
    stamp.write_text(json.dumps(want))
    return truth


def run_deid(set_dir: Path, out_dir: Path, extra: list[str], code: Path = ROOT) -> float:
    """``deidnode deid`` (imported from ``code``) as a subprocess on every file of the set; returns its wall
    time."""
    if out_dir.exists():
        for f in sorted(out_dir.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
    files = sorted(str(p) for p in set_dir.glob("*.dcm"))
    env = {**os.environ, "PYTHONPATH": str(code)}
    t = time.perf_counter()
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            # the tree first, explicitly: `-c` puts the working directory first on sys.path, which shadowed
            # PYTHONPATH when the benchmark ran from another checkout (a "baseline" that ran this one)
            f"import sys; sys.path.insert(0, {str(code)!r}); from deidnode.cli import main; sys.exit(main())",
            "deid",
            *files,
            "--out",
            str(out_dir),
            "--ephemeral-key",
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    if p.returncode not in (0, 1):
        raise RuntimeError(f"deidnode deid failed ({p.returncode}): {p.stderr[-2000:]}")
    return wall


def _frames_of(seg: dict, n: int) -> list[int]:
    return list(range(n)) if seg["frames"] is None else seg["frames"]


COLLATERAL_MARGIN = 0.5
"""Around each text segment, this many text heights (at least 4 px) count as the text's own: padding is expected."""


def _collateral(case: dict, before: np.ndarray, after: np.ndarray, tol: int) -> float:
    """Share of the image's pixels (all frames) changed away from any text segment: image content destroyed
    by boxes that outgrew their text (what a researcher loses; no PHI or technical score sees it)."""
    d = np.abs(after.astype(np.int64) - before.astype(np.int64))
    changed = (d.max(axis=-1) if d.ndim == 4 else d) > tol
    if not changed.any():
        return 0.0
    own = np.zeros_like(changed)
    rows, cols = changed.shape[1], changed.shape[2]
    for seg in case["segments"]:
        x0, y0, x1, y1 = seg["box"]
        m = max(4, int(COLLATERAL_MARGIN * min(x1 - x0, y1 - y0)))
        for f in _frames_of(seg, changed.shape[0]):
            own[f, max(0, y0 - m) : min(rows, y1 + m), max(0, x0 - m) : min(cols, x1 + m)] = True
    return float((changed & ~own).mean())


def evaluate_case(case: dict, set_dir: Path, out_dir: Path, audit: dict, read: bool) -> dict:
    src = dcmread(set_dir / case["file"])
    before = decode_frames(src)
    mask = np.load(set_dir / case["mask"])["mask"]
    q = audit.get("status") != "deidentified"
    res: dict = {
        "file": case["file"],
        "quarantined": q,
        "code": (audit.get("quarantine") or {}).get("code"),
        "segments": [],
        "readable": [],
        "pixels": audit.get("pixels", {}),
    }
    out_ds = None if q else dcmread(out_dir / audit["output"])
    if out_ds is not None:
        after = decode_frames(out_ds)
        fill = np.asarray(fill_value(out_ds, after), dtype=np.int64)
        lossy = str(out_ds.file_meta.TransferSyntaxUID) in LOSSY
        tol = LOSSY_TOL if lossy else 0
        res["pixel_data_identical"] = bytes(out_ds.PixelData) == bytes(src.PixelData)
        if after.shape != before.shape:
            raise RuntimeError(f"{case['file']}: output frames {after.shape} != input {before.shape}")
    if out_ds is not None:
        res["collateral"] = _collateral(case, before, after, tol)
    for k, seg in enumerate(case["segments"]):
        if seg["role"] == "label":
            continue
        x0, y0, x1, y1 = seg["box"]
        oks, shares = [], []
        for f in _frames_of(seg, before.shape[0]):  # a segment on several frames counts once: all must hold
            if q:
                ok = seg["role"] == "phi"
                shares.append(1.0 if ok else 0.0)
            elif seg["role"] == "phi":
                region = after[f, y0:y1, x0:x1].astype(np.int64)
                diff = np.abs(region - fill)
                filled = (diff.max(axis=-1) if diff.ndim == 3 else diff) <= tol
                shares.append(float(filled.mean()) if filled.size else 1.0)
                ok = shares[-1] >= REMOVED
            else:
                glyph = mask[f] == k + 1
                d = np.abs(after[f][glyph].astype(np.int64) - before[f][glyph].astype(np.int64))
                same = (d.max(axis=-1) if d.ndim == 2 else d) <= tol
                shares.append(float(same.mean()) if same.size else 1.0)
                ok = shares[-1] >= KEPT
            oks.append(bool(ok))
        res["segments"].append(
            {
                "role": seg["role"],
                "ok": all(oks),
                "share": round(
                    min(shares, default=1.0), 3
                ),  # of the box filled (PHI) or of the glyphs unchanged (technical)
                "frames_ok": f"{sum(oks)}/{len(oks)}",
                "text": seg["text"],
                "kind": seg["kind"],
                "attrs": {**seg["attrs"], "modality": case["modality"], "cine": case["cine"], "kind": seg["kind"]},
            }
        )
    if read and out_ds is not None and any(s["role"] == "phi" for s in case["segments"]):
        views = pixreaders.viewer_frames(out_ds)
        states: dict[tuple, int] = {}
        for f in range(views.shape[0]):
            key = tuple(k for k, s in enumerate(case["segments"]) if s["role"] == "phi" and f in _frames_of(s, 10**6))
            states.setdefault(key, f)
        lines_by_frame = {f: pixreaders.read(views[f]) for f in states.values()}
        for seg in case["segments"]:
            if seg["role"] != "phi":
                continue
            fr = [f for f in lines_by_frame if f in _frames_of(seg, 10**6)]
            for s in pixreaders.secrets(seg["text"], seg["kind"]):
                if any(pixreaders.readable(s, lines_by_frame[f]) for f in fr):
                    res["readable"].append({"kind": seg["kind"], "attrs": seg["attrs"]})
                    break
    return res


DCMTK_DECOMPRESS = {
    "1.2.840.10008.1.2.5": ("dcmdrle", []),
    "1.2.840.10008.1.2.4.50": ("dcmdjpeg", ["+cn"]),
    "1.2.840.10008.1.2.4.70": ("dcmdjpeg", []),
    "1.2.840.10008.1.2.4.80": ("dcmdjpls", []),
    "1.2.840.10008.1.2.4.81": ("dcmdjpls", []),
}


def check_decoders(path: Path, tmp: Path) -> list[str]:
    """Problems dcmtk (dcmdump, and its decompressor for the syntax) and GDCM (gdcmconv --raw) have with a
    written file, comparing their pixels with ours (JPEG Baseline: one level of IDCT slack)."""
    import shutil

    problems = []
    ours = decode_frames(dcmread(path))
    ts = str(dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
    slack = 1 if ts == "1.2.840.10008.1.2.4.50" else 0

    def run(cmd: list[str]) -> bool:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            problems.append(f"{cmd[0]}: {r.stderr.strip()[-200:]}")
        return r.returncode == 0

    def same(other: Path, who: str) -> None:
        theirs = decode_frames(dcmread(other))
        if theirs.shape != ours.shape or int(np.abs(theirs.astype(np.int64) - ours.astype(np.int64)).max()) > slack:
            problems.append(f"{who}: pixels differ")

    if shutil.which("dcmdump"):
        run(["dcmdump", "-q", "-E", str(path)])
    if ts in DCMTK_DECOMPRESS and shutil.which(DCMTK_DECOMPRESS[ts][0]):
        tool, opts = DCMTK_DECOMPRESS[ts]
        if run([tool, *opts, str(path), str(tmp / "dcmtk.dcm")]):
            same(tmp / "dcmtk.dcm", tool)
    if shutil.which("gdcmconv") and run(["gdcmconv", "--raw", str(path), str(tmp / "gdcm.dcm")]):
        same(tmp / "gdcm.dcm", "gdcmconv")
    return problems


def _rate(xs: list[bool]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def summarise(results: list[dict], truth: list[dict], wall: float) -> dict:
    segs = [s for r in results for s in r["segments"]]
    phi = [s["ok"] for s in segs if s["role"] == "phi"]
    keep = [s["ok"] for s in segs if s["role"] == "keep"]
    cats: dict[str, dict[str, dict]] = {}
    for cat in CATEGORIES:
        table: dict[str, dict] = defaultdict(lambda: {"phi": [], "keep": []})
        for s in segs:
            table[str(s["attrs"].get(cat))][s["role"]].append(s["ok"])
        cats[cat] = {
            k: {
                "phi_removed": _rate(v["phi"]),
                "phi_n": len(v["phi"]),
                "keep_kept": _rate(v["keep"]),
                "keep_n": len(v["keep"]),
            }
            for k, v in sorted(table.items())
        }
    by_file = {t["file"]: t for t in truth}
    clean = [r for r in results if by_file[r["file"]]["clean"]]
    clean_mod: dict[str, dict] = defaultdict(lambda: {"n": 0, "changed": 0, "quarantined": 0})
    for r in clean:
        m = clean_mod[by_file[r["file"]]["modality"]]
        m["n"] += 1
        m["quarantined"] += r["quarantined"]
        m["changed"] += (not r["quarantined"]) and not r.get("pixel_data_identical", True)
    check = []
    for r in results:
        t = by_file[r["file"]]
        if t["modality"] in ("CT", "MR", "NM") and not t["clean"] and r["pixels"].get("selected") == "check":
            check.append(bool(r["pixels"].get("text_check")))
    sec = [
        r["pixels"].get("seconds", {})
        for r in results
        if not by_file[r["file"]]["clean"]
        and by_file[r["file"]]["rows"] == 512
        and by_file[r["file"]]["cols"] == 512
        and not by_file[r["file"]]["cine"]
    ]
    coll = [r["collateral"] for r in results if "collateral" in r and not by_file[r["file"]]["clean"]]
    tot = sorted(s.get("total", 0.0) for s in sec)
    stages = sorted({k for s in sec for k in s})
    return {
        "images": len(results),
        "phi_removed": _rate(phi),
        "phi_n": len(phi),
        "keep_kept": _rate(keep),
        "keep_n": len(keep),
        "readable_phi": len([x for r in results for x in r["readable"]]),
        "readable_detail": [x for r in results for x in r["readable"]],
        "quarantined": sum(r["quarantined"] for r in results),
        "quarantine_codes": dict(
            sorted({c: sum(r["code"] == c for r in results) for c in {r["code"] for r in results if r["code"]}}.items())
        ),
        "categories": cats,
        "clean": dict(clean_mod),
        "collateral_mean": statistics.fmean(coll) if coll else None,
        "collateral_over_1pct": sum(c > 0.01 for c in coll),
        "text_check_recall": _rate(check),
        "text_check_n": len(check),
        "seconds_512_text": {
            "n": len(tot),
            "mean": statistics.fmean(tot) if tot else None,
            "median": statistics.median(tot) if tot else None,
            "p90": tot[int(0.9 * (len(tot) - 1))] if tot else None,
            "max": tot[-1] if tot else None,
            "stages_mean": {k: statistics.fmean(s.get(k, 0.0) for s in sec) for k in stages},
        },
        "deid_wall_seconds": wall,
    }


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:.3f}"


def print_report(s: dict, split: str, how: str = "default configuration (`deidnode deid`)") -> None:
    print(f"\nsplit {split}: {s['images']} images; {how}")
    print(
        f"PHI segments removed {_fmt(s['phi_removed'])} (n={s['phi_n']}), technical kept {_fmt(s['keep_kept'])} "
        f"(n={s['keep_n']}), PHI readable afterwards {s['readable_phi']}, quarantined {s['quarantined']}/"
        f"{s['images']} ({100 * s['quarantined'] / max(s['images'], 1):.1f}%) {s['quarantine_codes']}"
    )
    for cat, table in s["categories"].items():
        print(f"\n| {cat} | PHI removed | n | technical kept | n |")
        print("|---|---|---|---|---|")
        for k, v in table.items():
            print(f"| {k} | {_fmt(v['phi_removed'])} | {v['phi_n']} | {_fmt(v['keep_kept'])} | {v['keep_n']} |")
    print("\n| clean images | n | pixels changed | quarantined |")
    print("|---|---|---|---|")
    for m, v in sorted(s["clean"].items()):
        print(f"| {m} | {v['n']} | {v['changed']} | {v['quarantined']} |")
    print(
        f"\nCT/MR/NM text-presence check recall (text images without Burned In Annotation): "
        f"{_fmt(s['text_check_recall'])} (n={s['text_check_n']})"
    )
    if s.get("collateral_mean") is not None:
        print(
            "image changed away from any text (share of pixels, images with text): "
            f"mean {100 * s['collateral_mean']:.3f}%, images over 1%: {s['collateral_over_1pct']}"
        )
    t = s["seconds_512_text"]
    if t["n"]:
        print(
            f"seconds per 512x512 image with text (pixel stage incl. verification; n={t['n']}): mean "
            f"{t['mean']:.3f}, median {t['median']:.3f}, p90 {t['p90']:.3f}, max {t['max']:.3f}"
        )
        print("  stages (mean s): " + ", ".join(f"{k} {v:.3f}" for k, v in t["stages_mean"].items()))
    if s["readable_detail"]:
        print(
            "readable PHI:",
            [(d["kind"], d["attrs"].get("size"), d["attrs"].get("contrast_bin")) for d in s["readable_detail"]],
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="dev", choices=("dev", "test", "fresh"))
    ap.add_argument("-n", type=int, default=250, help="images in the split (one in five clean)")
    ap.add_argument("--no-read", action="store_true", help="skip the readers on the output (faster)")
    ap.add_argument("--decoders", action="store_true", help="decode every written file with dcmtk and gdcmconv")
    ap.add_argument("--only", help="comma-separated case indices to evaluate (debugging)")
    ap.add_argument("--deid-args", default="", help="extra arguments for deidnode deid (a labelled configuration)")
    ap.add_argument("--code", type=Path, default=ROOT, help="a deidnode source tree to run (e.g. main's, a baseline)")
    ap.add_argument("--label", default="", help="names this run's output folder and JSON (default: the split)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    set_dir = ROOT / "bench" / "results" / f"pixelset-{args.split}"
    truth = ensure_set(args.split, args.n, set_dir)
    if args.only:
        keep = {f"{args.split}_{int(i):04d}.dcm" for i in args.only.split(",")}
        truth = [t for t in truth if t["file"] in keep]
        sub = set_dir / "only"
        sub.mkdir(exist_ok=True)
        for f in sub.glob("*"):
            f.unlink()
        for t in truth:
            (sub / t["file"]).symlink_to(set_dir / t["file"])
        run_dir = sub
    else:
        run_dir = set_dir
    name = f"pixels-{args.split}" + (f"-{args.label}" if args.label else "")
    out_dir = ROOT / "bench" / "results" / f"{name}-out"
    load = os.getloadavg()
    wall = run_deid(run_dir, out_dir, args.deid_args.split(), args.code)
    audits = {}
    for line in (out_dir / "audit.jsonl").read_text().splitlines():
        a = json.loads(line)  # deidnode/audit.py's record: the outcome, and the engine's audit under "engine"
        a.setdefault("status", a.get("outcome"))
        a.setdefault("pixels", (a.get("engine") or {}).get("pixels", {}))
        audits[a["input_sha256"]] = a
    results = []
    decoder_problems: dict[str, list[str]] = {}
    checked = 0
    for case in truth:
        digest = hashlib.sha256((set_dir / case["file"]).read_bytes()).hexdigest()
        results.append(evaluate_case(case, set_dir, out_dir, audits[digest], not args.no_read))
        if args.decoders and audits[digest].get("status") == "deidentified":
            with tempfile.TemporaryDirectory() as tmp:
                probs = check_decoders(out_dir / audits[digest]["output"], Path(tmp))
            checked += 1
            if probs:
                decoder_problems[case["file"]] = probs
    s = summarise(results, truth, wall)
    if args.decoders:
        s["decoders"] = {"files_checked": checked, "problems": decoder_problems}
    s.update(
        split=args.split,
        code=str(args.code),
        load_before=load,
        load_after=os.getloadavg(),
        deid_args=args.deid_args,
        machine={"python": platform.python_version(), "cpus": os.cpu_count(), "host": platform.node()},
        time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    print_report(s, args.split)
    if args.decoders:
        print(
            f"written files checked with dcmtk and gdcmconv: {checked}, with problems: {len(decoder_problems)}"
            + (f" {decoder_problems}" if decoder_problems else "")
        )
    print(f"load average before {load[0]:.2f}, after {s['load_after'][0]:.2f}; deid wall {wall:.1f} s")
    out = args.out or ROOT / "bench" / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**s, "cases": results}, indent=1, default=str), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
