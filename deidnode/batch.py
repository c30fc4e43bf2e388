"""``deidnode deid INPUT... --out DIR``: de-identify files and folders into a folder.

Outputs are named by their new SOP Instance UID; ``audit.jsonl`` gets one PHI-free line per input. An input
that is not DICOM, cannot be parsed or is refused by the engine is copied to ``DIR/quarantine/`` (named by the
hash of its bytes, since file names may hold PHI) with a ``.reason.json``, and the batch goes on.
Exit status: 0 when every input was de-identified, 1 when some were quarantined, 2 on a usage/config error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from .config import Settings
from .engine import Policy, deidentify_bytes, encode_dataset, resolve_keys
from .errors import ConfigError


def iter_inputs(inputs: Iterable[str]) -> Iterator[Path]:
    """Files as given, folders searched recursively in name order; hidden files are skipped."""
    for name in inputs:
        p = Path(name)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts):
                    yield f
        elif p.is_file():
            yield p
        else:
            raise ConfigError(f"input not found: {name}")


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run_batch(args: argparse.Namespace, settings: Settings) -> int:
    if args.profile not in settings.profiles:
        raise ConfigError(f"config error: profiles: no profile named '{args.profile}'")
    keys = resolve_keys(args.key_file or settings.keys.key_file, ephemeral=args.ephemeral_key)
    policy = Policy.from_settings(settings, args.profile)
    out = Path(args.out)
    qdir = out / "quarantine"
    out.mkdir(parents=True, exist_ok=True)
    preview = Path(args.preview) if getattr(args, "preview", None) else None
    if preview is not None:
        preview.mkdir(parents=True, exist_ok=True)
    from .engine.pixels.series import SeriesMemo

    px = settings.pixels  # one text-presence decision per CT/MR series (engine: pixels/series.py)
    memo = SeriesMemo(time.monotonic, ttl_seconds=px.series_memo_seconds, max_uses=px.series_memo_slices)
    total = done = failed = 0
    with open(out / "audit.jsonl", "a", encoding="utf-8") as audit_file:
        for path in iter_inputs(args.inputs):
            total += 1
            raw = path.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
            result = deidentify_bytes(raw, policy, keys, preview_dir=preview, series_memo=memo)
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            record = {"time": now, "input_sha256": digest, **result.audit}
            if result.ok:
                assert result.dataset is not None
                name = f"{result.dataset.SOPInstanceUID}.dcm"
                write_atomic(out / name, encode_dataset(result.dataset))
                record.update(status="deidentified", output=name)
                done += 1
            else:
                assert result.quarantine is not None
                qdir.mkdir(exist_ok=True)
                write_atomic(qdir / f"{digest[:20]}.dcm", raw)
                reason = {"time": now, "input_sha256": digest, **result.quarantine.as_dict()}
                write_atomic(qdir / f"{digest[:20]}.reason.json", json.dumps(reason, indent=2).encode())
                record.update(status="quarantined", quarantine=result.quarantine.as_dict())
                failed += 1
            audit_file.write(json.dumps(record, sort_keys=True) + "\n")
    print(f"deid: {total} inputs, {done} de-identified, {failed} quarantined (see {qdir})" if failed else
          f"deid: {total} inputs, {done} de-identified, 0 quarantined")
    sys.stdout.flush()
    return 1 if failed else 0
