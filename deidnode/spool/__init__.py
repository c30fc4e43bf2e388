"""Durable spool: received instances on disk (write, fsync file and folder) with their state in SQLite (WAL)."""

from .destinations import DestinationState
from .store import Item, Spool, SpoolFullError, State, Waiting

__all__ = ["DestinationState", "Item", "Spool", "SpoolFullError", "State", "Waiting"]
