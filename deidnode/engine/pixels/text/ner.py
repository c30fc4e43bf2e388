"""Layer 3 (optional): named-entity recognition with stanza.

Used only when ``pixels.stanza_models_dir`` names a folder of stanza models (stanza's models ship in no
package; download them once with ``stanza.download('en', model_dir=DIR, processors='tokenize,ner')`` on a
machine with internet and copy the folder). stanza is imported lazily; nothing is ever downloaded at run time.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from ....errors import PermanentError
from ....reasons import Code, Stage

PHI_ENTITY_TYPES = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "DATE", "TIME", "NORP"})


def is_available() -> bool:
    return importlib.util.find_spec("stanza") is not None


class NerUnavailableError(PermanentError):
    """stanza or its models are missing although a models folder is configured."""


class StanzaNer:
    def __init__(self, models_dir: Path, lang: str = "en") -> None:
        if not is_available():
            raise NerUnavailableError(Code.NER_UNAVAILABLE, "NER needs the 'stanza' package", stage=Stage.PIXELS)
        if not (Path(models_dir) / lang).is_dir():
            raise NerUnavailableError(
                Code.NER_MODELS_MISSING,
                f"no stanza '{lang}' models under pixels.stanza_models_dir",
                stage=Stage.PIXELS,
            )
        import stanza

        self._nlp = stanza.Pipeline(
            lang,
            dir=str(models_dir),
            processors="tokenize,ner",
            download_method=None,
            verbose=False,
            use_gpu=False,
        )

    def _entities(self, text: str) -> list:
        # title-cased first: OCR overlays are mostly upper case (same length, so offsets still hold)
        return list(self._nlp(text.title() if text.isupper() else text).ents)

    def entity_types(self, text: str) -> set[str]:
        """Entity types found in ``text``."""
        return {ent.type for ent in self._entities(text)}

    def entity_spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each PHI-type entity in ``text``."""
        return [(e.start_char, e.end_char) for e in self._entities(text) if e.type in PHI_ENTITY_TYPES]

    def is_phi(self, text: str) -> bool:
        return bool(self.entity_spans(text))


@functools.cache
def get_ner(models_dir: Path) -> StanzaNer:
    """One pipeline per process and models folder."""
    return StanzaNer(models_dir)
