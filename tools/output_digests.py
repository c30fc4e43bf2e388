"""Digest of the engine's output for a fixed corpus and five profiles: the byte-identity check for refactors.

    PYTHONPATH=<tree> python tools/output_digests.py OUT.json
    python tools/output_digests.py --compare A.json B.json

Runs every readable file of pydicom's test files and of pydicom-data (when installed), plus planted variants of
tests/phi_dataset.py, through ``deidentify_bytes`` + ``encode_dataset`` under five profiles, and records the
SHA-256 of each output (or the quarantine code). Run it with the old tree and the new one on PYTHONPATH and
compare: a refactor that should not change behaviour must give identical files.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILES = {
    "basic": {"options": ()},
    "default": {},
    "safe_private_full_dates": {"options": ("retain_safe_private", "retain_long_full_dates", "clean_descriptors")},
    "unlisted_keep": {"unlisted_standard": "keep"},
    "all_retain": {
        "options": (
            "retain_uids",
            "retain_device_identity",
            "retain_institution_identity",
            "retain_patient_characteristics",
            "retain_long_modified_dates",
            "clean_descriptors",
            "clean_structured_content",
            "clean_graphics",
            "retain_safe_private",
        ),
    },
}


def corpus() -> list[tuple[str, bytes]]:
    import pydicom

    sys.path.insert(0, str(ROOT / "tests"))
    import phi_dataset as P

    files: list[Path] = sorted(
        p for p in (Path(pydicom.__file__).parent / "data" / "test_files").rglob("*") if p.is_file()
    )
    try:
        import data_store  # pydicom-data

        files += sorted(p for p in (Path(data_store.__file__).parent / "data").rglob("*") if p.is_file())
    except ImportError:
        pass
    out: list[tuple[str, bytes]] = []
    for p in files:
        raw = p.read_bytes()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not DICOM: not part of the corpus
            continue
        out.append((p.name, raw))
    uids = {"study_uid": "1.2.3.4", "series_uid": "1.2.3.5", "sop_uid": "1.2.3.6", "frame_uid": "1.2.3.7"}
    for i in range(4):
        ds = P.planted_ct(**uids)
        ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3.8"  # generated at random by planted_ct
        if i == 1:
            P.add_japanese_name(ds)
        if i == 2:
            ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
        if i == 3:
            ds.PatientName = ""
            ds.PatientID = ""
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True, implicit_vr=(i == 2))
        out.append((f"planted{i}", buf.getvalue()))
    return out


def digests() -> dict[str, dict[str, str]]:
    from deidnode.config import Profile
    from deidnode.engine import Keys, Policy, deidentify_bytes, encode_dataset

    keys = Keys(b"digest-key-" * 3)
    result: dict[str, dict[str, str]] = {}
    items = corpus()
    for pname, kwargs in PROFILES.items():
        policy = Policy(profile=Profile(**kwargs))
        for name, raw in items:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = deidentify_bytes(raw, policy, keys)
                if r.ok:
                    try:
                        d = hashlib.sha256(encode_dataset(r.dataset)).hexdigest()
                    except Exception as e:  # noqa: BLE001
                        d = f"encode-error:{type(e).__name__}"
                else:
                    d = f"quarantine:{r.quarantine.code}"
            result.setdefault(name, {})[pname] = d
    return result


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[1] == "--compare":
        a, b = (json.loads(Path(p).read_text()) for p in argv[2:4])
        diff = [(n, p) for n in a for p in a[n] if b.get(n, {}).get(p) != a[n][p]]
        cells = sum(len(v) for v in a.values())
        print(f"{len(a)} inputs x {len(PROFILES)} profiles = {cells} outputs; {len(diff)} differ")
        for n, p in diff[:50]:
            print(f"  {n} [{p}]: {a[n][p][:24]} -> {b.get(n, {}).get(p, 'missing')[:24]}")
        return 1 if diff or set(a) != set(b) else 0
    out = digests()
    Path(argv[1]).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    q = sum(v.startswith("quarantine") for d in out.values() for v in d.values())
    print(f"{len(out)} inputs x {len(PROFILES)} profiles; {q} quarantined outputs; written to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
