"""What an input's values may be printed as (audit records, reason details): nothing that could carry PHI."""

from __future__ import annotations

from pydicom.data import get_testdata_file

from deidnode.dicomio import printable
from deidnode.engine import Policy, deidentify_bytes
from deidnode.engine.keys import Keys


def test_uids_print_only_as_digits_and_dots_and_modalities_only_as_defined_terms():
    assert printable.uid("1.2.840.10008.1.2.1") == "1.2.840.10008.1.2.1"
    assert printable.uid("1.2.840.113619.2.55.3.0969.01") == "1.2.840.113619.2.55.3.0969.01"  # old archives
    for bad in ("1.2.SMITH.3", "1.2.3 John", "1." * 40 + "1", "", None):
        assert printable.uid(bad) == "(not a valid UID)"
    assert printable.modality("CT") == "CT" and printable.modality("CR") == "CR" and printable.modality("") == ""
    assert printable.modality("SMITH") == "(not a defined term)" and printable.modality("ct") == "(not a defined term)"


def test_an_unknown_transfer_syntax_is_quarantined_not_copied_into_the_output(tmp_path):
    from deidnode.config import settings_from_dict

    raw = bytearray(open(get_testdata_file("CT_small.dcm"), "rb").read())
    i = raw.index(b"1.2.840.10008.1.2.1\x00")
    raw[i : i + 20] = b"1.2.840.10008.9.9.1\x00"  # a well-formed UID that names no transfer syntax
    policy = Policy.from_settings(settings_from_dict({}), "default")
    r = deidentify_bytes(bytes(raw), policy, Keys(b"k" * 32))
    assert not r.ok and (r.quarantine.stage, r.quarantine.code) == ("parse", "unknown_transfer_syntax")
    assert r.quarantine.detail == "1.2.840.10008.9.9.1"
