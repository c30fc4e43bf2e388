"""Names in header free text that the instance does not hold: leaks and clinical words kept, per split and mode.

    python bench/names.py [--studies 12] [--instances 5]

Corpus: tests/names_corpus.py (studies whose comments, descriptions and SR text name colleagues held in a
sibling's header, and consultants and family held in no header; clinical sentences with eponyms). Splits: dev
(built with the rules) and heldout (not tuned on). Modes, default profile:
  own values only   what the engine did before this work: the instance's own PHI and generic patterns
  cues only         + honorific/role/family cues, no lexicon
  deid batch        + the batch lexicon (every file's words gathered first): what `deidnode deid` does
  node, siblings first   + the node's SQLite lexicon, the instances holding staff names processed first
  node, siblings last    the same, those instances processed last (names in earlier text were not yet known)
Also: words removed from clinical text without any name (false positives of the cues), on the corpus's clinical
sentences and a separate list of report sentences. Prints a table; writes bench/results/names.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import names_corpus as NC  # noqa: E402

from deidnode.config import Profile  # noqa: E402
from deidnode.engine import Keys, Policy, deidentify  # noqa: E402
from deidnode.engine.deidentify import lexicon_update  # noqa: E402
from deidnode.engine.names import NameCleaner  # noqa: E402
from deidnode.engine.phi import PhiValues  # noqa: E402
from deidnode.lexicon_store import MemoryLexicon, SQLiteLexicon  # noqa: E402

# Report sentences without any person's name (mixed and upper case), for the cues' false positives. Written for
# this benchmark, apart from the corpus.
REPORT_SENTENCES = [
    "PA and lateral views of the chest show no consolidation.",
    "DR images of the left knee: joint effusion, no fracture.",
    "Per protocol, delayed phase acquired at 5 minutes.",
    "Discussed with the referring team by telephone.",
    "Reported by the on-call radiologist; final report to follow.",
    "Mother has a history of breast cancer; screening MRI requested.",
    "Seen by ED, query appendicitis.",
    "Compared with prior study from the outside hospital.",
    "Findings consistent with Hodgkin lymphoma, stage II.",
    "Crohn's disease with a 10 cm segment of terminal ileal thickening.",
    "Parkinson disease: DaTscan shows reduced putaminal uptake.",
    "Alzheimer pattern of temporoparietal hypometabolism.",
    "Bankart lesion and Hill-Sachs defect after dislocation.",
    "Meckel diverticulum suspected on the technetium study.",
    "Wernicke encephalopathy cannot be excluded.",
    "Kerley B lines and upper lobe diversion.",
    "Murphy sign positive on ultrasound.",
    "MR CHOLANGIOGRAPHY: NO CHOLEDOCHOLITHIASIS.",
    "CT ABDOMEN PELVIS WITH CONTRAST PER ONCOLOGY REQUEST.",
    "DISCUSSED WITH REGISTRAR ON CALL AT 02:00.",
    "SON PRESENT, CONSENT OBTAINED.",
    "TECH NOTE: PATIENT MOVED DURING SEQUENCE 3.",
    "RN administered 5 mg midazolam IV.",
    "Nurse present throughout; no complications.",
    "Consultant review requested before discharge.",
    "Attending radiologist agrees with the preliminary read.",
    "Patient called back for additional views.",
    "Informed consent obtained from the guardian.",
    "Spoke with the ward sister regarding fasting status.",
    "Dr to review prior imaging when available.",
    "Ms patient anxious; scan completed with coaching.",
    "Dose length product 412 mGy cm; CTDIvol 8.1 mGy.",
    "Lisfranc injury with widening between the first and second metatarsals.",
    "Monteggia fracture-dislocation of the forearm.",
    "Boerhaave syndrome suspected: contrast leak at the distal oesophagus.",
    "Budd-Chiari syndrome with hepatic vein occlusion.",
    "Sister Mary Joseph nodule at the umbilicus.",
    "Pancoast tumour invading the brachial plexus.",
    "Virchow node enlarged in the left supraclavicular fossa.",
    "Mallory-Weiss tear not visible on CT.",
]


def _own_values_only(phi: PhiValues, *args: object, **kwargs: object) -> NameCleaner:
    c = NameCleaner(phi)
    c._cued = lambda text: []  # type: ignore[method-assign]
    return c


def run_mode(insts: list[NC.Instance], keys: Keys, policy: Policy, mode: str, tmp: Path) -> dict:
    lexicon: object | None = None
    order = list(insts)
    if mode == "deid batch":
        lexicon = MemoryLexicon()
        for inst in insts:
            lexicon.add(lexicon_update(copy.deepcopy(inst.dataset), keys, policy))  # type: ignore[attr-defined]
    elif mode.startswith("node"):
        lexicon = SQLiteLexicon(tmp / f"{mode.replace(' ', '_').replace(',', '')}.sqlite", 30 * 86400)
        order.sort(
            key=lambda i: (
                (i.study, 0 if i.holds_staff else 1) if "first" in mode else (i.study, 1 if i.holds_staff else 0)
            )
        )
    engine = sys.modules["deidnode.engine.deidentify"]  # the module (the package exports a function of that name)
    original = engine.NameCleaner
    if mode == "own values only":
        engine.NameCleaner = _own_values_only  # type: ignore[assignment,misc]
    leaks = kept = total = 0
    leaked_instances = 0
    t0 = time.perf_counter()
    try:
        for inst in order:
            r = deidentify(copy.deepcopy(inst.dataset), policy, keys, lexicon=lexicon)  # type: ignore[arg-type]
            assert r.ok, r.quarantine
            if mode.startswith("node") and r.lexicon is not None:
                lexicon.add(r.lexicon)  # type: ignore[union-attr]
            lk, k, t = NC.score(inst, r.dataset)
            leaks += len(lk)
            leaked_instances += bool(lk)
            kept += k
            total += t
    finally:
        engine.NameCleaner = original  # type: ignore[misc]
    names = sum(len(i.names) for i in insts)
    return {
        "names_planted": names,
        "names_leaked": leaks,
        "instances_leaking": leaked_instances,
        "clinical_kept": kept,
        "clinical_total": total,
        "clinical_kept_share": round(kept / total, 4),
        "ms_per_instance": round((time.perf_counter() - t0) / len(insts) * 1e3, 2),
    }


def false_positives(sentences: list[str]) -> dict:
    cleaner = NameCleaner(PhiValues())
    removed = total = 0
    changed = []
    for s in sentences:
        before, after = NC.words(s), NC.words(cleaner.clean(s))
        pool = list(after)
        for w in before:
            total += 1
            if w in pool:
                pool.remove(w)
            else:
                removed += 1
        if before != after:
            changed.append(s)
    return {"words": total, "removed": removed, "sentences_changed": len(changed), "changed": changed}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--studies", type=int, default=12)
    ap.add_argument("--instances", type=int, default=5)
    ap.add_argument("--json", default=str(HERE / "results" / "names.json"))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    keys, policy = Keys(b"bench-names-" * 3), Policy(profile=Profile())
    modes = ["own values only", "cues only", "deid batch", "node, siblings first", "node, siblings last"]
    results: dict = {"corpus": {}, "false_positives": {}}
    print(f"{args.studies} studies x {args.instances} instances per split, 5 text places per instance; default profile")
    print(f"{'split':8} {'mode':22} {'names':>6} {'leaked':>7} {'inst.':>6} {'clinical kept':>15} {'ms/inst':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for split in ("dev", "heldout"):
            insts = NC.build(split, args.studies, args.instances)
            results["corpus"][split] = {}
            for mode in modes:
                r = run_mode(insts, keys, policy, mode, Path(tmp))
                results["corpus"][split][mode] = r
                print(
                    f"{split:8} {mode:22} {r['names_planted']:6d} {r['names_leaked']:7d} "
                    f"{r['instances_leaking']:6d} {r['clinical_kept']:6d}/{r['clinical_total']:<5d} "
                    f"{r['clinical_kept_share']:.4f} {r['ms_per_instance']:8.2f}"[:200]
                )
    corpus_clinical = sorted({c for s in NC.SPLITS.values() for c in s["clinical"]})
    for name, sentences in (
        ("corpus clinical sentences", corpus_clinical),
        ("report sentences", REPORT_SENTENCES),
        ("report sentences, upper case", [s.upper() for s in REPORT_SENTENCES]),
    ):
        fp = false_positives(sentences)
        results["false_positives"][name] = fp
        print(
            f"false positives, {name}: {fp['removed']} of {fp['words']} words removed "
            f"({fp['sentences_changed']} of {len(sentences)} sentences changed)"
        )
        for s in fp["changed"]:
            print(f"   changed: {s}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"benchmark": "names", "studies": args.studies, "instances": args.instances, **results}, indent=2)
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
