"""A labelled benchmark set for burned-in text, generated from real images that ship in packages.

Sources are pydicom's bundled test files (CT, MR, US, secondary captures; MONOCHROME2, RGB and YBR_FULL, one
shown as MONOCHROME1), scaled to 512x512. Onto each we burn text: the dataset's own PHI (names in several
forms, IDs, accession, dates in many formats, age, institution), PHI that is not in the metadata (phone
numbers, e-mail, other dates, a physician's label), and technical annotation that must be kept (W/L,
orientation, slice numbers, kVp, scale). Some images get no text. Everything is deterministic for a seed.

Ground truth per item: the string, its box, whether it is PHI and its origin (``metadata``, ``other``,
``keep``); the clean image (before burn-in) is kept so the benchmark can tell which glyph pixels are gone.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import convert_color_space
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SIZE = 512
FONT_FILES = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansMono-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    None,  # PIL's built-in font
]
FAMILY = [
    "SMITH",
    "GARCIA",
    "MUELLER",
    "OKONKWO",
    "JOHANSSON",
    "PETROVA",
    "NAKAMURA",
    "OBRIEN",
    "KOWALSKI",
    "FERREIRA",
    "LINDQVIST",
    "ABERNATHY",
    "DUBOIS",
    "HARGREAVES",
    "RAMIREZ",
    "WOJCIK",
]
GIVEN = [
    "JOHN",
    "MARIA",
    "HANS",
    "CHIDI",
    "ASTRID",
    "OLGA",
    "HIROSHI",
    "SEAMUS",
    "AGNIESZKA",
    "PAULO",
    "INGRID",
    "WALTER",
    "CELINE",
    "MARGARET",
    "ROSA",
    "TOMASZ",
]
INSTITUTIONS = [
    "Riverside General Hospital",
    "St Brendan Clinic",
    "Northfield Medical Center",
    "Lakeshore Imaging Institute",
]
KEEP = [
    "W 400 L 40",
    "W:1500 L:-600",
    "R",
    "L",
    "AP",
    "LAT",
    "Im: 12/40",
    "Se: 3",
    "5.0mm",
    "120 kVp",
    "250 mAs",
    "10 cm",
    "FR 30Hz",
    "Gain 52%",
    "TE 12",
    "TR 2000",
    "DFOV 36.0cm",
    "Zoom 1.2",
    "AXIAL",
    "SAG",
    "PORTABLE",
    "MLO",
    "LEFT",
    "Depth 16cm",
    "Tilt 0.0",
]
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
SOURCES = [
    ("CT_small.dcm", "CT"),
    ("MR_small.dcm", "MR"),
    ("examples_rgb_color.dcm", "US"),
    ("examples_ybr_color.dcm", "US"),
    ("SC_rgb_jpeg_dcmd.dcm", "OT"),
    ("image_dfl.dcm", "OT"),
    ("693_J2KI.dcm", "CT"),
    ("examples_overlay.dcm", "MR"),
]


@dataclass
class Item:
    text: str
    box: tuple[int, int, int, int]
    phi: bool
    source: str  # metadata | other | keep
    kind: str


def date_form(d: dt.date, k: int) -> str:
    y, m, day, mon = d.year, d.month, d.day, MONTHS[d.month - 1]
    forms = [
        f"{y}{m:02d}{day:02d}",
        f"{y} {mon} {day:02d}",
        f"{day:02d}-{mon.title()}-{y}",
        f"{m:02d}/{day:02d}/{y}",
        f"{day:02d}.{m:02d}.{y}",
        f"{y}-{m:02d}-{day:02d}",
        f"{y}/{m:02d}/{day:02d}",
        f"{mon.title()} {day}, {y}",
    ]
    return forms[k % len(forms)]


def name_form(family: str, given: str, k: int) -> str:
    forms = [
        f"{family}^{given}",
        f"{given.title()} {family.title()}",
        f"{family}, {given}",
        f"{family.title()}, {given.title()}",
        f"{family} {given}",
        f"Name: {family}^{given}",
    ]
    return forms[k % len(forms)]


def _source_image(fname: str) -> tuple[np.ndarray, str]:
    """(512x512 image, photometric) from a bundled file: uint16 monochrome or uint8 RGB."""
    ds = dcmread(get_testdata_file(fname))
    arr = ds.pixel_array
    if arr.ndim == 4 or (arr.ndim == 3 and ds.get("SamplesPerPixel", 1) == 1):
        arr = arr[0]
    pi = ds.PhotometricInterpretation
    if pi.startswith("YBR") and arr.ndim == 3:
        arr = convert_color_space(arr, "YBR_FULL", "RGB")
    if arr.ndim == 3:
        img = Image.fromarray(arr.astype(np.uint8), "RGB").resize((SIZE, SIZE), Image.BILINEAR)
        return np.asarray(img), "RGB"
    a = arr.astype(np.float32)
    a = (a - a.min()) / max(float(a.max() - a.min()), 1.0) * 3000.0
    img = Image.fromarray(a, "F").resize((SIZE, SIZE), Image.BILINEAR)
    return np.asarray(img).clip(0, 3000).astype(np.uint16), "MONOCHROME2"


def _font(path: str | None, size: int):
    if path is None or not Path(path).is_file():
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size)


def _place(texts, rng: random.Random, shape) -> list[tuple[str, tuple[int, int], object, int]]:
    """Lay lines out in the four corner stacks (one line each) plus a few free spots; no overlaps."""
    stacks = {"tl": 8, "tr": 8, "bl": SIZE - 8, "br": SIZE - 8}
    placed = []
    occupied: list[tuple[int, int, int, int]] = []
    for t in texts:
        fpath = rng.choice(FONT_FILES)
        size = rng.randint(11, 22)
        font = _font(fpath, size)
        x0, y0, x1, y1 = font.getbbox(t)
        w, h = x1 - x0, y1 - y0
        for _ in range(20):
            corner = rng.choice(list(stacks) + ["free"])
            if corner == "free":
                x, y = rng.randint(40, SIZE - w - 40), rng.randint(60, SIZE - 80)
            elif corner.startswith("t"):
                y = stacks[corner]
                x = 8 + rng.randint(0, 20) if corner == "tl" else SIZE - 8 - w - rng.randint(0, 20)
            else:
                y = stacks[corner] - h - 4
                x = 8 + rng.randint(0, 20) if corner == "bl" else SIZE - 8 - w - rng.randint(0, 20)
            if x < 0 or x + w > SIZE or y < 0 or y + h > SIZE:
                continue
            box = (x - 14, y - 8, x + w + 14, y + h + 8)
            if any(not (box[2] <= o[0] or o[2] <= box[0] or box[3] <= o[1] or o[3] <= box[1]) for o in occupied):
                continue
            occupied.append(box)
            if corner in ("tl", "tr"):
                stacks[corner] = y + h + 10
            elif corner in ("bl", "br"):
                stacks[corner] = y - 6
            placed.append((t, (x - x0, y - y0), font, size))
            break
    return placed


def make_case(i: int, seed: int = 5) -> tuple[Dataset, np.ndarray, list[Item]]:
    """One benchmark instance: the dataset (text burned in), the clean image, and the ground truth."""
    rng = random.Random(seed * 1000 + i)
    fname, modality = SOURCES[i % len(SOURCES)]
    clean, pi = _source_image(fname)
    family, given = rng.choice(FAMILY), rng.choice(GIVEN)
    pid = str(rng.randint(10**6, 10**9))
    acc = "A" + str(rng.randint(10**5, 10**7))
    birth = dt.date(rng.randint(1930, 2010), rng.randint(1, 12), rng.randint(1, 28))
    study = dt.date(rng.randint(2001, 2025), rng.randint(1, 12), rng.randint(1, 28))
    age = (study - birth).days // 365
    sex = rng.choice("MF")
    inst = rng.choice(INSTITUTIONS)
    n_kind = i % 7
    texts: list[tuple[str, bool, str, str]] = []
    if n_kind != 0:  # one in seven images carries no text
        texts.append((name_form(family, given, rng.randint(0, 5)), True, "metadata", "name"))
        for _ in range(rng.randint(1, 2)):
            texts.append((date_form(rng.choice([birth, study]), rng.randint(0, 7)), True, "metadata", "date"))
        texts.append((rng.choice([f"ID: {pid}", pid, f"MRN {pid}"]), True, "metadata", "id"))
        if rng.random() < 0.5:
            texts.append((rng.choice([f"Acc: {acc}", acc]), True, "metadata", "id"))
        if rng.random() < 0.5:
            texts.append((rng.choice([f"{age:03d}Y", f"{age}Y {sex}", f"Age {age}"]), True, "metadata", "age"))
        if rng.random() < 0.4:
            texts.append((inst, True, "metadata", "text"))
        if rng.random() < 0.5:
            other = dt.date(rng.randint(1990, 2024), rng.randint(1, 12), rng.randint(1, 28))
            texts.append(
                (
                    rng.choice(
                        [
                            f"Tel {rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
                            f"{rng.choice(GIVEN).lower()}.{rng.choice(FAMILY).lower()}@mail.org",
                            date_form(other, rng.randint(0, 7)),
                            f"Dr. {rng.choice(FAMILY).title()}",
                            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
                        ]
                    ),
                    True,
                    "other",
                    "other",
                )
            )
        for k in rng.sample(KEEP, rng.randint(2, 5)):
            texts.append((k, False, "keep", "keep"))
    rng.shuffle(texts)
    placed = _place([t[0] for t in texts], rng, clean.shape)
    meta = {t[0]: t for t in texts}

    img = clean.copy()
    items: list[Item] = []
    if pi == "RGB":
        canvas = Image.fromarray(img, "RGB")
    else:
        canvas = Image.fromarray(img.astype(np.int32), "I")
    draw = ImageDraw.Draw(canvas)
    for text, xy, font, _size in placed:
        if pi == "RGB":
            l_, t_, r_, b_ = draw.textbbox(xy, text, font=font)
            local = float(clean[max(t_, 0) : b_, max(l_, 0) : r_].mean()) if b_ > t_ and r_ > l_ else 0.0
            bright = [(255, 255, 255), (255, 255, 0), (0, 255, 0), (0, 255, 255)]
            dark = [(20, 20, 140), (120, 0, 0), (40, 40, 40)]  # on bright images; never the black fill
            colour = rng.choice(dark if local > 140 else bright)
        else:
            colour = rng.choice([4095, 3800])
        draw.text(xy, text, fill=colour, font=font)
        x0, y0, x1, y1 = draw.textbbox(xy, text, font=font)
        _, phi, source, kind = meta[text]
        items.append(Item(text, (int(x0), int(y0), int(x1), int(y1)), phi, source, kind))
    burned = np.asarray(canvas).astype(clean.dtype)

    ds = _dataset(burned, pi, modality, i, rng, family, given, pid, acc, birth, study, age, sex, inst, bool(texts))
    return ds, clean, items


def _dataset(pixels, pi, modality, i, rng, family, given, pid, acc, birth, study, age, sex, inst, has_text):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sop_class = (
        "1.2.840.10008.5.1.4.1.1.7"
        if modality == "OT"
        else {
            "CT": "1.2.840.10008.5.1.4.1.1.2",
            "MR": "1.2.840.10008.5.1.4.1.1.4",
            "US": "1.2.840.10008.5.1.4.1.1.6.1",
        }[modality]
    )
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    uid = generate_uid(entropy_srcs=[f"deidnode-bench-{i}"])
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, uid
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[f"study-{i}"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[f"series-{i}"])
    ds.Modality = modality
    ds.PatientName = f"{family}^{given}"
    ds.PatientID = pid
    ds.AccessionNumber = acc
    ds.PatientBirthDate = birth.strftime("%Y%m%d")
    ds.StudyDate = study.strftime("%Y%m%d")
    ds.PatientAge = f"{age:03d}Y"
    ds.PatientSex = sex
    ds.InstitutionName = inst
    ds.ReferringPhysicianName = f"{rng.choice(FAMILY)}^{rng.choice(GIVEN)}"
    if modality in ("CT", "MR"):
        ds.BurnedInAnnotation = "YES" if has_text and i % 2 else "NO"  # the other half: text check decides
    ds.Rows, ds.Columns = pixels.shape[0], pixels.shape[1]
    if pi == "RGB":
        ds.PhotometricInterpretation, ds.SamplesPerPixel, ds.PlanarConfiguration = "RGB", 3, 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
    else:
        ds.PhotometricInterpretation, ds.SamplesPerPixel = "MONOCHROME2", 1
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    return ds


def generate(out_dir: Path, n: int = 56, seed: int = 5) -> list[dict]:
    """Write ``n`` cases to ``out_dir`` (case_XXX.dcm, case_XXX_clean.npy), truth.json; return the truth."""
    out_dir.mkdir(parents=True, exist_ok=True)
    truth = []
    for i in range(n):
        ds, clean, items = make_case(i, seed)
        name = f"case_{i:03d}"
        ds.save_as(out_dir / f"{name}.dcm", enforce_file_format=True)
        np.save(out_dir / f"{name}_clean.npy", clean)
        truth.append(
            {
                "file": f"{name}.dcm",
                "clean": f"{name}_clean.npy",
                "modality": ds.Modality,
                "items": [asdict(it) for it in items],
            }
        )
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return truth
