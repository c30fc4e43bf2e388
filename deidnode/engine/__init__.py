"""The pure de-identification engine: no networking, no clock, no randomness, no global state.

``deidentify(dataset, policy, keys)`` returns an :class:`EngineResult`: the clean dataset, or a reason to
quarantine, plus a PHI-free audit record. The same input and key give the same output everywhere.
"""

from .deidentify import deidentify, deidentify_bytes, encode_dataset
from .keys import Keys
from .policy import Policy
from .result import EngineResult, Quarantine

__all__ = [
    "EngineResult",
    "Keys",
    "Policy",
    "Quarantine",
    "deidentify",
    "deidentify_bytes",
    "encode_dataset",
]
