"""Quarantine: instances that were not de-identified, each with a PHI-free reason record.

One layout for the node and ``deidnode deid``: ``<root>/<id>/instance.dcm`` (the input as received, for an
operator to inspect or retry) and ``<id>/reason.json`` (stage, code, detail, time, and facts known without
reading attribute values: calling AE title, SOP Class UID, transfer syntax, size, attempts; for ``deid`` the
SHA-256 of the input and its path as given on the command line). The folder holds raw PHI: folders are created
0700 and files 0600, and it lives outside any output folder. Reason records never hold attribute values.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import Settings
from .durable import fsync_dir, write_atomic
from .reasons import Reason
from .spool import Item, Spool

INSTANCE_FILE = "instance.dcm"
REASON_FILE = "reason.json"
DIR_MODE = 0o700
FILE_MODE = 0o600


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def make_root(root: Path) -> None:
    """Create the quarantine folder (and parents) private to the node's user."""
    root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(root, DIR_MODE)


def add_entry(root: Path, put_instance: Callable[[Path], None], reason: Reason, facts: dict[str, Any]) -> str:
    """Create an entry: ``put_instance(path)`` writes the instance file, then the reason record; the entry
    appears whole (one rename) and durably. Returns its id."""
    qid = uuid.uuid4().hex
    make_root(root)
    staging = root / f".{qid}.tmp"
    staging.mkdir(mode=DIR_MODE)
    try:
        put_instance(staging / INSTANCE_FILE)
        os.chmod(staging / INSTANCE_FILE, FILE_MODE)
        record = {"id": qid, **reason.as_dict(), "time": _iso(time.time()), **facts}
        write_atomic(
            staging / REASON_FILE, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode(), mode=FILE_MODE
        )
        os.rename(staging, root / qid)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(root)
    return qid


def quarantine_item(spool: Spool, item: Item, owner: str, root: Path, reason: Reason) -> str:
    """Copy a spool item's file into a new entry with its reason, then mark the row. Returns the id."""
    facts = {
        "received": _iso(item.received_at),
        "calling_aet": item.calling_aet,
        "sop_class": item.sop_class,
        "transfer_syntax": item.transfer_syntax,
        "size": item.size,
        "attempts": item.attempts,
    }
    qid = add_entry(root, lambda dest: spool.copy_out(item, dest), reason, facts)
    spool.mark_quarantined(item, owner, quarantine_id=qid, code=reason.code)
    return qid


def quarantine_bytes(root: Path, data: bytes, reason: Reason, facts: dict[str, Any]) -> str:
    """A new entry for an input held in memory (``deidnode deid``)."""
    return add_entry(root, lambda dest: write_atomic(dest, data, mode=FILE_MODE), reason, facts)


def list_entries(root: Path) -> list[dict[str, Any]]:
    """All entries' reasons, oldest first. Unreadable entries are listed with code ``unreadable_reason``."""
    out: list[dict[str, Any]] = []
    if not root.is_dir():
        return out
    for d in root.iterdir():
        if not _is_id(d.name):
            continue
        try:
            out.append(json.loads((d / REASON_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            out.append({"id": d.name, "stage": "?", "code": "unreadable_reason", "time": ""})
    out.sort(key=lambda r: (r.get("time", ""), r["id"]))
    return out


def _is_id(name: str) -> bool:
    return len(name) == 32 and all(c in "0123456789abcdef" for c in name)


def _entry_dir(root: Path, qid: str) -> Path:
    if not _is_id(qid):
        raise KeyError(qid)
    d = root / qid
    if not d.is_dir():
        raise KeyError(qid)
    return d


def retry_entry(root: Path, qid: str, spool: Spool) -> int:
    """Put the entry's instance back into the spool as RECEIVED and delete the entry. Returns the row id."""
    d = _entry_dir(root, qid)
    reason = json.loads((d / REASON_FILE).read_text(encoding="utf-8"))
    row = spool.add_file(
        d / INSTANCE_FILE,
        calling_aet=reason.get("calling_aet", ""),
        sop_class=reason.get("sop_class", ""),
        transfer_syntax=reason.get("transfer_syntax", ""),
    )
    shutil.rmtree(d)
    return row


def purge_entry(root: Path, qid: str) -> None:
    shutil.rmtree(_entry_dir(root, qid))


def _selected(args: argparse.Namespace, entries: list[dict[str, Any]]) -> list[str]:
    """The ids chosen by ``ids``, ``--all`` and ``--older-than-days`` (which narrows the others, or alone
    selects every entry older than that)."""
    cutoff = args.older_than_days
    ids = [e["id"] for e in entries] if args.all or (cutoff is not None and not args.ids) else list(args.ids)
    if cutoff is not None:
        limit = _iso(time.time() - cutoff * 86400)
        times = {e["id"]: e.get("time", "") for e in entries}
        ids = [i for i in ids if times.get(i, "") < limit]
    return ids


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    """``deidnode quarantine list|show|retry|purge``. Returns the process exit status."""
    root = Path(args.path) if getattr(args, "path", None) else settings.quarantine_path
    if not root.is_dir():
        print(f"no quarantine folder at {root.absolute()} (quarantine_path in the config, or --path)", file=sys.stderr)
        return 1 if args.qcommand in ("list", "show") else 2
    entries = list_entries(root)
    if args.qcommand == "list":
        for e in entries:
            if args.json:
                print(json.dumps(e, sort_keys=True))
            else:
                print(
                    f"{e['id']}  {e.get('time', '')}  {e.get('stage', '')}  {e.get('code', '')}  "
                    f"{e.get('sop_class', '')}"
                )
        print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} in {root.absolute()}", file=sys.stderr)
        return 0
    if args.qcommand == "show":
        try:
            d = _entry_dir(root, args.id)
        except KeyError:
            print(f"no quarantine entry {args.id!r} in {root.absolute()}", file=sys.stderr)
            return 1
        record = json.loads((d / REASON_FILE).read_text(encoding="utf-8"))
        print(json.dumps(record, sort_keys=True) if args.json else json.dumps(record, indent=2, sort_keys=True))
        return 0
    if not args.ids and not args.all and args.older_than_days is None:
        print(f"deidnode quarantine {args.qcommand}: give entry ids, --all or --older-than-days N", file=sys.stderr)
        return 2
    if args.all and args.ids:
        print(f"deidnode quarantine {args.qcommand}: give entry ids or --all, not both", file=sys.stderr)
        return 2
    ids = _selected(args, entries)
    status = 0
    spool = (
        Spool(settings.spool.path, lease_seconds=settings.spool.lease_seconds)
        if args.qcommand == "retry" and ids
        else None
    )
    done = 0
    try:
        for qid in ids:
            try:
                if spool is not None:
                    retry_entry(root, qid, spool)
                    print(f"{qid}  requeued")
                else:
                    purge_entry(root, qid)
                    print(f"{qid}  purged")
                done += 1
            except KeyError:
                print(f"no quarantine entry {qid!r} in {root.absolute()}", file=sys.stderr)
                status = 1
    finally:
        if spool is not None:
            spool.close()
    verb = "requeued" if args.qcommand == "retry" else "purged"
    print(
        f"{done} entr{'y' if done == 1 else 'ies'} {verb} ({len(entries) - done} left in {root.absolute()})",
        file=sys.stderr,
    )
    return status
