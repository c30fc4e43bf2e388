"""Destinations: C-STORE SCU (association reuse, transfer-syntax fallback) and folders."""

from .base import Outcome, Outgoing, Result
from .folder import FolderForwarder
from .scu import DicomForwarder, make_forwarder

__all__ = ["DicomForwarder", "FolderForwarder", "Outcome", "Outgoing", "Result", "make_forwarder"]
