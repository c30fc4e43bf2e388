"""Verification: read the cleaned pixels again; PHI still found fails the instance closed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .detect import Finding, detect
from .ocr import OcrEngine
from .redact import Box
from .text import TextJudge


def _overlaps(a: Box, b: Box) -> bool:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return False
    area = (a[2] - a[0]) * (a[3] - a[1])
    return ix * iy >= 0.3 * max(area, 1)


def residual_phi(
    frames: np.ndarray,
    working_pi: str,
    engine: OcrEngine,
    judge: TextJudge,
    frame_indices: list[int],
    rendered: Sequence[Box] = (),
) -> list[Finding]:
    """Lines on the cleaned frames still judged PHI.

    Inside regions where a pseudonym was rendered (``rendered``) only the dataset's own values count: the
    pseudonym itself is a name, an ID or a date by design.
    """
    out = []
    for f in detect(frames, working_pi, engine, judge, "phi", frame_indices):
        if not f.decision.phi:
            continue
        if f.decision.layer != "metadata" and any(_overlaps(f.box.box, r) for r in rendered):
            continue
        out.append(f)
    return out
