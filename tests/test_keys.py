"""Keyed pseudonyms: deterministic, key-dependent, valid, and refusing to run without a key."""

from __future__ import annotations

import pytest

from deidnode.engine.keys import Keys
from deidnode.errors import ConfigError
from deidnode.keysource import load_keys


def test_uid_mapping_is_deterministic_valid_and_key_dependent():
    a, b = Keys(b"a" * 32), Keys(b"b" * 32)
    uid = "1.2.840.113619.2.55.3.604688119.971.1234567890.1"
    assert a.uid(uid) == a.uid(uid) == a.uid(uid + "\x00")
    assert a.uid(uid) != b.uid(uid)
    mapped = a.uid(uid)
    assert mapped.startswith("2.25.") and len(mapped) <= 64
    assert all(part == "0" or not part.startswith("0") for part in mapped.split("."))


def test_day_offset_is_in_range_and_stable():
    k = Keys(b"k" * 32)
    offs = {k.day_offset(f"id:{i}", 30) for i in range(200)}
    assert offs <= set(range(-30, 0)) and len(offs) > 20
    assert k.day_offset("id:1", 30) == k.day_offset("id:1", 30)


def test_short_key_is_refused():
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        Keys(b"short")


def test_no_key_is_refused_unless_ephemeral():
    with pytest.raises(ConfigError, match="no de-identification key"):
        load_keys(None, None, environ={})
    keys, source = load_keys(None, None, ephemeral=True, environ={})
    assert len(keys.secret) == 32 and source == "ephemeral"


def test_key_order_is_command_line_then_environment_then_config(tmp_path):
    """Issue 10 item 14: serve let $DEIDNODE_KEY_FILE override keys.key_file, deid did the opposite."""
    for name in ("cli", "env", "cfg"):
        (tmp_path / name).write_bytes(name.encode() * 16)
    env = {"DEIDNODE_KEY_FILE": str(tmp_path / "env")}
    assert load_keys(tmp_path / "cli", tmp_path / "cfg", environ=env)[0].secret == b"cli" * 16
    assert load_keys(None, tmp_path / "cfg", environ=env) == (Keys(b"env" * 16), "$DEIDNODE_KEY_FILE")
    assert load_keys(None, tmp_path / "cfg", environ={}) == (Keys(b"cfg" * 16), "keys.key_file")
    assert load_keys(None, tmp_path / "cfg", ephemeral=True, environ={})[1] == "keys.key_file"


def test_binary_key_file_is_used_byte_for_byte(tmp_path):
    """`head -c 32 /dev/urandom` can begin or end with whitespace bytes: none of them may be dropped."""
    raw = b" \n" + bytes(range(1, 29)) + b"\t\n"
    (tmp_path / "k").write_bytes(raw)
    assert Keys.from_file(tmp_path / "k").secret == raw


def test_text_key_file_loses_only_its_line_end(tmp_path):
    hex_key = b"8f" * 32
    (tmp_path / "a").write_bytes(hex_key + b"\n")
    (tmp_path / "b").write_bytes(hex_key + b"\r\n")
    (tmp_path / "c").write_bytes(hex_key)
    assert {Keys.from_file(tmp_path / n).secret for n in "abc"} == {hex_key}
