"""The re-identification mapping for an honest broker: original -> pseudonym, encrypted at rest (store.py), and
the commands that read it with its key (cli.py). Off by default; the store is PHI (docs/header.md)."""

from .store import MappingKeyError, MappingStore, load_mapping_key, new_mapping_key

__all__ = ["MappingKeyError", "MappingStore", "load_mapping_key", "new_mapping_key"]
