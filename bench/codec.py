"""Codec benchmark: decode and encode MB/s per transfer syntax and backend, side by side.

Images: 512x512 16-bit MONOCHROME2 (CT-like, 12 bits of content) and 1024x1024 8-bit RGB (smooth photo-like).
MB/s counts uncompressed pixel bytes (MB = 10^6 bytes); best of ``--repeat`` runs of one frame. The backend
chosen for each syntax (``deidnode.engine.pixels.codec._syntax``) is marked with ``*``. HTJ2K decode is measured
on codestreams made with OpenJPH's ``ojph_compress`` when it is installed.

Usage: ``.venv/bin/python bench/codec.py [--repeat 3] [--out bench/results/codec.json]``
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom import uid as U

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deidnode.engine.pixels.codec import SYNTAXES  # noqa: E402
from deidnode.engine.pixels.codec._info import PixelInfo  # noqa: E402
from deidnode.engine.pixels.codec.backends import BACKENDS  # noqa: E402


def mono16() -> tuple[np.ndarray, PixelInfo]:
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:512, 0:512]
    body = ((x - 256) ** 2 + (y - 256) ** 2) < 200**2
    img = np.where(body, 1000 + 300 * np.sin(x / 40.0) * np.cos(y / 55.0), 24.0)
    img += rng.normal(0, 12, img.shape)
    arr = np.clip(img, 0, 4095).astype(np.uint16)
    info = PixelInfo(512, 512, 1, 16, 16, 15, 0, "MONOCHROME2", 0, 1)
    return arr, info


def rgb8() -> tuple[np.ndarray, PixelInfo]:
    rng = np.random.default_rng(2)
    y, x = np.mgrid[0:1024, 0:1024]
    chans = [128 + 100 * np.sin(x / (60.0 + 20 * c)) * np.cos(y / (80.0 - 15 * c)) for c in range(3)]
    img = np.stack(chans, axis=-1) + rng.normal(0, 3, (1024, 1024, 3))
    arr = np.clip(img, 0, 255).astype(np.uint8)
    info = PixelInfo(1024, 1024, 3, 8, 8, 7, 0, "RGB", 0, 1)
    return arr, info


CASES = [
    (U.RLELossless, ("mono16", "rgb8")),
    (U.JPEGBaseline8Bit, ("rgb8",)),
    (U.JPEGLosslessSV1, ("mono16", "rgb8")),
    (U.JPEGLSLossless, ("mono16", "rgb8")),
    (U.JPEGLSNearLossless, ("mono16", "rgb8")),
    (U.JPEG2000Lossless, ("mono16", "rgb8")),
    (U.JPEG2000, ("mono16", "rgb8")),
    (U.HTJ2KLossless, ("mono16", "rgb8")),
    (U.ExplicitVRLittleEndian, ("mono16", "rgb8")),
]
ENCODE_OPTIONS = {
    U.JPEG2000: {"j2k_cr": [10]},
    U.JPEGLSNearLossless: {"jls_error": 2},
    U.JPEGBaseline8Bit: {"jpeg_quality": 95},
}


def best(fn, repeat: int) -> tuple[float, object]:
    result, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def htj2k(arr: np.ndarray, info: PixelInfo) -> bytes | None:
    exe = shutil.which("ojph_compress")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / ("in.pgm" if info.samples_per_pixel == 1 else "in.ppm")
        maxval = (1 << info.bits_stored) - 1
        header = f"{'P5' if info.samples_per_pixel == 1 else 'P6'}\n{info.columns} {info.rows}\n{maxval}\n"
        src.write_bytes(header.encode() + arr.astype(">u2" if info.bits_allocated > 8 else "u1").tobytes())
        out = Path(tmp) / "out.j2c"
        args = [exe, "-i", str(src), "-o", str(out), "-reversible", "true"]
        if info.samples_per_pixel == 3:
            args += ["-colour_trans", "false"]
        subprocess.run(args, check=True, capture_output=True)
        return out.read_bytes()


def run(repeat: int) -> list[dict[str, object]]:
    images = {"mono16": mono16(), "rgb8": rgb8()}
    rows: list[dict[str, object]] = []
    for ts, image_names in CASES:
        syntax = SYNTAXES[ts]
        for image_name in image_names:
            arr, info = images[image_name]
            size = arr.nbytes
            streams: dict[str, bytes] = {}
            for name in syntax.encoders:
                backend = BACKENDS[name]
                if not backend.is_available(syntax.uid, encode=True):
                    continue
                try:
                    opts = ENCODE_OPTIONS.get(ts, {})
                    secs, data = best(lambda b=backend, a=arr, i=info, t=ts, o=opts: b.encode(a, i, t, o), repeat)
                except Exception as e:  # noqa: BLE001 - report and go on
                    rows.append(
                        {
                            "syntax": syntax.name,
                            "image": image_name,
                            "op": "encode",
                            "backend": name,
                            "error": type(e).__name__,
                        }
                    )
                    continue
                streams[name] = bytes(data)  # type: ignore[arg-type]
                rows.append(
                    {
                        "syntax": syntax.name,
                        "image": image_name,
                        "op": "encode",
                        "backend": name,
                        "mb_s": size / secs / 1e6,
                        "ratio": size / len(streams[name]),
                        "chosen": name == syntax.encoders[0],
                    }
                )
            stream = next(iter(streams.values()), None)
            if ts == U.HTJ2KLossless:
                stream = htj2k(arr, info)
            if stream is None:
                continue
            for name in syntax.decoders:
                backend = BACKENDS[name]
                if not backend.is_available(syntax.uid):
                    continue
                try:
                    secs, out = best(lambda b=backend, s=stream, i=info, t=ts: b.decode(s, i, t), repeat)
                except Exception as e:  # noqa: BLE001
                    rows.append(
                        {
                            "syntax": syntax.name,
                            "image": image_name,
                            "op": "decode",
                            "backend": name,
                            "error": type(e).__name__,
                        }
                    )
                    continue
                exact = bool(np.array_equal(out, arr))
                rows.append(
                    {
                        "syntax": syntax.name,
                        "image": image_name,
                        "op": "decode",
                        "backend": name,
                        "mb_s": size / secs / 1e6,
                        "exact": exact,
                        "chosen": name == syntax.decoders[0],
                    }
                )
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = [f"{'syntax':36s} {'image':7s} {'op':6s} {'backend':10s} {'MB/s':>8s} {'x fastest':>9s} note"]
    groups: dict[tuple[object, object, object], list[dict[str, object]]] = {}
    for r in rows:
        groups.setdefault((r["syntax"], r["image"], r["op"]), []).append(r)
    for (syn, img, op), rs in groups.items():
        fastest = max((float(r.get("mb_s", 0)) for r in rs), default=0) or 1
        for r in rs:
            mark = "*" if r.get("chosen") else " "
            if "error" in r:
                lines.append(
                    f"{syn!s:36s} {img!s:7s} {op!s:6s} {mark}{r['backend']!s:9s} {'-':>8s} {'-':>9s} error {r['error']}"
                )
                continue
            note = f"ratio {r['ratio']:.2f}" if "ratio" in r else ("exact" if r.get("exact") else "lossy")
            lines.append(
                f"{syn!s:36s} {img!s:7s} {op!s:6s} {mark}{r['backend']!s:9s} {r['mb_s']:8.1f} "
                f"{float(r['mb_s']) / fastest:9.2f} {note}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "codec.json")
    args = parser.parse_args()
    rows = run(args.repeat)
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "repeat": args.repeat}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
