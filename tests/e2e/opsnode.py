"""A node for the operations tests: folder destination, one routed sender, probes over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from peers import storescu

ROUTES = """
routes:
  - name: from-ct1
    match: {calling_aet: [CT1]}
    destinations: [out]
"""


def folder_config(tmp_path: Path, **over) -> dict:
    """A node forwarding to a folder: CT1 is routed, any other sender is quarantined (route, no_route)."""
    (tmp_path / "routes.yaml").write_text(ROUTES)
    cfg = {
        "node": {"ae_title": "DEIDNODE", "shutdown_grace_seconds": 0.5},
        "spool": {"path": str(tmp_path / "spool"), "min_free_bytes": 0},
        "quarantine_path": str(tmp_path / "quarantine"),
        "workers": {"count": 2, "poll_seconds": 0.05},
        "destinations": [{"name": "out", "type": "folder", "path": str(tmp_path / "out")}],
        "routes_file": str(tmp_path / "routes.yaml"),
        "audit": {"path": str(tmp_path / "audit" / "audit.jsonl")},
        "web": {"stall_seconds": 2},
        "log_level": "INFO",
    }
    for k, v in over.items():
        cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) else v
    return cfg


def get(node, path: str, method: str = "GET") -> tuple[int, bytes, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{node.metrics_port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def get_json(node, path: str) -> tuple[int, dict]:
    code, body, _ = get(node, path)
    return code, json.loads(body)


def send_traffic(node, study_dir: Path) -> None:
    files = sorted(study_dir.iterdir())
    assert storescu(node.port, files[:12], aet="CT1").returncode == 0
    assert storescu(node.port, files[12:13], aet="OTHER").returncode == 0  # no route: quarantined
