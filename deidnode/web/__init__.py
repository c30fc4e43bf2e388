"""The pages of the metrics port: /metrics, /healthz, /readyz, /status and /api/v1/ (see server.py)."""

from .health import Heartbeat, liveness, overall
from .server import Admin, WebServer, read_admin_token
from .status import NodeStatus, Throughput, counter_totals

__all__ = [
    "Admin",
    "Heartbeat",
    "NodeStatus",
    "Throughput",
    "WebServer",
    "counter_totals",
    "liveness",
    "overall",
    "read_admin_token",
]
