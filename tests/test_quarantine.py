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
    s = settings_from_dict({"spool": {"path": str(tmp_path / "spool")}, "quarantine_path": str(tmp_path / "q")})
    spool = Spool(s.spool.path)
    ids = []
    for i in range(2):
        spool.store(b"raw%d" % i, calling_aet="CT1", sop_class=CT, transfer_syntax="1.2.840.10008.1.2.1")
        item = spool.claim("w")
        ids.append(quarantine_item(spool, item, "w", s.quarantine_path, Reason("parse", "unparseable", "x")))
    return s, spool, ids


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"ids": [], "all": False, "older_than_days": None, "json": False, "path": None, **kw})


def test_entry_holds_instance_and_phi_free_reason(setup):
    s, spool, ids = setup
    d = s.quarantine_path / ids[0]
    assert (d / "instance.dcm").read_bytes() == b"raw0"
    reason = json.loads((d / "reason.json").read_text())
    assert {k: reason[k] for k in ("stage", "code", "calling_aet", "sop_class")} == {
        "stage": "parse",
        "code": "unparseable",
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
    assert all("parse" in line and "unparseable" in line for line in out)


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


def test_entries_are_private_to_the_node_user(setup):
    import stat

    s, _, ids = setup
    assert stat.S_IMODE(s.quarantine_path.stat().st_mode) == 0o700
    d = s.quarantine_path / ids[0]
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert {stat.S_IMODE(f.stat().st_mode) for f in d.iterdir()} == {0o600}


def test_list_and_show_as_json(setup, capsys):
    s, _, ids = setup
    assert run_cli(_args(qcommand="list", json=True), s) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(ids) and {r["code"] for r in rows} == {"unparseable"}
    assert run_cli(_args(qcommand="show", id=ids[0], json=True), s) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and json.loads(out)["id"] == ids[0]


def test_list_in_a_folder_that_is_not_there_names_the_path(tmp_path, capsys):
    """Issue 10 item 13: it said "0 entries" without naming the folder it had looked in."""
    s = settings_from_dict({"quarantine_path": str(tmp_path / "nowhere")})
    assert run_cli(_args(qcommand="list"), s) == 1
    assert str(tmp_path / "nowhere") in capsys.readouterr().err


def test_purge_older_than_says_what_it_did(setup, capsys):
    """Issue 10 item 13: `purge --older-than-days N` without --all did nothing and said nothing."""
    s, _, _ = setup
    assert run_cli(_args(qcommand="purge", older_than_days=30), s) == 0
    assert "0 entries purged (2 left in" in capsys.readouterr().err
    assert len(list_entries(s.quarantine_path)) == 2


def test_config_is_accepted_after_the_subcommand(setup):
    """Issue 10 item 13: `deidnode quarantine list --config X` failed (only `--config X quarantine list` worked)."""
    import subprocess
    import sys

    import yaml

    s, _, ids = setup
    cfg = s.quarantine_path.parent / "node.yaml"
    cfg.write_text(yaml.safe_dump({"quarantine_path": str(s.quarantine_path), "spool": {"path": str(s.spool.path)}}))
    for argv in (
        ["quarantine", "list", "--config", str(cfg)],
        ["--config", str(cfg), "quarantine", "list"],
        ["quarantine", "--config", str(cfg), "list"],
    ):
        proc = subprocess.run([sys.executable, "-m", "deidnode.cli", *argv], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, (argv, proc.stderr)
        assert sorted(line.split()[0] for line in proc.stdout.splitlines()) == sorted(ids)


def test_one_reason_type_with_enum_stage_and_snake_case_codes():
    import re

    from deidnode.engine import Quarantine
    from deidnode.reasons import Code, Reason, Stage

    assert Quarantine is Reason
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", c.value) for c in Code)
    r = Reason("pixels", "phi_remains", "frame 0")  # strings from data (a reason file) are taken as members
    assert r.stage is Stage.PIXELS and r.code is Code.PHI_REMAINS
    assert r.as_dict() == {"stage": "pixels", "code": "phi_remains", "detail": "frame 0"}
    with pytest.raises(ValueError):
        Reason(Stage.PIXELS, "phi-remains")  # one naming style: an unknown code is a programming error
