"""Find burned-in text: stored frames -> 8-bit display images -> OCR lines -> one decision per line."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .ocr import OcrEngine, TextBox
from .text import Decision, TextJudge
from .text.patterns import is_label_only


@dataclass(frozen=True)
class Finding:
    """A recognised line, the decision on it, whether the policy removes it, and the frame read."""

    box: TextBox
    decision: Decision
    redact: bool
    frame: int


def to_display(frame: np.ndarray, working_pi: str) -> np.ndarray:
    """An 8-bit image for OCR from one frame of stored values (the codec's working colour space).

    Monochrome: the full stored range, linearly (burned-in text sits at an extreme); MONOCHROME1 inverted.
    YBR_FULL: its luminance. PALETTE COLOR: the indices' range (text keeps its contrast). Same size as the
    frame, so OCR boxes are stored-pixel coordinates.
    """
    a = np.asarray(frame)
    if a.ndim == 3 and working_pi == "YBR_FULL":
        a = a[..., 0]  # luminance carries the text
    a = a.astype(np.float32)
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        out = np.zeros(a.shape, dtype=np.uint8)
    else:
        out = ((a - lo) * (255.0 / (hi - lo))).clip(0, 255).astype(np.uint8)
    if working_pi == "MONOCHROME1":
        out = 255 - out
    return out


def sample_frames(n_frames: int, max_frames: int) -> list[int]:
    """Frames to read text on: all when few, else evenly spaced including the first and the last."""
    if n_frames <= max_frames:
        return list(range(n_frames))
    idx = np.linspace(0, n_frames - 1, max_frames).round().astype(int)
    return sorted(set(int(i) for i in idx))


def _label_values(findings: list[Finding], judge: TextJudge, policy: str) -> list[Finding]:
    """A line right of a lone PHI label ("Dr.", "Name:") on the same row is PHI (layer pattern, kind label)."""
    out = list(findings)
    for lab in findings:
        if not is_label_only(lab.box.text):
            continue
        b = lab.box
        best = None
        for k, f in enumerate(out):
            o = f.box
            if f.frame != lab.frame or o is b or o.x0 < b.x1 - 2 or f.decision.phi:
                continue
            overlap = min(o.y1, b.y1) - max(o.y0, b.y0)
            if overlap < 0.5 * min(o.height, b.height) or o.x0 - b.x1 > 3 * max(b.height, 1):
                continue
            if best is None or o.x0 < out[best].box.x0:
                best = k
        if best is not None:
            d = Decision(True, "pattern", "label")
            out[best] = Finding(out[best].box, d, judge.must_redact(d, policy), out[best].frame)
    return out


def detect(
    frames: np.ndarray,
    working_pi: str,
    engine: OcrEngine,
    judge: TextJudge,
    policy: str,
    frame_indices: list[int],
    timings: dict[str, float] | None = None,
) -> list[Finding]:
    """OCR the given frames and judge every line under ``policy``; seconds are added to ``timings``."""
    out: list[Finding] = []
    t_ocr = t_decide = 0.0
    for i in frame_indices:
        t0 = time.perf_counter()
        boxes = engine.read(to_display(frames[i], working_pi))
        t1 = time.perf_counter()
        for box in boxes:
            decision = judge.judge(box.text)
            out.append(Finding(box, decision, judge.must_redact(decision, policy), i))
        t_ocr += t1 - t0
        t_decide += time.perf_counter() - t1
    out = _label_values(out, judge, policy)
    if timings is not None:
        timings["ocr"] = timings.get("ocr", 0.0) + t_ocr
        timings["decide"] = timings.get("decide", 0.0) + t_decide
    return out
