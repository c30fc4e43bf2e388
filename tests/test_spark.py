"""`deidnode deid --spark`: the batch command as a Spark job gives the local command's files, byte for byte.

The Spark tests start a real local Spark (a JVM) twice: once through the CLI, once in this process for the job's
API (task retries, reruns, refusals). They need pyspark and a Java runtime (tools/test.sh installs both).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import phi_dataset as P
import pixels_helpers as PH
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from deidnode.batch import deidentify_file
from deidnode.config import load_settings
from deidnode.engine import Keys, Policy
from deidnode.errors import ConfigError
from deidnode.spark.job import PartitionTask, environment_fingerprint, key_fingerprint

ROOT = Path(__file__).resolve().parents[1]
pyspark = pytest.importorskip("pyspark", reason="the spark extra is not installed")
pq = pytest.importorskip("pyarrow.parquet", reason="the spark extra is not installed")
needs_java = pytest.mark.skipif(
    shutil.which("java") is None and not os.environ.get("JAVA_HOME"), reason="no Java runtime for Spark"
)
SPARK_CONF = ["spark.ui.enabled=false", "spark.ui.showConsoleProgress=false", "spark.sql.shuffle.partitions=2"]
BUNDLED = [
    "CT_small.dcm",
    "MR_small_RLE.dcm",
    "JPEG2000.dcm",
    "reportsi.dcm",
    "ExplVR_BigEnd.dcm",
    "no_meta.dcm",
    "rtplan.dcm",
]


def _deid(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deidnode.cli", "deid", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Inputs of every kind the engine meets: bundled CT/MR/SR/RT files in several transfer syntaxes, a bare data
    set, a header with PHI planted everywhere (in a folder named after the patient, as archives are), an image with
    a name burned in (the OCR path), an input that is quarantined, and files that are not DICOM (skipped)."""
    src = tmp_path_factory.mktemp("spark") / "in"
    (src / "PatientName=QUIXLEY").mkdir(parents=True)
    (src / "bundled" / "deeper").mkdir(parents=True)
    for i, name in enumerate(BUNDLED):
        shutil.copy(get_testdata_file(name), src / "bundled" / ("deeper" if i % 2 else "") / name)
    P.planted_ct().save_as(src / "PatientName=QUIXLEY" / "a.dcm", enforce_file_format=True)
    _colleague_named_in_a_comment().save_as(src / "PatientName=QUIXLEY" / "b.dcm", enforce_file_format=True)
    PH.make_ds("RGB", [("SMITH JOHN", (20, 20)), ("L", (280, 150))]).save_as(src / "us.dcm", enforce_file_format=True)
    (src / "bundled" / "notes.txt").write_text("not dicom")
    shutil.copy(get_testdata_file("MR_truncated.dcm"), src / "bundled" / "MR_truncated.dcm")
    return src


def _colleague_named_in_a_comment():
    """Another instance of the planted patient whose header lacks the operator, named only in a comment: only the
    batch lexicon (names seen in any input of the batch) removes it, so the job must gather it as deid does."""
    ds = P.planted_ct()
    for tag in [t for t, e in ds.items() if "THISTLEWAITE" in str(e.value).upper()]:
        del ds[tag]
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.ImageComments = "Reviewed with THISTLEWAITE today"
    return ds


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("key") / "deid.key"
    p.write_bytes(bytes(range(7, 39)))
    return p


@pytest.fixture(scope="module")
def local_out(corpus, key, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The reference: `deidnode deid` on this machine, without Spark."""
    out = tmp_path_factory.mktemp("local") / "out"
    return out, _deid(str(corpus), "--out", str(out), "--key-file", str(key))


def _dicom_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob("*.dcm")}


def _without_times(record: dict) -> dict:
    """An audit record less what differs between any two runs (the clock, the pixel stage's timings) and the id
    of the local quarantine entry (the Spark quarantine is a table)."""
    r = {k: v for k, v in record.items() if k not in ("time", "quarantine_id")}
    engine = r.get("engine") or {}
    if "pixels" in engine:
        r["engine"] = {**engine, "pixels": {k: v for k, v in engine["pixels"].items() if k != "seconds"}}
    return r


@needs_java
@pytest.mark.slow
def test_spark_job_writes_the_local_commands_files_byte_for_byte(corpus, key, local_out, tmp_path):
    ref, local = local_out
    out = tmp_path / "out"
    conf = [a for kv in SPARK_CONF for a in ("--spark-conf", kv)]
    proc = _deid(str(corpus), "--out", str(out), "--key-file", str(key), "--spark", "local[2]", *conf)
    assert proc.returncode == local.returncode == 1, proc.stderr[-3000:]
    summary = "10 DICOM inputs, 9 de-identified, 1 quarantined"
    assert summary in proc.stdout and summary in local.stdout, proc.stdout + local.stdout
    assert "2 skipped (not DICOM)" in proc.stdout and "2 skipped (not DICOM)" in local.stdout

    expected, got = _dicom_files(ref), _dicom_files(out)
    assert len(expected) == 9 and sorted(got) == sorted(expected)
    assert [n for n in expected if got[n] != expected[n]] == []
    assert not [n for n, data in got.items() if b"THISTLEWAITE" in data.upper()]  # the lexicon pass ran

    audit = pq.read_table(out / "_audit").to_pylist()
    local_audit = [json.loads(x) for x in (ref / "audit.jsonl").read_text().splitlines()]
    assert sorted(json.dumps(_without_times(json.loads(r["record"])), sort_keys=True) for r in audit) == sorted(
        json.dumps(_without_times(r), sort_keys=True) for r in local_audit
    )
    assert len({r["run_id"] for r in audit}) == 1

    quarantine = Path(str(out) + ".quarantine")  # beside the output, as deid's
    assert stat.S_IMODE(quarantine.stat().st_mode) == 0o700
    rows = pq.read_table(quarantine).to_pylist()
    local_q = ref.parent / "out.quarantine"
    assert sorted(r["content"] for r in rows) == sorted(p.read_bytes() for p in local_q.glob("*/instance.dcm"))
    local_reasons = {
        json.loads(p.read_text())["input_sha256"]: json.loads(p.read_text()) for p in local_q.glob("*/reason.json")
    }
    for r in rows:
        local_reason = local_reasons[r["input_sha256"]]
        assert (r["stage"], r["code"], r["detail"]) == (
            local_reason["stage"],
            local_reason["code"],
            local_reason["detail"],
        )
        assert Path(r["input_path"].removeprefix("file:")) == Path(local_reason["input_path"])
    # Nothing from the inputs' paths or headers in what the job reports or records (the quarantine aside).
    text = proc.stdout + proc.stderr + json.dumps(audit)
    assert "QUIXLEY" not in text.upper() and P.PATIENT_ID not in text


@pytest.fixture(scope="module")
def spark():
    """A local Spark in this process; local[2,2]: two task threads, and a failed task is tried once more."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master("local[2,2]").appName("deidnode tests")
    for kv in SPARK_CONF:
        builder = builder.config(*kv.split("=", 1))
    session = builder.getOrCreate()
    yield session
    session.stop()


def _policy() -> Policy:
    return Policy.from_settings(load_settings(None))


class _FailFirstAttempt:
    """Fails the first attempt of the first partition after its second file, once (a lost executor, an OOM)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __call__(self, index: int) -> None:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        if ctx.partitionId() == 0 and ctx.attemptNumber() == 0 and index == 1:
            Path(self.marker).write_text(str(ctx.attemptNumber()))
            raise RuntimeError("injected task failure")


@needs_java
@pytest.mark.slow
def test_a_failed_task_is_retried_and_the_output_is_as_without_the_failure(spark, corpus, key, local_out, tmp_path):
    from pyspark import cloudpickle

    from deidnode.spark import run_job

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "failed-once"
    summary = run_job(
        spark, [str(corpus)], str(tmp_path / "out"), _policy(), str(key), on_file=_FailFirstAttempt(marker)
    )
    assert marker.read_text() == "0", "the injected failure did not happen"
    assert (summary.total, summary.deidentified, summary.quarantined) == (10, 9, 1)
    assert summary.skipped == {"not DICOM": 2}
    assert _dicom_files(tmp_path / "out") == _dicom_files(local_out[0])
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    audit = pq.read_table(tmp_path / "out" / "_audit").to_pylist()
    assert len(audit) == 10 and len({r["input_sha256"] for r in audit}) == 10  # the failed attempt left no rows


@needs_java
@pytest.mark.slow
def test_a_rerun_overwrites_with_identical_bytes_and_appends_its_audit(spark, corpus, key, tmp_path):
    from deidnode.spark import run_job

    out = tmp_path / "out"
    run_job(spark, [str(corpus / "bundled")], str(out), _policy(), str(key))
    first = _dicom_files(out)
    for p in out.glob("*.dcm"):
        p.write_bytes(b"tampered")
    summary = run_job(spark, [str(corpus / "bundled")], str(out), _policy(), str(key))
    assert summary.total == 7 and _dicom_files(out) == first
    audit = pq.read_table(out / "_audit").to_pylist()
    assert len(audit) == 14 and len({r["run_id"] for r in audit}) == 2


@needs_java
@pytest.mark.slow
def test_job_refuses_a_missing_input_and_an_output_inside_an_input(spark, corpus, key, tmp_path):
    from deidnode.spark import run_job

    with pytest.raises(ConfigError, match="input not found: .*nope"):
        run_job(spark, [str(tmp_path / "nope")], str(tmp_path / "out"), _policy(), str(key))
    with pytest.raises(ConfigError, match="inside an input"):
        run_job(spark, [str(corpus)], str(corpus / "bundled" / "out"), _policy(), str(key))
    assert not (corpus / "bundled" / "out").exists()


def test_spark_refuses_a_random_key_and_previews_before_starting(tmp_path):
    f = get_testdata_file("CT_small.dcm")
    eph = _deid(f, "--out", str(tmp_path / "o"), "--spark", "local[1]", "--ephemeral-key")
    assert eph.returncode == 2 and "--ephemeral-key: not available with --spark" in eph.stderr
    env_key = tmp_path / "k"
    env_key.write_bytes(b"k" * 32)
    prev = _deid(
        f,
        "--out",
        str(tmp_path / "o"),
        "--spark",
        "local[1]",
        "--key-file",
        str(env_key),
        "--preview",
        str(tmp_path / "p"),
    )
    assert prev.returncode == 2 and "--preview: not available with --spark" in prev.stderr
    bad = _deid(
        f, "--out", str(tmp_path / "o"), "--spark", "local[1]", "--key-file", str(env_key), "--spark-conf", "novalue"
    )
    assert bad.returncode == 2 and "--spark-conf: expected KEY=VALUE" in bad.stderr
    dry = _deid(f, "--out", str(tmp_path / "o"), "--spark", "local[1]", "--key-file", str(env_key), "--dry-run")
    assert dry.returncode == 2 and "--dry-run: not available with --spark" in dry.stderr
    assert not (tmp_path / "o").exists()


def _task(key: Keys, out: Path, **changes) -> PartitionTask:
    from deidnode.spark.storage import OutputLocation

    fields = dict(
        policy=_policy(),
        key_path="",
        key_check=key_fingerprint(key),
        environment=environment_fingerprint(),
        out=OutputLocation(out.as_uri()),
    )
    return PartitionTask(**{**fields, **changes})


def test_a_task_writes_what_the_local_command_writes(tmp_path):
    key_file = tmp_path / "k"
    key_file.write_bytes(b"s" * 32)
    keys = Keys.from_file(key_file)
    raw = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    task = _task(keys, tmp_path / "out", key_path=str(key_file))
    rows = list(
        task(
            [
                SimpleNamespace(path="file:/in/a.dcm", content=bytearray(raw)),
                SimpleNamespace(path="file:/in/readme.txt", content=bytearray(b"hello")),
            ]
        )
    )
    expected = deidentify_file(raw, _policy(), keys)
    assert rows[0][2] == "deidentified" and rows[0][3] == expected.output_name
    assert (tmp_path / "out" / expected.output_name).read_bytes() == expected.output
    assert rows[1][2] == "skipped" and rows[1][10] == "not DICOM"  # as deid: counted, not quarantined
    assert [p.name for p in (tmp_path / "out").iterdir()] == [expected.output_name]


def test_a_task_with_another_key_or_other_rules_fails_instead_of_writing(tmp_path):
    key_file = tmp_path / "k"
    key_file.write_bytes(b"s" * 32)
    row = SimpleNamespace(path="file:/in/a.dcm", content=Path(get_testdata_file("CT_small.dcm")).read_bytes())
    other = _task(Keys(b"t" * 32), tmp_path / "out", key_path=str(key_file))
    with pytest.raises(ConfigError, match="differs from the driver's"):
        list(other([row]))
    stale = _task(Keys(b"s" * 32), tmp_path / "out", key_path=str(key_file), environment="0" * 16)
    with pytest.raises(ConfigError, match="rules or libraries differ"):
        list(stale([row]))
    assert not (tmp_path / "out").exists()
