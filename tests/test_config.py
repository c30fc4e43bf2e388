"""Configuration: typed, validated, a bad value is an error naming the key."""

from __future__ import annotations

import pytest

from deidnode.config import Settings, load_settings, settings_from_dict
from deidnode.errors import ConfigError


def test_embedded_default_is_the_documented_node():
    s = Settings()
    assert (s.node.ae_title, s.node.port) == ("DEIDNODE", 11112)
    assert s.destinations[0].type == "folder" and str(s.destinations[0].path) == "var/out"
    assert "default" in s.profiles


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"node": {"port": 70000}}, "node.port"),
        ({"node": {"ae_title": "THIS_AE_TITLE_IS_TOO_LONG"}}, "node.ae_title"),
        ({"profiles": {"default": {"options": ["retain_everything"]}}}, "profiles.default.options"),
        ({"profiles": {"default": {"overrides": {"(ZZZZ,0010)": {"action": "keep"}}}}}, "profiles.default.overrides"),
        (
            {"profiles": {"default": {"overrides": {"PatientName": {"action": "replace"}}}}},
            "profiles.default.overrides",
        ),
        ({"spool": {"lease_seconds": -1}}, "spool.lease_seconds"),
        ({"nodee": {}}, "nodee"),
    ],
)
def test_bad_value_is_a_clear_error_naming_the_key(data, key):
    with pytest.raises(ConfigError) as e:
        settings_from_dict(data)
    assert str(e.value).startswith("config error: ")
    assert key in str(e.value)


def test_full_and_modified_dates_exclude_each_other():
    with pytest.raises(ConfigError, match="exclude each other"):
        settings_from_dict(
            {"profiles": {"default": {"options": ["retain_long_full_dates", "retain_long_modified_dates"]}}}
        )


def test_yaml_file_paths_are_relative_to_the_file(tmp_path):
    cfg = tmp_path / "node.yaml"
    cfg.write_text("spool:\n  path: spool\nkeys:\n  key_file: deid.key\n")
    s = load_settings(cfg)
    assert s.spool.path == tmp_path / "spool" and s.keys.key_file == tmp_path / "deid.key"


def test_invalid_yaml_is_a_config_error(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("node: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(cfg)


def test_the_dicom_implementation_is_fast_unless_configured_or_switched_for_tests(monkeypatch):
    monkeypatch.delenv("DEIDNODE_DIMSE", raising=False)
    dest = {"name": "pacs", "type": "dicom", "ae_title": "PACS", "host": "127.0.0.1", "port": 104}
    s = settings_from_dict({"destinations": [dest]})
    assert s.node.dimse == "fast" and s.destinations[0].dimse == "fast"
    s = settings_from_dict({"node": {"dimse": "pynetdicom"}, "destinations": [{**dest, "dimse": "pynetdicom"}]})
    assert s.node.dimse == "pynetdicom" and s.destinations[0].dimse == "pynetdicom"
    with pytest.raises(ConfigError, match=r"^config error: destinations\.0\.dimse: Input should be 'fast' or"):
        settings_from_dict({"destinations": [{**dest, "dimse": "dcmtk"}]})
    monkeypatch.setenv("DEIDNODE_DIMSE", "pynetdicom")
    s = settings_from_dict({"destinations": [dest]})
    assert s.node.dimse == "pynetdicom" and s.destinations[0].dimse == "pynetdicom"
    monkeypatch.setenv("DEIDNODE_DIMSE", "bogus")
    with pytest.raises(ConfigError, match="DEIDNODE_DIMSE"):
        settings_from_dict({})
