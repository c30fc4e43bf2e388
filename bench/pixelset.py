"""A hard, split benchmark set for burned-in text: real backgrounds, many fonts, labelled down to each word.

    python bench/pixelset.py --split dev --out bench/results/pixelset-dev     # writes the files and truth.json

Each split has its own seed, its own fonts (``pixelset_fonts``: families the other splits never see), its own
layout variants and vocabulary of technical annotation; ``dev`` is for tuning, ``test`` is held out, ``fresh``
is a third split kept unseen until a final run. Backgrounds are real CT, MR, US (grey, colour Doppler, a
120-frame cine), CR, NM and secondary-capture images from pydicom's test data without their own text
(``pixelset_sources``), scaled to 256..1024 px and stored as MONOCHROME1/2 (8, 12, 16 bit, signed), RGB,
YBR_FULL or PALETTE COLOR, natively or as JPEG Baseline.

Onto four in five images we burn lines of text. Every line is made of segments, each labelled ``phi`` (the
dataset's own values in many forms, names behind role labels, phone numbers, e-mail, other dates and times),
``keep`` (technical annotation: W/L, orientation, kVp, depth, frame numbers...) or ``label`` ("Name:", "Tech:":
neither). Each segment records its box, its glyph pixels (``mask``: segment index + 1 per pixel) and the
categories the report groups by: contrast (display levels between text and its background, 8..255), size
(7..28 px), colour (grey, colour text, iso-luminant colour), font family and style (sans, serif, mono,
bitmap), background (dark, anatomy, label box), effect (plain, outline, shadow), orientation (vertical
labels), two-line blocks, row sharing (PHI and technical text on the same row), JPEG artefacts, and
multi-frame cines whose text changes between frames. The fifth image is clean (no text; graphics such as
calipers, scale bars and ECG traces on some) for false positives. Deterministic for a split and index.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pixelset_fonts as fonts  # noqa: E402
import pixelset_sources as sources  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.encaps import encapsulate  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid  # noqa: E402


@dataclass(frozen=True)
class SplitSpec:
    seed: int
    layouts: tuple[str, ...]
    margin: tuple[int, int]  # px from the image edge
    line_spacing: tuple[float, float]  # line pitch / text height
    row_gap: tuple[int, int]  # spaces between fields sharing a row
    keep: tuple[str, ...]  # technical annotation of this split
    names: tuple[tuple[str, ...], tuple[str, ...]]  # family, given names


# Technical annotation as devices burn it; each split draws from its own share (none is shared).
KEEP_POOL = (
    "W 400 L 40",
    "W:1500 L:-600",
    "WL 40 WW 400",
    "C 50 W 350",
    "R",
    "L",
    "AP",
    "PA",
    "LAT",
    "H",
    "F",
    "Im: 12/40",
    "Se: 3",
    "Im 118",
    "Ser 4 Img 22",
    "5.0mm",
    "2.5 mm",
    "120 kVp",
    "250 mAs",
    "100 kV",
    "10 cm",
    "FR 30Hz",
    "28Hz",
    "Gain 52%",
    "Gn 60",
    "TE 12",
    "TR 2000",
    "TI 150",
    "DFOV 36.0cm",
    "FOV 24 cm",
    "Zoom 1.2",
    "AXIAL",
    "SAG",
    "COR",
    "PORTABLE",
    "MLO",
    "CC",
    "LEFT",
    "RIGHT",
    "Depth 16cm",
    "D 11cm",
    "Tilt 0.0",
    "MI 1.1",
    "TIS 0.4",
    "TIB 0.2",
    "C5-1",
    "L12-5",
    "2D",
    "THI",
    "CF 3.5MHz",
    "PRF 2.5kHz",
    "WF 120Hz",
    "Dyn R 60",
    "Fr 12/24",
    "Page 1/3",
    "ST 5.0",
    "SL 1.25",
    "Thk 3mm",
    "Ex: CT",
    "kV 80",
    "mA 200",
    "1.0 sec",
    "Pitch 0.98",
    "B30f",
    "STANDARD",
    "BONE",
    "T1",
    "T2 FLAIR",
    "DWI b1000",
    "ETL 16",
    "NEX 2",
    "BW 31.2",
    "ZOOM 150%",
    "Scale 1:1",
    "x2",
    "PW",
    "CW",
    "COLOR",
    "Angle 60",
    "SV 2mm",
    "Vel 45 cm/s",
    "HR 72 bpm",
    "65bpm",
    "Power 100%",
    "P Low",
    "HPen",
    "Res",
    "Gen",
    "MB Off",
    "DR 70",
)
NAME_POOL_FAMILY = (
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
    "NGUYEN",
    "HOFFMANN",
    "ADEYEMI",
    "CASTELLANOS",
    "BJORKLUND",
    "MORETTI",
    "KAPOOR",
    "OSULLIVAN",
    "TANAKA",
    "VASQUEZ",
    "FISCHER",
    "MBEKI",
    "ROSSI",
    "ANDERSEN",
    "KRISTIANSEN",
    "ALVAREZ",
    "CHOWDHURY",
    "PAPADOPOULOS",
    "WESTBROOK",
    "LEFEBVRE",
    "MACKENZIE",
    "HALVORSEN",
    "DIMITROV",
    "QUINTERO",
    "BELANGER",
    "YAMAMOTO",
    "STRAUSS",
)
NAME_POOL_GIVEN = (
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
    "LINH",
    "GRETA",
    "FOLAKE",
    "ESTEBAN",
    "SIGRID",
    "LUCA",
    "PRIYA",
    "NIAMH",
    "KENJI",
    "ISABEL",
    "KLAUS",
    "THABO",
    "GIULIA",
    "METTE",
    "ERIK",
    "CAROLINA",
    "RAHIM",
    "ELENI",
    "HAROLD",
    "AMELIE",
    "FIONA",
    "OYSTEIN",
    "BORIS",
    "MARISOL",
    "YVES",
    "YUKI",
    "FRIEDA",
)


def _share(pool: tuple[str, ...], k: int) -> tuple[str, ...]:
    return tuple(x for i, x in enumerate(pool) if i % 3 == k)


SPLITS: dict[str, SplitSpec] = {
    "dev": SplitSpec(
        101,
        ("corners", "band_top", "labelbox", "free", "vertical", "twoline"),
        (4, 24),
        (1.15, 1.45),
        (2, 5),
        _share(KEEP_POOL, 0),
        (_share(NAME_POOL_FAMILY, 0), _share(NAME_POOL_GIVEN, 0)),
    ),
    "test": SplitSpec(
        202,
        ("corners", "band_bottom", "labelbox", "free", "vertical", "twoline", "table"),
        (2, 40),
        (1.0, 1.6),
        (1, 6),
        _share(KEEP_POOL, 1),
        (_share(NAME_POOL_FAMILY, 1), _share(NAME_POOL_GIVEN, 1)),
    ),
    "fresh": SplitSpec(
        303,
        ("corners", "band_top", "band_bottom", "labelbox", "free", "vertical", "twoline", "bottom_bar"),
        (3, 32),
        (1.05, 1.5),
        (1, 6),
        _share(KEEP_POOL, 2),
        (_share(NAME_POOL_FAMILY, 2), _share(NAME_POOL_GIVEN, 2)),
    ),
}

INSTITUTIONS = (
    "Riverside General Hospital",
    "St Brendan Clinic",
    "Northfield Medical Center",
    "Lakeshore Imaging Institute",
    "Harbor View Radiology",
    "Mount Carmel Hospital",
    "Westgate Diagnostics",
    "Elm Street Clinic",
)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
ROLE_LABELS = (
    "Tech:",
    "TECH:",
    "Technologist:",
    "Operator:",
    "OPERATOR",
    "Scanned by:",
    "Scanned by",
    "Performed by:",
    "Physician:",
    "Dr.",
    "DR",
    "Ref:",
    "Ref. Phys:",
    "Pt:",
    "PT:",
    "Patient:",
    "Name:",
    "NAME:",
)
CONTRAST_BINS = {"low": (8, 24), "mid": (24, 80), "high": (80, 255)}
SIZE_BINS = ((7, 9, "7-9"), (10, 13, "10-13"), (14, 19, "14-19"), (20, 28, "20-28"))
COLOURS = {  # saturated overlay colours, as unit RGB
    "yellow": (1.0, 1.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "cyan": (0.0, 1.0, 1.0),
    "orange": (1.0, 0.6, 0.0),
    "magenta": (1.0, 0.0, 1.0),
    "red": (1.0, 0.15, 0.1),
    "blue": (0.2, 0.3, 1.0),
    "white": (1.0, 1.0, 1.0),
}


@dataclass
class Segment:
    text: str
    role: str  # phi | keep | label
    kind: str  # name, id, date, ... | keep | label
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    frames: list[int] | None = None  # None: every frame
    attrs: dict = field(default_factory=dict)


@dataclass
class Patient:
    family: str
    given: str
    pid: str
    acc: str
    birth: dt.date
    study: dt.date
    age: int
    sex: str
    inst: str
    referring: str


# ---------------------------------------------------------------------------------------------- text forms


def date_form(d: dt.date, k: int) -> str:
    y, m, day, mon = d.year, d.month, d.day, MONTHS[d.month - 1]
    forms = (
        f"{y}{m:02d}{day:02d}",
        f"{y} {mon} {day:02d}",
        f"{day:02d}-{mon.title()}-{y}",
        f"{m:02d}/{day:02d}/{y}",
        f"{day:02d}.{m:02d}.{y}",
        f"{y}-{m:02d}-{day:02d}",
        f"{y}/{m:02d}/{day:02d}",
        f"{mon.title()} {day}, {y}",
        f"{m}/{day}/{y}",
        f"{day} {mon} {y}",
        f"{day:02d}/{m:02d}/{y % 100:02d}",
        f"{y}.{m:02d}.{day:02d}",
    )
    return forms[k % len(forms)]


def name_form(family: str, given: str, k: int) -> str:
    forms = (
        f"{family}^{given}",
        f"{given.title()} {family.title()}",
        f"{family}, {given}",
        f"{family.title()}, {given.title()}",
        f"{family} {given}",
        f"{family}",
        f"{given[0]}. {family.title()}",
        f"{family.title()} {given[0]}.",
    )
    return forms[k % len(forms)]


def other_name(rng: random.Random, spec: SplitSpec) -> str:
    fam, giv = rng.choice(spec.names[0]), rng.choice(spec.names[1])
    return rng.choice(
        [
            fam.title(),
            f"{giv[0]}. {fam.title()}",
            f"{fam} {giv[0]}",
            f"{giv.title()} {fam.title()}",
            fam,
            f"{giv[0]}{fam[0]}{rng.choice('ABCDEFGHJKLMNPRST')}",
            f"{fam.title()}, {giv[0]}.",
        ]
    )


def _phi_fields(rng: random.Random, p: Patient, spec: SplitSpec) -> list[list[Segment]]:
    """Candidate PHI lines (each a list of segments), a random selection of kinds and forms."""
    out: list[list[Segment]] = []
    lab = rng.random() < 0.45
    name = name_form(p.family, p.given, rng.randrange(8))
    if lab:
        out.append(
            [
                Segment(rng.choice(["Name:", "Patient:", "Pt:", "PATIENT", "Pat. Name:"]), "label", "label"),
                Segment(name, "phi", "name"),
            ]
        )
    else:
        out.append([Segment(name, "phi", "name")])
    d = rng.choice([p.birth, p.study])
    dlab = {p.birth: ["DOB:", "Born", "DOB"], p.study: ["Study:", "Exam date", "Date:"]}[d]
    seg = Segment(date_form(d, rng.randrange(12)), "phi", "date")
    out.append([Segment(rng.choice(dlab), "label", "label"), seg] if rng.random() < 0.4 else [seg])
    pid = rng.choice([p.pid, f"{p.pid[:3]}-{p.pid[3:6]}-{p.pid[6:]}" if len(p.pid) > 7 else p.pid])
    idl = rng.choice(["ID:", "MRN", "PID:", "Patient ID:", "#", None])
    out.append(([Segment(idl, "label", "label")] if idl else []) + [Segment(pid, "phi", "id")])
    if rng.random() < 0.5:
        accl = rng.choice(["Acc:", "Acc#", "Accession", None])
        out.append(([Segment(accl, "label", "label")] if accl else []) + [Segment(p.acc, "phi", "id")])
    if rng.random() < 0.45:
        out.append(
            [Segment(rng.choice([f"{p.age:03d}Y", f"{p.age}Y {p.sex}", f"Age {p.age}", f"{p.age} YRS"]), "phi", "age")]
        )
    if rng.random() < 0.35:
        out.append([Segment(p.inst if rng.random() < 0.6 else p.inst.upper(), "phi", "text")])
    # names behind role labels, not in the metadata (or the referring physician's)
    for _ in range(rng.choice([0, 1, 1, 2])):
        label = rng.choice(ROLE_LABELS)
        val = other_name(rng, spec) if rng.random() < 0.8 else p.referring
        out.append([Segment(label, "label", "label"), Segment(val, "phi", "other_name")])
    if rng.random() < 0.45:
        kind, val = rng.choice(
            [
                ("phone", f"Tel {rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"),
                ("phone", f"({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}"),
                ("email", f"{rng.choice(spec.names[1]).lower()}.{rng.choice(spec.names[0]).lower()}@mail.org"),
                (
                    "date",
                    date_form(
                        dt.date(rng.randint(1990, 2024), rng.randint(1, 12), rng.randint(1, 28)), rng.randrange(12)
                    ),
                ),
                ("time", f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"),
                (
                    "time",
                    f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} "
                    f"{rng.choice(['AM', 'PM'])}",
                ),
            ]
        )
        out.append([Segment(val, "phi", kind)])
    return out


def _keep_fields(rng: random.Random, spec: SplitSpec, n: int) -> list[list[Segment]]:
    return [[Segment(k, "keep", "keep")] for k in rng.sample(spec.keep, n)]


# ---------------------------------------------------------------------------------------------- rendering


def _ink(font, text: str, antialias: bool) -> tuple[np.ndarray, int, int]:
    """Alpha (0..1) of ``text`` drawn at the origin, and the origin's offset inside the array."""
    left, top, right, bottom = font.getbbox(text)
    pad = 3
    w, h = max(1, right - left + 2 * pad), max(1, bottom - top + 2 * pad)
    img = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(img)
    d.fontmode = "L" if antialias else "1"
    d.text((pad - left, pad - top), text, fill=255, font=font)
    return np.asarray(img, dtype=np.float32) / 255.0, pad - left, pad - top


@dataclass
class Line:
    """One row of segments in one font; rendered into per-segment alpha layers at a position."""

    segments: list[Segment]
    font: fonts.FontSpec
    size: int
    antialias: bool
    gaps: list[int]  # spaces before each segment (first: 0)
    vertical: int = 0  # 0, 90 or 270 degrees
    layers: list[np.ndarray] = field(default_factory=list)  # per segment alpha, line-local
    w: int = 0
    h: int = 0

    def layout(self) -> None:
        f = fonts.load(self.font, self.size)
        text = ""
        pieces = []
        for seg, gap in zip(self.segments, self.gaps, strict=True):
            text += " " * gap
            pieces.append((len(text), seg.text))
            text += seg.text
        full, ox, oy = _ink(f, text, self.antialias)
        layers = []
        for start, t in pieces:
            a = np.zeros_like(full)
            seg_ink, sx, sy = _ink(f, t, self.antialias)
            x = int(round(ox + f.getlength(text[:start]))) - sx
            y = oy - sy
            h = min(seg_ink.shape[0], a.shape[0] - max(y, 0))
            ys, xs = max(y, 0), max(x, 0)
            part = seg_ink[ys - y : ys - y + h, xs - x : xs - x + a.shape[1] - xs]
            a[ys : ys + part.shape[0], xs : xs + part.shape[1]] = np.maximum(
                a[ys : ys + part.shape[0], xs : xs + part.shape[1]], part
            )
            layers.append(a)
        # trim the line to its ink
        ink = np.maximum.reduce(layers) if layers else full
        ys_, xs_ = np.nonzero(ink > 0.05)
        if ys_.size == 0:
            self.layers, self.w, self.h = [], 0, 0
            return
        y0, y1, x0, x1 = ys_.min(), ys_.max() + 1, xs_.min(), xs_.max() + 1
        layers = [a[y0:y1, x0:x1] for a in layers]
        if self.vertical:
            k = 1 if self.vertical == 90 else 3
            layers = [np.rot90(a, k) for a in layers]
        self.layers = [np.ascontiguousarray(a) for a in layers]
        self.h, self.w = self.layers[0].shape


def _size_bin(size: int) -> str:
    return next(lbl for lo, hi, lbl in SIZE_BINS if lo <= size <= hi)


def _contrast_bin(levels: float) -> str:
    if levels < 24:
        return "low"
    return "mid" if levels < 80 else "high"


# ---------------------------------------------------------------------------------------------- canvas


class Canvas:
    """The image being built, in display-linear floats [0, 1]: (frames, rows, cols[, 3])."""

    def __init__(self, frames: np.ndarray) -> None:
        self.img = frames.astype(np.float32)
        self.colour = frames.ndim == 4
        self.n, self.rows, self.cols = frames.shape[:3]
        self.mask = np.zeros((self.n, self.rows, self.cols), np.uint16)  # segment index + 1 on glyph pixels
        self.occupied: list[tuple[int, int, int, int]] = []

    def free(self, box: tuple[int, int, int, int], gap: int = 3) -> bool:
        x0, y0, x1, y1 = box
        if x0 < 0 or y0 < 0 or x1 > self.cols or y1 > self.rows:
            return False
        return all(x1 + gap <= o[0] or o[2] + gap <= x0 or y1 + gap <= o[1] or o[3] + gap <= y0 for o in self.occupied)

    def luminance(self, f: int = 0) -> np.ndarray:
        a = self.img[f]
        return a @ np.array([0.299, 0.587, 0.114], np.float32) if self.colour else a

    def bg_stats(self, box: tuple[int, int, int, int], f: int = 0) -> tuple[np.ndarray, float]:
        x0, y0, x1, y1 = box
        region = self.img[f, y0:y1, x0:x1]
        lum = self.luminance(f)[y0:y1, x0:x1]
        mean = region.reshape(-1, 3).mean(axis=0) if self.colour else np.array([region.mean()], np.float32)
        return mean, float(lum.std())

    def paint(self, alpha: np.ndarray, x: int, y: int, colour: np.ndarray, frames: list[int]) -> None:
        h, w = alpha.shape
        for f in frames:
            reg = self.img[f, y : y + h, x : x + w]
            a = alpha[..., None] if self.colour else alpha
            reg[...] = reg * (1 - a) + colour * a

    def rect(self, box: tuple[int, int, int, int], colour: np.ndarray, frames: list[int]) -> None:
        x0, y0, x1, y1 = box
        for f in frames:
            self.img[f, y0:y1, x0:x1] = colour


@dataclass
class Style:
    contrast_bin: str
    colour_kind: str  # grey | colour | isoluminant
    colour_name: str
    effect: str  # plain | outline | shadow
    polarity: str = "auto"


def _text_colour(
    rng: random.Random, canvas: Canvas, bg: np.ndarray, sigma: float, style: Style
) -> tuple[np.ndarray, float]:
    """A text colour for a background of mean ``bg`` and texture ``sigma``: (colour, contrast in levels)."""
    lo, hi = CONTRAST_BINS[style.contrast_bin]
    levels = rng.uniform(lo, hi)
    levels = max(levels, 3.0 * sigma * 255.0)  # legible: well above the background's texture
    delta = min(levels, 255.0) / 255.0
    mean_lum = float(bg.mean()) if not canvas.colour else float(bg @ np.array([0.299, 0.587, 0.114]))
    if not canvas.colour or style.colour_kind == "grey":
        up = mean_lum + delta <= 1.0 and (mean_lum < 0.5 or rng.random() < 0.3) or mean_lum - delta < 0
        v = min(1.0, mean_lum + delta) if up else max(0.0, mean_lum - delta)
        col = np.full(3 if canvas.colour else 1, v, np.float32)
        return (col if canvas.colour else col[:1]), abs(v - mean_lum) * 255.0
    if style.colour_kind == "isoluminant":
        direction = np.array(
            rng.choice([(1.0, -0.51, 0.0), (-1.0, 0.51, 0.0), (0.0, -0.19, 1.0), (0.0, 0.19, -1.0)]), np.float32
        )
    else:
        target = np.array(COLOURS[style.colour_name], np.float32)
        direction = target - bg
        if np.abs(direction).max() < 1e-3:
            direction = np.array([0.0, 1.0, 0.0], np.float32)
    direction = direction / np.abs(direction).max()
    col = np.clip(bg + delta * direction, 0, 1).astype(np.float32)
    return col, float(np.abs(col - bg).max() * 255.0)


def _draw_line(
    rng: random.Random,
    canvas: Canvas,
    line: Line,
    x: int,
    y: int,
    style: Style,
    frames_of: list[list[int]],
    segs_out: list[Segment],
    attrs: dict,
    fill_box: np.ndarray | None = None,
) -> None:
    """Paint ``line`` at (x, y) with ``style``; each segment on its frames; record boxes, masks, categories."""
    box = (x, y, x + line.w, y + line.h)
    all_frames = sorted({f for fl in frames_of for f in fl})
    bg, sigma = canvas.bg_stats(box, all_frames[0])
    if fill_box is not None:
        bg, sigma = fill_box, 0.0
    colour, levels = _text_colour(rng, canvas, bg, sigma, style)
    lum_c = float(colour.mean()) if not canvas.colour else float(colour @ np.array([0.299, 0.587, 0.114]))
    lum_b = float(bg.mean()) if not canvas.colour else float(bg @ np.array([0.299, 0.587, 0.114]))
    for seg, alpha, fl in zip(line.segments, line.layers, frames_of, strict=True):
        ink = alpha.copy()
        if style.effect == "outline":
            k = 2 if line.size >= 14 else 1
            ring = np.clip(cv2.dilate(alpha, np.ones((2 * k + 1, 2 * k + 1), np.uint8)) - alpha, 0, 1)
            edge = np.zeros_like(colour) if lum_c > 0.5 else np.ones_like(colour)
            canvas.paint(ring, x, y, edge, fl)
            ink = np.maximum(ink, ring)
        elif style.effect == "shadow":
            dx = dy = 1 if line.size < 14 else 2
            sh = np.zeros_like(alpha)
            sh[dy:, dx:] = alpha[:-dy, :-dx]
            sh = np.clip(sh - alpha, 0, 1)
            shade = np.zeros_like(colour) if lum_c > 0.35 else np.ones_like(colour) * 0.8
            canvas.paint(sh, x, y, shade, fl)
            ink = np.maximum(ink, sh)
        canvas.paint(alpha, x, y, colour, fl)
        ys, xs = np.nonzero(ink >= 0.5)
        if ys.size == 0:
            continue
        seg.box = (int(x + xs.min()), int(y + ys.min()), int(x + xs.max() + 1), int(y + ys.max() + 1))
        seg.frames = None if len(fl) == canvas.n else list(fl)
        idx = len(segs_out) + 1
        core = alpha >= 0.5
        for f in fl:
            m = canvas.mask[f, y : y + line.h, x : x + line.w]
            m[core] = idx
        seg.attrs = {
            **attrs,
            "font": line.font.name,
            "family": line.font.family,
            "style": line.font.style,
            "size": line.font.strike or line.size,
            "size_bin": _size_bin(line.font.strike or line.size),
            "antialias": line.antialias,
            "contrast": round(levels, 1),
            "contrast_bin": _contrast_bin(levels),
            "luminance_contrast": round(abs(lum_c - lum_b) * 255.0, 1),
            "colour": style.colour_kind if canvas.colour else "grey",
            "effect": style.effect,
            "orientation": "vertical" if line.vertical else "horizontal",
            "row_shared": len({s.role for s in line.segments if s.role != "label"}) > 1,
        }
        segs_out.append(seg)
    canvas.occupied.append(box)


# ---------------------------------------------------------------------------------------------- layouts


def _pick_font(rng: random.Random, split: str, small: bool) -> tuple[fonts.FontSpec, int, bool]:
    pool = fonts.fonts_for(split)
    style = rng.choices(["sans", "serif", "mono", "bitmap"], [0.35, 0.15, 0.25, 0.25])[0]
    cands = [f for f in pool if f.style == style] or list(pool)
    fam = rng.choice(sorted({f.family for f in cands}))
    spec = rng.choice([f for f in cands if f.family == fam])
    if spec.strike:
        return spec, spec.strike, False
    size = rng.randint(7, 12) if small else rng.choice([rng.randint(7, 13), rng.randint(10, 20), rng.randint(14, 28)])
    return spec, size, rng.random() < 0.8


def _style(rng: random.Random, canvas: Canvas, on_box: bool) -> Style:
    cb = rng.choices(["low", "mid", "high"], [0.3, 0.3, 0.4])[0]
    ck = "grey"
    if canvas.colour:
        ck = rng.choices(["grey", "colour", "isoluminant"], [0.3, 0.55, 0.15])[0]
        if ck == "isoluminant" and cb == "low":
            cb = "mid"
    eff = rng.choices(["plain", "outline", "shadow"], [0.7, 0.15, 0.15])[0]
    if on_box and eff != "plain":
        eff = "plain"
    return Style(cb, ck, rng.choice(list(COLOURS)), eff)


def _make_line(
    rng: random.Random, split: str, spec: SplitSpec, fields: list[list[Segment]], small: bool, vertical: int = 0
) -> Line:
    font, size, aa = _pick_font(rng, split, small)
    segs: list[Segment] = []
    gaps: list[int] = []
    for fi, fld in enumerate(fields):
        for si, s in enumerate(fld):
            segs.append(s)
            gaps.append(0 if not segs[:-1] else (rng.randint(*spec.row_gap) if si == 0 and fi > 0 else 1))
    line = Line(segs, font, size, aa, gaps, vertical)
    line.layout()
    return line


def _place(rng, canvas: Canvas, w: int, h: int, where: str, margin: int, stack: dict) -> tuple[int, int] | None:
    """A free position for a w x h block: a corner stack, an edge (``vl``/``vr``) or anywhere (``free``)."""
    for _ in range(30):
        if where in ("tl", "tr", "bl", "br"):
            top = where[0] == "t"
            y = stack.get(where, margin if top else canvas.rows - margin)
            y = y if top else y - h
            x = margin if where[1] == "l" else canvas.cols - margin - w
        elif where == "free":
            if canvas.cols - w - 2 < 2 or canvas.rows - h - 2 < 2:
                return None
            x, y = rng.randint(2, canvas.cols - w - 2), rng.randint(2, canvas.rows - h - 2)
        elif where in ("vl", "vr"):
            x = margin if where == "vl" else canvas.cols - margin - w
            y = rng.randint(2, max(3, canvas.rows - h - 2))
        else:
            return None
        if canvas.free((x, y, x + w, y + h)):
            return x, y
        if where in ("tl", "tr", "bl", "br"):
            return None
    return None


def _advance(stack: dict, where: str, y: int, h: int, pitch: float) -> None:
    """Move a corner stack past a block at ``y`` of height ``h`` (top corners down, bottom corners up)."""
    if where[0] == "t":
        stack[where] = y + int(round(h * pitch)) + 1
    else:
        stack[where] = y - int(round(h * (pitch - 1.0))) - 1


def _bg_kind(canvas: Canvas, box: tuple[int, int, int, int]) -> str:
    mean, _ = canvas.bg_stats(box)
    return "anatomy" if float(np.mean(mean)) > 0.25 else "dark"


def _compose(
    rng: random.Random,
    split: str,
    spec: SplitSpec,
    canvas: Canvas,
    lines_fields: list[list[list[Segment]]],
    frames_of,
    segs_out: list[Segment],
    small: bool,
    jpeg: bool,
) -> None:
    """Lay the lines out with this split's layouts."""
    margin = rng.randint(*spec.margin)
    pitch = rng.uniform(*spec.line_spacing)
    stack: dict = {}
    pending = list(lines_fields)
    rng.shuffle(pending)
    layouts = list(spec.layouts)
    while pending:
        layout = rng.choice(layouts)
        base = {"layout": layout, "jpeg": jpeg, "two_line": False, "background": "dark"}
        if layout in ("band_top", "band_bottom", "bottom_bar"):
            take = pending[:3]
            del pending[:3]
            line = _make_line(rng, split, spec, take, small)
            if line.w > canvas.cols - 4:  # too wide for one row: the fields go on lines of their own
                pending.extend(take)
                layouts = [x for x in layouts if x not in ("band_top", "band_bottom", "bottom_bar")] or ["free"]
                continue
            x = rng.randint(2, max(3, canvas.cols - line.w - 2))
            y = margin if layout == "band_top" else canvas.rows - margin - line.h
            if layout == "bottom_bar":
                bar = (0, canvas.rows - line.h - 2 * margin, canvas.cols, canvas.rows)
                if not canvas.free(bar, 0):
                    layouts = [x for x in layouts if x != "bottom_bar"] or ["free"]
                    pending.extend(take)
                    continue
                col = np.full(3 if canvas.colour else 1, rng.uniform(0.1, 0.35), np.float32)
                canvas.rect(bar, col, list(range(canvas.n)))
                y = bar[1] + margin
                st = _style(rng, canvas, True)
                _draw_line(
                    rng,
                    canvas,
                    line,
                    x,
                    y,
                    st,
                    _frames(line, frames_of),
                    segs_out,
                    {**base, "background": "label_box"},
                    fill_box=col,
                )
                canvas.occupied.append(bar)
                continue
            if not canvas.free((x, y, x + line.w, y + line.h)):
                pending.extend(take)
                layouts = [x for x in layouts if x not in ("band_top", "band_bottom")] or ["free"]
                continue
            box = (x, y, x + line.w, y + line.h)
            _draw_line(
                rng,
                canvas,
                line,
                x,
                y,
                _style(rng, canvas, False),
                _frames(line, frames_of),
                segs_out,
                {**base, "background": _bg_kind(canvas, box)},
            )
        elif layout in ("labelbox", "table", "twoline"):
            k = min(len(pending), rng.randint(2, 3))
            take = pending[:k]
            del pending[:k]
            font_pick = _pick_font(rng, split, small)
            lines = []
            for fld in take:
                ln = Line(
                    list(fld),
                    font_pick[0],
                    font_pick[1],
                    font_pick[2],
                    [0] + [rng.randint(1, 3) if layout != "table" else rng.randint(3, 8)] * (len(fld) - 1),
                )
                ln.layout()
                if ln.w:
                    lines.append(ln)
            if not lines:
                continue
            pad = rng.randint(2, 6)
            w = max(ln.w for ln in lines) + 2 * pad
            hs = [int(round(ln.h * pitch)) + 1 for ln in lines]
            h = sum(hs) + 2 * pad
            where = rng.choice(["tl", "tr", "bl", "br", "free"])
            pos = _place(rng, canvas, w, h, where, margin, stack)
            if pos is None:
                where = "free"
                pos = _place(rng, canvas, w, h, where, margin, stack)
            if pos is None:
                continue
            x, y = pos
            boxed = layout in ("labelbox", "table")
            fill = None
            if boxed:
                fill = np.full(
                    3 if canvas.colour else 1, rng.choice([rng.uniform(0.05, 0.3), rng.uniform(0.6, 0.95)]), np.float32
                )
                if canvas.colour and rng.random() < 0.4:
                    fill = np.array(rng.choice([(0.1, 0.15, 0.4), (0.25, 0.25, 0.25), (0.85, 0.85, 0.6)]), np.float32)
                canvas.rect((x, y, x + w, y + h), fill, list(range(canvas.n)))
            st = _style(rng, canvas, boxed)
            cy = y + pad
            occ = list(canvas.occupied)
            for ln, step in zip(lines, hs, strict=True):
                box = (x + pad, cy, x + pad + ln.w, cy + ln.h)
                attrs = {
                    **base,
                    "two_line": len(lines) > 1,
                    "background": "label_box" if boxed else _bg_kind(canvas, box),
                }
                _draw_line(rng, canvas, ln, x + pad, cy, st, _frames(ln, frames_of), segs_out, attrs, fill_box=fill)
                cy += step
            canvas.occupied = occ + [(x, y, x + w, y + h)]
            if where != "free":
                _advance(stack, where, y, h, 1.0)
        else:  # corners, free, vertical: one line at a time
            fld = pending.pop()
            vertical = rng.choice([90, 270]) if layout == "vertical" else 0
            share = layout == "corners" and pending and rng.random() < 0.35
            fields = [fld, pending.pop()] if share else [fld]
            line = _make_line(rng, split, spec, fields, small, vertical)
            if not line.w:
                continue
            where = {
                "corners": rng.choice(["tl", "tr", "bl", "br"]),
                "free": "free",
                "vertical": rng.choice(["vl", "vr"]),
            }[layout]
            pos = _place(rng, canvas, line.w, line.h, where, margin, stack)
            if pos is None and layout != "free":
                where = "free"
                pos = _place(rng, canvas, line.w, line.h, where, margin, stack)
            if pos is None:
                if len(fields) > 1:
                    pending.append(fields[1])
                continue
            x, y = pos
            box = (x, y, x + line.w, y + line.h)
            _draw_line(
                rng,
                canvas,
                line,
                x,
                y,
                _style(rng, canvas, False),
                _frames(line, frames_of),
                segs_out,
                {**base, "background": _bg_kind(canvas, box)},
            )
            if where in ("tl", "tr", "bl", "br"):
                _advance(stack, where, y, line.h, pitch)


def _frames(line: Line, frames_of) -> list[list[int]]:
    return [frames_of(s) for s in line.segments]


# ---------------------------------------------------------------------------------------------- images


def _fit(src: np.ndarray, rows: int, cols: int, rng: random.Random) -> np.ndarray:
    """Scale a source frame into rows x cols (kept aspect, black borders), slightly zoomed and flipped."""
    h, w = src.shape[:2]
    zoom = rng.uniform(1.0, 1.25)
    s = min(rows / h, cols / w) * zoom
    nh, nw = max(1, int(h * s)), max(1, int(w * s))
    img = cv2.resize(src, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    out = np.zeros((rows, cols, *src.shape[2:]), np.float32)
    y0, x0 = (rows - nh) // 2, (cols - nw) // 2
    sy, sx = max(0, -y0), max(0, -x0)
    dy, dx = max(0, y0), max(0, x0)
    hh, ww = min(nh - sy, rows - dy), min(nw - sx, cols - dx)
    out[dy : dy + hh, dx : dx + ww] = img[sy : sy + hh, sx : sx + ww]
    if rng.random() < 0.3:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


GEOMETRY = {
    "CT": [((512, 512), 0.85), ((256, 256), 0.15)],
    "MR": [((512, 512), 0.6), ((256, 256), 0.4)],
    "US": [((480, 640), 0.45), ((512, 512), 0.35), ((600, 800), 0.2)],
    "CR": [((512, 512), 0.4), ((768, 768), 0.4), ((1024, 1024), 0.2)],
    "NM": [((1024, 256), 1.0)],
    "OT": [((256, 256), 0.4), ((512, 512), 0.4), ((480, 640), 0.2)],
}
MODALITIES = (("US", 0.28), ("CT", 0.2), ("MR", 0.17), ("CR", 0.1), ("OT", 0.17), ("NM", 0.08))


def _background(rng: random.Random, modality: str, frames: int = 1) -> tuple[np.ndarray, sources.Source]:
    cands = [s for s in sources.available() if s.modality == modality and (frames == 1 or s.frames >= frames)]
    if modality == "OT":  # secondary captures of anything
        cands += [s for s in sources.available() if s.modality in ("CT", "MR", "US")]
    src = rng.choice(cands)
    data = sources.load(src)
    geo = rng.choices([g for g, _ in GEOMETRY[modality]], [w for _, w in GEOMETRY[modality]])[0]
    rows, cols = geo
    if frames > 1:
        start = rng.randrange(0, max(1, data.shape[0] - frames))
        return np.stack([_fit(data[start + k], rows, cols, random.Random(rng.random())) for k in range(frames)]), src
    frame = data[rng.randrange(data.shape[0])]
    return _fit(frame, rows, cols, rng)[None], src


def _graphics(rng: random.Random, canvas: Canvas) -> list[str]:
    """Non-text overlays devices draw (calipers, scale bars, ECG traces, ROI boxes, colour bars)."""
    kinds = []
    img = Image.new("L", (canvas.cols, canvas.rows), 0)
    d = ImageDraw.Draw(img)
    for _ in range(rng.randint(1, 4)):
        k = rng.choice(["caliper", "scale", "ecg", "roi", "ticks", "arrow"])
        kinds.append(k)
        x, y = rng.randrange(10, canvas.cols - 60), rng.randrange(10, canvas.rows - 40)
        if k == "caliper":
            for cx, cy in ((x, y), (x + rng.randint(20, 50), y + rng.randint(-20, 20))):
                d.line([(cx - 4, cy), (cx + 4, cy)], fill=255)
                d.line([(cx, cy - 4), (cx, cy + 4)], fill=255)
        elif k == "scale":
            d.line([(x, y), (x + 50, y)], fill=255)
            for t in range(0, 51, 10):
                d.line([(x + t, y), (x + t, y - 4)], fill=255)
        elif k == "ecg":
            pts = [(x + t, y + int(6 * np.sin(t / 3.0) * (t % 17 == 0) + 2 * np.sin(t / 7.0))) for t in range(0, 50)]
            d.line(pts, fill=255)
        elif k == "roi":
            d.rectangle([x, y, x + rng.randint(20, 60), y + rng.randint(15, 40)], outline=255)
        elif k == "ticks":
            xx = rng.choice([4, canvas.cols - 8])
            for t in range(20, canvas.rows - 20, rng.randint(15, 30)):
                d.line([(xx, t), (xx + 4, t)], fill=255)
        else:
            d.line([(x, y), (x + 15, y + 15)], fill=255)
            d.polygon([(x, y), (x + 6, y + 1), (x + 1, y + 6)], fill=255)
    a = np.asarray(img, np.float32) / 255.0
    col = np.ones(3 if canvas.colour else 1, np.float32) * rng.uniform(0.6, 1.0)
    if canvas.colour and rng.random() < 0.5:
        col = np.array(COLOURS[rng.choice(["yellow", "green", "cyan"])], np.float32)
    canvas.paint(a, 0, 0, col, list(range(canvas.n)))
    return kinds


def _patient(rng: random.Random, spec: SplitSpec) -> Patient:
    birth = dt.date(rng.randint(1930, 2015), rng.randint(1, 12), rng.randint(1, 28))
    study = dt.date(rng.randint(max(birth.year + 1, 2001), 2025), rng.randint(1, 12), rng.randint(1, 28))
    pid = str(rng.randint(10**6, 10**10))
    return Patient(
        rng.choice(spec.names[0]),
        rng.choice(spec.names[1]),
        pid,
        rng.choice(["A", "E", "RAD", ""]) + str(rng.randint(10**5, 10**8)),
        birth,
        study,
        max(1, (study - birth).days // 365),
        rng.choice("MF"),
        rng.choice(INSTITUTIONS),
        f"{rng.choice(spec.names[0])}^{rng.choice(spec.names[1])}",
    )


@dataclass
class Case:
    ds: Dataset
    burned: np.ndarray  # stored values, (frames, rows, cols[, 3]), as written
    mask: np.ndarray  # (frames, rows, cols) uint16, segment index + 1 on glyph pixels
    segments: list[Segment]
    meta: dict


CINE_EVERY, CINE_AT = 25, 7
"""Case ``i`` is a multi-frame ultrasound cine when ``i % CINE_EVERY == CINE_AT``."""


def make_case(split: str, i: int) -> Case:
    spec = SPLITS[split]
    rng = random.Random(spec.seed * 100003 + i)
    clean = i % 5 == 0
    cine = not clean and i % CINE_EVERY == CINE_AT
    modality = "US" if cine else rng.choices([m for m, _ in MODALITIES], [w for _, w in MODALITIES])[0]
    frames_n = rng.choice([12, 16, 20]) if cine else 1
    bg, src = _background(rng, modality, frames_n)
    canvas = Canvas(bg)
    p = _patient(rng, spec)
    segs: list[Segment] = []
    meta: dict = {
        "split": split,
        "index": i,
        "modality": modality,
        "source": src.file,
        "clean": clean,
        "cine": cine,
        "rows": canvas.rows,
        "cols": canvas.cols,
        "frames": canvas.n,
    }
    eight_bit = canvas.colour or modality in ("US", "OT")
    jpeg = eight_bit and not cine and rng.random() < 0.2
    meta["jpeg"] = jpeg
    if clean:
        meta["graphics"] = _graphics(rng, canvas) if rng.random() < 0.5 else []
    else:
        fields = _phi_fields(rng, p, spec)
        fields += _keep_fields(rng, spec, rng.randint(2, 5))
        small = canvas.rows <= 256 or (modality == "US" and rng.random() < 0.3)
        changing: dict[int, list[int]] = {}
        if cine:  # a clock that ticks, a frame counter, and a name that appears mid-cine
            n = canvas.n
            t0 = rng.randint(0, 20000)
            for f in range(n):
                s = t0 + f // 4
                txt = f"{(s // 3600) % 24:02d}:{(s // 60) % 60:02d}:{s % 60:02d}"
                seg = Segment(txt, "phi", "time")
                fields.append([seg])
                changing[id(seg)] = [f]
            appear = rng.randint(n // 3, 2 * n // 3)
            seg = Segment(other_name(rng, spec), "phi", "other_name")
            fields.append([Segment(rng.choice(["Tech:", "Operator:", "Sonographer:"]), "label", "label"), seg])
            changing[id(seg)] = list(range(appear, n))
            changing[id(fields[-1][0])] = list(range(appear, n))

        def frames_of(seg: Segment) -> list[int]:
            return changing.get(id(seg), list(range(canvas.n)))

        if cine:
            _compose_cine(rng, split, spec, canvas, fields, frames_of, segs, small)
        else:
            _compose(rng, split, spec, canvas, fields, frames_of, segs, small, jpeg)
        if rng.random() < 0.25:
            meta["graphics"] = _graphics(rng, canvas)
    ds, burned = _dataset(rng, canvas, modality, split, i, p, jpeg, bool(segs))
    meta.update(pi=str(ds.PhotometricInterpretation), transfer_syntax=str(ds.file_meta.TransferSyntaxUID))
    return Case(ds, burned, canvas.mask, segs, meta)


def _compose_cine(rng, split, spec, canvas: Canvas, fields, frames_of, segs, small) -> None:
    """Cine layout: the ticking clock and the late name share fixed spots; the rest as usual."""
    static = [f for f in fields if frames_of(f[-1]) == list(range(canvas.n))]
    clocks = [f for f in fields if len(frames_of(f[-1])) == 1]
    late = [f for f in fields if f not in static and f not in clocks]
    _compose(rng, split, spec, canvas, static, frames_of, segs, small, False)
    font = _pick_font(rng, split, small)
    style = _style(rng, canvas, False)
    sub = random.Random(rng.random())
    pos = None
    for fld in clocks:
        ln = Line(list(fld), *font, [0])
        ln.layout()
        if pos is None:
            pos = _place(sub, canvas, ln.w, ln.h, "free", 4, {})
            if pos is None:
                return
            canvas.occupied.append((pos[0], pos[1], pos[0] + ln.w + 12, pos[1] + ln.h))
        occ = canvas.occupied
        canvas.occupied = []
        _draw_line(
            random.Random(1),
            canvas,
            ln,
            pos[0],
            pos[1],
            style,
            [frames_of(s) for s in ln.segments],
            segs,
            {"layout": "cine_clock", "jpeg": False, "two_line": False, "background": "dark"},
        )
        canvas.occupied = occ
    for fld in late:
        ln = _make_line(rng, split, spec, [fld], small)
        p2 = _place(rng, canvas, ln.w, ln.h, "free", 4, {})
        if p2 is not None:
            _draw_line(
                rng,
                canvas,
                ln,
                p2[0],
                p2[1],
                _style(rng, canvas, False),
                _frames(ln, frames_of),
                segs,
                {"layout": "cine_late", "jpeg": False, "two_line": False, "background": "dark"},
            )


# ---------------------------------------------------------------------------------------------- DICOM


SOP = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "NM": "1.2.840.10008.5.1.4.1.1.20",
    "OT": "1.2.840.10008.5.1.4.1.1.7",
}


def _jpeg_roundtrip(a: np.ndarray, quality: int) -> np.ndarray:
    """JPEG artefacts: 8-bit frames through a lossy JPEG encode and decode."""
    out = []
    for f in a:
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, "JPEG", quality=quality)
        out.append(np.asarray(Image.open(io.BytesIO(buf.getvalue()))))
    return np.stack(out)


def _dataset(rng, canvas: Canvas, modality: str, split: str, i: int, p: Patient, jpeg: bool, has_text: bool):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sop = SOP[modality]
    uid = generate_uid(entropy_srcs=[f"deidnode-pixelset-{split}-{i}"])
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = sop, uid
    ds.SOPClassUID, ds.SOPInstanceUID = sop, uid
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[f"pixelset-study-{split}-{i}"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[f"pixelset-series-{split}-{i}"])
    ds.Modality = modality
    ds.Manufacturer = "DEIDNODE BENCH"
    ds.PatientName = f"{p.family}^{p.given}"
    ds.PatientID = p.pid
    ds.AccessionNumber = p.acc
    ds.PatientBirthDate = p.birth.strftime("%Y%m%d")
    ds.StudyDate = p.study.strftime("%Y%m%d")
    ds.PatientAge = f"{p.age:03d}Y"
    ds.PatientSex = p.sex
    ds.InstitutionName = p.inst
    ds.ReferringPhysicianName = p.referring
    if modality in ("CT", "MR", "NM") and has_text and rng.random() < 0.5:
        ds.BurnedInAnnotation = "YES"  # else the text-presence check decides
    img = canvas.img
    n, rows, cols = canvas.n, canvas.rows, canvas.cols
    ds.Rows, ds.Columns = rows, cols
    if n > 1:
        ds.NumberOfFrames = n
    if canvas.colour:
        u8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
        if jpeg:
            u8 = _jpeg_roundtrip(u8, rng.randint(50, 90))
        pi = rng.choices(["RGB", "YBR_FULL"], [0.75, 0.25])[0] if not jpeg else "RGB"
        stored = u8
        if pi == "YBR_FULL":
            from pydicom.pixels import convert_color_space

            stored = np.stack([convert_color_space(f, "RGB", "YBR_FULL") for f in u8])
        ds.PhotometricInterpretation, ds.SamplesPerPixel, ds.PlanarConfiguration = pi, 3, 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit, ds.PixelRepresentation = 7, 0
    elif modality in ("US", "OT"):
        u8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
        if jpeg:
            u8 = _jpeg_roundtrip(u8, rng.randint(50, 90))
        stored = u8
        pi = "PALETTE COLOR" if not jpeg and rng.random() < 0.15 else "MONOCHROME2"
        ds.PhotometricInterpretation, ds.SamplesPerPixel = pi, 1
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit, ds.PixelRepresentation = 7, 0
        if pi == "PALETTE COLOR":
            lut = (np.arange(256, dtype=np.uint16) * 257).tobytes()
            for c in ("Red", "Green", "Blue"):
                setattr(ds, f"{c}PaletteColorLookupTableDescriptor", [256, 0, 16])
                setattr(ds, f"{c}PaletteColorLookupTableData", lut)
    else:
        bits = rng.choice([12, 12, 16, 10]) if modality != "CT" else rng.choice([12, 16])
        signed = modality == "CT" and bits == 16 and rng.random() < 0.7
        lo, hi = (-1024, 3071) if signed else (0, 2**bits - 1)
        if modality == "MR" and not signed:
            hi = rng.choice([hi, min(hi, 1400)])  # MR rarely uses the full range
        v = lo + img * (hi - lo)
        mono1 = modality == "CR" and rng.random() < 0.5
        if mono1:
            v = hi - (v - lo)
        stored = np.rint(v).astype(np.int16 if signed else np.uint16)
        ds.PhotometricInterpretation = "MONOCHROME1" if mono1 else "MONOCHROME2"
        ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored = 1, 16, bits
        ds.HighBit, ds.PixelRepresentation = bits - 1, int(signed)
        if modality == "CT":
            ds.RescaleIntercept, ds.RescaleSlope = (0 if signed else -1024), 1
    stored = np.ascontiguousarray(stored if n > 1 else stored[:1])
    raw = stored if n > 1 else stored[0]
    if jpeg and rng.random() < 0.35:  # some written as JPEG Baseline (the artefacts are then the codec's own)
        frames_b = []
        for f in stored:
            buf = io.BytesIO()
            Image.fromarray(f).save(buf, "JPEG", quality=92)
            frames_b.append(buf.getvalue())
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        if ds.SamplesPerPixel == 3:
            ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PixelData = encapsulate(frames_b)
        ds["PixelData"].VR = "OB"
        ds.LossyImageCompression = "01"
        return ds, stored
    ds.PixelData = raw.tobytes()
    return ds, stored


# ---------------------------------------------------------------------------------------------- files


def generate(out_dir: Path, split: str, n: int, start: int = 0, cine_only: bool = False) -> list[dict]:
    """Write cases ``start .. start+n-1`` of ``split`` to ``out_dir`` (``cine_only``: the first ``n`` cine cases
    from ``start`` on); returns (and writes) truth.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    truth = []
    if cine_only:
        first = start + (CINE_AT - start) % CINE_EVERY
        cases = range(first, first + CINE_EVERY * n, CINE_EVERY)
    else:
        cases = range(start, start + n)
    for i in cases:
        c = make_case(split, i)
        name = f"{split}_{i:04d}"
        c.ds.save_as(out_dir / f"{name}.dcm", enforce_file_format=True)
        np.savez_compressed(out_dir / f"{name}_mask.npz", mask=c.mask)
        truth.append(
            {"file": f"{name}.dcm", "mask": f"{name}_mask.npz", **c.meta, "segments": [asdict(s) for s in c.segments]}
        )
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return truth


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=sorted(SPLITS), default="dev")
    ap.add_argument("-n", type=int, default=250)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--start", type=int, default=0, help="first case index (tuning sets: past the dev set's 250)")
    ap.add_argument("--fonts", choices=sorted(fonts.TUNING_FONTS), help="dev only: draw with a tuning font set instead")
    ap.add_argument("--cine", action="store_true", help="dev only: N multi-frame cine cases from --start on")
    args = ap.parse_args(argv)
    if args.cine and args.split != "dev":
        ap.error("--cine draws the dev split only")
    if args.fonts:
        if args.split != "dev":
            ap.error("--fonts draws the dev split only")
        fonts.tune_with(args.fonts)
    name = f"pixelset-{args.split}" + ("-cine" if args.cine else "") + (f"-{args.fonts}" if args.fonts else "")
    out = args.out or Path(__file__).resolve().parent / "results" / name
    truth = generate(out, args.split, args.n, args.start, args.cine)
    segs = [s for t in truth for s in t["segments"]]
    print(
        f"{len(truth)} images, {sum(s['role'] == 'phi' for s in segs)} PHI segments, "
        f"{sum(s['role'] == 'keep' for s in segs)} technical segments -> {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
