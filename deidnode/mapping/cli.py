"""``deidnode mapping new-key FILE | export --since DATE --out FILE.csv | lookup PSEUDONYM``.

Export and lookup print originals: they are for the honest broker, on a terminal or into a file made 0600;
nothing from the store goes to a log. Errors name the file or the key, never a value.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sys
from pathlib import Path

from ..config import Settings
from ..errors import ConfigError
from .store import MappingKeyError, MappingStore, load_mapping_key, new_mapping_key


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mapping", help="the honest broker's re-identification mapping (encrypted; PHI)")
    p.add_argument("--config", help="YAML configuration (mapping.path, mapping.key_file)")
    msub = p.add_subparsers(dest="mcommand", required=True)
    q = msub.add_parser("new-key", help="write a new mapping key to FILE (0600); keep it apart from deid.key")
    q.add_argument("file")
    for name, text in (
        ("export", "write every entry (or those since a date) to a CSV file (0600)"),
        ("lookup", "print the original(s) a pseudonym replaced"),
    ):
        q = msub.add_parser(name, help=text)
        q.add_argument("--config", help=argparse.SUPPRESS, default=argparse.SUPPRESS)
        q.add_argument("--store", help="the mapping file (default: mapping.path of the config)")
        q.add_argument("--key-file", help="the mapping key (default: mapping.key_file of the config)")
        if name == "export":
            q.add_argument("--since", help="ISO date or date-time (UTC): entries created then or later")
            q.add_argument("--out", required=True, help="CSV file to write (refused if it exists)")
        else:
            q.add_argument("pseudonym")


def _open(args: argparse.Namespace, settings: Settings) -> MappingStore:
    store = Path(args.store) if args.store else settings.mapping.path
    key_file = Path(args.key_file) if args.key_file else settings.mapping.key_file
    if key_file is None:
        raise ConfigError("config error: mapping.key_file: no mapping key (give --key-file)")
    if not store.is_file():
        raise ConfigError(f"mapping: no store at {store}")
    return MappingStore(store, load_mapping_key(key_file))


def _since(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError("mapping: --since: not an ISO date (e.g. 2026-01-31 or 2026-01-31T08:00)") from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.mcommand == "new-key":
            try:
                new_mapping_key(Path(args.file))
            except FileExistsError:
                raise ConfigError(f"mapping: {args.file} exists; not overwritten") from None
            print(f"mapping key written to {args.file} (0600); keep it apart from the de-identification key")
            return 0
        store = _open(args, settings)
        if args.mcommand == "export":
            fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            n = 0
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["created_utc", "kind", "original", "pseudonym"])
                for e in store.entries(_since(args.since)):
                    created = dt.datetime.fromtimestamp(e.created, dt.UTC).isoformat(timespec="seconds")
                    w.writerow([created, e.kind, e.original, e.pseudonym])
                    n += 1
            print(f"mapping: {n} entries written to {args.out}")
            return 0
        entries = store.lookup(args.pseudonym)
        for e in entries:
            print(f"{e.kind}\t{e.original}\t{e.pseudonym}")
        return 0 if entries else 1
    except MappingKeyError as e:
        print(f"mapping: {e}", file=sys.stderr)
        return 2
    except FileExistsError:
        print(f"mapping: {args.out} exists; not overwritten", file=sys.stderr)
        return 2
