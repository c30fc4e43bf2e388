"""A corpus of studies whose free text names people the instance itself does not hold: colleagues (named in the
header of a sibling instance: Operators' Name, Performing Physician, Reading Physician), consultants and family
members (named in no header at all). Comments, descriptions and SR text mix those names with clinical text
(anatomy, findings, drugs, eponyms) whose words must survive.

Two splits written separately: ``dev`` (used while building engine/names.py and the rules) and ``heldout``
(other names, other phrasings, other clinical sentences; not tuned on). ``build(split)`` returns the studies:
each instance with the names planted in its text and the clinical words in it, for leak and retention counts.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from phi_dataset import planted_ct
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

SPLITS = {
    "dev": {
        "staff": [
            ("Anselm", "Kowalski"),
            ("Ottoline", "Abernathy"),
            ("Casimir", "Thistlewood"),
            ("Perpetua", "Okonkwo"),
            ("Lucan", "Brzezinski"),
            ("Ingrid", "Lindgren"),
            ("Tobias", "Haddad"),
            ("Marguerite", "Fairweather"),
            ("Rufus", "Quennell"),
            ("Hildegard", "Ravensworth"),
        ],
        "consultants": [
            ("Aurelio", "Vasquez-Morales"),
            ("Bronwen", "Pemberton"),
            ("Kenji", "Nakamura"),
            ("Siobhan", "O'Sullivan"),
            ("Dmitri", "Volkonsky"),
            ("Efua", "Mensah"),
            ("Gottfried", "Achenbach"),
            ("Liesel", "Brandvold"),
        ],
        "family": [
            ("Mildred", "Cattermole"),
            ("Ezekiel", "Pomfrey"),
            ("Winifred", "Tregarthen"),
            ("Barnaby", "Lestrange"),
            ("Philomena", "Oakhurst"),
            ("Cornelius", "Fenwright"),
        ],
        "templates": [
            "Discussed with Dr {C} who agrees: {clin}",
            "{clin}. Reported by {S_full}.",
            "Wife {F} present during the scan. {clin}",
            "Results phoned to Prof. {C} at 14:20; {clin}",
            "{S} happy with positioning; {clin}",
            "Images reviewed by {S} and {S2}. {clin}",
            "Seen by registrar {C}. {clin}",
            "cc Dr {C}, Dr {C2}. {clin}",
            "Patient's daughter {F} interpreted. {clin}",
            "Per Dr. {C}, {clin}",
            "{clin}. Dictated by {S_full}, MD",
            "DISCUSSED WITH DR {C} - {clin}",
        ],
        "clinical": [
            "Hodgkin lymphoma staging, no new nodal disease",
            "no evidence of active Crohn's disease in the terminal ileum",
            "Parkinson disease protocol with thin sections through the basal ganglia",
            "small left pleural effusion, unchanged",
            "mild degenerative change at L4-L5 without canal stenosis",
            "no acute intracranial haemorrhage or infarct",
            "Baker cyst in the right popliteal fossa",
            "stable 4 mm nodule in the right upper lobe",
            "80 ml iodinated contrast given intravenously without reaction",
            "metformin withheld for 48 hours after contrast",
            "hepatic steatosis and a simple renal cyst",
            "fracture of the fifth metatarsal base, Jones fracture",
        ],
    },
    "heldout": {
        "staff": [
            ("Theodora", "Dziedzic"),
            ("Leopold", "Achterberg"),
            ("Seraphina", "Montgomery-Ruiz"),
            ("Ignatius", "Fitzwilliam"),
            ("Clementine", "Olufemi"),
            ("Ambrose", "Szczepanski"),
            ("Philippa", "Hargreaves"),
            ("Evander", "Ebbesen"),
            ("Rosalind", "Castellanos"),
            ("Mortimer", "Whitcombe"),
        ],
        "consultants": [
            ("Aurelie", "Delacroix-Bonnet"),
            ("Ravindra", "Subramaniam"),
            ("Yusuf", "Karadeniz"),
            ("Annika", "Westerhuis"),
            ("Cormac", "MacGillivray"),
            ("Ngozi", "Adeyemi-Cole"),
            ("Florian", "Schwarzenegger"),
            ("Ottavia", "Buonarroti"),
        ],
        "family": [
            ("Gwendolyn", "Featherstonehaugh"),
            ("Ptolemy", "Arbuthnot"),
            ("Hortensia", "Quigley"),
            ("Lysander", "Marchbanks"),
            ("Euphemia", "Dunsworth"),
            ("Crispin", "Hollingsworth"),
        ],
        "templates": [
            "Case reviewed at MDT with Mr {C}; {clin}",
            "{clin}; verified by {S_full}",
            "Husband {F} waiting in reception. {clin}",
            "Spoke to Dr {C} re {clin}",
            "Thanks {S}. {clin}",
            "Son {F} consented on behalf of the patient; {clin}",
            "Technologist {S}: {clin}",
            "{clin} (signed off by Professor {C_full})",
            "Appointment arranged with Ms {C}. {clin}",
            "{S} and {S2} performed the scan. {clin}",
            "Please inform Dr {C} of {clin}",
            "{clin}. Mother {F_full} accompanied the patient",
        ],
        "clinical": [
            "known Paget disease of the left hemipelvis",
            "Barrett oesophagus surveillance, no stricture",
            "Colles fracture of the left wrist with dorsal angulation",
            "Wilms tumour follow-up, no recurrence",
            "small volume free fluid in the pouch of Douglas",
            "Morton neuroma between the third and fourth metatarsal heads",
            "apixaban stopped two days before biopsy",
            "no pneumothorax after central line insertion",
            "Segond fracture suspected, MRI recommended",
            "Hashimoto thyroiditis with a heterogeneous gland",
            "Schmorl node at T11 and mild kyphosis",
            "circle of Willis aneurysm of 3 mm at the anterior communicating artery",
        ],
    },
}
# Where text goes (keyword, VR); all cleaned (C) under the default profile's Clean Descriptors and Clean
# Structured Content options.
TEXT_PLACES = [
    ("ImageComments", "LT"),
    ("StudyDescription", "LO"),
    ("SeriesDescription", "LO"),
    ("AdditionalPatientHistory", "LT"),
    ("TextValue", "UT"),
]
_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
_PATIENTS = [
    "Zanzibarova",
    "Quelchworth",
    "Rintoulova",
    "Scrymgeour",
    "Tollemache",
    "Urquhartson",
    "Vavasour",
    "Wolstenholme",
    "Xanthopoulou",
    "Yeatman-Biggs",
    "Zouche",
    "Ashburnham",
    "Bampfylde",
    "Cholmondeley",
]
_GIVEN = ["Araminta", "Bartholomew", "Cressida", "Dunstan", "Eulalia", "Fenella", "Godric", "Hyacinth"]
_FAKE = None


def _fake_name_words() -> set[str]:
    """The engine's pseudonym name lists: a word of these in a Person Name of the output is ours, not a leak."""
    global _FAKE
    if _FAKE is None:
        import yaml

        from deidnode.config import RULES_DIR

        doc = yaml.safe_load((RULES_DIR / "fake_names.yaml").read_text())
        _FAKE = {w.upper() for k in ("family", "given") for w in doc[k]}
    return _FAKE


def words(text: str) -> list[str]:
    return [w.upper() for w in _WORD.findall(text)]


@dataclass
class Instance:
    dataset: Dataset
    study: int
    index: int
    holds_staff: bool
    """Its header holds staff names (so other instances' text can be cleaned of them via the lexicon)."""
    names: set[str] = field(default_factory=set)
    """Name words planted in this instance's text, that its own header does not hold."""
    clinical: dict[str, list[str]] = field(default_factory=dict)
    """Per text place: the clinical words planted there."""


def _fill(template: str, rng: random.Random, staff, consultants, family, clin: str) -> tuple[str, set[str]]:
    s, s2 = rng.sample(staff, 2)
    c, c2 = rng.sample(consultants, 2)
    f = rng.choice(family)
    text = template.format(
        S=s[1],
        S2=s2[1],
        S_full=f"{s[0]} {s[1]}",
        C=c[1],
        C2=c2[1],
        C_full=f"{c[0]} {c[1]}",
        F=f[0],
        F_full=f"{f[0]} {f[1]}",
        clin=clin,
    )
    used = set()
    for key, person in (("{S}", s), ("{S2}", s2), ("{C}", c), ("{C2}", c2)):
        if key in template:
            used.add(person[1])
    if "{S_full}" in template:
        used.update(s)
    if "{C_full}" in template:
        used.update(c)
    if "{F}" in template:
        used.add(f[0])
    if "{F_full}" in template:
        used.update(f)
    names = {w for n in used for w in words(n)}
    if "DR {C}" in template:  # an all-capitals template
        text = text.upper()
    return text, names


def build(split: str, studies: int = 12, instances: int = 5, seed: int = 7) -> list[Instance]:
    """``studies`` studies of ``instances`` CT instances each. Instance 0 holds two staff in its header
    (Operators' Name, Performing Physician's Name), instance 1 a third (Name of Physicians Reading Study); every
    instance carries text in each of TEXT_PLACES naming staff, consultants or family."""
    spec = SPLITS[split]
    rng = random.Random(f"{split}-{seed}")
    out: list[Instance] = []
    for st in range(studies):
        staff = rng.sample(spec["staff"], 3)
        study_uid = f"1.2.826.0.1.3680043.10.1.{st}"
        for i in range(instances):
            ds = planted_ct(
                study_uid=study_uid,
                series_uid=f"{study_uid}.{i}",
                sop_uid=f"{study_uid}.{i}.1",
                frame_uid=f"{study_uid}.9",
            )
            ds.PatientName = f"{_PATIENTS[st % len(_PATIENTS)]}^{_GIVEN[st % len(_GIVEN)]}"
            ds.PatientID = f"NAMES{st:04d}"
            ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = f"{study_uid}.0.1"
            for kw in ("OperatorsName", "PerformingPhysicianName", "PatientComments", "ReferringPhysicianName"):
                if kw in ds:
                    del ds[kw]
            del ds.RequestAttributesSequence
            if i == 0:
                ds.OperatorsName = f"{staff[0][1]}^{staff[0][0]}"
                ds.PerformingPhysicianName = f"{staff[1][1]}^{staff[1][0]}"
            if i == 1:
                ds.NameOfPhysiciansReadingStudy = f"{staff[2][1]}^{staff[2][0]}"
            inst = Instance(ds, st, i, holds_staff=i in (0, 1))
            for place, _vr in TEXT_PLACES:
                clin = rng.choice(spec["clinical"])
                template = rng.choice(spec["templates"])
                text, names = _fill(template, rng, staff, spec["consultants"], spec["family"], clin)
                own = set()
                if i == 0:
                    own = {w for p in staff[:2] for w in words(" ".join(p))}
                if i == 1:
                    own = {w for w in words(" ".join(staff[2]))}
                inst.names |= names - own
                inst.clinical[place] = words(clin.upper() if text.isupper() else clin)
                if place == "TextValue":
                    ds.ContentSequence[0].TextValue = text
                else:
                    setattr(ds, place, text)
            out.append(inst)
    return out


def all_names(split: str) -> set[str]:
    spec = SPLITS[split]
    return {w for group in ("staff", "consultants", "family") for p in spec[group] for w in words(" ".join(p))}


def output_words(ds: Dataset) -> dict[str, list[str]]:
    """Words of every string value of a (de-identified) dataset, by text place; all other values under ''."""
    out: dict[str, list[str]] = {"": []}
    places = {kw for kw, _ in TEXT_PLACES}

    def visit(_ds: Dataset, elem) -> None:  # type: ignore[no-untyped-def]
        if elem.VR in ("SQ", "OB", "OW", "UN") or elem.value is None:
            return
        values = elem.value if isinstance(elem.value, list | tuple | Sequence) else [elem.value]
        text = " ".join(str(v) for v in values)
        key = elem.keyword if elem.keyword in places else ("PN" if elem.VR == "PN" else "")
        found = words(text)
        if key == "PN":  # pseudonyms come from the engine's name lists
            found = [w for w in found if w not in _fake_name_words()]
        out.setdefault(key, []).extend(found)

    ds.walk(visit)
    return out


def score(inst: Instance, out: Dataset) -> tuple[list[str], int, int]:
    """(name words found anywhere in the output, clinical words kept, clinical words planted)."""
    got = output_words(out)
    every = {w for ws in got.values() for w in ws}
    leaks = sorted(n for n in inst.names if n in every)
    kept = total = 0
    for place, clinical in inst.clinical.items():
        pool = list(got.get(place, []))
        for w in clinical:
            total += 1
            if w in pool:
                pool.remove(w)
                kept += 1
    return leaks, kept, total
