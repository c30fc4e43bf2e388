"""Quarantine: instances the node will not forward, each with a PHI-free reason file.

Layout: ``<quarantine_path>/<id>/instance.dcm`` (the instance as received, for an operator to inspect or
retry) and ``<id>/reason.json`` (stage, code, detail, time, and association-level facts: calling AE title,
SOP Class UID, transfer syntax, size, attempts). Reason files never hold attribute values.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import Settings
from .spool import Item, Spool

INSTANCE_FILE = "instance.dcm"
REASON_FILE = "reason.json"
_ID_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Reason:
    """Why an instance was quarantined. ``stage`` and ``code`` are stable identifiers; no PHI anywhere."""

    stage: str
    code: str
    detail: str = ""


def _write_json_durably(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def quarantine_item(spool: Spool, item: Item, owner: str, root: Path, reason: Reason) -> str:
    """Copy the item's file into a new quarantine entry with its reason, then mark the row. Returns the id."""
    qid = uuid.uuid4().hex
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{qid}.tmp"
    staging.mkdir()
    spool.copy_out(item, staging / INSTANCE_FILE)
    now = time.time()
    _write_json_durably(
        staging / REASON_FILE,
        {
            "id": qid,
            **asdict(reason),
            "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "received": datetime.fromtimestamp(item.received_at, UTC).isoformat(timespec="seconds"),
            "calling_aet": item.calling_aet,
            "sop_class": item.sop_class,
            "transfer_syntax": item.transfer_syntax,
            "size": item.size,
            "attempts": item.attempts,
        },
    )
    os.rename(staging, root / qid)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    spool.mark_quarantined(item, owner, quarantine_id=qid, code=reason.code)
    return qid


def list_entries(root: Path) -> list[dict[str, Any]]:
    """All entries' reasons, oldest first. Unreadable entries are listed with code ``unreadable_reason``."""
    out = []
    if not root.is_dir():
        return out
    for d in root.iterdir():
        if not _ID_RE.match(d.name):
            continue
        try:
            out.append(json.loads((d / REASON_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            out.append({"id": d.name, "stage": "?", "code": "unreadable_reason", "time": ""})
    out.sort(key=lambda r: (r.get("time", ""), r["id"]))
    return out


def _entry_dir(root: Path, qid: str) -> Path:
    if not _ID_RE.match(qid):
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


def _selected(args: argparse.Namespace, entries: list[dict[str, Any]]) -> list[str] | None:
    if args.all and args.ids:
        return None
    cutoff = getattr(args, "older_than_days", None)
    if args.all or (cutoff is not None and not args.ids):
        ids = [e["id"] for e in entries]
    else:
        ids = list(args.ids)
    if cutoff is not None:
        limit = datetime.fromtimestamp(time.time() - cutoff * 86400, UTC).isoformat(timespec="seconds")
        times = {e["id"]: e.get("time", "") for e in entries}
        ids = [i for i in ids if times.get(i, "") < limit]
    return ids


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    """``deidnode quarantine list|show|retry|purge``. Returns the process exit status."""
    root = settings.quarantine_path
    entries = list_entries(root)
    if args.qcommand == "list":
        for e in entries:
            print(
                f"{e['id']}  {e.get('time', '')}  {e.get('stage', '')}  {e.get('code', '')}  "
                f"{e.get('sop_class', '')}"
            )
        print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}", file=_stderr())
        return 0
    if args.qcommand == "show":
        try:
            d = _entry_dir(root, args.id)
        except KeyError:
            print(f"no quarantine entry {args.id!r}", file=_stderr())
            return 1
        print((d / REASON_FILE).read_text(encoding="utf-8"), end="")
        return 0
    ids = _selected(args, entries)
    if ids is None or (not ids and not args.all and getattr(args, "older_than_days", None) is None):
        print("give entry ids or --all", file=_stderr())
        return 2
    status = 0
    spool = (
        Spool(settings.spool.path, lease_seconds=settings.spool.lease_seconds)
        if args.qcommand == "retry"
        else None
    )
    try:
        for qid in ids:
            try:
                if spool is not None:
                    retry_entry(root, qid, spool)
                    print(f"{qid}  requeued")
                else:
                    purge_entry(root, qid)
                    print(f"{qid}  purged")
            except KeyError:
                print(f"no quarantine entry {qid!r}", file=_stderr())
                status = 1
    finally:
        if spool is not None:
            spool.close()
    return status


def _stderr():  # noqa: ANN202 - tiny indirection so tests can capture
    import sys

    return sys.stderr
