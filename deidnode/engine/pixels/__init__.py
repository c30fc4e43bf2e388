"""Pixel data: codec per transfer syntax (``codec``), burned-in text detection, redaction and verification."""
