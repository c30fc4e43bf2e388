"""``deidnode serve`` refuses to start without what it needs, with a clear message and exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deidnode.config import load_settings
from deidnode.routing import Router

ROOT = Path(__file__).resolve().parents[1]


def _serve(tmp_path: Path, config: str, *extra: str) -> subprocess.CompletedProcess:
    cfg = tmp_path / "node.yaml"
    cfg.write_text(config)
    env = {k: v for k, v in os.environ.items() if k != "DEIDNODE_KEY_FILE"}
    return subprocess.run(
        [sys.executable, "-m", "deidnode.cli", "serve", "--config", str(cfg), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
    )


def test_serve_without_a_key_exits_with_config_error(tmp_path):
    r = _serve(tmp_path, f"spool: {{path: {tmp_path / 'spool'}}}\n")
    assert r.returncode == 2
    assert "no de-identification key" in r.stderr


def test_serve_with_routes_to_unknown_destination_exits_with_config_error(tmp_path):
    (tmp_path / "routes.yaml").write_text("routes:\n  - name: r\n    destinations: [nowhere]\n")
    r = _serve(tmp_path, f"spool: {{path: {tmp_path / 'spool'}}}\nroutes_file: routes.yaml\n", "--ephemeral-key")
    assert r.returncode == 2
    assert "unknown destination 'nowhere'" in r.stderr


def test_example_config_is_valid_and_its_routes_resolve():
    s = load_settings(ROOT / "deploy" / "node.example.yaml")
    assert s.node.allowed_calling_aets == ("CT_SCANNER_1", "MR_SCANNER_1", "PACS_EXPORT")
    assert s.routes_file == ROOT / "deploy" / ".." / "rules" / "routes.yaml"
    assert Router(s).needs_modality
