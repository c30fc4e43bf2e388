"""Which recognised text is PHI: metadata-derived values, patterns, NER (optional) and an allow-list.

``TextJudge`` combines the layers for one dataset; every decision names the layer that made it, so the audit
can count boxes per layer without ever holding the text.
"""

from .decide import Decision, TextJudge

__all__ = ["Decision", "TextJudge"]
