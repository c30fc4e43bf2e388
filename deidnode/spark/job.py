"""``deidnode deid SRC... --out DST --spark MASTER``: the batch command as an Apache Spark job.

Spark lists and reads the inputs (the ``binaryFile`` source, any Hadoop filesystem), cuts them into partitions
and retries failed tasks; each task runs the same per-file function as ``deidnode deid``
(:func:`deidnode.batch.deidentify_file`, the pure engine) and writes each de-identified instance to
``DST/<new SOP Instance UID>.dcm``; files that are not DICOM are skipped and counted, as ``deid`` does. The audit
goes to ``DST/_audit/`` and the quarantined inputs (their bytes, path and reason) to ``DST.quarantine/`` beside the
output (or ``--quarantine``), both as Parquet, appended per run. Output names are keyed, so a retried task or a
rerun writes the same bytes under the same names again.

The key never travels with the job: the driver and every executor read it from a file (found in ``deid``'s order:
``--key-file``, ``$DEIDNODE_KEY_FILE``, ``keys.key_file``; on an executor the path as given, else the file of that
name shipped with ``--files``/``spark.files``, e.g. a Kubernetes Secret mounted on the executors), and a task whose
key, rules or library versions differ from the driver's fails instead of writing differently keyed output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import sys
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .. import __version__
from ..batch import SNIFF_BYTES, deidentify_file, skip_reason
from ..config import RULES_DIR, Settings
from ..engine import Keys, Policy
from ..errors import ConfigError
from ..keysource import key_source, load_keys
from ..lexicon_store import batch_lexicon
from .storage import S3A_SETTINGS, OutputLocation

AUDIT_DIR = "_audit"  # "_" names are hidden to Spark and Hadoop readers: a later job reading DST skips it
QUARANTINE_SUFFIX = ".quarantine"  # as deid's default: beside the output, never inside it (raw PHI)

# Distributions whose code decides output bytes besides deidnode itself (parsing, pixel codecs, OCR).
_LIBRARIES = (
    "pydicom",
    "numpy",
    "pillow",
    "pylibjpeg",
    "pylibjpeg-openjpeg",
    "pylibjpeg-libjpeg",
    "python-gdcm",
    "rapidocr_onnxruntime",
    "onnxruntime",
)

# One row per input. ``record`` is the JSON line ``deidnode deid`` writes to audit.jsonl; ``input_path``, ``size``
# and ``content`` (the input's bytes) are set for quarantined inputs only, the one place that may name the input;
# ``skipped`` says why an input that is not DICOM was left alone (such rows are counted, not recorded).
RESULT_COLUMNS = (
    ("time", "string"),
    ("input_sha256", "string"),
    ("status", "string"),
    ("output", "string"),
    ("sop_class_uid", "string"),
    ("modality", "string"),
    ("stage", "string"),
    ("code", "string"),
    ("detail", "string"),
    ("record", "string"),
    ("skipped", "string"),
    ("input_path", "string"),
    ("size", "long"),
    ("content", "binary"),
)
AUDIT_COLUMNS = (
    "time",
    "input_sha256",
    "status",
    "output",
    "sop_class_uid",
    "modality",
    "stage",
    "code",
    "detail",
    "record",
)
QUARANTINE_COLUMNS = (
    "time",
    "input_sha256",
    "input_path",
    "size",
    "sop_class_uid",
    "stage",
    "code",
    "detail",
    "content",
)


@dataclass(frozen=True)
class Summary:
    total: int
    """DICOM inputs (skipped files not counted), as in deid's summary."""
    deidentified: int
    quarantined: int
    audit_uri: str
    quarantine_uri: str
    skipped: dict[str, int] = field(default_factory=dict)


@cache
def environment_fingerprint() -> str:
    """deidnode's version, the rules it reads and the libraries that shape output bytes: equal on the driver and
    every executor, or the output of one run would not be one consistent data set."""
    h = hashlib.sha256(f"deidnode {__version__}\n".encode())
    root = Path(RULES_DIR)
    for p in sorted(root.rglob("*")):
        # what a wheel ships (pyproject package-data): a checkout's generator sources do not count
        if p.is_file() and "source" not in p.relative_to(root).parts:
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    for name in _LIBRARIES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{name} {version}\n".encode())
    return h.hexdigest()[:16]


def key_fingerprint(keys: Keys) -> str:
    """A keyed hash of a constant: equal for equal keys, and says nothing about the key."""
    return keys.digest("spark-key-check", "deidnode").hex()[:16]


def executor_key(key_path: str) -> Keys:
    """The key on an executor: the path as given, else a file of that name shipped with the job (``--files``)."""
    p = Path(key_path)
    if not p.is_file():
        try:
            from pyspark import SparkFiles

            shipped = Path(SparkFiles.get(p.name))
        except Exception:  # noqa: BLE001 - no SparkContext files here: report the path as given
            shipped = p
        if shipped.is_file():
            p = shipped
    return Keys.from_file(p)


class MergedLexicon:
    """``deid``'s batch lexicon (:func:`deidnode.lexicon_store.batch_lexicon`) gathered part by part by Spark
    tasks: a patient scope knows what any part learnt of it, so, as in ``deid``, every input's text is cleaned with
    the names of the whole batch whatever the order of files."""

    def __init__(self, parts: Sequence[Any]) -> None:
        self.parts = tuple(parts)

    def known(self, scope: bytes) -> Collection[bytes]:
        out: set[bytes] = set()
        for part in self.parts:
            out.update(part.known(scope))
        return frozenset(out)


def _checked_keys(key_path: str, key_check: str, environment: str) -> Keys:
    """The executor's key, after checking that it and this executor's deidnode are the driver's."""
    keys = executor_key(key_path)
    if key_fingerprint(keys) != key_check:
        raise ConfigError(
            f"config error: keys.key_file: the key read from {key_path} on this executor differs from the driver's"
        )
    if environment_fingerprint() != environment:
        raise ConfigError(
            "config error: spark: this executor's deidnode, rules or libraries differ from the "
            "driver's (install the same deidnode[spark] everywhere)"
        )
    return keys


@dataclass(frozen=True)
class LexiconTask:
    """The first pass: one partition's part of the batch lexicon (keyed hashes only)."""

    policy: Policy
    key_path: str
    key_check: str
    environment: str

    def __call__(self, rows: Iterable[Any]) -> Iterator[Any]:
        keys = _checked_keys(self.key_path, self.key_check, self.environment)
        yield batch_lexicon((bytes(r.content) for r in rows), keys, self.policy)


@dataclass(frozen=True)
class PartitionTask:
    """What one Spark task runs over its rows (``path`` and ``content`` of the binaryFile source); pickled to the
    executors.

    ``on_file(index)`` runs after each input is written (tests use it to fail a task part way through).
    """

    policy: Policy
    key_path: str
    key_check: str
    environment: str
    out: OutputLocation
    on_file: Callable[[int], None] | None = field(default=None, compare=False)
    lexicon: Any = field(default=None, compare=False)
    """A broadcast :class:`MergedLexicon` (``lexicon.enabled``), or None."""

    def __call__(self, rows: Iterable[Any]) -> Iterator[tuple]:
        keys = _checked_keys(self.key_path, self.key_check, self.environment)
        lexicon = self.lexicon.value if self.lexicon is not None else None
        writer = self.out.open()
        for i, row in enumerate(rows):
            raw = bytes(row.content)
            skipped = skip_reason(raw[:SNIFF_BYTES])
            if skipped is not None:
                yield (None, None, "skipped", None, None, None, None, None, None, None, skipped, None, None, None)
                continue
            res = deidentify_file(raw, self.policy, keys, lexicon=lexicon)
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            record = {"time": now, **res.record}
            path = size = content = None
            stage = code = detail = None
            if res.status == "deidentified":
                assert res.output_name is not None and res.output is not None
                writer.write(res.output_name, res.output)
            else:
                assert res.quarantine is not None
                stage, code, detail = res.quarantine["stage"], res.quarantine["code"], res.quarantine["detail"]
                path, size, content = str(row.path), len(raw), raw
            engine = record.get("engine") or {}  # the audit record's layout: deidnode/audit.py
            yield (
                now,
                record["input_sha256"],
                res.status,
                record.get("output"),
                engine.get("sop_class_uid"),
                engine.get("modality"),
                stage,
                code,
                detail,
                json.dumps(record, sort_keys=True),
                None,
                path,
                size,
                content,
            )
            if self.on_file is not None:
                self.on_file(i)


def _schema() -> Any:
    from pyspark.sql.types import BinaryType, LongType, StringType, StructField, StructType

    types = {"string": StringType(), "binary": BinaryType(), "long": LongType()}
    return StructType([StructField(name, types[t], True) for name, t in RESULT_COLUMNS])


def qualify(spark: Any, uri: str) -> str:
    """A path or URI as Spark resolves it (against ``fs.defaultFS``): ``data/in`` -> ``file:/home/u/data/in``."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return str(fs.makeQualified(path).toString())


def _exists(spark: Any, uri: str) -> bool:
    """Whether a path (or glob, as binaryFile takes them) names anything."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    found = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).globStatus(path)
    return found is not None and len(found) > 0


def _private_dir(spark: Any, uri: str) -> None:
    """Make the quarantine folder its owner's alone (it holds inputs as they came, PHI and all), where the
    filesystem has permissions (POSIX, HDFS); object stores rely on the bucket's policy."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    fs.mkdirs(path)
    fs.setPermission(path, jvm.org.apache.hadoop.fs.permission.FsPermission("700"))


def _inside(child: str, parent: str) -> bool:
    parent = parent.rstrip("/")
    return child.rstrip("/") == parent or child.startswith(parent + "/")


def run_job(
    spark: Any,
    inputs: Sequence[str],
    out: str,
    policy: Policy,
    key_path: str,
    *,
    quarantine: str | None = None,
    lexicon: bool = True,
    on_file: Callable[[int], None] | None = None,
) -> Summary:
    """De-identify every file under ``inputs`` into ``out`` on ``spark`` (quarantine: ``quarantine``, by default
    beside ``out``); returns the counts."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    srcs = [qualify(spark, u) for u in inputs]
    dst = qualify(spark, out)
    if not urlparse(dst).path.strip("/"):
        raise ConfigError("config error: --out: give a folder below the root of the filesystem or bucket")
    quarantine = qualify(spark, quarantine) if quarantine else dst.rstrip("/") + QUARANTINE_SUFFIX
    if _inside(quarantine, dst):
        raise ConfigError(f"--quarantine {quarantine} is inside --out {dst}: the quarantine holds raw PHI")
    for s in srcs:
        if _inside(dst, s) or _inside(quarantine, s):
            raise ConfigError(
                "config error: --out: the output (or its quarantine) is inside an input folder, "
                "whose files would be read again"
            )
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    s3a = {k: str(hconf.get(k)) for k in S3A_SETTINGS if hconf.get(k) is not None}
    location = OutputLocation(dst, s3a)
    keys = Keys.from_file(key_path)
    checks = (policy, key_path, key_fingerprint(keys), environment_fingerprint())

    for given, s in zip(inputs, srcs, strict=True):
        if not _exists(spark, s):
            raise ConfigError(f"input not found: {given}")
    # recursiveFileLookup: folder names are never read as partition columns (they may be "Name=Smith").
    files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(srcs)
    shared = None
    if lexicon:  # deid's first pass: the batch lexicon, before any input is cleaned (the inputs are read twice)
        parts = files.select("content").rdd.mapPartitions(LexiconTask(*checks)).collect()
        shared = spark.sparkContext.broadcast(MergedLexicon(parts))
    task = PartitionTask(*checks, location, on_file, shared)
    rows = files.select("path", "content").rdd.mapPartitions(task)
    run_id = f"{spark.sparkContext.applicationId}/{uuid.uuid4().hex[:8]}"
    results = spark.createDataFrame(rows, _schema()).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts: dict[str, int] = {}
        skipped: dict[str, int] = {}
        for r in results.groupBy("status", "skipped").count().collect():
            counts[r["status"]] = counts.get(r["status"], 0) + int(r["count"])
            if r["skipped"] is not None:
                skipped[r["skipped"]] = int(r["count"])
        audit_uri = location.child(AUDIT_DIR)
        tagged = results.where(F.col("status") != "skipped").withColumn("run_id", F.lit(run_id))
        if counts.get("deidentified") or counts.get("quarantined"):
            tagged.select(*AUDIT_COLUMNS, "run_id").write.mode("append").parquet(audit_uri)
        if counts.get("quarantined"):
            _private_dir(spark, quarantine)
            (
                tagged.where(F.col("status") == "quarantined")
                .select(*QUARANTINE_COLUMNS, "run_id")
                .write.mode("append")
                .parquet(quarantine)
            )
    finally:
        results.unpersist()
    done, failed = counts.get("deidentified", 0), counts.get("quarantined", 0)
    return Summary(done + failed, done, failed, audit_uri, quarantine, skipped)


def _session(master: str, confs: Sequence[str]) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("config error: --spark: pyspark is not installed (pip install 'deidnode[spark]')") from None
    builder = SparkSession.builder.appName("deidnode deid")
    if master:
        builder = builder.master(master)
    given = set()
    for kv in confs:
        k, sep, v = kv.partition("=")
        if not sep or not k.strip():
            raise ConfigError(f"config error: --spark-conf: expected KEY=VALUE, got '{kv}'")
        builder = builder.config(k.strip(), v)
        given.add(k.strip())
    if master.startswith("local") and "spark.pyspark.python" not in given and not os.environ.get("PYSPARK_PYTHON"):
        # Local executors are children of this process: the same interpreter has deidnode and its libraries
        # (pyspark reads the executors' interpreter from this variable; its default is whatever python3 is).
        os.environ["PYSPARK_PYTHON"] = sys.executable
    try:
        return builder.getOrCreate()
    except Exception as e:  # Java missing, a bad master URL: one line, the cause's type and first line
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ConfigError(
            f"error: spark: cannot start a Spark session on '{master or 'default'}': {type(e).__name__}: {first[:200]}"
        ) from None


def run_spark(args: argparse.Namespace, settings: Settings) -> int:
    """The ``deid`` command with ``--spark``; exit status as for the local command."""
    if args.profile not in settings.profiles:
        raise ConfigError(f"config error: profiles: no profile named '{args.profile}'")
    if getattr(args, "preview", None):
        raise ConfigError(
            "config error: --preview: not available with --spark (previews are for a QA pass on a "
            "sample; run it locally)"
        )
    if args.ephemeral_key:
        raise ConfigError(
            "config error: --ephemeral-key: not available with --spark (executors read the key from "
            "a file; a random key would give every rerun different names)"
        )
    if getattr(args, "dry_run", False):
        raise ConfigError("config error: --dry-run: not available with --spark (run it locally on a sample)")
    if settings.mapping.enabled:
        raise ConfigError(
            "config error: mapping.enabled: the mapping store is not written by --spark (a SQLite "
            "file on one machine); run deid locally or turn it off"
        )
    source = key_source(args.key_file, settings.keys.key_file)
    load_keys(args.key_file, settings.keys.key_file)  # the driver checks the key (or its absence) first
    assert source is not None
    policy = Policy.from_settings(settings, args.profile)
    spark = _session(args.spark, getattr(args, "spark_conf", None) or ())
    try:
        summary = run_job(
            spark,
            args.inputs,
            args.out,
            policy,
            str(source[1]),
            quarantine=getattr(args, "quarantine", None),
            lexicon=settings.lexicon.enabled,
        )
    except ConfigError:
        raise
    except Exception as e:  # a failed job (tasks out of retries); details are in Spark's log above
        raise ConfigError(f"error: spark: the job failed ({type(e).__name__}); see the Spark log above") from None
    finally:
        spark.stop()
    line = (
        f"deid: {summary.total} DICOM inputs, {summary.deidentified} de-identified, {summary.quarantined} quarantined"
    )
    if summary.quarantined:
        line += f" (in {summary.quarantine_uri})"
    line += "".join(f", {n} skipped ({k})" for k, n in sorted(summary.skipped.items()))
    print(f"{line}; audit in {summary.audit_uri}")
    sys.stdout.flush()
    return 1 if summary.quarantined else 0
