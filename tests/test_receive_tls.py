"""DICOM TLS on the SCP and the SCU (certificates made with openssl on the fly)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from deidnode.config import TLS, Destination, NodeSettings
from deidnode.engine import encode_dataset
from deidnode.engine.convert import to_native_little_endian
from deidnode.forward import DicomForwarder, Outcome, Outgoing
from deidnode.receive import StorageSCP
from deidnode.spool import Spool, State

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import make_study  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(d / "key.pem"),
            "-out",
            str(d / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return d


@pytest.fixture
def tls_node(tmp_path, certs):
    tls = TLS(cert=certs / "cert.pem", key=certs / "key.pem")
    spool = Spool(tmp_path / "spool")
    scp = StorageSCP(NodeSettings(host="127.0.0.1", port=0, tls=tls), spool)
    _, port = scp.start()
    yield port, spool, tls
    scp.stop(0)


def test_tls_echo_succeeds_and_plain_tcp_does_not(tls_node, certs):
    port, _, _ = tls_node
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certs / "cert.pem"))
    ae = AE(ae_title="CT1")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    assoc = ae.associate("127.0.0.1", port, ae_title="DEIDNODE", tls_args=(ctx, "localhost"))
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()
    plain = ae.associate("127.0.0.1", port, ae_title="DEIDNODE")
    assert not plain.is_established


def test_forwarder_speaks_tls_to_a_tls_destination(tls_node, certs):
    port, spool, tls = tls_node
    client_tls = TLS(cert=certs / "cert.pem", key=certs / "key.pem", ca=certs / "cert.pem")
    dest = Destination(
        name="secure",
        type="dicom",
        ae_title="DEIDNODE",
        host="127.0.0.1",
        port=port,
        tls=client_tls,
        timeout=5,
    )
    fwd = DicomForwarder(dest)
    ds = make_study(1, 1)[0]
    assert fwd.send(Outgoing(ds, encode=encode_dataset, convert=to_native_little_endian)).outcome is Outcome.OK
    fwd.close()
    assert spool.depth()[State.RECEIVED] == 1
