"""Before/after PNGs of pixel cleaning with each box and the reason for it, for a human QA pass."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .redact import Box

COLOURS = {"keep": (60, 200, 60), "region": (60, 140, 255), "verify": (255, 0, 255)}
DEFAULT_COLOUR = (255, 60, 60)


def _rgb(a: np.ndarray) -> Image.Image:
    a = np.asarray(a)
    if a.dtype != np.uint8:
        lo, hi = float(a.min()), float(a.max())
        a = ((a.astype(np.float32) - lo) * (255.0 / max(hi - lo, 1e-6))).astype(np.uint8)
    return Image.fromarray(a).convert("RGB")


def render_preview(before: np.ndarray, after: np.ndarray, boxes: Sequence[tuple[Box, str]]) -> bytes:
    """One PNG (returned, never written: the engine writes no files): ``before`` (boxes drawn, each labelled with
    its reason) beside ``after``.

    ``before``/``after`` are display images (8-bit, or any range: scaled); ``boxes`` are ((x0, y0, x1, y1),
    reason) with reasons like ``metadata:name``, ``pattern:date``, ``region``, ``keep``. Red: removed,
    green ones kept. The file shows PHI: write it only where the original images may be seen.
    """
    b, a = _rgb(before), _rgb(after)
    w, h = b.size
    scale = max(1, 512 // max(w, h))
    if scale > 1:
        b = b.resize((w * scale, h * scale), Image.Resampling.NEAREST)
        a = a.resize((w * scale, h * scale), Image.Resampling.NEAREST)
    canvas = Image.new("RGB", (b.width * 2 + 8, b.height), (128, 128, 128))
    canvas.paste(b, (0, 0))
    canvas.paste(a, (b.width + 8, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for (x0, y0, x1, y1), reason in boxes:
        if x1 <= x0 or y1 <= y0:
            continue  # an empty box (a span trimmed to nothing): nothing to draw, and PIL refuses it
        colour = COLOURS.get(reason, DEFAULT_COLOUR)
        for off in (0, b.width + 8):
            draw.rectangle((x0 * scale + off, y0 * scale, x1 * scale + off - 1, y1 * scale - 1), outline=colour)
        draw.text((x0 * scale, max(0, y0 * scale - 11)), reason, fill=colour, font=font)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()
