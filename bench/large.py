"""Large-instance benchmark: one big multi-frame instance directly to Orthanc and through the node, one run.

Prints the seconds until Orthanc holds it and the peak resident memory (VmHWM) of the node's processes, so that
memory per instance in flight is measured, not assumed. Header-only de-identification. Writes
bench/results/large.json.

    .venv/bin/python bench/large.py [--frames 400] [--size 512]

Everything runs on 127.0.0.1 with free ports; TCP_NODELAY=1 is set for dcmtk and Orthanc.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from dicom_factory import make_study, write_study  # noqa: E402
from peers import NODELAY_ENV, STORESCU, Node, Orthanc, wait_for  # noqa: E402
from procs import children, cmdline, peak_rss_mb  # noqa: E402


def _send(port: int, aec: str, f: Path, orthanc: Orthanc, watch: list[int], peaks: dict[int, float]) -> float:
    orthanc.delete_all()
    t0 = time.perf_counter()
    r = subprocess.run([STORESCU, "-aec", aec, "127.0.0.1", str(port), str(f)], env=NODELAY_ENV, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"storescu failed: {r.stderr.decode()[-500:]}")

    def arrived() -> bool:
        for pid in watch:
            mb = peak_rss_mb(pid)
            if mb is not None:
                peaks[pid] = max(peaks.get(pid, 0.0), mb)
        return orthanc.count() >= 1

    wait_for(arrived, 600, "the instance in Orthanc", interval=0.05)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--size", type=int, default=512, help="rows = columns")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "large.json"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="deidnode-large-") as tmp:
        tmpd = Path(tmp)
        ds = make_study(1, 1, size=args.size, seed="large")[0]
        ds.NumberOfFrames = args.frames
        pixels = np.random.default_rng(1).integers(0, 4000, (args.frames, args.size, args.size), dtype=np.uint16)
        ds.PixelData = pixels.tobytes()
        del pixels
        (f,) = write_study(tmpd / "corpus", [ds])
        del ds
        mb = f.stat().st_size / 1e6
        key = tmpd / "bench.key"
        key.write_bytes(b"k" * 32)
        orthanc = Orthanc(tmpd / "orthanc")
        node = Node(
            tmpd / "node",
            {
                "node": {"ae_title": "DEIDNODE"},
                "spool": {"path": str(tmpd / "spool"), "min_free_bytes": 0},
                "quarantine_path": str(tmpd / "quarantine"),
                "destinations": [
                    {
                        "name": "orthanc",
                        "type": "dicom",
                        "ae_title": orthanc.aet,
                        "host": "127.0.0.1",
                        "port": orthanc.dicom_port,
                    }
                ],
                "pixels": {"policy": "off"},
                "log_level": "INFO",
            },
            key,
        )
        try:
            orthanc.start()
            node.start()
            assert node.proc is not None
            direct_s = _send(orthanc.dicom_port, orthanc.aet, f, orthanc, [], {})
            peaks: dict[int, float] = {}
            main_pid = node.proc.pid
            workers_pids = [c for c in children(main_pid) if b"resource_tracker" not in cmdline(c)]
            node_s = _send(node.port, "DEIDNODE", f, orthanc, [main_pid, *workers_pids], peaks)
        finally:
            node.stop()
            orthanc.stop()
    workers = {pid: mb_ for pid, mb_ in peaks.items() if pid != main_pid}
    print(f"\none instance: {args.frames} frames of {args.size}x{args.size} 16-bit, {mb:.1f} MB; header only")
    print(f"{'path':>7} | {'seconds':>7} | {'MB/s':>6}")
    print(f"{'direct':>7} | {direct_s:>7.2f} | {mb / direct_s:>6.1f}")
    print(f"{'node':>7} | {node_s:>7.2f} | {mb / node_s:>6.1f}")
    print(
        f"peak resident memory: node main {peaks.get(main_pid, 0):.0f} MB; worker processes "
        + ", ".join(f"{v:.0f}" for v in sorted(workers.values(), reverse=True))
        + " MB (includes the spool file's mapped pages, which are page cache)"
    )
    result = {
        "benchmark": "large",
        "frames": args.frames,
        "size": args.size,
        "mb": round(mb, 1),
        "direct_s": round(direct_s, 3),
        "node_s": round(node_s, 3),
        "peak_rss_mb": {
            "node_main": round(peaks.get(main_pid, 0), 1),
            "workers": sorted((round(v, 1) for v in workers.values()), reverse=True),
        },
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
