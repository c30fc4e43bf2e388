"""The codec's one error type (PHI-free: tags, transfer syntax UIDs and reason codes only)."""

from __future__ import annotations

from ....errors import PermanentError
from ....reasons import Code, Stage


class PixelCodecError(PermanentError):
    """Pixel data cannot be decoded, validated or re-encoded; the instance is quarantined with ``code``.

    Codes: ``undecodable_transfer_syntax``, ``decode_failed``, ``pixel_data_mismatch``, ``missing_attribute``,
    ``unsupported_pixel_layout``, ``encode_failed``, ``unencodable_transfer_syntax``, ``backend_unavailable``.
    """

    def __init__(self, code: Code, detail: str = "") -> None:
        super().__init__(code, detail, stage=Stage.PIXELS)
