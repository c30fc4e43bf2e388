"""Keyed, deterministic pseudonyms: the same input and key give the same output in every process and node.

HMAC-SHA256 over a purpose label and the original value (PS3.15 E.3.9: UIDs replaced consistently; E.3.6:
dates shifted, the same offset for one patient). No per-process tables, no randomness.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

MIN_KEY_BYTES = 32


@dataclass(frozen=True)
class Keys:
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise ConfigError(f"config error: keys.key_file: the key must hold at least {MIN_KEY_BYTES} bytes")

    def digest(self, purpose: str, value: str) -> bytes:
        return hmac.new(self.secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()

    def uid(self, old: str) -> str:
        """Map a UID to ``2.25.<128-bit integer>`` (PS3.5 B.2); 2.25 UIDs stay under the 64-character limit."""
        return "2.25." + str(int.from_bytes(self.digest("uid", old.strip("\x00 "))[:16], "big"))

    def token(self, purpose: str, value: str, length: int = 10) -> str:
        """An upper-case base-32 token (A-Z, 2-7) of ``length`` characters, fit for IDs and short strings."""
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        n = int.from_bytes(self.digest(purpose, value), "big")
        out = []
        for _ in range(length):
            n, r = divmod(n, 32)
            out.append(alphabet[r])
        return "".join(out)

    def choice(self, purpose: str, value: str, n: int) -> int:
        """A stable index in ``range(n)``."""
        return int.from_bytes(self.digest(purpose, value)[:8], "big") % n

    def lexicon_scope(self, patient: str) -> bytes:
        """The study lexicon's key for one patient (``patient_key``): names seen for one patient are used for that
        patient's instances only."""
        return self.digest("lexicon-scope", patient)[:16]

    def lexicon_token(self, scope: bytes, token: str) -> bytes:
        """A normalised word or phrase of the study lexicon, as the keyed hash stored in place of it."""
        h = _lexicon_base(self.secret).copy()
        h.update(scope + b"\x00" + token.encode())
        return h.digest()[:16]

    def day_offset(self, patient: str, max_days: int) -> int:
        """A per-patient date shift in days, in ``[-max_days, -1]``: dates only move into the past."""
        return -(1 + self.choice("date-shift", patient, max_days))

    @classmethod
    def ephemeral(cls) -> Keys:
        return cls(secrets.token_bytes(32))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Keys:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as e:
            raise ConfigError(f"config error: keys.key_file: cannot read the key file: {e.strerror}") from None
        return cls(_key_bytes(data))


@functools.lru_cache(maxsize=8)
def _lexicon_base(secret: bytes) -> hmac.HMAC:
    """The keyed hash state after the lexicon's label, copied for each token (half the cost of a new HMAC)."""
    return hmac.new(secret, b"lexicon\x00", hashlib.sha256)


def _key_bytes(data: bytes) -> bytes:
    """The key is the file's bytes as they are (``head -c 32 /dev/urandom`` may start or end with whitespace
    bytes), except that a text key (printable ASCII, e.g. ``openssl rand -hex 32 > key``) loses its line end."""
    text = data.rstrip(b"\r\n")
    if text and all(0x20 <= b < 0x7F for b in text):
        return text
    return data
