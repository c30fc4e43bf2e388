"""Worker pool: processes that take spooled instances through the engine to the destinations."""

from .pipeline import Pipeline
from .supervisor import Supervisor

__all__ = ["Pipeline", "Supervisor"]
