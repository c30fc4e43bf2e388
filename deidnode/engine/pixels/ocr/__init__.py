"""OCR backends behind one small interface, chosen by ``pixels.ocr.engine`` in the config.

Each backend is a module (``rapid``, ``easy``, ``tess``) with ``NAME``, ``REQUIRES``, ``is_available()`` and
``create(settings) -> OcrEngine``. Engines are built once per process (``get_engine`` caches them) so model
load time is never paid per instance; they are safe to call from several threads. No backend downloads
anything at run time.
"""

from __future__ import annotations

import functools
import importlib
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ....config import OcrSettings
from ....errors import PermanentError
from ....reasons import Code, Stage

BACKENDS = {"rapidocr": "rapid", "easyocr": "easy", "tesseract": "tess"}


@dataclass(frozen=True)
class TextBox:
    """One recognised line of text: an axis-aligned box ``(x0, y0, x1, y1)`` (x1, y1 exclusive) in pixels.

    ``char_pos``: where each character of ``text`` is centred along the line (x, or y for ``vertical`` lines),
    in image pixels, when the engine knows (else empty); used to find the box of a word or a span.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    text: str
    confidence: float
    char_pos: tuple[float, ...] = ()
    vertical: bool = False
    other: TextBox | None = None
    """A vertical line's reading the other way up (the less confident one), judged beside this one."""

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x0, self.y0, self.x1, self.y1)

    @property
    def height(self) -> int:
        """The text height: across the line (its width for vertical lines)."""
        return (self.x1 - self.x0) if self.vertical else (self.y1 - self.y0)

    @property
    def reads_up(self) -> bool:
        """Whether the line's characters run against the image's axis (a vertical line read up the image: its
        first character at the bottom), as its characters' positions show."""
        return len(self.char_pos) >= 2 and self.char_pos[-1] < self.char_pos[0]

    def shifted(self, dx: int, dy: int, scale: float = 1.0) -> TextBox:
        """This box in another frame of reference: coordinates scaled, then offset by (dx, dy)."""
        off = dy if self.vertical else dx
        return TextBox(
            int(np.floor(self.x0 * scale)) + dx,
            int(np.floor(self.y0 * scale)) + dy,
            int(np.ceil(self.x1 * scale)) + dx,
            int(np.ceil(self.y1 * scale)) + dy,
            self.text,
            self.confidence,
            tuple(p * scale + off for p in self.char_pos),
            self.vertical,
            self.other.shifted(dx, dy, scale) if self.other is not None else None,
        )


class OcrEngine(Protocol):
    name: str

    def read(self, image: np.ndarray) -> list[TextBox]:
        """Text lines of a whole 8-bit image (rows, cols) or (rows, cols, 3) RGB."""
        ...

    def read_region(self, image: np.ndarray) -> list[TextBox]:
        """Text lines of a crop already scaled for reading (no further upscaling), crop coordinates."""
        ...


class OcrUnavailableError(PermanentError):
    """The configured OCR engine cannot be loaded; the message names the missing dependency."""


def _module(name: str):
    try:
        mod = BACKENDS[name]
    except KeyError:
        raise OcrUnavailableError(Code.OCR_UNKNOWN_ENGINE, f"unknown OCR engine '{name}'", stage=Stage.PIXELS) from None
    return importlib.import_module(f"{__name__}.{mod}")


def is_available(name: str) -> bool:
    """Whether the backend ``name`` and its models can be loaded here (without loading them)."""
    return bool(_module(name).is_available())


def available_engines() -> list[str]:
    return [n for n in BACKENDS if is_available(n)]


_ENGINES = threading.Lock()


def get_engine(settings: OcrSettings) -> OcrEngine:
    """The engine for ``settings``, created once per process and reused: lanes that ask at the same time wait
    for the one being loaded rather than each loading its own."""
    with _ENGINES:
        return _create(settings)


@functools.cache
def _create(settings: OcrSettings) -> OcrEngine:
    mod = _module(settings.engine)
    if not mod.is_available():
        raise OcrUnavailableError(
            Code.OCR_UNAVAILABLE,
            f"OCR engine '{settings.engine}' needs: {', '.join(mod.REQUIRES)}",
            stage=Stage.PIXELS,
        )
    return mod.create(settings)


def get_reader(name: str, settings: OcrSettings) -> OcrEngine:
    """Another engine by name with the same settings (the second reader of the verification)."""
    return get_engine(settings.model_copy(update={"engine": name}))


def boxes_from_quads(quads, texts, scores, min_confidence: float) -> list[TextBox]:
    """Axis-aligned boxes from 4-point polygons, dropping empty text and low confidence."""
    out = []
    for quad, text, score in zip(quads, texts, scores, strict=True):
        text = str(text).strip()
        if not text or float(score) < min_confidence:
            continue
        pts = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
        x0, y0 = np.floor(pts.min(axis=0)).astype(int)
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
        out.append(TextBox(int(max(x0, 0)), int(max(y0, 0)), int(x1), int(y1), text, float(score)))
    return out
