"""DICOM TLS end to end (issue 12): dcmtk ``storescu +tls`` into the node's SCP, and the node's SCU into a
TLS-enabled Orthanc; mutual authentication in both. Certificates are made with openssl for each run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dicom_factory import make_study, write_study  # noqa: E402
from peers import NODELAY_ENV, STORESCU, Orthanc, wait_for  # noqa: E402

from deidnode.config import TLS, Destination, NodeSettings  # noqa: E402
from deidnode.engine import encode_dataset  # noqa: E402
from deidnode.engine.convert import to_native_little_endian  # noqa: E402
from deidnode.forward import DicomForwarder, Outcome, Outgoing  # noqa: E402
from deidnode.receive import StorageSCP  # noqa: E402
from deidnode.spool import Spool, State  # noqa: E402

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed"),
]


def _cert(d: Path, name: str) -> tuple[Path, Path]:
    key, cert = d / f"{name}.key", d / f"{name}.pem"
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
            f"/CN={name}",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return key, cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    d = tmp_path_factory.mktemp("pki")
    return {name: _cert(d, name) for name in ("node", "sender", "pacs")}


def test_storescu_over_tls_stores_into_the_node(tmp_path, pki):
    """dcmtk storescu +tls (BCP 195 profile, peer certificate verified) -> the SCP with a required client
    certificate: every instance is spooled; a plain connection and a certificate the node does not trust fail."""
    node_key, node_cert = pki["node"]
    sender_key, sender_cert = pki["sender"]
    spool = Spool(tmp_path / "spool")
    tls = TLS(cert=node_cert, key=node_key, ca=sender_cert, require_client_cert=True)
    scp = StorageSCP(NodeSettings(host="127.0.0.1", port=0, tls=tls), spool)
    _, port = scp.start()
    try:
        files = write_study(tmp_path / "in", make_study(3, 1))

        def send(*tls_args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [STORESCU, *tls_args, "-aet", "CT1", "-aec", "DEIDNODE", "127.0.0.1", str(port), *map(str, files)],
                capture_output=True,
                text=True,
                timeout=60,
                env=NODELAY_ENV,
            )

        r = send("+tls", str(sender_key), str(sender_cert), "+cf", str(node_cert))
        assert r.returncode == 0, r.stderr[-800:]
        assert spool.depth()[State.RECEIVED] == 3
        assert send().returncode != 0  # plain TCP to the TLS port
        pacs_key, pacs_cert = pki["pacs"]  # a client certificate the node does not trust
        assert send("+tls", str(pacs_key), str(pacs_cert), "+cf", str(node_cert)).returncode != 0
        assert spool.depth()[State.RECEIVED] == 3
    finally:
        scp.stop(0)


def _out(ds) -> Outgoing:  # noqa: ANN001
    return Outgoing(ds, encode=encode_dataset, convert=to_native_little_endian)


class TlsOrthanc(Orthanc):
    """Orthanc with DICOM TLS on its DICOM port (Orthanc >= 1.9), requiring a trusted client certificate."""

    def __init__(self, workdir: Path, cert: Path, key: Path, trusted: Path) -> None:
        super().__init__(workdir)
        config = json.loads(self.config.read_text())
        config.update(
            {
                "DicomTlsEnabled": True,
                "DicomTlsCertificate": str(cert),
                "DicomTlsPrivateKey": str(key),
                "DicomTlsTrustedCertificates": str(trusted),
                "DicomTlsRemoteCertificateRequired": True,
            }
        )
        self.config.write_text(json.dumps(config))


@pytest.mark.skipif(not Path("/usr/sbin/Orthanc").exists(), reason="Orthanc not installed")
def test_the_forwarder_stores_into_a_tls_orthanc(tmp_path, pki):
    pacs_key, pacs_cert = pki["pacs"]
    node_key, node_cert = pki["node"]
    orthanc = TlsOrthanc(tmp_path / "orthanc", pacs_cert, pacs_key, trusted=node_cert).start()
    try:
        dest = Destination(
            name="secure",
            type="dicom",
            ae_title=orthanc.aet,
            host="127.0.0.1",
            port=orthanc.dicom_port,
            tls=TLS(cert=node_cert, key=node_key, ca=pacs_cert),
            timeout=10,
        )
        fwd = DicomForwarder(dest)
        for ds in make_study(3, 1):
            assert fwd.send(_out(ds)).outcome is Outcome.OK
        fwd.close()
        wait_for(lambda: orthanc.count() == 3, 20, "3 instances in Orthanc")

        plain = Destination(
            name="plain", type="dicom", ae_title=orthanc.aet, host="127.0.0.1", port=orthanc.dicom_port, timeout=5
        )
        fwd = DicomForwarder(plain)
        assert fwd.send(_out(make_study(1, 1, seed="other")[0])).outcome is not Outcome.OK
        fwd.close()
        assert orthanc.count() == 3
    finally:
        orthanc.stop()
