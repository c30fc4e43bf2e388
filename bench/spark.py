"""`deidnode deid --spark` against the local `deidnode deid`, on a header-only corpus and an OCR corpus.

    python bench/spark.py [--header-files 600] [--ocr-files 48] [--rounds 2]

Corpora, generated into a temporary folder (never tuned on):
  header: 512x512 16-bit CT instances with a scanner's header (bench/header.py's corpus); the default profile
          runs the header engine and the cheap text-presence check, no OCR
  ocr   : 512x512 images with burned-in text from bench/pixelset.py at seed 11 (bench/pixels.py tunes on seed 5);
          every one is read by OCR and most are redacted
For each corpus and round:
  local      : the local command as a user runs it (`deidnode deid`, a subprocess: imports, model load, files)
  local loop : its per-file work in steady state (this process: read, deidentify_file, write; after a warm-up file)
  local[N]   : the Spark job (deidnode.spark.run_job, what `--spark` runs) in a fresh local[N] session: the
               session start, a warm-up job on 4 files (Python workers started, engine and OCR loaded: the fixed
               cost of a job), then the timed job on the corpus
CPU seconds come from /proc (the driver, the JVM and its Python workers). The Spark output is checked
byte-identical to the local command's. Prints a table and writes bench/results/spark.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from header import make_corpus  # noqa: E402
from pixelset import make_case  # noqa: E402
from procs import children, cpu_seconds  # noqa: E402

from deidnode.config import load_settings  # noqa: E402
from deidnode.engine import Policy  # noqa: E402

SPARK_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}


def make_ocr_corpus(folder: Path, count: int, seed: int = 11) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        ds, _clean, _items = make_case(i, seed)
        ds.save_as(folder / f"case_{i:03d}.dcm", enforce_file_format=True)


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children(p))
    return out


def tree_cpu() -> float:
    """CPU seconds of this process and every live descendant (the JVM and its Python workers)."""
    return sum(cpu_seconds(p) for p in _tree(os.getpid()))


def run_local(src: Path, out: Path, key: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "deidnode.cli", "deid", str(src), "--out", str(out), "--key-file", str(key)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise RuntimeError(proc.stderr[-2000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu}


def run_local_loop(src: Path, out: Path, key: Path) -> dict:
    """The local command's loop body, file by file, after one warm-up file (imports and models loaded)."""
    import datetime as dt

    from deidnode.batch import deidentify_file, write_atomic
    from deidnode.engine import Keys

    keys, policy = Keys.from_file(key), Policy.from_settings(load_settings(None))
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(src.glob("*.dcm"))
    deidentify_file(files[0].read_bytes(), policy, keys, now="")
    cpu0, t0 = time.process_time(), time.perf_counter()
    for f in files:
        res = deidentify_file(f.read_bytes(), policy, keys, now=dt.datetime.now(dt.UTC).isoformat())
        if res.ok:
            write_atomic(out / res.output_name, res.output)
    return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu0}


def run_spark(master: str, src: Path, out: Path, key: Path, warmup: Path) -> dict:
    from pyspark.sql import SparkSession

    from deidnode.spark import run_job

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    t0 = time.perf_counter()
    builder = SparkSession.builder.master(master).appName("bench deidnode")
    for k, v in SPARK_CONF.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    start = time.perf_counter() - t0
    policy = Policy.from_settings(load_settings(None))
    try:
        t1 = time.perf_counter()
        run_job(spark, [str(warmup)], str(out.with_name(out.name + "-warmup")), policy, str(key))
        first_job = time.perf_counter() - t1
        cpu0, t2 = tree_cpu(), time.perf_counter()
        summary = run_job(spark, [str(src)], str(out), policy, str(key))
        wall = time.perf_counter() - t2
        cpu = tree_cpu() - cpu0
    finally:
        spark.stop()
    return {
        "session_start_s": start,
        "warmup_job_s": first_job,
        "wall_s": wall,
        "cpu_s": cpu,
        "files": summary.total,
        "quarantined": summary.quarantined,
    }


def _same_outputs(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.glob("*.dcm"))
    return names == sorted(p.name for p in b.glob("*.dcm")) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--header-files", type=int, default=600)
    ap.add_argument("--ocr-files", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    results: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "spark_conf": SPARK_CONF,
        "rounds": args.rounds,
        "corpora": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        tmp_path = Path(tmp)
        key = tmp_path / "deid.key"
        key.write_bytes(random.Random(16).randbytes(32))
        corpora = {"header": tmp_path / "header", "ocr": tmp_path / "ocr"}
        corpora["header"].mkdir()
        make_corpus(corpora["header"], args.header_files)
        make_ocr_corpus(corpora["ocr"], args.ocr_files)
        for name, src in corpora.items():
            files = sorted(src.glob("*.dcm"))
            n = len(files)
            warmup = tmp_path / f"{name}-warmup-in"
            warmup.mkdir()
            for f in files[:4]:
                (warmup / f.name).write_bytes(f.read_bytes())
            runs: dict[str, list[dict]] = {"local": [], "local loop": [], "local[1]": [], "local[2]": []}
            for r in range(args.rounds):
                ref = tmp_path / f"{name}-local-{r}"
                runs["local"].append(run_local(src, ref, key))
                runs["local loop"].append(run_local_loop(src, tmp_path / f"{name}-loop-{r}", key))
                for master in ("local[1]", "local[2]"):
                    out = tmp_path / f"{name}-{master}-{r}"
                    runs[master].append(run_spark(master, src, out, key, warmup))
                    if not _same_outputs(ref, out):
                        raise SystemExit(f"{name} {master}: Spark output differs from the local command's")
                print(
                    f"{name} round {r + 1}: " + ", ".join(f"{k} {v[-1]['wall_s']:.1f} s" for k, v in runs.items()),
                    flush=True,
                )
            results["corpora"][name] = {"files": n, "runs": runs, "summary": summarize(runs, n)}
    out = HERE / "results" / "spark.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print_table(results)
    print(f"\nwritten: {out.relative_to(ROOT)}")


def summarize(runs: dict[str, list[dict]], n: int) -> dict:
    """Best wall time of the rounds, with the spread (worst/best); rates and CPU per file from the best run."""
    s: dict = {}
    for k, rs in runs.items():
        best = min(rs, key=lambda x: x["wall_s"])
        s[k] = {
            "wall_s": best["wall_s"],
            "spread": max(x["wall_s"] for x in rs) / best["wall_s"],
            "files_per_s": n / best["wall_s"],
            "cpu_ms_per_file": 1000 * best["cpu_s"] / n,
        }
        for fixed in ("session_start_s", "warmup_job_s"):
            if fixed in best:
                s[k][fixed] = min(x[fixed] for x in rs)
    s["speedup_2_over_1"] = s["local[1]"]["wall_s"] / s["local[2]"]["wall_s"]
    # Steady state: the Spark job on one core against the local command's per-file loop.
    s["overhead_ms_per_file"] = 1000 * (s["local[1]"]["wall_s"] - s["local loop"]["wall_s"]) / n
    s["overhead_cpu_ms_per_file"] = s["local[1]"]["cpu_ms_per_file"] - s["local loop"]["cpu_ms_per_file"]
    s["fixed_s"] = {k: s[k]["session_start_s"] + s[k]["warmup_job_s"] for k in ("local[1]", "local[2]")}
    return s


def print_table(results: dict) -> None:
    print("\nfiles/s (CPU ms per file; spread = worst/best wall time of the rounds)")
    print(
        "| corpus | files | local command (whole) | local loop (steady) | Spark local[1] | Spark local[2] | "
        "local[2]/local[1] | Spark overhead per file vs loop: wall, CPU | Spark fixed cost: session + first job |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, c in results["corpora"].items():
        s = c["summary"]
        cell = {
            k: f"{s[k]['files_per_s']:.1f} ({s[k]['cpu_ms_per_file']:.0f}; {s[k]['spread']:.2f})"
            for k in ("local", "local loop", "local[1]", "local[2]")
        }
        print(
            f"| {name} | {c['files']} | {cell['local']} | {cell['local loop']} | {cell['local[1]']} | "
            f"{cell['local[2]']} | {s['speedup_2_over_1']:.2f} | {s['overhead_ms_per_file']:.1f} ms, "
            f"{s['overhead_cpu_ms_per_file']:.1f} ms | {s['local[1]']['session_start_s']:.0f} + "
            f"{s['local[1]']['warmup_job_s']:.0f} s |"
        )


if __name__ == "__main__":
    main()
