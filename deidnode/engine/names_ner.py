"""Layer 3 of header name finding (optional): PERSON entities by stanza's NER.

Used only when ``header.stanza_models_dir`` names a folder of stanza models (none ships in a package: download
them once with ``stanza.download('en', model_dir=DIR, processors='tokenize,ner')`` on a machine with internet and
copy the folder). stanza is imported lazily; nothing is downloaded at run time. Without the folder the node and
``deid`` run without this layer; with a folder that cannot be loaded, instances are quarantined
(``ner_unavailable``), never forwarded less cleaned than configured.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from ..errors import PermanentError
from ..reasons import Code, Stage


class HeaderNerUnavailableError(PermanentError):
    """stanza or its models are missing although a models folder is configured."""


class PersonNer:
    """Character spans of PERSON entities in a text (title-cased first when all capitals, as DICOM text often is:
    NER models rely on case)."""

    def __init__(self, models_dir: Path, lang: str = "en") -> None:
        if importlib.util.find_spec("stanza") is None:
            raise HeaderNerUnavailableError(
                Code.NER_UNAVAILABLE, "header NER needs the 'stanza' package", stage=Stage.HEADER
            )
        if not (Path(models_dir) / lang).is_dir():
            raise HeaderNerUnavailableError(
                Code.NER_UNAVAILABLE, f"no stanza '{lang}' models under header.stanza_models_dir", stage=Stage.HEADER
            )
        import stanza

        self._nlp = stanza.Pipeline(
            lang, dir=str(models_dir), processors="tokenize,ner", download_method=None, verbose=False, use_gpu=False
        )

    def __call__(self, text: str) -> list[tuple[int, int]]:
        doc = self._nlp(text.title() if text.isupper() else text)
        return [(e.start_char, e.end_char) for e in doc.ents if e.type == "PERSON"]


@functools.cache
def get_person_ner(models_dir: Path) -> PersonNer:
    """One pipeline per process and models folder."""
    return PersonNer(models_dir)
