"""``deidnode deid SRC... --out DST --spark MASTER``: the batch command as an Apache Spark job.

Spark lists and reads the inputs (the ``binaryFile`` source, any Hadoop filesystem), cuts them into partitions
and retries failed tasks; each task runs the same per-file function as ``deidnode deid``
(:func:`deidnode.batch.deidentify_file`, the pure engine) and writes each de-identified instance to
``DST/<new SOP Instance UID>.dcm``. The audit goes to ``DST/_audit/`` and the quarantined inputs (their bytes
and the reason) to ``<DST>-quarantine/``, both as Parquet, appended per run. Output names are keyed, so a
retried task or a rerun writes the same bytes under the same names again.

The key never travels with the job: the driver and every executor read it from a file (``--key-file``,
``keys.key_file`` or ``$DEIDNODE_KEY_FILE``; on an executor the path as given, else the file of that name shipped
with ``--files``/``spark.files``, e.g. a Kubernetes Secret mounted on the executors), and a task whose key, rules or
library versions differ from the driver's fails instead of writing differently keyed output.
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .. import __version__
from ..batch import deidentify_file
from ..config import RULES_DIR, Settings
from ..engine import Keys, Policy, resolve_keys
from ..engine.keys import KEY_FILE_ENV
from ..errors import ConfigError
from .storage import S3A_SETTINGS, OutputLocation

AUDIT_DIR = "_audit"  # "_" names are hidden to Spark and Hadoop readers: a later job reading DST skips it
QUARANTINE_SUFFIX = "-quarantine"

# Distributions whose code decides output bytes besides deidnode itself (parsing, pixel codecs, OCR).
_LIBRARIES = ("pydicom", "numpy", "pillow", "pylibjpeg", "pylibjpeg-openjpeg", "pylibjpeg-libjpeg", "python-gdcm",
              "rapidocr_onnxruntime", "onnxruntime")

# One row per input; ``record`` is the JSON line ``deidnode deid`` writes to audit.jsonl, ``content`` the input's
# bytes for quarantined inputs only.
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
    ("reason", "string"),
    ("content", "binary"),
)
AUDIT_COLUMNS = tuple(c for c, _ in RESULT_COLUMNS if c not in ("reason", "content"))
QUARANTINE_COLUMNS = ("time", "input_sha256", "stage", "code", "detail", "reason", "content")


@dataclass(frozen=True)
class Summary:
    total: int
    deidentified: int
    quarantined: int
    audit_uri: str
    quarantine_uri: str


@cache
def environment_fingerprint() -> str:
    """deidnode's version, the rules it reads and the libraries that shape output bytes: equal on the driver and
    every executor, or the output of one run would not be one consistent data set."""
    h = hashlib.sha256(f"deidnode {__version__}\n".encode())
    root = Path(RULES_DIR)
    for p in sorted(root.rglob("*")):
        if p.is_file():
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


@dataclass(frozen=True)
class PartitionTask:
    """What one Spark task runs over its rows (``content`` of the binaryFile source); pickled to the executors.

    ``on_file(index)`` runs after each input is written (tests use it to fail a task part way through).
    """

    policy: Policy
    key_path: str
    key_check: str
    environment: str
    out: OutputLocation
    on_file: Callable[[int], None] | None = field(default=None, compare=False)

    def __call__(self, rows: Iterable[Any]) -> Iterator[tuple]:
        keys = executor_key(self.key_path)
        if key_fingerprint(keys) != self.key_check:
            raise ConfigError(f"config error: keys.key_file: the key read from {self.key_path} on this executor "
                              "differs from the driver's")
        if environment_fingerprint() != self.environment:
            raise ConfigError("config error: spark: this executor's deidnode, rules or libraries differ from the "
                              "driver's (install the same deidnode[spark] everywhere)")
        writer = self.out.open()
        for i, row in enumerate(rows):
            raw = bytes(row.content)
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            res = deidentify_file(raw, self.policy, keys, now=now)
            record = res.record
            if res.ok:
                assert res.output_name is not None and res.output is not None
                writer.write(res.output_name, res.output)
                stage = code = detail = reason = content = None
            else:
                assert res.reason is not None
                stage, code, detail = res.reason["stage"], res.reason["code"], res.reason["detail"]
                reason, content = json.dumps(res.reason, sort_keys=True), raw
            yield (
                record["time"], record["input_sha256"], record["status"], record.get("output"),
                record.get("sop_class_uid"), record.get("modality"), stage, code, detail,
                json.dumps(record, sort_keys=True), reason, content,
            )
            if self.on_file is not None:
                self.on_file(i)


def _schema() -> Any:
    from pyspark.sql.types import BinaryType, StringType, StructField, StructType

    types = {"string": StringType(), "binary": BinaryType()}
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
    on_file: Callable[[int], None] | None = None,
) -> Summary:
    """De-identify every file under ``inputs`` into ``out`` on ``spark``; returns the counts."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    srcs = [qualify(spark, u) for u in inputs]
    dst = qualify(spark, out)
    if not urlparse(dst).path.strip("/"):
        raise ConfigError("config error: --out: give a folder below the root of the filesystem or bucket")
    quarantine = dst.rstrip("/") + QUARANTINE_SUFFIX
    for s in srcs:
        if _inside(dst, s) or _inside(quarantine, s):
            raise ConfigError("config error: --out: the output (or its quarantine) is inside an input folder, "
                              "whose files would be read again")
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    s3a = {k: str(hconf.get(k)) for k in S3A_SETTINGS if hconf.get(k) is not None}
    location = OutputLocation(dst, s3a)
    keys = Keys.from_file(key_path)
    task = PartitionTask(policy, key_path, key_fingerprint(keys), environment_fingerprint(), location, on_file)

    for given, s in zip(inputs, srcs, strict=True):
        if not _exists(spark, s):
            raise ConfigError(f"input not found: {given}")
    # recursiveFileLookup: folder names are never read as partition columns (they may be "Name=Smith").
    files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(srcs)
    rows = files.select("content").rdd.mapPartitions(task)
    run_id = f"{spark.sparkContext.applicationId}/{uuid.uuid4().hex[:8]}"
    results = spark.createDataFrame(rows, _schema()).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = {r["status"]: int(r["count"]) for r in results.groupBy("status").count().collect()}
        audit_uri = location.child(AUDIT_DIR)
        tagged = results.withColumn("run_id", F.lit(run_id))
        if counts:
            tagged.select(*AUDIT_COLUMNS, "run_id").write.mode("append").parquet(audit_uri)
        if counts.get("quarantined"):
            _private_dir(spark, quarantine)
            (tagged.where(F.col("status") == "quarantined").select(*QUARANTINE_COLUMNS, "run_id")
             .write.mode("append").parquet(quarantine))
    finally:
        results.unpersist()
    return Summary(sum(counts.values()), counts.get("deidentified", 0), counts.get("quarantined", 0), audit_uri,
                   quarantine)


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
        raise ConfigError(f"error: spark: cannot start a Spark session on '{master or 'default'}': "
                          f"{type(e).__name__}: {first[:200]}") from None


def run_spark(args: argparse.Namespace, settings: Settings) -> int:
    """The ``deid`` command with ``--spark``; exit status as for the local command."""
    if args.profile not in settings.profiles:
        raise ConfigError(f"config error: profiles: no profile named '{args.profile}'")
    if getattr(args, "preview", None):
        raise ConfigError("config error: --preview: not available with --spark (previews are for a QA pass on a "
                          "sample; run it locally)")
    if args.ephemeral_key:
        raise ConfigError("config error: --ephemeral-key: not available with --spark (executors read the key from "
                          "a file; a random key would give every rerun different names)")
    key_path = args.key_file or settings.keys.key_file or os.environ.get(KEY_FILE_ENV)
    if not key_path:
        resolve_keys(None)  # raises the usual "no de-identification key" error
    Keys.from_file(key_path)  # the driver checks the key before anything starts
    policy = Policy.from_settings(settings, args.profile)
    spark = _session(args.spark, getattr(args, "spark_conf", None) or ())
    try:
        summary = run_job(spark, args.inputs, args.out, policy, str(key_path))
    except ConfigError:
        raise
    except Exception as e:  # a failed job (tasks out of retries); details are in Spark's log above
        raise ConfigError(f"error: spark: the job failed ({type(e).__name__}); see the Spark log above") from None
    finally:
        spark.stop()
    line = f"deid: {summary.total} inputs, {summary.deidentified} de-identified, {summary.quarantined} quarantined"
    if summary.quarantined:
        line += f" (see {summary.quarantine_uri})"
    print(f"{line}; audit in {summary.audit_uri}")
    sys.stdout.flush()
    return 1 if summary.quarantined else 0
