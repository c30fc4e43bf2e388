"""Routing rules: first match wins; AE title, SOP class (UID or keyword), modality."""

from __future__ import annotations

from pathlib import Path

import pytest

from deidnode.config import RULES_DIR, settings_from_dict
from deidnode.errors import ConfigError
from deidnode.routing import Router, peek_modality

CT = "1.2.840.10008.5.1.4.1.1.2"
SC = "1.2.840.10008.5.1.4.1.1.7"


def _settings(tmp_path: Path, routes: str, **extra):
    f = tmp_path / "routes.yaml"
    f.write_text(routes)
    data = {
        "destinations": [
            {"name": "research", "type": "dicom", "ae_title": "PACS", "host": "127.0.0.1", "port": 104},
            {"name": "local", "type": "folder", "path": str(tmp_path / "out")},
        ],
        "routes_file": str(f),
        **extra,
    }
    return settings_from_dict(data)


def test_without_routes_file_everything_goes_everywhere_with_default_profile():
    r = Router(settings_from_dict({}))
    d = r.route(calling_aet="ANY", sop_class=CT)
    assert d.destinations == ("local",) and d.profile == "default"
    assert not r.needs_modality


def test_first_matching_rule_wins(tmp_path):
    s = _settings(
        tmp_path,
        """
routes:
  - name: sc
    match: {sop_class: [SecondaryCaptureImageStorage]}
    destinations: [local]
  - name: ct-scanner
    match: {calling_aet: [CT1], sop_class: ["1.2.840.10008.5.1.4.1.1.2"]}
    destinations: [research, local]
  - name: rest
    destinations: [research]
""",
    )
    r = Router(s)
    assert r.route(calling_aet="CT1", sop_class=SC).route == "sc"
    assert r.route(calling_aet="CT1", sop_class=CT).destinations == ("research", "local")
    assert r.route(calling_aet="OTHER", sop_class=CT).route == "rest"


def test_no_match_gives_none(tmp_path):
    s = _settings(
        tmp_path,
        "routes:\n  - name: only-ct1\n    match: {calling_aet: [CT1]}\n    destinations: [research]\n",
    )
    assert Router(s).route(calling_aet="MR1", sop_class=CT) is None


def test_modality_rules_ask_for_the_header(tmp_path):
    s = _settings(tmp_path, "routes:\n  - name: mr\n    match: {modality: [mr]}\n    destinations: [local]\n")
    r = Router(s)
    assert r.needs_modality
    assert r.route(calling_aet="X", sop_class=CT, modality="MR").route == "mr"
    assert r.route(calling_aet="X", sop_class=CT, modality="CT") is None
    assert r.route(calling_aet="X", sop_class=CT, modality=None) is None


def test_unknown_destination_is_a_config_error(tmp_path):
    s = _settings(tmp_path, "routes:\n  - name: bad\n    destinations: [nowhere]\n")
    with pytest.raises(ConfigError, match="unknown destination 'nowhere'"):
        Router(s)


def test_unknown_profile_is_a_config_error(tmp_path):
    s = _settings(tmp_path, "routes:\n  - name: bad\n    destinations: [local]\n    profile: strict\n")
    with pytest.raises(ConfigError, match="unknown profile 'strict'"):
        Router(s)


def test_malformed_routes_file_names_the_key(tmp_path):
    s = _settings(tmp_path, "routes:\n  - name: bad\n    destinations: []\n")
    with pytest.raises(ConfigError, match="routes.0.destinations"):
        Router(s)


def test_example_routes_file_is_valid(tmp_path):
    s = _settings(tmp_path, "routes: []\n").model_copy(update={"routes_file": RULES_DIR / "routes.yaml"})
    r = Router(s)
    assert r.route(calling_aet="CT_SCANNER_1", sop_class=CT, modality="CT").route == "scanners-to-research"
    assert r.route(calling_aet="WS", sop_class=SC).destinations == ("local",)


def test_peek_modality_reads_the_header(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from dicom_factory import make_study, to_bytes

    assert peek_modality(to_bytes(make_study(1, 1)[0])) == "CT"
    assert peek_modality(b"garbage") is None
