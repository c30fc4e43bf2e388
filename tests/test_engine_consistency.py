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


def test_phi_pattern_is_the_same_in_every_process():
    """Workers are separate processes with their own hash seeds: the PHI alternation must not depend on it."""
    import os
    import subprocess
    import sys

    code = (
        "import datetime as dt\n"
        "from deidnode.engine.phi import PhiValues\n"
        "p = PhiValues(name_parts=('ANNA', 'BERT', 'CARL', 'DORA', 'EMIL'), identifiers=('AB123', 'CD456'),"
        " dates=(dt.date(2001, 7, 5), dt.date(1999, 1, 2)))\n"
        "print(p.pattern().pattern)\n"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outs) == 1
