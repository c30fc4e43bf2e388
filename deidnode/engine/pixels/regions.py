"""Known burn-in regions per device (``rules/pixel_regions.yaml``), blanked before OCR."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydicom.dataset import Dataset

from ...config import RULES_DIR
from .redact import Box

REGIONS_FILE = RULES_DIR / "pixel_regions.yaml"
_ATTR = {
    "manufacturer": "Manufacturer",
    "model": "ManufacturerModelName",
    "modality": "Modality",
    "rows": "Rows",
    "columns": "Columns",
    "sop_class": "SOPClassUID",
}


@dataclass(frozen=True)
class Signature:
    name: str
    match: tuple[tuple[str, Any], ...]
    regions: tuple[Box, ...]

    def matches(self, ds: Dataset) -> bool:
        for key, want in self.match:
            have = ds.get(_ATTR[key])
            if have is None:
                return False
            if isinstance(want, int):
                if int(have) != want:
                    return False
            elif key == "sop_class":
                if str(have) != str(want):
                    return False
            elif not re.search(str(want), str(have), re.IGNORECASE):
                return False
        return True


@functools.cache
def load_signatures(path: Path = REGIONS_FILE) -> tuple[Signature, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for i, s in enumerate(data.get("signatures", ())):
        unknown = set(s.get("match", {})) - set(_ATTR)
        if unknown:
            raise ValueError(f"{path.name}: signature {i}: unknown match keys {sorted(unknown)}")
        regions = tuple((int(x), int(y), int(x) + int(w), int(y) + int(h)) for x, y, w, h in s["regions"])
        out.append(Signature(str(s.get("name", i)), tuple(s.get("match", {}).items()), regions))
    return tuple(out)


def regions_for(ds: Dataset, signatures: tuple[Signature, ...] | None = None) -> list[Box]:
    """Rectangles (x0, y0, x1, y1) to blank for this instance's device, clipped to the image."""
    sigs = load_signatures() if signatures is None else signatures
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    out = []
    for sig in sigs:
        if sig.matches(ds):
            for x0, y0, x1, y1 in sig.regions:
                box = (max(0, x0), max(0, y0), min(cols, x1), min(rows, y1))
                if box[2] > box[0] and box[3] > box[1]:
                    out.append(box)
    return out
