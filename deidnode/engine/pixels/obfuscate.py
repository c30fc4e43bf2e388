"""Obfuscation: render the header's pseudonym in place of a PHI value, sized and coloured like the original.

"John Snow" becomes the same "Jane Knox" the header got (``pseudo_person_name``); IDs become
``pseudo_patient_id``; dates are shifted by the patient's offset and written in the form they were found in.
Lines whose value has no header pseudonym (patterns, NER, ages, free text) are redacted instead.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..keys import Keys
from ..phi import MONTH_NAMES, MONTHS
from .ocr import TextBox
from .text.fuzzy import fold, normalize
from .text.metadata import MetaHit

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansMono-Regular.ttf",
)
_LABEL = re.compile(r"^\s*([A-Za-z][A-Za-z .#/]{0,20}[:#]\s*)")


@functools.cache
def _font_path() -> str | None:
    return next((p for p in FONT_CANDIDATES if Path(p).is_file()), None)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_path()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)


def _date_formats(d: dt.date) -> list[str]:
    y, m, day = d.year, d.month, d.day
    mon, month = MONTHS[m - 1], MONTH_NAMES[m - 1]
    return [
        f"{y:04d}{m:02d}{day:02d}",
        f"{y:04d}-{m:02d}-{day:02d}",
        f"{y:04d}/{m:02d}/{day:02d}",
        f"{y:04d}.{m:02d}.{day:02d}",
        f"{day:02d}.{m:02d}.{y:04d}",
        f"{m:02d}/{day:02d}/{y:04d}",
        f"{day:02d}-{mon.title()}-{y:04d}",
        f"{day:02d} {mon} {y:04d}",
        f"{y:04d} {mon} {day:02d}",
        f"{mon} {day:02d} {y:04d}",
        f"{day} {month.title()} {y:04d}",
        f"{day:02d}-{m:02d}-{y:04d}",
    ]


def replacement_text(
    hit: MetaHit, line: str, keys: Keys, *, id_prefix: str = "DN", date_shift_days: int | None = None
) -> str | None:
    """The line to render instead of ``line``, or None when this kind of value is redacted instead."""
    label_m = _LABEL.match(line)
    label = label_m.group(1) if label_m else ""
    upper = line.upper() == line
    if hit.kind == "name":
        from ..pseudonyms import pseudo_person_name

        fake = pseudo_person_name(keys, hit.value)
        if not fake:
            return None
        family, _, given = fake.partition("^")
        parts = [normalize(p) for p in hit.value.split("=")[0].split("^")]
        orig_family = parts[0] if parts else ""
        orig_given = parts[1] if len(parts) > 1 else ""
        body = line[len(label) :]
        nb = fold(body)
        fam_at = nb.find(fold(orig_family)) if orig_family else -1
        giv_at = nb.find(fold(orig_given)) if orig_given else -1
        if "^" in body:
            text = f"{family}^{given}"
        elif fam_at >= 0 and giv_at >= 0 and giv_at < fam_at:
            text = f"{given.title()} {family.title()}"
        elif giv_at >= 0 and fam_at < 0:
            text = given.title()
        elif fam_at >= 0 and giv_at < 0:
            text = family.title()
        elif "," in body:
            text = f"{family.title()}, {given.title()}"
        else:
            text = f"{family.title()} {given.title()}"
        return label + (text.upper() if upper else text)
    if hit.kind == "id":
        from ..pseudonyms import pseudo_patient_id

        return label + pseudo_patient_id(keys, hit.value, id_prefix)
    if hit.kind == "date" and date_shift_days is not None:
        d = dt.date.fromisoformat(hit.value)
        new = d + dt.timedelta(days=date_shift_days)
        fl = fold(line)
        for old_f, new_f in zip(_date_formats(d), _date_formats(new), strict=True):
            if fold(old_f) in fl:
                text = new_f
                break
        else:
            text = new.strftime("%Y-%m-%d")
        return label + (text.upper() if upper else text)
    return None


def glyph_value(region: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The stored value of the text in ``region``: the pixels farthest from the background, their median."""
    r = region.reshape(-1, region.shape[-1]) if region.ndim == 3 else region.reshape(-1, 1)
    bg = np.asarray(background, dtype=np.float64).reshape(1, -1)
    dist = np.abs(r.astype(np.float64) - bg).sum(axis=1)
    if dist.size == 0:
        return np.asarray(background)
    far = r[dist >= np.percentile(dist, 90)]
    return np.median(far, axis=0).astype(region.dtype).reshape(-1)


def render_text(
    frames: np.ndarray,
    box: TextBox,
    text: str,
    colour: np.ndarray | Sequence[int],
    frame_indices: Sequence[int],
) -> None:
    """Draw ``text`` in ``colour`` (stored values) inside ``box``, font sized to its height, on the frames."""
    w, h = box.x1 - box.x0, box.y1 - box.y0
    if w <= 0 or h <= 0:
        return
    size = max(6, int(h * 0.8))
    font = _font(size)
    while size > 6:
        left, top, right, bottom = font.getbbox(text)
        if right - left <= w and bottom - top <= h:
            break
        size -= 1
        font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    mask_img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask_img).text((-left, (h - (bottom - top)) // 2 - top), text, fill=255, font=font)
    mask = np.asarray(mask_img) >= 128
    value = np.asarray(colour, dtype=frames.dtype)
    for i in frame_indices:
        region = frames[i, box.y0 : box.y1, box.x0 : box.x1]
        region[mask[: region.shape[0], : region.shape[1]]] = value
