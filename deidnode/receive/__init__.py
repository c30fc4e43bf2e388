"""Storage SCP: association policy (AE title and network allow-lists, TLS, limits), C-STORE and C-ECHO."""

from .policy import AssociationPolicy, Rejection
from .scp import StorageSCP

__all__ = ["AssociationPolicy", "Rejection", "StorageSCP"]
