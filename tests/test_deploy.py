"""deploy/: the example configurations are valid configurations, and the container files refer to files that
exist. (The container image is not built here: no container engine on these machines.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from deidnode.config import settings_from_dict
from deidnode.routing import Router

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def test_every_shipped_node_config_is_valid_and_its_routes_resolve(tmp_path):
    for cfg in (
        DEPLOY / "etc" / "deidnode" / "node.yaml",
        DEPLOY / "container" / "node.yaml",
        DEPLOY / "node.example.yaml",
    ):
        data = yaml.safe_load(cfg.read_text())
        settings = settings_from_dict(data)
        routes = data.get("routes_file")
        if routes == "routes.yaml":  # next to node.yaml in /etc/deidnode
            settings = settings.model_copy(update={"routes_file": DEPLOY / "etc" / "deidnode" / "routes.yaml"})
            Router(settings)  # every route names a configured destination and profile
        assert settings.spool.path.is_absolute(), cfg


def test_the_containerfile_copies_only_files_that_exist():
    text = (DEPLOY / "Containerfile").read_text()
    copies = re.findall(r"^COPY (.+) \S+$", text, re.M)
    assert copies
    for line in copies:
        for src in line.split():
            assert (ROOT / src).exists(), src


def test_compose_mounts_files_that_exist_and_checks_health():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    svc = compose["services"]["deidnode"]
    for vol in svc["volumes"]:
        src = vol.split(":")[0]
        if src.startswith("."):
            assert (DEPLOY / src).exists(), src
    assert "/healthz" in " ".join(svc["healthcheck"]["test"])
    assert (DEPLOY / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() == DEPLOY / "Containerfile"
