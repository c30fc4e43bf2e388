"""The codec's one error type (PHI-free: tags, transfer syntax UIDs and reason codes only)."""

from __future__ import annotations

from deidnode.errors import PermanentError


class PixelCodecError(PermanentError):
    """Pixel data cannot be decoded, validated or re-encoded; the instance is quarantined with ``code``.

    Codes: ``undecodable-transfer-syntax``, ``decode-failed``, ``pixel-data-mismatch``, ``missing-attribute``,
    ``unsupported-pixel-layout``, ``encode-failed``, ``unencodable-transfer-syntax``, ``backend-unavailable``.
    """

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code, detail, stage="pixels")
