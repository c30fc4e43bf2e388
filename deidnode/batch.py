"""``deidnode deid INPUT... --out DIR``: de-identify files and folders into a folder.

Outputs are named by their new SOP Instance UID; ``DIR/audit.jsonl`` gets one PHI-free line per DICOM input
(no file names: a path can hold a patient's name). Files that are not DICOM (README, JSON, images) and DICOMDIR
index files are skipped and counted. An input the engine refuses goes to the quarantine, by default
``DIR.quarantine`` beside the output folder, never inside it (it holds raw PHI: folders 0700, files 0600), in the
node's layout, with a reason record that names the stage and code and, there only, the input's path as given.
The output and quarantine folders are never read as inputs.

Exit status: 0 when every DICOM input was de-identified, 1 when some were quarantined, 2 on a usage or
configuration error (nothing is written then).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .audit import AuditSink, record
from .buildinfo import versions
from .config import Settings
from .durable import write_atomic
from .engine import Policy, deidentify_bytes, encode_dataset
from .errors import ConfigError
from .forward.folder import OUTPUT_MODE

PART10_MAGIC_OFFSET = 128
DICOMDIR_SOP_CLASS = b"1.2.840.10008.1.3.10"
PROGRESS_AFTER_S = 3.0
PROGRESS_EVERY_S = 2.0


def sniff(head: bytes) -> str:
    """What the first bytes of a file say it is: ``part10``, ``dicomdir``, ``bare`` (a data set without Part 10
    header, starting with a group 0002 or 0008 element, as older archives write them) or ``other``."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        at = head.find(b"\x02\x00\x02\x00UI", 132)  # (0002,0002) Media Storage SOP Class UID
        if at >= 0:
            n = int.from_bytes(head[at + 6 : at + 8], "little")
            if head[at + 8 : at + 8 + n].rstrip(b"\x00 ") == DICOMDIR_SOP_CLASS:
                return "dicomdir"
        return "part10"
    if len(head) >= 8 and head[:2] in (b"\x08\x00", b"\x02\x00") and head[3] == 0:
        vr = head[4:6]
        explicit = vr.isalpha() and vr.isupper()
        implicit_len = int.from_bytes(head[4:8], "little")
        if explicit or implicit_len < 1024:
            return "bare"
    return "other"


SNIFF_BYTES = PART10_MAGIC_OFFSET + 4 + 256


def skip_reason(head: bytes) -> str | None:
    """Why an input is skipped instead of de-identified (``not DICOM``, ``DICOMDIR``), from its first
    ``SNIFF_BYTES``; None for DICOM. Decided here for ``deid`` and its Spark job alike."""
    kind = sniff(head)
    return "DICOMDIR" if kind == "dicomdir" else "not DICOM" if kind == "other" else None


def iter_inputs(inputs: Iterable[str], exclude: Iterable[Path] = ()) -> Iterator[Path]:
    """Files as given, folders searched recursively in name order; hidden files and the ``exclude`` folders
    (the output and the quarantine) are skipped. Raises ConfigError for an input that does not exist."""
    skip = [p.resolve() for p in exclude]
    for name in inputs:
        p = Path(name)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if any(part.startswith(".") for part in f.relative_to(p).parts) or not f.is_file():
                    continue
                resolved = f.resolve()
                if any(resolved.is_relative_to(s) for s in skip):
                    continue
                yield f
        elif p.is_file():
            yield p
        else:
            raise ConfigError(f"input not found: {name}")


@dataclass
class FileResult:
    """One input through the engine: the Part 10 output and its name, or the reason it was refused; plus the
    PHI-free audit record (without a time: the caller stamps it)."""

    status: str
    """``deidentified`` or ``quarantined``."""
    record: dict[str, Any]
    output_name: str | None = None
    output: bytes | None = None
    quarantine: dict[str, str] | None = None


def deidentify_file(
    raw: bytes,
    policy: Policy,
    keys: Any,
    *,
    preview_dir: Path | None = None,
    lexicon: Any = None,
    mapping: Any = None,
    series_memo: Any = None,
) -> FileResult:
    """The engine on one input's bytes, as ``deid`` (and a batch on Spark) writes it: output named by the new
    SOP Instance UID, and its audit record (deidnode/audit.py: the node's layout, with the input's SHA-256 and
    the engine's record). ``lexicon``: the batch's study lexicon; ``mapping``: the mapping store the replaced
    identities are written to; ``series_memo``: one text-presence decision per CT/MR series (pixels/series.py)."""
    digest = hashlib.sha256(raw).hexdigest()
    result = deidentify_bytes(
        raw,
        policy,
        keys,
        preview=preview_dir is not None,
        lexicon=lexicon,
        collect_mapping=mapping is not None,
        series_memo=series_memo,
    )
    if result.ok and mapping is not None:
        mapping.add(result.mapping)
    if preview_dir is not None:  # the engine hands the QA images back; written here, 0600 (they show PHI)
        for name, png in result.previews:
            write_atomic(preview_dir / name, png, mode=0o600)
    engine, vers = result.audit, versions(policy.pixels.ocr.engine)
    if result.ok:
        assert result.dataset is not None
        name = f"{result.dataset.SOPInstanceUID}.dcm"
        rec = record(
            "deid", "deidentified", input_sha256=digest, input_bytes=len(raw), engine=engine, versions=vers, output=name
        )
        return FileResult("deidentified", rec, name, encode_dataset(result.dataset))
    assert result.quarantine is not None
    q = result.quarantine.as_dict()
    rec = record(
        "deid", "quarantined", input_sha256=digest, input_bytes=len(raw), engine=engine, versions=vers, quarantine=q
    )
    return FileResult("quarantined", rec, quarantine=q)


@dataclass
class _Counts:
    total: int = 0
    done: int = 0
    quarantined: int = 0
    skipped: int = 0
    skipped_kinds: dict[str, int] = field(default_factory=dict)


def _progress(counts: _Counts, planned: int, started: float, out: TextIO) -> None:
    elapsed = max(time.monotonic() - started, 1e-9)
    print(
        f"deid: {counts.total}/{planned} inputs, {counts.total / elapsed:.1f}/s, {counts.done} de-identified, "
        f"{counts.quarantined} quarantined, {counts.skipped} skipped",
        file=out,
        flush=True,
    )


def _default_quarantine(out: Path) -> Path:
    return out.parent / f"{out.name}.quarantine"


def run_batch(args: argparse.Namespace, settings: Settings) -> int:
    if args.profile not in settings.profiles:
        raise ConfigError(f"config error: profiles: no profile named '{args.profile}'")
    from .keysource import load_keys
    from .quarantine import quarantine_bytes
    from .reasons import Reason

    out = Path(args.out)
    qdir = Path(args.quarantine) if getattr(args, "quarantine", None) else _default_quarantine(out)
    if qdir.resolve().is_relative_to(out.resolve()):
        raise ConfigError(f"--quarantine {qdir} is inside --out {out}: the quarantine holds raw PHI")
    dry = bool(getattr(args, "dry_run", False))
    quiet, verbose = bool(getattr(args, "quiet", False)), bool(getattr(args, "verbose", False))
    from .logging import setup_cli_logging

    setup_cli_logging("ERROR" if quiet else "INFO" if verbose else "WARNING")
    paths = list(iter_inputs(args.inputs, exclude=(out, qdir)))  # every input exists before anything is written
    keys, _ = load_keys(args.key_file, settings.keys.key_file, ephemeral=args.ephemeral_key)
    policy = Policy.from_settings(settings, args.profile)
    preview = Path(args.preview) if getattr(args, "preview", None) and not dry else None
    if not dry:
        out.mkdir(parents=True, exist_ok=True)
        if preview is not None:
            preview.mkdir(parents=True, exist_ok=True)

    # The batch's study lexicon first (names seen in any input clean every input's text: the order of files in
    # the batch does not matter), and the mapping store when configured (docs/header.md).
    lexicon = None
    if settings.lexicon.enabled:
        from .lexicon_store import batch_lexicon

        lexicon = batch_lexicon((p.read_bytes() for p in paths), keys, policy)
    from .mapping.store import open_mapping

    mapping = None if dry else open_mapping(settings, keys.secret)

    from .engine.pixels.series import SeriesMemo

    px = settings.pixels  # one text-presence decision per CT/MR series (engine: pixels/series.py)
    memo = SeriesMemo(time.monotonic, ttl_seconds=px.series_memo_seconds, max_uses=px.series_memo_slices)
    counts = _Counts()
    started = last_progress = time.monotonic()
    audit = None
    if not dry:
        audit = AuditSink(out / "audit.jsonl", max_bytes=settings.audit.max_bytes, backups=settings.audit.backups)
    try:
        for path in paths:
            with open(path, "rb") as f:
                reason = skip_reason(f.read(SNIFF_BYTES))
            if reason is not None:
                counts.skipped += 1
                counts.skipped_kinds[reason] = counts.skipped_kinds.get(reason, 0) + 1
                if verbose:
                    print(f"{path}: skipped ({reason})", file=sys.stderr)
                continue
            counts.total += 1
            raw = path.read_bytes()
            r = deidentify_file(
                raw, policy, keys, preview_dir=preview, lexicon=lexicon, mapping=mapping, series_memo=memo
            )
            if r.status == "deidentified":
                counts.done += 1
                assert r.output is not None and r.output_name is not None
                if not dry:
                    write_atomic(out / r.output_name, r.output, mode=OUTPUT_MODE)
                if verbose:
                    print(f"{path}: de-identified -> {r.output_name}", file=sys.stderr)
            else:
                counts.quarantined += 1
                assert r.quarantine is not None
                qid = "(dry run)"
                if not dry:
                    facts = {
                        "input_sha256": r.record["input_sha256"],
                        "input_path": str(path),
                        "size": len(raw),
                        "sop_class": (r.record["engine"] or {}).get("sop_class_uid", ""),
                    }
                    qid = quarantine_bytes(qdir, raw, Reason.from_dict(r.quarantine), facts)
                    r.record["quarantine_id"] = qid
                if not quiet:
                    print(
                        f"{path}: quarantined ({r.quarantine['stage']}/{r.quarantine['code']}) -> {qid}",
                        file=sys.stderr,
                    )
            if audit is not None:
                audit.write(r.record)
            t = time.monotonic()
            if not quiet and t - started > PROGRESS_AFTER_S and t - last_progress > PROGRESS_EVERY_S:
                _progress(counts, len(paths) - counts.skipped, started, sys.stderr)
                last_progress = t
    finally:
        if audit is not None:
            audit.close()
    _summary(counts, qdir, dry)
    return 1 if counts.quarantined else 0


def _summary(c: _Counts, qdir: Path, dry: bool) -> None:
    skipped = ""
    if c.skipped:
        skipped = ", " + ", ".join(f"{n} skipped ({k})" for k, n in sorted(c.skipped_kinds.items()))
    where = f" (in {qdir.absolute()})" if c.quarantined and not dry else ""
    prefix = "deid (dry run, nothing written)" if dry else "deid"
    print(f"{prefix}: {c.total} DICOM inputs, {c.done} de-identified, {c.quarantined} quarantined{where}{skipped}")
    sys.stdout.flush()
