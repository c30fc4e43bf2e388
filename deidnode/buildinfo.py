"""What did the work: deidnode's version, the standard's edition, the libraries the engine runs on.

One place for the versions that ``deidnode_build_info``, the status page and every audit record report.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata

from . import __version__

OCR_DISTRIBUTIONS = {"rapidocr": "rapidocr_onnxruntime", "easyocr": "easyocr"}


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not-installed"


@cache
def versions(ocr_engine: str = "rapidocr") -> dict[str, str]:
    """``{"deidnode", "table_edition", "pydicom", "ocr"}``; ``ocr`` names the configured engine and its version."""
    from .engine.header.table import load_table

    dist = OCR_DISTRIBUTIONS.get(ocr_engine, ocr_engine)
    return {
        "deidnode": __version__,
        "table_edition": load_table().edition,
        "pydicom": _dist_version("pydicom"),
        "ocr": f"{ocr_engine} {_dist_version(dist)}",
    }
