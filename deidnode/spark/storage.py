"""Where the Spark job's tasks write de-identified files.

Spark reads the inputs through Hadoop's filesystems (the ``binaryFile`` source) and writes the Parquet tables the
same way, but a Python task has no handle on its executor's Hadoop ``FileSystem``. So the DICOM files are written
from Python: a local or shared POSIX folder (``file:``) with plain system calls, anything else with ``pyarrow.fs``
(``s3a``/``s3``, ``gs``, ``abfs``/``abfss``, ``hdfs``). Both writers replace a file whole or not at all, so a
retried task or a rerun leaves exactly one complete copy of each output.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from ..durable import fsync_dir, write_fully
from ..errors import ConfigError
from ..forward.folder import OUTPUT_MODE

LOCAL_SCHEMES = frozenset({"", "file"})
# URI scheme -> pyarrow filesystem. s3a is Hadoop's name for S3; pyarrow reads the same buckets as s3.
ARROW_SCHEMES = {"s3a": "s3", "s3": "s3", "gs": "gs", "gcs": "gs", "abfs": "abfs", "abfss": "abfss", "hdfs": "hdfs"}
# Object stores put an object in one request (all or nothing); there a temporary name would only double the cost.
OBJECT_STORES = frozenset({"s3", "gs"})
# Hadoop settings of the S3A connector that say where the store is (never credentials: pyarrow finds those
# itself on each executor, from the environment, the instance profile or web identity).
S3A_SETTINGS = ("fs.s3a.endpoint", "fs.s3a.endpoint.region", "fs.s3a.path.style.access")


class Writer(Protocol):
    def write(self, name: str, data: bytes) -> None: ...


@dataclass(frozen=True)
class OutputLocation:
    """A folder URI as Spark qualified it (``file:/data/out``, ``s3a://bucket/out``), plus the S3A settings of the
    driver's Hadoop configuration that the tasks need to reach the same store."""

    uri: str
    s3a: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        scheme = urlparse(self.uri).scheme
        if scheme not in LOCAL_SCHEMES and scheme not in ARROW_SCHEMES:
            raise ConfigError(
                f"config error: --out: cannot write files to '{scheme}://' (supported: file, "
                + ", ".join(sorted(ARROW_SCHEMES))
                + ")"
            )

    def child(self, name: str) -> str:
        """The URI of ``name`` inside this folder (for Spark's writers)."""
        return self.uri.rstrip("/") + "/" + name

    def open(self) -> Writer:
        """A writer for this folder; called in each task (filesystem clients are not shipped)."""
        parsed = urlparse(self.uri)
        if parsed.scheme in LOCAL_SCHEMES:
            return LocalWriter(Path(parsed.path))
        fs, root = _arrow_filesystem(parsed.scheme, self.uri, self.s3a)
        return ArrowWriter(fs, root, object_store=ARROW_SCHEMES[parsed.scheme] in OBJECT_STORES)


class LocalWriter:
    """Files in a local or shared POSIX folder: written to a temporary name, fsynced, renamed over the old one,
    with the mode of every de-identified output (``OUTPUT_MODE``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, data: bytes) -> None:
        final = self.root / name
        # A unique temporary name (unlike durable.write_atomic's): two attempts of one task, a retry still running
        # or a speculative copy, may write the same output at once.
        tmp = self.root / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OUTPUT_MODE)
            try:
                os.fchmod(fd, OUTPUT_MODE)
                write_fully(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(self.root)


class ArrowWriter:
    """Files through a ``pyarrow.fs`` filesystem: one put on an object store; elsewhere (HDFS, ADLS Gen2) a
    temporary name moved over the old file, since there a half-written file would be visible."""

    def __init__(self, fs: Any, root: str, *, object_store: bool) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.object_store = object_store
        if not object_store:
            fs.create_dir(self.root, recursive=True)

    def write(self, name: str, data: bytes) -> None:
        final = f"{self.root}/{name}"
        if self.object_store:
            with self.fs.open_output_stream(final) as f:
                f.write(data)
            return
        tmp = f"{self.root}/.{name}.{uuid.uuid4().hex}.tmp"
        with self.fs.open_output_stream(tmp) as f:
            f.write(data)
        try:
            self.fs.delete_file(final)  # HDFS rename does not replace; the bytes are identical anyway
        except FileNotFoundError:
            pass
        self.fs.move(tmp, final)


def _arrow_filesystem(scheme: str, uri: str, s3a: Mapping[str, str]) -> tuple[Any, str]:
    try:
        from pyarrow import fs as pafs
    except ImportError as e:  # pragma: no cover - pyarrow is part of the spark extra
        raise ConfigError(f"config error: --out: writing to {scheme}:// needs pyarrow ({e})") from None
    kind = ARROW_SCHEMES[scheme]
    if kind == "s3":
        parsed = urlparse(uri)
        return pafs.S3FileSystem(**s3_options(s3a)), parsed.netloc + parsed.path
    if kind == "hdfs":  # needs libhdfs: HADOOP_HOME and CLASSPATH (`hadoop classpath --glob`) on the executors
        parsed = urlparse(uri)
        fs = pafs.HadoopFileSystem(parsed.hostname or "default", parsed.port or 8020)
        return fs, parsed.path
    return pafs.FileSystem.from_uri(uri)


def s3_options(s3a: Mapping[str, str]) -> dict[str, Any]:
    """pyarrow ``S3FileSystem`` arguments from the S3A settings (an endpoint such as MinIO's, the region)."""
    opts: dict[str, Any] = {}
    endpoint = s3a.get("fs.s3a.endpoint", "").strip()
    if endpoint:
        parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        opts["endpoint_override"] = parsed.netloc
        opts["scheme"] = parsed.scheme
    region = s3a.get("fs.s3a.endpoint.region", "").strip() or os.environ.get("AWS_REGION", "")
    if region:
        opts["region"] = region
    if s3a.get("fs.s3a.path.style.access", "").strip().lower() == "false" and endpoint:
        opts["force_virtual_addressing"] = True
    return opts
