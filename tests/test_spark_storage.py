"""Where the Spark job's tasks write: whole files under their final names, on POSIX folders and through pyarrow."""

from __future__ import annotations

import pytest

from deidnode.errors import ConfigError
from deidnode.spark.storage import ArrowWriter, LocalWriter, OutputLocation, s3_options

pafs = pytest.importorskip("pyarrow.fs", reason="the spark extra is not installed")


def test_local_writer_replaces_a_file_whole_and_leaves_no_temporary(tmp_path):
    w = OutputLocation((tmp_path / "out").as_uri()).open()
    assert isinstance(w, LocalWriter)
    w.write("a.dcm", b"first")
    w.write("a.dcm", b"second")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.dcm"]
    assert (tmp_path / "out" / "a.dcm").read_bytes() == b"second"


def test_local_writer_removes_its_temporary_when_the_write_fails(tmp_path):
    w = LocalWriter(tmp_path)
    (tmp_path / "a.dcm").mkdir()  # a folder where the file should go: the rename fails
    with pytest.raises(OSError):
        w.write("a.dcm", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["a.dcm"]


@pytest.mark.parametrize("object_store", [False, True])
def test_arrow_writer_replaces_a_file_whole(tmp_path, object_store):
    w = ArrowWriter(pafs.LocalFileSystem(), str(tmp_path / "out"), object_store=object_store)
    (tmp_path / "out").mkdir(exist_ok=True)
    w.write("a.dcm", b"first")
    w.write("a.dcm", b"second")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.dcm"]
    assert (tmp_path / "out" / "a.dcm").read_bytes() == b"second"


def test_s3a_settings_become_pyarrow_s3_options_without_credentials():
    opts = s3_options(
        {
            "fs.s3a.endpoint": "http://minio.local:9000",
            "fs.s3a.endpoint.region": "eu-west-1",
            "fs.s3a.path.style.access": "true",
        }
    )
    assert opts == {"endpoint_override": "minio.local:9000", "scheme": "http", "region": "eu-west-1"}
    assert s3_options({"fs.s3a.endpoint": "s3.eu-central-1.amazonaws.com"})["scheme"] == "https"
    pafs.S3FileSystem(**opts)  # accepted as arguments (no request is made)


def test_an_output_scheme_nobody_can_write_is_a_config_error():
    with pytest.raises(ConfigError, match="--out: cannot write files to 'ftp://'"):
        OutputLocation("ftp://host/out")
    assert OutputLocation("s3a://bucket/out").child("_audit") == "s3a://bucket/out/_audit"
