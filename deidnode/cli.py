"""Command line: ``deidnode serve | deid | quarantine | check-config``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .config import Settings, load_settings
from .errors import ConfigError


def _add_key_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--key-file", help="secret key for pseudonyms, UIDs and date shifts (or $DEIDNODE_KEY_FILE)")
    g.add_argument(
        "--ephemeral-key",
        action="store_true",
        help="use a random key for this run only (pseudonyms will not match other runs)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deidnode", description="DICOM de-identification node")
    parser.add_argument("--version", action="version", version=f"deidnode {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the node: Storage SCP -> spool -> workers -> destinations")
    p.add_argument("--config", help="YAML configuration (default: the embedded default)")
    _add_key_args(p)

    p = sub.add_parser("deid", help="de-identify files and folders into an output folder")
    p.add_argument("inputs", nargs="+", help="DICOM files or folders (searched recursively)")
    p.add_argument("--out", required=True, help="output folder (files named by their new SOP Instance UID)")
    p.add_argument("--config", help="YAML configuration (default: the embedded default)")
    p.add_argument("--profile", default="default", help="profile name from the config (default: default)")
    p.add_argument("--preview", metavar="DIR", help="write before/after PNGs of pixel cleaning to DIR")
    _add_key_args(p)

    p = sub.add_parser("quarantine", help="list, show, retry or purge quarantined instances")
    p.add_argument("--config", help="YAML configuration (default: the embedded default)")
    qsub = p.add_subparsers(dest="qcommand", required=True)
    qsub.add_parser("list", help="one line per quarantined instance: id, stage, code, time")
    q = qsub.add_parser("show", help="the reason file of one entry")
    q.add_argument("id")
    q = qsub.add_parser("retry", help="put entries back into the spool")
    q.add_argument("ids", nargs="*", help="entry ids (none with --all)")
    q.add_argument("--all", action="store_true")
    q = qsub.add_parser("purge", help="delete entries for good")
    q.add_argument("ids", nargs="*", help="entry ids (none with --all)")
    q.add_argument("--all", action="store_true")
    q.add_argument("--older-than-days", type=float, default=None)

    p = sub.add_parser("check-config", help="validate a configuration file and print the effective settings")
    p.add_argument("--config", help="YAML configuration (default: the embedded default)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings: Settings = load_settings(args.config)
        if args.command == "deid":
            from .batch import run_batch

            return run_batch(args, settings)
        if args.command == "serve":
            from .node import serve

            return serve(args, settings)
        if args.command == "quarantine":
            from .quarantine import run_cli

            return run_cli(args, settings)
        if args.command == "check-config":
            print(settings.model_dump_json(indent=2))
            return 0
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 2
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
