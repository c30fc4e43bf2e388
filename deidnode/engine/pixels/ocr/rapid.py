"""RapidOCR: PP-OCRv4 detection and recognition on onnxruntime, models inside the wheel (CPU)."""

from __future__ import annotations

import importlib.util

import numpy as np

from ....config import OcrSettings
from . import TextBox, boxes_from_quads

NAME = "rapidocr"
REQUIRES = ("rapidocr_onnxruntime", "onnxruntime")


def is_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in REQUIRES)


class RapidEngine:
    name = NAME

    def __init__(self, settings: OcrSettings) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self.min_confidence = settings.min_confidence
        # No angle classifier (overlay text is upright); detect at native resolution, small images scaled up
        # to 512 so that 8-10 px glyphs survive.
        self._ocr = RapidOCR(
            use_cls=False,
            det_limit_side_len=512,
            det_limit_type="min",
            text_score=settings.min_confidence,
            det_box_thresh=0.4,
            print_verbose=False,
        )

    def read(self, image: np.ndarray) -> list[TextBox]:
        img = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
        result, _elapse = self._ocr(np.ascontiguousarray(img), use_cls=False)
        if not result:
            return []
        quads, texts, scores = zip(*result, strict=True)
        return boxes_from_quads(quads, texts, scores, self.min_confidence)


def create(settings: OcrSettings) -> RapidEngine:
    return RapidEngine(settings)
