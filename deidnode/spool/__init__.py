"""Durable spool: received instances on disk (write, fsync, rename) with their state in SQLite (WAL)."""

from .store import Item, Spool, SpoolFullError, State

__all__ = ["Item", "Spool", "SpoolFullError", "State"]
