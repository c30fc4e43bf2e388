"""Tesseract (Debian's ``tesseract-ocr`` and ``tesseract-ocr-eng``) through tesserocr: the second, independent
reader of the verification, and usable as the main engine.

Page segmentation "sparse text" (overlay text is scattered lines, not a page); lines come with their words'
boxes, which give character positions. A word Tesseract is unsure of (confidence below
``pixels.ocr.min_confidence`` x 100) is dropped: texture read as letters would otherwise look like text.
One API object per thread (tesserocr's objects are not thread-safe).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import threading
from pathlib import Path

import numpy as np

from ....config import OcrSettings
from . import TextBox

NAME = "tesseract"
REQUIRES = ("tesserocr", "tesseract-ocr-eng (eng.traineddata)")
TESSDATA_DIRS = (
    os.environ.get("TESSDATA_PREFIX", ""),
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
)


def tessdata() -> str | None:
    """The folder holding ``eng.traineddata``, or None."""
    for d in TESSDATA_DIRS:
        if d and (Path(d) / "eng.traineddata").is_file():
            return str(Path(d)) + "/"
    return None


def is_available() -> bool:
    return importlib.util.find_spec("tesserocr") is not None and tessdata() is not None


L_SEVERITY_NONE = 6


@functools.cache
def leptonica() -> ctypes.CDLL | None:
    """The Leptonica library Tesseract loaded into this process (bundled with the tesserocr wheel under a
    hashed name, or the system's), found among the process's mapped files; None where it cannot be found."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split()[-1] if line.split() else ""
        name = os.path.basename(path)
        if name.startswith(("liblept", "libleptonica")) and ".so" in name:
            try:
                return ctypes.CDLL(path)
            except OSError:
                return None
    return None


def quiet_leptonica() -> None:
    """Leptonica prints its errors to stderr ("Error in boxClipToRectangle: box outside rectangle", from
    Tesseract's layout analysis of some crops): harmless to the reading and holding no text of the image, but
    noise in an operator's terminal and logs outside our JSON lines. Its messages are switched off."""
    import tesserocr  # noqa: F401 - loads Leptonica

    lept = leptonica()
    if lept is not None:
        lept.setMsgSeverity(L_SEVERITY_NONE)


class TesseractEngine:
    name = NAME

    def __init__(self, settings: OcrSettings) -> None:
        self.min_confidence = settings.min_confidence
        self._path = tessdata()
        self._local = threading.local()

    def _api(self):
        api = getattr(self._local, "api", None)
        if api is None:
            import tesserocr

            quiet_leptonica()
            api = tesserocr.PyTessBaseAPI(path=self._path, lang="eng", psm=tesserocr.PSM.SPARSE_TEXT)
            self._local.api = api
        return api

    def read(self, image: np.ndarray) -> list[TextBox]:
        """Lines of a whole image (sparse text: scattered lines in any layout)."""
        import tesserocr

        return self._read(image, tesserocr.PSM.SPARSE_TEXT)

    def read_region(self, image: np.ndarray) -> list[TextBox]:
        """Lines of a crop around one line or a small block of text, already scaled for reading."""
        import tesserocr

        return self._read(image, tesserocr.PSM.SINGLE_BLOCK)

    def _read(self, image: np.ndarray, psm) -> list[TextBox]:
        import tesserocr
        from PIL import Image

        gray = image if image.ndim == 2 else np.asarray(Image.fromarray(image).convert("L"))
        api = self._api()
        api.SetPageSegMode(psm)
        api.SetImage(Image.fromarray(np.ascontiguousarray(gray)))
        api.Recognize()
        it = api.GetIterator()
        out: list[TextBox] = []
        level_line, level_word = tesserocr.RIL.TEXTLINE, tesserocr.RIL.WORD
        words: list[tuple[str, float, tuple[int, int, int, int]]] = []

        def flush() -> None:
            if not words:
                return
            text, pos = "", []
            for k, (w, _c, (x0, _y0, x1, _y1)) in enumerate(words):
                if k:
                    gap = (words[k - 1][2][2] + x0) / 2
                    text += " "
                    pos.append(gap)
                step = (x1 - x0) / max(len(w), 1)
                pos += [x0 + step * (i + 0.5) for i in range(len(w))]
                text += w
            x0 = min(b[0] for _, _, b in words)
            y0 = min(b[1] for _, _, b in words)
            x1 = max(b[2] for _, _, b in words)
            y1 = max(b[3] for _, _, b in words)
            conf = float(np.mean([c for _, c, _ in words]))
            out.append(TextBox(x0, y0, x1, y1, text, conf, tuple(pos)))
            words.clear()

        if it is None:
            return out
        while True:
            if it.IsAtBeginningOf(level_line):
                flush()
            if not it.Empty(level_word):
                word = it.GetUTF8Text(level_word)
                conf = it.Confidence(level_word) / 100.0
                box = it.BoundingBox(level_word)
                if word and word.strip() and box is not None and conf >= self.min_confidence:
                    words.append((word.strip(), conf, box))
            if not it.Next(level_word):
                break
        flush()
        return out


def create(settings: OcrSettings) -> TesseractEngine:
    return TesseractEngine(settings)
