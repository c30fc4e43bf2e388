"""The pixel stage and the header agree on pseudonyms: one patient, one date shift, one name."""

from __future__ import annotations

import copy

import phi_dataset as P

from deidnode.config import PixelSettings, Profile
from deidnode.engine import Keys, Policy, deidentify
from deidnode.engine.header.pseudonyms import shift_da
from deidnode.engine.pixels.stage import _date_shift

KEY = Keys(b"c" * 32)


def test_pixel_stage_date_shift_is_the_header_shift():
    ds = P.planted_ct()
    policy = Policy(profile=Profile(), pixels=PixelSettings(policy="off"))
    offset = _date_shift(copy.deepcopy(ds), policy, KEY)
    out = deidentify(ds, policy, KEY).dataset
    assert offset is not None and out.StudyDate == shift_da(P.STUDY_DATE, offset)


def test_no_date_shift_without_modified_dates():
    policy = Policy(profile=Profile(options=()), pixels=PixelSettings(policy="off"))
    assert _date_shift(P.planted_ct(), policy, KEY) is None
