"""``deidnode spool list | retry``: what waits in the node's spool and why; make waiting instances due now.

Both work beside a running node (SQLite WAL lets readers and one writer share the database): ``retry`` only
moves due times, and the node's workers pick the instances up at their next claim.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

from ..config import Settings
from .store import Spool


def _iso(t: float | None) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds") if t else ""


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    path = settings.spool.path
    if not (path / "spool.sqlite3").exists():
        print(f"no spool at {path.absolute()} (spool.path in the config)", file=sys.stderr)
        return 1
    spool = Spool(path, lease_seconds=settings.spool.lease_seconds, receiver=False)
    try:
        if args.scommand == "retry":
            n = spool.destinations.retry_now(args.destination)
            what = f"waiting for {args.destination}" if args.destination else "waiting"
            print(f"{n} instance{'' if n == 1 else 's'} {what} made due now", file=sys.stderr)
            return 0
        return _list(spool, args)
    finally:
        spool.close()


def _list(spool: Spool, args: argparse.Namespace) -> int:
    now = time.time()
    dests = spool.destination_states()
    rows = spool.waiting(args.limit)
    depth = {s.name.lower(): n for s, n in spool.depth().items()}
    if args.json:
        print(
            json.dumps(
                {
                    "depth": depth,
                    "destinations": [d.as_dict() for d in dests],
                    "waiting": [
                        {
                            "row": r.id,
                            "state": r.state.name.lower(),
                            "received": _iso(r.received_at),
                            "attempts": r.attempts,
                            "due": _iso(r.next_attempt_at) if r.next_attempt_at > now else "now",
                            "pending": list(r.pending) if r.pending is not None else None,
                            "last_code": r.last_code,
                            "sop_class": r.sop_class,
                            "size": r.size,
                        }
                        for r in rows
                    ],
                },
                indent=2,
            )
        )
        return 0
    print("spool: " + ", ".join(f"{k} {v}" for k, v in depth.items()))
    for d in dests:
        if d.down:
            print(
                f"destination {d.name}: DOWN since {_iso(d.down_since)}, {d.failures} failures, next try "
                f"{_iso(d.down_until) if d.down_until > now else 'now'}; last error {d.last_code}: {d.last_detail}"
            )
        else:
            print(f"destination {d.name}: ok (last recovered {_iso(d.last_ok_at) or '-'})")
    for r in rows:
        due = "now" if r.next_attempt_at <= now else f"in {r.next_attempt_at - now:.0f}s"
        pending = ",".join(r.pending) if r.pending else "-"
        print(
            f"row {r.id}  {r.state.name.lower():10}  received {_iso(r.received_at)}  attempts {r.attempts}  "
            f"due {due}  waiting for {pending}  last {r.last_code or '-'}"
        )
    print(f"{len(rows)} unfinished instance{'' if len(rows) == 1 else 's'} listed", file=sys.stderr)
    return 0
