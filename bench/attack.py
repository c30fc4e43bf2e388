"""Combined attack (issue 12, "What it must show"): a legitimate sender against a node under attack, one run.

The node (``deidnode serve``, allow-lists: network 127.0.0.0/24, calling AE title CT1; otherwise the default
configuration, one worker, a folder destination) is first sent ``--instances`` CT instances by dcmtk
``storescu`` alone (the baseline), then again while the attacks of items 1, 2, 4 and 5 run together for
``--seconds``, each from its own process and source address (``tests/attackers.py``):

- small_maximum (item 1): requests announcing a Maximum Length Received of 1, 4, 6, then a C-ECHO;
- tiny_fragments (item 2): C-STORE data sets in 1-byte fragments, command sets in empty ones;
- slow_connections (item 4): 30 connections from a refused address and 30 from an allowed one, each dripping
  an A-ASSOCIATE-RQ at one byte per second, reopened as soon as the node closes them;
- big_requests (item 5): 685 KB requests from a refused address, with a refused AE title, with an allowed one.

The sender retries what was not acknowledged (as a PACS would) until the attack window ends. It prints a table
and writes bench/results/attack.json: instances stored and seconds with and without the attack, the node's peak
resident memory (main process, and with its workers), CPU seconds, and what each attack achieved.

    .venv/bin/python bench/attack.py [--seconds 60] [--instances 100]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "bench"))

import attackers  # noqa: E402
from dicom_factory import make_study, write_study  # noqa: E402
from peers import Node, acknowledged_files, storescu, wait_for  # noqa: E402
from procs import children, cpu_seconds  # noqa: E402

NODE_MB = 300
"""The hardening issue's bound on the whole node (main process and its worker) under attack. The worker's OCR
models load only for a slice whose cheap text check finds a candidate line, so the CT instances sent here never
load them (docs/SECURITY.md)."""


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class MemoryWatch:
    """Samples the resident memory of a process and of it with its children, every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid, self.interval = pid, interval
        self.main_mb = self.tree_mb = 0.0
        self.tree_at_peak: dict[int, float] = {}  # pid -> MB of each child when the total peaked (diagnosis)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            main = _rss_mb(self.pid)
            self.main_mb = max(self.main_mb, main)
            kids = {c: _rss_mb(c) for c in children(self.pid)}
            if main + sum(kids.values()) > self.tree_mb:
                self.tree_mb = main + sum(kids.values())
                self.tree_at_peak = {c: round(mb, 1) for c, mb in kids.items()}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _send_until_stored(port: int, files: list[Path], until: float) -> tuple[int, float, int]:
    """storescu from 127.0.0.1 (AE CT1), sending again what was not acknowledged until all are or ``until``;
    returns (acknowledged, seconds, storescu runs)."""
    t0 = time.monotonic()
    left, runs = list(files), 0
    while left and time.monotonic() < until:
        runs += 1
        r = storescu(port, left, aet="CT1", timeout=max(5.0, until - time.monotonic() + 30))
        acked = set(acknowledged_files(r.stdout + r.stderr))
        left = [f for f in left if str(f) not in acked]
        if left:
            time.sleep(0.5)
    return len(files) - len(left), time.monotonic() - t0, runs


def node_config(workdir: Path) -> dict:
    return {
        "node": {
            "ae_title": "DEIDNODE",
            "allowed_calling_aets": ["CT1"],
            "allowed_networks": [attackers.ALLOWED_NETWORK],
        },
        "spool": {"path": str(workdir / "spool"), "min_free_bytes": 0},
        "quarantine_path": str(workdir / "quarantine"),
        "workers": {"count": 1},
        "destinations": [{"name": "out", "type": "folder", "path": str(workdir / "out")}],
        "log_level": "INFO",
    }


def run(seconds: float, instances: int, workdir: Path) -> dict:
    """The baseline and the attacked run; returns the results (see the module docstring)."""
    key = workdir / "deid.key"
    key.write_bytes(bytes(range(32)))
    files_a = write_study(workdir / "in-a", make_study(instances, 2, size=64, seed="attack-baseline"))
    files_b = write_study(workdir / "in-b", make_study(instances, 2, size=64, seed="attack-run"))
    node = Node(workdir / "node", node_config(workdir), key).start()
    assert node.proc is not None
    out: dict = {}
    try:
        watch = MemoryWatch(node.proc.pid)
        stored, secs, _ = _send_until_stored(node.port, files_a, time.monotonic() + seconds)
        out["baseline"] = {"stored": stored, "seconds": round(secs, 2)}

        cpu0 = cpu_seconds(node.proc.pid) + sum(cpu_seconds(c) for c in children(node.proc.pid))
        procs = {
            kind: subprocess.Popen(
                [sys.executable, str(ROOT / "tests" / "attackers.py"), kind, str(node.port), str(seconds)],
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            for kind in attackers.ATTACKS
        }
        t_attack = time.monotonic()
        time.sleep(min(3.0, seconds / 10))  # let the attacks take hold first
        stored, secs, runs = _send_until_stored(node.port, files_b, t_attack + seconds)
        out["under_attack"] = {"stored": stored, "seconds": round(secs, 2), "storescu_runs": runs}
        attacks = {}
        for kind, p in procs.items():
            stdout, _ = p.communicate(timeout=seconds + 60)
            attacks[kind] = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {"rc": p.returncode}
        out["attack_seconds"] = round(time.monotonic() - t_attack, 1)
        out["attacks"] = attacks
        out["node_cpu_seconds_during_attack"] = round(
            cpu_seconds(node.proc.pid) + sum(cpu_seconds(c) for c in children(node.proc.pid)) - cpu0, 1
        )
        wait_for(lambda: len(list((workdir / "out").glob("*.dcm"))) >= 2 * instances, 120, "de-identified output")
        out["delivered"] = len(list((workdir / "out").glob("*.dcm")))
        watch.stop()
        out["node_peak_rss_mb"] = {
            "main": round(watch.main_mb, 1),
            "with_workers": round(watch.tree_mb, 1),
            "children_at_peak": list(watch.tree_at_peak.values()),
        }
        out["node_alive"] = node.proc.poll() is None
    finally:
        node.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--instances", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="deidnode-attack-") as tmp:
        res = run(args.seconds, args.instances, Path(tmp))
    res.update(
        seconds=args.seconds,
        instances=args.instances,
        host=platform.node(),
        cpus=os.cpu_count(),
        time=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    print(f"{'':28}{'stored':>8}{'seconds':>9}")
    for k in ("baseline", "under_attack"):
        print(f"{k:28}{res[k]['stored']:>8}{res[k]['seconds']:>9}")
    print(
        f"node peak RSS: main {res['node_peak_rss_mb']['main']} MB, with workers "
        f"{res['node_peak_rss_mb']['with_workers']} MB; node CPU during the attack "
        f"{res['node_cpu_seconds_during_attack']} s; delivered {res['delivered']}"
    )
    for kind, counts in res["attacks"].items():
        print(f"  {kind:20} {counts}")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "attack.json").write_text(json.dumps(res, indent=2))
    rss = res["node_peak_rss_mb"]
    ok = res["under_attack"]["stored"] == args.instances and rss["with_workers"] < NODE_MB
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
