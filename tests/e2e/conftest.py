"""Fixtures for end-to-end tests: Orthanc, the node, a study with planted PHI, a key."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dicom_factory import make_study, write_study  # noqa: E402
from peers import ORTHANC, STORESCU, Node, Orthanc  # noqa: E402


def pytest_collection_modifyitems(config, items):
    missing = [t for t in (ORTHANC, STORESCU) if not Path(t).exists()]
    if missing:
        skip = pytest.mark.skip(reason=f"not installed: {', '.join(missing)}")
        for item in items:
            if "e2e" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def study_dir(tmp_path_factory) -> Path:
    """60 CT instances (3 series, 128x128) with planted PHI, as Part 10 files."""
    d = tmp_path_factory.mktemp("study")
    write_study(d, make_study(60, 3, size=128, seed="e2e-study"))
    return d


@pytest.fixture(scope="session")
def big_study_dir(tmp_path_factory) -> Path:
    """240 small CT instances (4 series, 64x64): long enough a send to stop a peer in the middle of it."""
    d = tmp_path_factory.mktemp("big-study")
    write_study(d, make_study(240, 4, size=64, seed="e2e-big-study"))
    return d


@pytest.fixture(scope="session")
def key_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("key") / "deid.key"
    p.write_bytes(bytes(range(32)) * 2)
    return p


@pytest.fixture
def orthanc(tmp_path):
    o = Orthanc(tmp_path / "orthanc").start()
    yield o
    o.stop()


def node_config(tmp_path: Path, orthanc: Orthanc, **overrides) -> dict:
    cfg = {
        "node": {"ae_title": "DEIDNODE", "allowed_calling_aets": ["CT1", "BADSCU"], "max_associations": 16},
        "spool": {"path": str(tmp_path / "spool"), "min_free_bytes": 0},
        "quarantine_path": str(tmp_path / "quarantine"),
        "workers": {"count": 2, "poll_seconds": 0.05},
        "retry": {"initial_seconds": 0.5, "max_seconds": 2, "max_age_seconds": 600},
        "destinations": [
            {
                "name": "research",
                "type": "dicom",
                "ae_title": orthanc.aet,
                "host": "127.0.0.1",
                "port": orthanc.dicom_port,
                "timeout": 10,
            }
        ],
        "log_level": "INFO",
    }
    for k, v in overrides.items():
        cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) else v
    return cfg


@pytest.fixture
def make_node(tmp_path, key_file):
    nodes: list[Node] = []

    def make(cfg: dict) -> Node:
        n = Node(tmp_path / f"node{len(nodes)}", cfg, key_file)
        nodes.append(n)
        return n

    yield make
    for n in nodes:
        n.stop()
    for n in nodes:
        shutil.rmtree(n.workdir / "metrics", ignore_errors=True)
