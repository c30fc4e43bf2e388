"""Defects an operator met in the first hour (issue 10), each reproduced with the real node and real peers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import node_config
from peers import ROOT, Orthanc, StoreSCP, free_port, pynetdicom_send, send_raw, storescu, wait_for
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

pytestmark = pytest.mark.e2e
_NO_ORTHANC = SimpleNamespace(aet="UNUSED", dicom_port=1)  # node_config's default destination, replaced


def _cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deidnode.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def _ybr_422_jpeg(path: Path) -> Path:
    ds = dcmread(get_testdata_file("color3d_jpeg_baseline.dcm"))
    frames = [
        f for _, f in zip(range(2), generate_frames(ds.PixelData, number_of_frames=ds.NumberOfFrames), strict=False)
    ]
    ds.PixelData = encapsulate(frames)
    ds.NumberOfFrames = 2
    ds.save_as(path, enforce_file_format=True)
    return path


def _compressed_inputs(d: Path) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for i, name in enumerate(("MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm")):
        ds = dcmread(get_testdata_file(name))  # both hold MR_small's UIDs: make them two instances
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{ds.SOPInstanceUID}.{i + 1}"
        p = d / name
        ds.save_as(p, enforce_file_format=True)
        out.append(p)
    out.append(_ybr_422_jpeg(d / "us_ybr_422.dcm"))
    return out


def _dicom_dest(port: int, aet: str = "STORESCP", **kw) -> dict:
    return {
        "name": "research",
        "type": "dicom",
        "ae_title": aet,
        "host": "127.0.0.1",
        "port": port,
        "timeout": 10,
        **kw,
    }


def test_fallback_to_little_endian_keeps_the_keyed_uids_on_first_send_and_after_a_retry(tmp_path, make_node, key_file):
    """Issue 10 item 1: the fallback used pydicom's decompress(), which gave a new random UID on every send."""
    inputs = _compressed_inputs(tmp_path / "inputs")
    cfg_path = tmp_path / "deid.yaml"
    cfg_path.write_text("pixels: {policy: 'off'}\n")
    batch = _cli(
        "deid",
        str(tmp_path / "inputs"),
        "--out",
        str(tmp_path / "deid-out"),
        "--config",
        str(cfg_path),
        "--key-file",
        str(key_file),
    )
    assert batch.returncode == 0, batch.stdout + batch.stderr
    expected = {dcmread(p).SOPInstanceUID for p in (tmp_path / "deid-out").glob("*.dcm")}
    assert len(expected) == 3

    scp_port = free_port()
    cfg = node_config(
        tmp_path,
        _NO_ORTHANC,
        destinations=[_dicom_dest(scp_port)],
        retry={"initial_seconds": 60, "max_seconds": 120, "max_age_seconds": 600, "probe_seconds": 60},
        pixels={"policy": "off"},
    )
    node = make_node(cfg).start()
    assert pynetdicom_send(node.port, inputs) == [0, 0, 0]  # each in its own compressed syntax
    wait_for(lambda: any(e.get("event") == "destination_down" for e in node.events()), 60, "destination_down")
    scp = StoreSCP(tmp_path / "storescp", port=scp_port).start()
    try:
        retry = _cli("spool", "retry", "--config", str(node.config_path))  # the forced retry
        assert retry.returncode == 0 and "3 instances waiting made due now" in retry.stderr, retry.stderr
        wait_for(lambda: len(scp.files()) == 3, 60, "3 instances at storescp")
        after_retry = {dcmread(p).SOPInstanceUID for p in scp.files()}
        assert after_retry == expected
        for p in scp.files():
            ds = dcmread(p)
            assert ds.file_meta.TransferSyntaxUID in (ExplicitVRLittleEndian, "1.2.840.10008.1.2")
            assert ds.PhotometricInterpretation != "RGB"
            p.unlink()
        assert pynetdicom_send(node.port, inputs) == [0, 0, 0]  # a first send to a destination that is up
        wait_for(lambda: len(scp.files()) == 3, 60, "3 instances again")
        assert {dcmread(p).SOPInstanceUID for p in scp.files()} == expected
    finally:
        scp.stop()


def _raw_instance(
    uid_value: bytes,
    pn_value: bytes,
    da_value: bytes,
    broken_sequence: bool,
    sop_instance: bytes = b"1.2.826.0.1.3680043.2.1125.99.1\x00",
    modality: bytes = b"OT",
) -> bytes:
    """Explicit VR LE data set bytes with values pydicom will complain about, planted markers inside."""
    import struct

    def el(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
        if len(value) % 2:
            value += b" "
        return struct.pack("<HH2sH", group, elem, vr, len(value)) + value

    parts = [
        el(0x0008, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.7\x00"),
        el(0x0008, 0x0018, b"UI", sop_instance),
        el(0x0008, 0x0020, b"DA", da_value),
        el(0x0008, 0x0060, b"CS", modality),
        el(0x0010, 0x0010, b"PN", pn_value),
        el(0x0010, 0x0020, b"LO", b"ZZLEAKPID"),
        el(0x0020, 0x000D, b"UI", uid_value),
    ]
    if broken_sequence:  # (0008,1110) SQ whose item claims more bytes than there are
        item = struct.pack("<HHI", 0xFFFE, 0xE000, 400) + el(0x0008, 0x1150, b"UI", b"ZZLEAKSEQ")
        parts.append(struct.pack("<HH2sHI", 0x0008, 0x1110, b"SQ", 0, len(item)) + item)
    return b"".join(parts)


def test_no_value_from_a_file_reaches_any_log_line_and_every_stderr_line_is_json(tmp_path, make_node, orthanc):
    """Issue 10 item 3: pydicom's warnings quoted values ('Invalid value for VR UI: ...') in the node's logs; the
    audit record held the input's Modality as it was."""
    audit = tmp_path / "audit.jsonl"
    node = make_node(node_config(tmp_path, orthanc, audit={"path": str(audit)})).start()
    # Each data set's SOP Instance UID is its command's: the SCP answers 0xA900 otherwise (issue 12 item 9); the
    # first has a component with a leading zero, which the SCP takes and pydicom warns about.
    uids = [b"1.2.826.0.1.3680043.2.1125.099.0", b"1.2.826.0.1.3680043.2.1125.99.1", b"1.2.826.0.1.3680043.2.1125.99.2"]
    bodies = [
        _raw_instance(b"1.2.ZZLEAKUI.3\x00", b"ZZLEAKPN^Name", b"20200101", False, sop_instance=uids[0]),
        _raw_instance(
            b"1.2.3.4\x00", b"Smith^ZZLEAKPN2\x01", b"ZZLEAKDA", False, modality=b"zzleakmod", sop_instance=uids[1]
        ),
        _raw_instance(b"1.2.3.5\x00", b"Doe^John", b"20200101", True, sop_instance=uids[2]),
    ]
    for i, body in enumerate(bodies):
        status = send_raw(node.port, "1.2.840.10008.5.1.4.1.1.7", uids[i].decode(), ExplicitVRLittleEndian, body)
        assert status == 0x0000
    wait_for(
        lambda: (
            node.metric("deidnode_engine_instances_total", outcome="quarantined")
            + node.metric("deidnode_engine_instances_total", outcome="deidentified")
            >= 3
        ),
        60,
        "3 processed",
    )
    time.sleep(0.5)
    node.stop()
    text = node.log_path.read_text(errors="replace")
    for line in text.splitlines():
        assert isinstance(json.loads(line), dict), line  # every line is a JSON object
    assert "ZZLEAK" not in text.upper() and "SMITH" not in text.upper()
    assert '"kind": "Invalid value for VR UI"' in text  # the warnings were there, without their text
    records = audit.read_text() + "".join(p.read_text() for p in (tmp_path / "quarantine").rglob("*.json"))
    assert records.count('"outcome"') >= 3 and "ZZLEAK" not in records.upper() and "SMITH" not in records.upper()


def test_sigterm_ends_the_node_after_a_worker_was_killed_and_replaced(tmp_path, make_node, orthanc):
    """Issue 10 item 6: SIGTERM hung for ever in the supervisor once a worker had died and been replaced."""
    cfg = node_config(tmp_path, orthanc, workers={"count": 2, "poll_seconds": 0.05}, node={"shutdown_grace_seconds": 2})
    node = make_node(cfg).start()
    started = lambda: [e for e in node.events() if e.get("event") == "worker_started"]  # noqa: E731
    wait_for(lambda: len(started()) >= 2, 60, "two workers")
    victim = started()[0]["pid"]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(started()) >= 3, 60, "a replacement worker")
    time.sleep(0.5)
    t0 = time.monotonic()
    assert node.stop(signal.SIGTERM, timeout=30) == 0
    assert time.monotonic() - t0 < 2 + 10
    assert any(e.get("event") == "stopped" for e in node.events())


def test_sighup_reloads_the_routes_and_a_bad_routes_file_keeps_the_old_ones(tmp_path, make_node, orthanc, study_dir):
    """Issue 10 item 7: SIGHUP killed the node silently."""
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes:\n  - name: to-a\n    destinations: [a]\n")
    cfg = node_config(
        tmp_path,
        orthanc,
        destinations=[
            {"name": "a", "type": "folder", "path": str(tmp_path / "a")},
            {"name": "b", "type": "folder", "path": str(tmp_path / "b")},
        ],
        routes_file=str(routes),
        pixels={"policy": "off"},
    )
    node = make_node(cfg).start()
    files = sorted(study_dir.glob("*.dcm"))
    assert storescu(node.port, files[:2]).returncode == 0
    wait_for(lambda: len(list((tmp_path / "a").glob("*.dcm"))) == 2, 60, "2 in a")
    routes.write_text("routes:\n  - name: to-b\n    destinations: [b]\n")
    node.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: any(e.get("event") == "reloaded" for e in node.events()), 30, "reloaded")
    assert storescu(node.port, files[2:4]).returncode == 0
    wait_for(lambda: len(list((tmp_path / "b").glob("*.dcm"))) == 2, 60, "2 in b")
    routes.write_text("routes:\n  - name: broken\n    destinations: [nowhere]\n")
    node.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: any(e.get("event") == "reload_failed" for e in node.events()), 30, "reload_failed")
    assert storescu(node.port, files[4:5]).returncode == 0
    wait_for(lambda: len(list((tmp_path / "b").glob("*.dcm"))) == 3, 60, "the old routes still work")
    assert node.proc.poll() is None


def test_instances_go_as_soon_as_the_destination_is_back_not_after_their_back_off(tmp_path, make_node, study_dir):
    """Issue 10 items 8 and 11: instances waited up to retry.max_seconds after the destination returned; one
    retry line per instance and attempt; destination_unreachable without host, port and cause."""
    orthanc = Orthanc(tmp_path / "orthanc")
    cfg = node_config(
        tmp_path,
        orthanc,
        retry={"initial_seconds": 120, "max_seconds": 600, "max_age_seconds": 900, "probe_seconds": 1},
        pixels={"policy": "off"},
    )
    node = make_node(cfg).start()
    files = sorted(study_dir.glob("*.dcm"))[:10]
    assert storescu(node.port, files).returncode == 0
    wait_for(lambda: node.metric("deidnode_forward_retries_total", destination="research") >= 10, 60, "10 waiting")
    listing = _cli("spool", "list", "--config", str(node.config_path))
    assert listing.returncode == 0
    assert "destination research: DOWN since" in listing.stdout and "ECONNREFUSED" in listing.stdout
    assert listing.stdout.count("waiting for research") == 10
    orthanc.start()
    try:
        t0 = time.monotonic()
        wait_for(lambda: orthanc.count() == 10, 30, "10 at Orthanc after it came back")
        assert time.monotonic() - t0 < 15  # the back-off window was 120 s
        events = node.events()
        down = [e for e in events if e.get("event") == "destination_down"]
        assert len(down) == 1 and down[0]["detail"] == f"127.0.0.1:{orthanc.dicom_port}: ECONNREFUSED"
        assert [e["made_due"] for e in events if e.get("event") == "destination_up"] == [10]
        assert not [e for e in events if e.get("event") == "retry_scheduled"]  # DEBUG only
    finally:
        orthanc.stop()


def _odd_deflate_input(tmp_path: Path, key: bytes) -> Path:
    """A deflated CT whose de-identified data set deflates to an odd number of bytes."""
    from dicom_factory import make_study

    from deidnode.engine import Policy, deidentify_bytes
    from deidnode.engine.keys import Keys
    from deidnode.forward.scu import encode_body

    for i in range(200):
        ds = make_study(1, 1, seed=f"odd-deflate-{i}")[0]
        p = tmp_path / f"deflated-{i}.dcm"
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(p, enforce_file_format=True)
        r = deidentify_bytes(p.read_bytes(), Policy(), Keys(key))
        (plain,) = encode_body(r.dataset, ExplicitVRLittleEndian)
        z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        if len(z.compress(bytes(plain)) + z.flush()) % 2:
            return p
        p.unlink()
    raise AssertionError("no odd-length deflate found")


@pytest.mark.parametrize("peer", ["orthanc", "storescp"])
def test_deflated_instances_are_accepted_by_dcmtk_and_orthanc(tmp_path, make_node, key_file, peer):
    """Issue 10 item 15: the deflated data set went out with an odd length; dcmtk refused it, Orthanc hung."""
    src = _odd_deflate_input(tmp_path, key_file.read_bytes())
    if peer == "orthanc":
        dest_peer = Orthanc(tmp_path / "orthanc").start()
        dest = _dicom_dest(dest_peer.dicom_port, aet=dest_peer.aet)
    else:
        dest_peer = StoreSCP(tmp_path / "storescp", "+xd").start()
        dest = _dicom_dest(dest_peer.port)
    try:
        cfg = node_config(
            tmp_path,
            _NO_ORTHANC,
            destinations=[dest],
            pixels={"policy": "off"},
            retry={"initial_seconds": 30, "max_seconds": 60, "max_age_seconds": 600},
        )
        node = make_node(cfg).start()
        assert pynetdicom_send(node.port, [src]) == [0]  # in deflate
        if peer == "orthanc":
            wait_for(lambda: dest_peer.count() == 1, 60, "the instance at Orthanc")
        else:
            wait_for(lambda: len(dest_peer.files()) == 1, 60, "the instance at storescp")
            (got,) = dest_peer.files()
            assert dcmread(got).file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian  # went deflated
        assert node.metric("deidnode_forward_instances_total", destination="research", outcome="forwarded") == 1
    finally:
        dest_peer.stop()


def _check_config(cfg: dict, tmp_path: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    p = tmp_path / "node.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return _cli("check-config", "--config", str(p), "--ephemeral-key", env=env)


def _serve(cfg: dict, tmp_path: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    p = tmp_path / "node.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return _cli("serve", "--config", str(p), "--ephemeral-key", env=env, timeout=60)


def _base(tmp_path: Path) -> dict:
    return {
        "spool": {"path": str(tmp_path / "spool"), "min_free_bytes": 0},
        "quarantine_path": str(tmp_path / "q"),
        "node": {"host": "127.0.0.1", "port": free_port()},
        "metrics": {"port": free_port()},
        "destinations": [{"name": "out", "type": "folder", "path": str(tmp_path / "out")}],
    }


def _fake_rapidocr(tmp_path: Path) -> dict:
    """An environment where the OCR engine's import fails as it does without libGL (OpenCV's system library)."""
    pkg = tmp_path / "fakes" / "rapidocr_onnxruntime"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "raise ImportError('libGL.so.1: cannot open shared object file: No such file or directory')\n"
    )
    return {"PYTHONPATH": f"{tmp_path / 'fakes'}{os.pathsep}{ROOT}"}


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        ({"destinations": []}, "destinations"),
        (
            {"node": {"tls": {"cert": "/nonexistent/cert.pem", "key": "/nonexistent/key.pem"}}},
            "error: node.tls.cert: /nonexistent/cert.pem: no such file",
        ),
        (
            {"spool": {"path": "/proc/deidnode-spool", "min_free_bytes": 0}},
            "error: spool folder: /proc/deidnode-spool: ",
        ),
        ({"quarantine_path": "/sys/deidnode-q"}, "error: quarantine folder: /sys/deidnode-q: "),
        ({"routes_file": "routes.yaml"}, "error: routes: "),
        ("ocr", "error: OCR engine: rapidocr: cannot be loaded: ImportError: libGL.so.1"),
    ],
)
def test_check_config_and_serve_refuse_the_same_environments_in_one_line(tmp_path, change, expect):
    """Issue 10 items 9 and 10: check-config passed configs that serve rejected or crashed on."""
    cfg, env = _base(tmp_path), None
    if change == "ocr":
        env = _fake_rapidocr(tmp_path)
    else:
        cfg.update(change)
    checked = _check_config(cfg, tmp_path, env)
    assert checked.returncode == 2, checked.stderr
    assert expect in checked.stderr and "Traceback" not in checked.stderr
    served = _serve(cfg, tmp_path, env)
    assert served.returncode == 2
    assert "Traceback" not in served.stderr
    lines = [json.loads(x) for x in served.stderr.splitlines()] if change != {"destinations": []} else []
    if lines:
        assert any(expect in e.get("detail", "") for e in lines if e.get("event") == "startup_failed"), served.stderr
    else:
        assert expect in served.stderr


def test_a_good_config_passes_check_config_and_warns_of_a_full_spool(tmp_path):
    cfg = _base(tmp_path)
    ok = _check_config(cfg, tmp_path)
    assert ok.returncode == 0 and "config ok" in ok.stderr, ok.stderr
    cfg["spool"]["min_free_bytes"] = 1 << 62
    warned = _check_config(cfg, tmp_path)
    assert warned.returncode == 0 and "warning: spool free space: " in warned.stderr


@pytest.mark.parametrize("which", ["DICOM port", "metrics port"])
def test_a_port_in_use_is_one_line_and_exit_status_2(tmp_path, which):
    import socket

    cfg = _base(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        if which == "DICOM port":
            cfg["node"]["port"] = port
        else:
            cfg["metrics"].update(host="127.0.0.1", port=port)
        r = _serve(cfg, tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    failed = [json.loads(x) for x in r.stderr.splitlines() if '"startup_failed"' in x]
    assert [e["detail"] for e in failed] == [f"error: {which}: 127.0.0.1:{port}: EADDRINUSE"]


def test_the_engine_names_the_import_error_when_the_ocr_engine_cannot_load(tmp_path):
    """Issue 10 item 10: every instance was quarantined as 'pixel cleaning is configured but not installed'."""
    env = _fake_rapidocr(tmp_path)
    r = _cli("deid", get_testdata_file("US1_J2KR.dcm"), "--out", str(tmp_path / "o"), "--ephemeral-key", env=env)
    assert r.returncode == 1
    (entry,) = (tmp_path / "o.quarantine").iterdir()
    reason = json.loads((entry / "reason.json").read_text())
    assert reason["code"] == "pixel_stage_unavailable" and "libGL.so.1" in reason["detail"]


def test_deid_prints_no_value_from_its_inputs_in_any_message_or_record(tmp_path):
    """Issue 10 item 3 for the batch command: pydicom's warnings, progress, quarantine lines, the audit and the
    quarantine's reason files hold no byte of the inputs' values."""
    from io import BytesIO

    from pydicom.dataset import FileMetaDataset
    from pydicom.filewriter import write_file_meta_info
    from pydicom.uid import UID

    inputs = tmp_path / "in"
    inputs.mkdir()
    bodies = [
        _raw_instance(
            b"1.2.ZZLEAKUI.3\x00",
            b"ZZLEAKPN^Name",
            b"20200101",
            False,
            sop_instance=b"1.2.826.0.1.3680043.2.1125.099.0\x00",
        ),
        _raw_instance(b"1.2.3.4\x00", b"Smith^ZZLEAKPN2\x01", b"ZZLEAKDA", False, modality=b"zzleakmod"),
        _raw_instance(b"1.2.3.5\x00", b"Doe^John", b"20200101", True),
    ]
    ct = dcmread(get_testdata_file("CT_small.dcm"))
    ct.Modality = "ZZLEAKMOD"
    bodies.append(ct)  # with a transfer syntax that is text, and pixel data the codec then cannot place
    for i, body in enumerate(bodies):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.7")
        meta.MediaStorageSOPInstanceUID = UID(f"1.2.826.0.1.3680043.2.1125.99.{10 + i}")
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        if not isinstance(body, bytes):
            meta.TransferSyntaxUID = UID("1.2.ZZLEAKTS")
            with BytesIO() as b:
                from pydicom.filebase import DicomFileLike
                from pydicom.filewriter import write_dataset

                fp = DicomFileLike(b)
                fp.is_little_endian, fp.is_implicit_VR = True, False
                write_dataset(fp, body)
                body = b.getvalue()
        buf = BytesIO()
        buf.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(buf, meta, enforce_standard=True)
        (inputs / f"in{i}.dcm").write_bytes(buf.getvalue() + body)
    out = tmp_path / "out"
    r = _cli("deid", str(inputs), "--out", str(out), "--ephemeral-key", "-v")
    assert r.returncode in (0, 1), r.stderr[-2000:]
    written = [r.stdout, r.stderr]
    for folder in (out, tmp_path / "out.quarantine"):
        written += [p.read_text(errors="replace") for p in folder.rglob("*") if p.suffix in (".json", ".jsonl")]
    text = "\n".join(written).upper()
    assert "ZZLEAK" not in text and "SMITH" not in text and "DOE" not in text
    assert "4 DICOM INPUTS" in text  # all four were read and accounted for
