"""Network benchmark: storescu -> Orthanc directly vs storescu -> deidnode -> the same Orthanc, one run.

For 1, 4 and 8 concurrent associations (the corpus split between that many storescu processes) it measures
the time until every instance is stored in Orthanc, and prints instances/s, MB/s and the ratio node/direct.
Header-only de-identification (pixel policy off), or with ``--pixels default`` the default configuration
(burned-in text: CT slices get the text-presence check, one per series and lane). Results also go to
bench/results/network.json. ``--corpus anatomy``: the CT slices hold real anatomy (clean CT/MR of pydicom's test
data) instead of a ramp, which is what the text-presence check has to tell from text.

    .venv/bin/python bench/network.py [--instances 400] [--size 128] [--workers 0] [--repeat 1]

Everything runs on 127.0.0.1 with free ports; TCP_NODELAY=1 is set for dcmtk and Orthanc.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from dicom_factory import make_study, write_study  # noqa: E402
from peers import NODELAY_ENV, STORESCU, Node, Orthanc, wait_for  # noqa: E402
from procs import children, cpu_seconds  # noqa: E402


def _cpu_snapshot(node_pid: int | None, orthanc_pid: int) -> dict[str, float]:
    """CPU seconds so far: the node's main process, its workers, Orthanc; senders are measured apart."""
    snap = {"orthanc": cpu_seconds(orthanc_pid)}
    if node_pid is not None:
        snap["node_main"] = cpu_seconds(node_pid)
        snap["node_workers"] = sum(cpu_seconds(c) for c in children(node_pid))
    return snap


def _pin(pid: int, cpus: set[int]) -> None:
    """Confine every thread of a running process (and what it starts later) to ``cpus``."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except OSError:
            pass


PEER_CPUS: set[int] | None = None
"""--pin: the CPUs storescu and Orthanc run on (the node gets the others)."""


def _send(port: int, aec: str, chunks: list[list[Path]]) -> float:
    """Run one storescu per chunk at once; returns the seconds until all exited successfully."""
    t0 = time.perf_counter()
    taskset = ["taskset", "-c", ",".join(map(str, sorted(PEER_CPUS)))] if PEER_CPUS else []
    procs = [
        subprocess.Popen(
            [*taskset, STORESCU, "-aet", "CT1", "-aec", aec, "127.0.0.1", str(port), *map(str, c)],
            env=NODELAY_ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for c in chunks
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        if p.returncode != 0:  # which peer, and how it ended (a signal gives a negative code and no message)
            raise RuntimeError(f"storescu to {aec} on port {port} exited {p.returncode}: {err.decode()[-500:]}")
    return time.perf_counter() - t0


def _run(orthanc: Orthanc, port: int, aec: str, files: list[Path], conc: int, node_pid: int | None = None) -> dict:
    orthanc.delete_all()
    chunks = [files[i::conc] for i in range(conc)]
    assert orthanc.proc is not None
    before = _cpu_snapshot(node_pid, orthanc.proc.pid)
    senders_before = sum(getattr(os.times(), f) for f in ("children_user", "children_system"))
    t0 = time.perf_counter()
    sent_s = _send(port, aec, chunks)
    wait_for(lambda: orthanc.count() >= len(files), 600, "all instances in Orthanc", interval=0.05)
    total_s = time.perf_counter() - t0
    after = _cpu_snapshot(node_pid, orthanc.proc.pid)
    cpu = {k: (after[k] - before[k]) * 1e3 / len(files) for k in after}
    cpu["storescu"] = (
        (sum(getattr(os.times(), f) for f in ("children_user", "children_system")) - senders_before) * 1e3 / len(files)
    )
    return {
        "sent_s": round(sent_s, 3),
        "total_s": round(total_s, 3),
        "cpu_ms_per_instance": {k: round(v, 2) for k, v in cpu.items()},
    }


def _anatomy(study: list, size: int) -> None:
    """Each instance's pixels replaced by a clean CT/MR slice (bench/textcheck.py's ``clean_slices``), scaled to
    ``size`` and stored as the study's 12-bit unsigned values."""
    import cv2
    import numpy as np

    sys.path.insert(0, str(ROOT / "bench"))
    from textcheck import clean_slices

    for ds, (arr, _pi, _label) in zip(study, clean_slices(len(study), seed=2024), strict=True):
        a = arr.astype(np.float32) + (1024.0 if arr.dtype == np.int16 else 0.0)
        a = a * (4095.0 / max(float(a.max()), 4095.0))
        if a.shape != (size, size):
            a = cv2.resize(a, (size, size), interpolation=cv2.INTER_LINEAR)
        ds.PixelData = np.clip(np.rint(a), 0, 4095).astype(np.uint16).tobytes()


def _keep_logs(out: Path, *logs: Path) -> None:
    """A failed run's peer logs, copied beside ``out`` before the temporary folder goes (its name + .node.log,
    .orthanc.log): the reason a sender stopped is in them."""
    for log in logs:
        if log.exists():
            kept = out.with_suffix(f".{log.stem}.log")
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_bytes(log.read_bytes())
            print(f"kept {kept}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=400)
    ap.add_argument("--size", type=int, default=128, help="rows = columns of each CT image")
    ap.add_argument("--workers", type=int, default=0, help="node worker processes (0: one per core)")
    ap.add_argument("--lanes", type=int, default=2, help="forwarding threads per worker process")
    ap.add_argument("--concurrency", default="1,4,8")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the best is reported")
    ap.add_argument(
        "--pin",
        action="store_true",
        help="separate-hosts view: storescu and Orthanc on the last CPU, the node on the others (both paths)",
    )
    ap.add_argument(
        "--pixels",
        choices=("off", "default"),
        default="off",
        help="pixel policy of the node: off (header only) or the default configuration (phi: burned-in text)",
    )
    ap.add_argument(
        "--corpus",
        choices=("ramp", "anatomy"),
        default="ramp",
        help="CT pixel content: ramp (tests/dicom_factory's pattern) or anatomy (clean CT/MR slices of pydicom's "
        "test data, as bench/textcheck.py draws them, in 12-bit stored values: what the text check sees)",
    )
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "network.json"))
    args = ap.parse_args(argv)
    global PEER_CPUS
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin:
        if len(cpus) < 2:
            ap.error("--pin needs at least 2 CPUs")
        PEER_CPUS = {cpus[-1]}
    levels = [int(x) for x in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory(prefix="deidnode-bench-") as tmp:
        tmpd = Path(tmp)
        study = make_study(args.instances, 4, size=args.size, seed="bench")
        if args.corpus == "anatomy":
            _anatomy(study, args.size)
        files = write_study(tmpd / "corpus", study)
        mb = sum(f.stat().st_size for f in files) / 1e6
        key = tmpd / "bench.key"
        key.write_bytes(b"k" * 32)
        orthanc = Orthanc(tmpd / "orthanc")
        node = Node(
            tmpd / "node",
            {
                "node": {"ae_title": "DEIDNODE", "max_associations": 32},
                "spool": {"path": str(tmpd / "spool"), "min_free_bytes": 0},
                "quarantine_path": str(tmpd / "quarantine"),
                "workers": {"count": args.workers, "lanes": args.lanes},
                "destinations": [
                    {
                        "name": "orthanc",
                        "type": "dicom",
                        "ae_title": orthanc.aet,
                        "host": "127.0.0.1",
                        "port": orthanc.dicom_port,
                        "idle_release_seconds": 1,
                    }
                ],
                **({"pixels": {"policy": "off"}} if args.pixels == "off" else {}),
                "log_level": "INFO",
            },
            key,
        )
        rows = []
        failed = True
        try:
            orthanc.start()
            node.start()
            if PEER_CPUS:
                assert orthanc.proc is not None and node.proc is not None
                _pin(orthanc.proc.pid, PEER_CPUS)
                _pin(node.proc.pid, set(cpus) - PEER_CPUS)
                for child in children(node.proc.pid):
                    _pin(child, set(cpus) - PEER_CPUS)
            _run(orthanc, orthanc.dicom_port, orthanc.aet, files[:20], 1)  # warm-up: both paths
            _run(orthanc, node.port, "DEIDNODE", files[:20], 1)
            for conc in levels:
                cell = {}
                for mode, port, aec, pid in (
                    ("direct", orthanc.dicom_port, orthanc.aet, None),
                    ("node", node.port, "DEIDNODE", node.proc.pid if node.proc else None),
                ):
                    if mode == "direct":
                        time.sleep(2)  # the node's idle associations to Orthanc are released first
                    best = min(
                        (_run(orthanc, port, aec, files, conc, pid) for _ in range(args.repeat)),
                        key=lambda r: r["total_s"],
                    )
                    cell[mode] = {
                        **best,
                        "instances_per_s": round(len(files) / best["total_s"], 1),
                        "mb_per_s": round(mb / best["total_s"], 2),
                    }
                ratio = cell["direct"]["total_s"] / cell["node"]["total_s"]
                rows.append({"associations": conc, **cell, "ratio": round(ratio, 3)})
                print(f"  {conc} association(s) done", file=sys.stderr)
            quarantined = sum(
                v for k, v in node.metrics().items() if k.startswith("deidnode_quarantine_instances_total{")
            )
            failed = False
        finally:
            node.stop()
            orthanc.stop()
            if failed:
                _keep_logs(Path(args.out), node.log_path, orthanc.workdir / "orthanc.log")

    print(
        f"\ncorpus: {len(files)} CT instances ({args.corpus}), {args.size}x{args.size}, {mb:.1f} MB; "
        f"node workers: {args.workers or 'one per core'} x {args.lanes} lanes; "
        + ("pixel policy off (header only); " if args.pixels == "off" else "default configuration (pixels: phi); ")
        + (f"pinned: peers on CPU {sorted(PEER_CPUS)}, node on the rest" if PEER_CPUS else "all share every CPU")
    )
    print(f"{'assoc':>5} | {'direct inst/s':>13} {'MB/s':>6} | {'node inst/s':>11} {'MB/s':>6} | {'node/direct':>11}")
    for r in rows:
        d, n = r["direct"], r["node"]
        print(
            f"{r['associations']:>5} | {d['instances_per_s']:>13} {d['mb_per_s']:>6} | "
            f"{n['instances_per_s']:>11} {n['mb_per_s']:>6} | {r['ratio']:>11.2f}"
        )
    print("\nCPU ms per instance (process CPU from /proc; storescu = all sender processes):")
    print(f"{'assoc':>5} | {'path':>6} | {'storescu':>8} {'orthanc':>8} {'node main':>9} {'workers':>8} {'total':>7}")
    for r in rows:
        for mode in ("direct", "node"):
            c = r[mode]["cpu_ms_per_instance"]
            total = sum(c.values())
            print(
                f"{r['associations']:>5} | {mode:>6} | {c['storescu']:>8.2f} {c['orthanc']:>8.2f} "
                f"{c.get('node_main', 0):>9.2f} {c.get('node_workers', 0):>8.2f} {total:>7.2f}"
            )
    result = {
        "benchmark": "network",
        "instances": len(files),
        "size": args.size,
        "mb": round(mb, 2),
        "workers": args.workers,
        "lanes": args.lanes,
        "pixels": args.pixels,
        "corpus": args.corpus,
        "pinned_peer_cpus": sorted(PEER_CPUS) if PEER_CPUS else None,
        "host": platform.node(),
        "cpus": __import__("os").cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
        "quarantined": quarantined,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
