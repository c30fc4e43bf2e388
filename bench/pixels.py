"""Benchmark the burned-in-text pipeline per OCR engine and policy on the generated labelled set.

    .venv/bin/python bench/pixels.py [--engines rapidocr,easyocr] [--policies phi,strict,all] [-n 56]

Reports, per engine and policy: box-level precision/recall/F1 for PHI (a PHI box counts as removed when at
least 98% of its glyph pixels changed; a false positive is a changed region touching no PHI box), recall on
metadata-derived PHI, the share of keep-text kept (98% of its glyph pixels unchanged), string-level P/R/F1
(predicted PHI strings vs ground truth, lower-cased, spaces removed since OCR engines drop them), the share of
instances quarantined, and seconds per image by stage. Prints a table; writes bench/results/pixels.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from pydicom import dcmread

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pixelset import generate  # noqa: E402

from deidnode.config import OcrSettings, PixelSettings  # noqa: E402
from deidnode.engine.keys import Keys  # noqa: E402
from deidnode.engine.phi import collect_phi  # noqa: E402
from deidnode.engine.pixels.codec import decode_frames  # noqa: E402
from deidnode.engine.pixels.ocr import get_engine, is_available  # noqa: E402
from deidnode.engine.pixels.stage import clean_pixels  # noqa: E402
from deidnode.engine.policy import Policy  # noqa: E402

REMOVED = 0.98
KEYS = Keys(b"deidnode-benchmark-key-0123456789abcdef")


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", s.lower())


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def evaluate(set_dir: Path, truth: list[dict], engine: str, policy: str) -> dict:
    settings = PixelSettings(policy=policy, ocr=OcrSettings(engine=engine))
    pol = Policy(pixels=settings)
    tp = fp = fn = 0
    meta_tp = meta_fn = 0
    keep_ok = keep_n = 0
    s_tp_pred = s_pred = s_tp_gt = s_gt = 0
    quarantined = 0
    stage_seconds: dict[str, list[float]] = defaultdict(list)
    for case in truth:
        ds = dcmread(set_dir / case["file"])
        burned = decode_frames(ds)[0].copy()
        audit: dict = {}
        findings: list = []
        q = clean_pixels(ds, collect_phi(ds), pol, KEYS, audit, findings_out=findings)
        for k, v in audit["pixels"].get("seconds", {}).items():
            stage_seconds[k].append(v)
        out = decode_frames(ds)[0]
        clean = np.load(set_dir / case["clean"])
        changed = np.any(out != burned, axis=-1) if out.ndim == 3 else out != burned
        glyph_all = np.any(burned != clean, axis=-1) if burned.ndim == 3 else burned != clean
        phi_boxes = []
        for it in case["items"]:
            x0, y0, x1, y1 = it["box"]
            glyph = glyph_all[y0:y1, x0:x1]
            n = int(glyph.sum())
            if n == 0:
                continue
            gone = 1.0 if q is not None else float(changed[y0:y1, x0:x1][glyph].mean())
            if it["phi"]:
                phi_boxes.append((x0, y0, x1, y1))
                ok = gone >= REMOVED
                tp += ok
                fn += not ok
                if it["source"] == "metadata":
                    meta_tp += ok
                    meta_fn += not ok
            else:
                keep_n += 1
                keep_ok += q is None and (1.0 - gone) >= REMOVED
        if q is None and changed.any():
            # one redaction can change scattered pixels (the fill equals part of the background): join them
            joined = cv2.dilate(changed.astype(np.uint8), np.ones((9, 9), np.uint8))
            n_cc, _labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
            for c in range(1, n_cc):
                x, y, w, h = stats[c, :4]
                if not any(x < b[2] and b[0] < x + w and y < b[3] and b[1] < y + h for b in phi_boxes):
                    fp += 1
        quarantined += q is not None
        # strings, the reference's way: predicted PHI lines vs ground-truth PHI strings
        gt = {_norm(it["text"]) for it in case["items"] if it["phi"]}
        pred = [_norm(f.box.text) for f in findings if f.redact]
        s_pred += len(pred)
        s_tp_pred += sum(p in gt for p in pred)
        s_gt += len(gt)
        s_tp_gt += sum(g in set(pred) for g in gt)
    p, r, f = _prf(tp, fp, fn)
    sp = s_tp_pred / s_pred if s_pred else 1.0
    sr = s_tp_gt / s_gt if s_gt else 1.0
    sf = 2 * sp * sr / (sp + sr) if sp + sr else 0.0
    n = len(truth)
    return {
        "engine": engine,
        "policy": policy,
        "images": n,
        "box": {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r, "f1": f},
        "metadata_recall": meta_tp / (meta_tp + meta_fn) if meta_tp + meta_fn else 1.0,
        "keep_preserved": keep_ok / keep_n if keep_n else 1.0,
        "string": {"precision": sp, "recall": sr, "f1": sf},
        "quarantined": quarantined,
        "seconds_per_image": {k: sum(v) / n for k, v in sorted(stage_seconds.items())},
        "seconds_median_total": statistics.median(stage_seconds["total"]) if stage_seconds["total"] else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="rapidocr,easyocr")
    ap.add_argument("--policies", default="phi,strict,all")
    ap.add_argument("-n", type=int, default=56, help="number of generated images")
    ap.add_argument("--set-dir", type=Path, default=ROOT / "bench" / "results" / "pixelset")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pixels.json")
    args = ap.parse_args(argv)
    truth = generate(args.set_dir, args.n)
    rows = []
    for engine in args.engines.split(","):
        if not is_available(engine):
            print(f"skip {engine}: not installed", file=sys.stderr)
            continue
        t = time.perf_counter()
        eng = get_engine(OcrSettings(engine=engine))
        eng.read(np.zeros((64, 256, 3), np.uint8))  # warm up: model load is paid once per process
        load = time.perf_counter() - t
        for policy in args.policies.split(","):
            res = evaluate(args.set_dir, truth, engine, policy)
            res["model_load_seconds"] = load
            rows.append(res)
    hdr = (
        f"{'engine':9} {'policy':6} {'boxP':>5} {'boxR':>5} {'boxF1':>5} {'metaR':>5} {'keep':>5} "
        f"{'strP':>5} {'strR':>5} {'strF1':>5} {'quar':>4} {'s/img':>6} {'ocr':>5} {'verify':>6}"
    )
    print(hdr)
    for r in rows:
        b, s, sec = r["box"], r["string"], r["seconds_per_image"]
        print(
            f"{r['engine']:9} {r['policy']:6} {b['precision']:5.3f} {b['recall']:5.3f} {b['f1']:5.3f} "
            f"{r['metadata_recall']:5.3f} {r['keep_preserved']:5.3f} "
            f"{s['precision']:5.3f} {s['recall']:5.3f} "
            f"{s['f1']:5.3f} {r['quarantined']:4d} {sec.get('total', 0):6.3f} {sec.get('ocr', 0):5.3f} "
            f"{sec.get('verify', 0):6.3f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpu": platform.processor(),
                    "cores": __import__("os").cpu_count(),
                },
                "results": rows,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
