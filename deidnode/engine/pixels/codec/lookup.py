"""Which installed backend serves a transfer syntax: each backend's ``is_available(uid, encode=...)`` says
whether it can, the syntax table (``_syntax``) only says which to prefer."""

from __future__ import annotations

from pydicom.dataset import Dataset

from ....dicomio import printable
from ....reasons import Code
from ._errors import PixelCodecError
from ._syntax import SYNTAXES
from .backends import BACKENDS, Backend


def _ranked(ts: str, preferred: tuple[str, ...], *, encode: bool) -> list[Backend]:
    order = {name: i for i, name in enumerate(preferred)}
    serving = [b for b in BACKENDS.values() if b.is_available(ts, encode=encode)]
    return sorted(serving, key=lambda b: order.get(b.NAME, len(order)))


def decoders(ts: str) -> list[Backend]:
    """The installed backends that decode ``ts``, preferred first."""
    syntax = SYNTAXES.get(ts)
    if syntax is None:
        raise PixelCodecError(Code.UNDECODABLE_TRANSFER_SYNTAX, printable.uid(ts))
    found = _ranked(ts, syntax.decoders, encode=False)
    if not found:
        deps = "; ".join(b.DEPENDENCY for b in BACKENDS.values() if ts in b.DECODES)
        raise PixelCodecError(Code.BACKEND_UNAVAILABLE, f"{ts} needs one of: {deps}")
    return found


def encoder(ts: str) -> Backend | None:
    """The preferred installed backend that encodes ``ts``, or None."""
    syntax = SYNTAXES.get(ts)
    if syntax is None:
        return None
    found = _ranked(ts, syntax.encoders, encode=True)
    return found[0] if found else None


def can_decode(transfer_syntax_uid: str) -> bool:
    """Whether pixel data in this transfer syntax can be decoded with the installed backends."""
    try:
        return bool(decoders(str(transfer_syntax_uid)))
    except PixelCodecError:
        return False


def can_encode(transfer_syntax_uid: str) -> bool:
    """Whether we can write pixel data in this transfer syntax (Big Endian and HTJ2K: no)."""
    return encoder(str(transfer_syntax_uid)) is not None


def transfer_syntax(ds: Dataset) -> str:
    """The data set's (0002,0010), or ``missing_attribute``."""
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if not ts:
        raise PixelCodecError(Code.MISSING_ATTRIBUTE, "(0002,0010)")
    return str(ts)
