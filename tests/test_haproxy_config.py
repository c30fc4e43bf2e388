"""deploy/haproxy/: the shipped HAProxy config is valid, and its health check is a well-formed DICOM association."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pynetdicom.pdu import A_ASSOCIATE_RQ, A_RELEASE_RQ

from deidnode import IMPLEMENTATION_CLASS_UID
from deidnode.config import NodeSettings

HAPROXY_DIR = Path(__file__).resolve().parents[1] / "deploy" / "haproxy"
CFG = HAPROXY_DIR / "haproxy.cfg"


def _check_module():
    spec = importlib.util.spec_from_file_location("association_check", HAPROXY_DIR / "association_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_configs_health_check_is_what_the_generator_prints():
    shipped = [line.strip() for line in CFG.read_text().splitlines() if line.strip().startswith("tcp-check")]
    assert shipped == _check_module().tcp_check_rules("DEIDNODE", "HAPROXY")


def test_the_check_sends_a_valid_associate_request_and_release():
    mod = _check_module()
    rq = A_ASSOCIATE_RQ()
    rq.decode(mod.associate_rq("DEIDNODE", "HAPROXY"))
    assert (rq.called_ae_title, rq.calling_ae_title) == ("DEIDNODE", "HAPROXY")
    assert rq.application_context_name == "1.2.840.10008.3.1.1.1"
    (ctx,) = rq.presentation_context
    assert ctx.abstract_syntax == "1.2.840.10008.1.1" and ctx.transfer_syntax == ["1.2.840.10008.1.2"]
    items = {type(i).__name__: i for i in rq.user_information.user_data}
    assert items["MaximumLengthSubItem"].maximum_length_received == mod.MAX_PDU
    assert items["ImplementationClassUIDSubItem"].implementation_class_uid == IMPLEMENTATION_CLASS_UID
    A_RELEASE_RQ().decode(mod.RELEASE_RQ)
    with pytest.raises(ValueError, match="not an AE title"):
        mod.associate_rq("A" * 17, "HAPROXY")


def test_the_config_balances_associations_over_tcp_and_queues_at_the_nodes_limit():
    text = CFG.read_text()
    assert re.search(r"(?m)^\s*mode tcp$", text) and re.search(r"(?m)^\s*balance leastconn$", text)
    assert re.search(r"(?m)^\s*option redispatch", text)
    (maxconn,) = re.findall(r"(?m)^\s*default-server .*maxconn (\d+)", text)
    assert int(maxconn) == NodeSettings().max_associations


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_accepts_the_shipped_config():
    proc = subprocess.run(["haproxy", "-c", "-f", str(CFG)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
