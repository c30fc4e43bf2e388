"""The CT/MR text-presence check: its cost per slice, its false positives on clean slices, its recall on text.

    python bench/textcheck.py [--clean 3000] [--split dev]

Clean slices: the CT and MR images of pydicom's test data (``pixelset_sources``), each drawn many times with
a random zoom (0.7-1.6), rotation (up to 20 degrees), flip, crop, window, bit depth and sign (12-bit,
16-bit signed Hounsfield), noise, in 512x512 (and some 256x256): stored values, as a scanner writes them.
Text slices: the CT, MR and NM images with burned-in text of a pixelset split (every category of it).
The check runs on the display image the pixel stage makes (``to_display``), timed in CPU seconds of the
calling thread (the machine is shared: wall time would count other people's work). Writes
bench/results/textcheck-<split>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pixelset_sources as sources  # noqa: E402
from pydicom import dcmread  # noqa: E402

from deidnode.config import OcrSettings  # noqa: E402
from deidnode.engine.pixels.codec import decode_frames  # noqa: E402
from deidnode.engine.pixels.codec._info import PixelInfo  # noqa: E402
from deidnode.engine.pixels.detect import to_display  # noqa: E402
from deidnode.engine.pixels.ocr import get_engine  # noqa: E402
from deidnode.engine.pixels.select import has_text  # noqa: E402


def clean_slices(n: int, seed: int = 7):
    """``n`` clean CT/MR slices as stored values: (array uint16 or int16, photometric, label)."""
    rng = random.Random(seed)
    srcs = [s for s in sources.available() if s.modality in ("CT", "MR")]
    for k in range(n):
        src = srcs[k % len(srcs)]
        data = sources.load(src)
        f = data[rng.randrange(data.shape[0])]
        size = 512 if rng.random() < 0.85 else 256
        h, w = f.shape
        zoom = rng.uniform(0.7, 1.6) * size / max(h, w)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-20, 20), zoom)
        m[0, 2] += size / 2 - w / 2 + rng.uniform(-0.15, 0.15) * size
        m[1, 2] += size / 2 - h / 2 + rng.uniform(-0.15, 0.15) * size
        img = cv2.warpAffine(f, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
        if rng.random() < 0.5:
            img = img[:, ::-1]
        gamma = rng.uniform(0.7, 1.4)
        img = np.clip(img, 0, 1) ** gamma
        img = img + rng.gauss(0, 1) * rng.uniform(0, 0.015) * np.asarray(
            np.random.default_rng(k).standard_normal(img.shape), np.float32
        )
        if src.modality == "CT" and rng.random() < 0.6:
            v = -1024 + np.clip(img, 0, 1) * rng.uniform(1500, 4095)
            yield np.rint(v).astype(np.int16), "MONOCHROME2", f"{src.file}#{k}"
        else:
            top = rng.choice([4095, 4095, 1400, 65535, 1023])
            v = np.clip(img, 0, 1) * top * rng.uniform(0.6, 1.0)
            yield np.rint(v).astype(np.uint16), "MONOCHROME2", f"{src.file}#{k}"


def _timed(view: np.ndarray) -> tuple[bool, float]:
    engine = get_engine(OcrSettings())
    c = time.thread_time()
    r = has_text(view, engine)
    return r, time.thread_time() - c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clean", type=int, default=3000, help="clean slices")
    ap.add_argument("--split", default="dev", choices=("dev", "test", "fresh"))
    ap.add_argument("--seed", type=int, default=1001, help="augmentation seed (7 is the one bench/glyphs.py fits on)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    load = os.getloadavg()
    fp, times, fired = 0, [], []
    for arr, pi, label in clean_slices(args.clean, seed=args.seed):
        t = time.thread_time()
        view = to_display(arr, pi)
        conv = time.thread_time() - t
        r, dt = _timed(view)
        times.append(conv + dt)
        if r:
            fp += 1
            fired.append(label)
    set_dir = ROOT / "bench" / "results" / f"pixelset-{args.split}"
    truth = json.loads((set_dir / "truth.json").read_text()) if (set_dir / "truth.json").is_file() else []
    rec, rec_times, missed = [], [], []
    for case in truth:
        if case["clean"] or case["modality"] not in ("CT", "MR", "NM"):
            continue
        ds = dcmread(set_dir / case["file"])
        view = to_display(decode_frames(ds)[0], PixelInfo.from_dataset(ds).working_pi)
        r, dt = _timed(view)
        rec.append(r)
        rec_times.append(dt)
        if not r:
            missed.append(case["file"])
    ts = sorted(times)
    res = {
        "clean_slices": len(times),
        "false_positives": fp,
        "false_positive_rate": fp / max(len(times), 1),
        "fired_on": fired,
        "cpu_ms_mean": 1e3 * statistics.fmean(times),
        "cpu_ms_median": 1e3 * statistics.median(times),
        "cpu_ms_p99": 1e3 * ts[int(0.99 * (len(ts) - 1))],
        "text_slices": len(rec),
        "recall": sum(rec) / max(len(rec), 1),
        "missed": missed,
        "text_cpu_ms_mean": 1e3 * statistics.fmean(rec_times) if rec_times else None,
        "load": load,
    }
    print(
        f"clean CT/MR slices: {res['clean_slices']}, fired on {fp} ({100 * res['false_positive_rate']:.2f}%); "
        f"CPU ms per slice (display image + check): mean {res['cpu_ms_mean']:.3f}, median "
        f"{res['cpu_ms_median']:.3f}, p99 {res['cpu_ms_p99']:.3f}"
    )
    print(
        f"text slices ({args.split} split, CT/MR/NM): {len(rec)}, check fired on {sum(rec)} "
        f"(recall {res['recall']:.3f}); missed: {missed}"
    )
    print(f"load average {load[0]:.2f}")
    out = args.out or ROOT / "bench" / "results" / f"textcheck-{args.split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
