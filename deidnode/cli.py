"""Command line: ``deidnode serve | deid | quarantine | spool | check-config``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .config import Settings, load_settings
from .errors import ConfigError

CONFIG_HELP = "YAML configuration (default: the embedded default); also accepted after the subcommand"


def _add_key_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--key-file",
        help="secret key for pseudonyms, UIDs and date shifts (order: --key-file, $DEIDNODE_KEY_FILE, "
        "keys.key_file in the config)",
    )
    g.add_argument(
        "--ephemeral-key",
        action="store_true",
        help="use a random key for this run only (pseudonyms will not match other runs)",
    )


def _config_arg(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    # Subparsers must not overwrite a --config given before the subcommand: SUPPRESS leaves it alone.
    p.add_argument("--config", help=CONFIG_HELP, default=None if top else argparse.SUPPRESS)


def _path_arg(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    p.add_argument(
        "--path",
        help="a quarantine folder (default: quarantine_path from the config; 'deid' writes OUT.quarantine)",
        default=None if top else argparse.SUPPRESS,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deidnode", description="DICOM de-identification node")
    parser.add_argument("--version", action="version", version=f"deidnode {__version__}")
    _config_arg(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the node: Storage SCP -> spool -> workers -> destinations")
    _config_arg(p)
    _add_key_args(p)

    p = sub.add_parser("deid", help="de-identify files and folders into an output folder")
    p.add_argument("inputs", nargs="+", help="DICOM files or folders (searched recursively)")
    p.add_argument("--out", required=True, help="output folder (files named by their new SOP Instance UID)")
    p.add_argument(
        "--quarantine",
        metavar="DIR",
        help="where refused inputs go (default: OUT.quarantine beside the output folder; mode 0700, files 0600; "
        "same layout as the node's, so 'deidnode quarantine --path DIR' reads it)",
    )
    _config_arg(p)
    p.add_argument("--profile", default="default", help="profile name from the config (default: default)")
    p.add_argument("--preview", metavar="DIR", help="write before/after PNGs of pixel cleaning to DIR")
    p.add_argument("--dry-run", action="store_true", help="de-identify and report, but write nothing")
    v = p.add_mutually_exclusive_group()
    v.add_argument("-q", "--quiet", action="store_true", help="print only errors and the summary line")
    v.add_argument("-v", "--verbose", action="store_true", help="print one line per input (outcome and reason)")
    p.add_argument(
        "--spark",
        metavar="MASTER",
        help="run as a Spark job on MASTER (local[2], spark://, yarn, "
        "k8s://); inputs and --out may then be any Hadoop URI (s3a://, hdfs://, abfss://); docs/scale.md",
    )
    p.add_argument(
        "--spark-conf",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a Spark setting for --spark (repeatable)",
    )
    _add_key_args(p)

    p = sub.add_parser("quarantine", help="list, show, retry or purge quarantined instances")
    _config_arg(p)
    _path_arg(p, top=True)
    qsub = p.add_subparsers(dest="qcommand", required=True)
    q = qsub.add_parser("list", help="one line per entry: id, time, stage, code, SOP class (oldest first)")
    q.add_argument("--json", action="store_true", help="one JSON object per entry instead")
    _config_arg(q)
    _path_arg(q)
    q = qsub.add_parser("show", help="the reason record of one entry")
    q.add_argument("id")
    q.add_argument("--json", action="store_true", help="compact JSON on one line")
    _config_arg(q)
    _path_arg(q)
    q = qsub.add_parser("retry", help="put entries back into the node's spool (they are processed again)")
    q.add_argument("ids", nargs="*", help="entry ids (or --all, or --older-than-days)")
    q.add_argument("--all", action="store_true", help="every entry")
    q.add_argument("--older-than-days", type=float, default=None, help="entries quarantined longer ago than this")
    _config_arg(q)
    _path_arg(q)
    q = qsub.add_parser("purge", help="delete entries for good")
    q.add_argument("ids", nargs="*", help="entry ids (or --all, or --older-than-days)")
    q.add_argument("--all", action="store_true", help="every entry")
    q.add_argument("--older-than-days", type=float, default=None, help="entries quarantined longer ago than this")
    _config_arg(q)
    _path_arg(q)

    p = sub.add_parser("spool", help="what waits in the node's spool, and why; make waiting instances due now")
    _config_arg(p)
    ssub = p.add_subparsers(dest="scommand", required=True)
    s = ssub.add_parser("list", help="destinations' state, then unfinished instances (oldest first)")
    s.add_argument("--limit", type=int, default=100, help="instances to list (default 100)")
    s.add_argument("--json", action="store_true", help="JSON instead of text")
    _config_arg(s)
    s = ssub.add_parser("retry", help="make instances waiting for a destination due now (the node picks them up)")
    s.add_argument("--destination", help="only those waiting for this destination")
    _config_arg(s)

    from .mapping.cli import add_parser as add_mapping_parser

    add_mapping_parser(sub)

    p = sub.add_parser(
        "check-config",
        help="validate a configuration and its environment (folders, TLS files, key, OCR engine); print the "
        "effective settings",
    )
    _config_arg(p)
    _add_key_args(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings: Settings = load_settings(args.config)
        if args.command == "deid" and args.spark is not None:
            from .spark import run_spark

            return run_spark(args, settings)
        if args.command == "deid":
            from .batch import run_batch

            return run_batch(args, settings)
        if args.command == "serve":
            from .node import serve

            return serve(args, settings)
        if args.command == "quarantine":
            from .quarantine import run_cli

            return run_cli(args, settings)
        if args.command == "spool":
            from .spool.cli import run_cli as run_spool_cli

            return run_spool_cli(args, settings)
        if args.command == "mapping":
            from .mapping.cli import run_cli as run_mapping

            return run_mapping(args, settings)
        if args.command == "check-config":
            return _check_config(args, settings)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 2
    return 2  # pragma: no cover


def _check_config(args: argparse.Namespace, settings: Settings) -> int:
    """Print the effective settings, then every problem ``serve`` would refuse to start with (exit 2) or warn
    about."""
    from . import preflight
    from .keysource import key_source

    source = key_source(args.key_file, settings.keys.key_file)
    problems = preflight.check(
        settings,
        key_file=source[1] if source else None,
        key_named_by=source[0] if source else "",
        ephemeral_key=args.ephemeral_key,
    )
    print(settings.model_dump_json(indent=2))
    for p in problems:
        print(str(p), file=sys.stderr)
    if any(p.fatal for p in problems):
        return 2
    print(f"config ok{f' ({len(problems)} warnings)' if problems else ''}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
