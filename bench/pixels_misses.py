"""Why the pixel stage missed the PHI segments it missed, on a dev-generated set (tuning data only).

    python bench/pixels_quick.py --set bench/results/pixelset-dev-val4 --limit 400 --dump /tmp/v4.jsonl
    python bench/pixels_misses.py --set bench/results/pixelset-dev-val4 --dump /tmp/v4.jsonl [--list] [--technical]

Each image with a missed PHI segment (``ok`` false in the ``--dump`` of ``bench/pixels_quick.py``) is cleaned
again in-process with the default policy, and each missed segment gets a cause from the readings over its box:
``undetected`` (no reading overlaps it), ``partial`` (a reading over it was removed, but the fill covers less than
the benchmark's share of the box), ``read_kept`` (read, and judged not PHI), ``other_removed`` (only another
line's removal reaches it, none of it covered), ``quarantined``. The table counts causes per attribute of the
segments (JPEG, size, colour, orientation, effect, kind), which says where to work: new rules for read-and-kept
forms, the fill for partial ones, the detector for undetected ones. ``--list`` prints each miss with the readings
over it. Like ``bench/pixels_quick.py`` it refuses the held-out splits.

``--technical``: the technical segments that were not kept instead, each with the readings whose removal reaches
it: ``garbled`` (removed as a reading nobody makes sense of: technical text misread), ``in_phi_line`` (the
removal of a reading over it, judged PHI: the PHI's span or the line took it), ``beside_phi`` (only the removal
of a reading beside it reaches it), ``no_reading`` (no reading's removal reaches it: the verification's repair,
an unread text-like region, a changing line), ``quarantined``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydicom import dcmread  # noqa: E402

from deidnode.config import settings_from_dict  # noqa: E402
from deidnode.engine.keys import Keys  # noqa: E402
from deidnode.engine.phi import collect_phi  # noqa: E402
from deidnode.engine.pixels.stage import clean_pixels  # noqa: E402
from deidnode.engine.policy import Policy  # noqa: E402

CAUSES = ("undetected", "partial", "read_kept", "other_removed", "quarantined")
TECHNICAL_CAUSES = ("garbled", "in_phi_line", "beside_phi", "no_reading", "quarantined")
ATTRIBUTES = ("jpeg", "size_bin", "colour", "orientation", "effect", "kind")


def _overlaps(a: list[int] | tuple[int, ...], b: list[int] | tuple[int, ...], margin: int = 2) -> bool:
    return min(a[2], b[2]) + margin > max(a[0], b[0]) and min(a[3], b[3]) + margin > max(a[1], b[1])


def cause_of(quarantined: bool, share: float, over: list[bool]) -> str:
    """The cause of one miss: ``over`` holds, for each reading overlapping the segment, whether it was removed."""
    if quarantined:
        return "quarantined"
    if not over:
        return "undetected"
    if any(over):
        return "partial" if share > 0 else "other_removed"
    return "read_kept"


def technical_cause_of(quarantined: bool, reaching: list[tuple[str, bool]]) -> str:
    """The cause of one technical segment lost: ``reaching`` holds, for each removed reading whose fill reaches
    the segment, its decision's kind and whether the reading's own box overlaps the segment."""
    if quarantined:
        return "quarantined"
    if not reaching:
        return "no_reading"
    if any(kind == "garbled" for kind, _over in reaching):
        return "garbled"
    return "in_phi_line" if any(over for _kind, over in reaching) else "beside_phi"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", type=Path, required=True, help="a dev-generated set (bench/pixelset.py --split dev)")
    ap.add_argument("--dump", type=Path, required=True, help="bench/pixels_quick.py --dump of that set")
    ap.add_argument("--list", action="store_true", help="print each miss with the readings over it")
    ap.add_argument("--technical", action="store_true", help="the technical segments lost, not the PHI missed")
    args = ap.parse_args(argv)
    role, causes = ("keep", TECHNICAL_CAUSES) if args.technical else ("phi", CAUSES)
    truth = {c["file"]: c for c in json.loads((args.set / "truth.json").read_text(encoding="utf-8"))}
    if not all(c["split"] == "dev" for c in truth.values()):
        ap.error(f"{args.set}: not a dev-generated set (held-out splits are not for tuning)")
    missed: dict[str, list[tuple[dict, float]]] = {}
    for line in args.dump.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r.get("role") == role and not r["ok"]:
            seg = next(s for s in truth[r["file"]]["segments"] if s["text"] == r["text"] and s["role"] == role)
            missed.setdefault(r["file"], []).append((seg, float(r["share"])))
    policy = Policy.from_settings(settings_from_dict({}), "default")
    keys = Keys(b"pixels-quick-benchmark-key-0123456789")
    counts: Counter[tuple[str, str, str]] = Counter()
    for name, segs in missed.items():
        ds = dcmread(args.set / name)
        found: list = []
        q = clean_pixels(ds, collect_phi(ds), policy, keys, {}, findings_out=found)
        for seg, share in segs:
            if args.technical:
                over = [f for f in found if f.redact and any(_overlaps(t, seg["box"], 0) for t in f.targets)]
                reaching = [(str(f.decision.kind), _overlaps(f.box.box, seg["box"], 0)) for f in over]
                cause = technical_cause_of(q is not None, reaching)
            else:
                over = [f for f in found if _overlaps(f.box.box, seg["box"])]
                cause = cause_of(q is not None, share, [f.redact for f in over])
            attrs = {**seg["attrs"], "kind": seg["kind"]}
            counts[("all", "", cause)] += 1
            for a in ATTRIBUTES:
                counts[(a, str(attrs.get(a)), cause)] += 1
            if args.list:
                print(f"{cause:13} {name} {seg['kind']} {seg['text']!r} share={share:.2f} {seg['box']}")
                for f in over:
                    print(f"    {f.box.box} {f.box.text!r}@{f.box.confidence:.2f} removed={f.redact} {f.decision.kind}")
    print("| attribute | value | " + " | ".join(causes) + " |")
    print("|---|---|" + "---|" * len(causes))
    for a, v in sorted({(a, v) for a, v, _c in counts}):
        print(f"| {a} | {v} | " + " | ".join(str(counts[(a, v, c)]) for c in causes) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
