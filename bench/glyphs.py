"""Fit and check the glyph detector's line model (``deidnode.engine.pixels.glyphs.LINE_WEIGHTS``) on dev data.

    python bench/glyphs.py fit      # features of every candidate line of the dev split and of clean CT/MR
                                    # slices (seed 7); prints logistic weights to paste into glyphs.py
    python bench/glyphs.py check    # with the weights in glyphs.py: share of text segments found, text-like
                                    # lines on clean images, per threshold

Only the dev split and the tuning seed of the clean slices are used here; the test split, the fresh split and
the measuring seed of bench/textcheck.py never are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import textcheck  # noqa: E402
from pydicom import dcmread  # noqa: E402

from deidnode.engine.pixels import glyphs  # noqa: E402
from deidnode.engine.pixels.codec import decode_frames  # noqa: E402
from deidnode.engine.pixels.codec._info import PixelInfo  # noqa: E402
from deidnode.engine.pixels.detect import to_display  # noqa: E402

SET = ROOT / "bench" / "results" / "pixelset-dev"


def _views():
    truth = json.loads((SET / "truth.json").read_text())
    for case in truth:
        ds = dcmread(SET / case["file"])
        view = to_display(decode_frames(ds)[0], PixelInfo.from_dataset(ds).working_pi)
        segm = np.zeros(view.shape[:2], bool)
        boxes = []
        for s in case["segments"]:
            if s["frames"] is None or 0 in s["frames"]:
                x0, y0, x1, y1 = s["box"]
                segm[y0:y1, x0:x1] = True
                boxes.append(s["box"])
        yield view, segm, boxes, case


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def collect(n_clean: int) -> tuple[np.ndarray, np.ndarray]:
    """Positives: for each text segment, the candidate line that matches it best (IoU >= 0.4); negatives:
    candidate lines touching no text; the other candidates over text are left out (fragments of a line)."""
    xs, ys = [], []
    for view, segm, boxes, _case in _views():
        f, b, _hc, _v = glyphs.candidate_lines(view)
        best: dict[int, tuple[float, int]] = {}
        for k, (x0, y0, x1, y1) in enumerate(b):
            share = segm[y0:y1, x0:x1].mean() if (y1 > y0 and x1 > x0) else 0.0
            if share == 0:
                xs.append(f[k])
                ys.append(0)
                continue
            for j, tb in enumerate(boxes):
                v = _iou((x0, y0, x1, y1), tb)
                if v >= 0.4 and v > best.get(j, (0.0, -1))[0]:
                    best[j] = (v, k)
        for k in {k for _v, k in best.values()}:
            xs.append(f[k])
            ys.append(1)
    for arr, pi, _label in textcheck.clean_slices(n_clean, seed=7):
        f, _b, _hc, _v = glyphs.candidate_lines(to_display(arr, pi))
        xs += list(f)
        ys += [0] * len(f)
    return np.asarray(xs), np.asarray(ys, float)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-2) -> np.ndarray:
    """Class-balanced logistic regression by Newton's method."""
    xb = np.c_[np.ones(len(x)), x]
    w = np.zeros(xb.shape[1])
    cw = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    for _ in range(50):
        p = 1 / (1 + np.exp(-(xb @ w)))
        g = xb.T @ (cw * (p - y)) + l2 * w
        h = (xb * (cw * p * (1 - p))[:, None]).T @ xb + l2 * np.eye(len(w))
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("fit", "check"))
    ap.add_argument("--clean", type=int, default=1500)
    ap.add_argument("--cached", action="store_true", help="reuse the features of the last fit")
    args = ap.parse_args(argv)
    if args.what == "fit":
        cache = ROOT / "bench" / "results" / "glyph-lines.npz"
        if args.cached and cache.is_file():
            d = np.load(cache)
            x, y = d["x"], d["y"]
        else:
            x, y = collect(args.clean)
            np.savez(cache, x=x, y=y)
        w = fit(x, y)
        print("lines", len(y), "text", int(y.sum()))
        for name, k in zip(("bias", *glyphs.LINE_FEATURES), w, strict=True):
            print(f"  {name:14} {k:8.3f}")
        print("LINE_WEIGHTS = (" + ", ".join(f"{v:.3f}" for v in w) + ")")
        p = 1 / (1 + np.exp(-(np.c_[np.ones(len(x)), x] @ w)))
        for t in (0.5, 0.8, 0.9, 0.95, 0.98, 0.99):
            print(
                f"  p>={t}: text lines {np.mean(p[y == 1] >= t):.3f}, other lines passing {(p[y == 0] >= t).sum()}"
                f" of {(y == 0).sum()}"
            )
        return 0
    found: dict[float, list[bool]] = {t: [] for t in (0.5, 0.9, 0.95, 0.98)}
    clean_hits = dict.fromkeys(found, 0)
    n_clean = 0
    for view, _segm, _boxes, case in _views():
        regs = glyphs.find_text_regions(view, min_score=0.5)
        if case["clean"]:
            n_clean += 1
            for t in found:
                clean_hits[t] += any(r.score >= t for r in regs)
            continue
        for s in case["segments"]:
            if s["role"] == "label" or (s["frames"] is not None and 0 not in s["frames"]):
                continue
            x0, y0, x1, y1 = s["box"]
            for t in found:
                found[t].append(any(r.score >= t and r.x0 < x1 and x0 < r.x1 and r.y0 < y1 and y0 < r.y1 for r in regs))
    for t in found:
        print(
            f"score >= {t}: text segments touched {np.mean(found[t]):.3f}, clean images with a line "
            f"{clean_hits[t]}/{n_clean}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
