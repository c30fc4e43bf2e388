"""Quarantine entries and the operator CLI: list, show, retry, purge."""

from __future__ import annotations

import argparse
import json

import pytest

from deidnode.config import settings_from_dict
from deidnode.quarantine import Reason, list_entries, quarantine_item, run_cli
from deidnode.spool import Spool, State

CT = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture
def setup(tmp_path):
    s = settings_from_dict(
        {"spool": {"path": str(tmp_path / "spool")}, "quarantine_path": str(tmp_path / "q")}
    )
    spool = Spool(s.spool.path)
    ids = []
    for i in range(2):
        spool.store(b"raw%d" % i, calling_aet="CT1", sop_class=CT, transfer_syntax="1.2.840.10008.1.2.1")
        item = spool.claim("w")
        ids.append(quarantine_item(spool, item, "w", s.quarantine_path, Reason("parse", "unreadable", "x")))
    return s, spool, ids


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"ids": [], "all": False, "older_than_days": None, **kw})


def test_entry_holds_instance_and_phi_free_reason(setup):
    s, spool, ids = setup
    d = s.quarantine_path / ids[0]
    assert (d / "instance.dcm").read_bytes() == b"raw0"
    reason = json.loads((d / "reason.json").read_text())
    assert {k: reason[k] for k in ("stage", "code", "calling_aet", "sop_class")} == {
        "stage": "parse",
        "code": "unreadable",
        "calling_aet": "CT1",
        "sop_class": CT,
    }
    assert spool.depth()[State.QUARANTINED] == 2
    assert list((s.spool.path / "data").iterdir()) == []


def test_list_prints_one_line_per_entry(setup, capsys):
    s, _, ids = setup
    assert run_cli(_args(qcommand="list"), s) == 0
    out = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[0] for line in out) == sorted(ids)
    assert all("parse" in line and "unreadable" in line for line in out)


def test_show_prints_reason_and_unknown_id_fails(setup, capsys):
    s, _, ids = setup
    assert run_cli(_args(qcommand="show", id=ids[0]), s) == 0
    assert json.loads(capsys.readouterr().out)["id"] == ids[0]
    assert run_cli(_args(qcommand="show", id="../../etc"), s) == 1


def test_retry_puts_instance_back_into_spool(setup):
    s, spool, ids = setup
    assert run_cli(_args(qcommand="retry", ids=[ids[0]]), s) == 0
    item = spool.claim("w2")
    assert spool.read(item) == b"raw0" and item.calling_aet == "CT1"
    assert [e["id"] for e in list_entries(s.quarantine_path)] == [ids[1]]


def test_purge_all_deletes_entries(setup):
    s, _, _ = setup
    assert run_cli(_args(qcommand="purge", all=True), s) == 0
    assert list_entries(s.quarantine_path) == []


def test_purge_older_than_keeps_recent_entries(setup):
    s, _, _ = setup
    assert run_cli(_args(qcommand="purge", all=True, older_than_days=1), s) == 0
    assert len(list_entries(s.quarantine_path)) == 2


def test_retry_without_ids_is_a_usage_error(setup):
    s, _, _ = setup
    assert run_cli(_args(qcommand="retry"), s) == 2


def test_purge_older_than_without_ids_considers_every_entry(setup):
    s, _, _ = setup
    assert run_cli(_args(qcommand="purge", older_than_days=-1), s) == 0
    assert list_entries(s.quarantine_path) == []
