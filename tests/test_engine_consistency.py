"""The pixel stage and the header agree on pseudonyms: one patient, one date shift, one name."""

from __future__ import annotations

import phi_dataset as P

from deidnode.config import PixelSettings, Profile
from deidnode.engine import Keys, Policy, deidentify
from deidnode.engine.pixels import stage
from deidnode.engine.pseudonyms import shift_da

KEY = Keys(b"c" * 32)


def _pixel_stage_arguments(monkeypatch, profile: Profile) -> tuple[dict, object]:
    seen: dict = {}

    def fake(ds, phi, policy, keys, audit, **kw):
        seen.update(kw)
        return None

    monkeypatch.setattr(stage, "clean_pixels", fake)
    out = deidentify(P.planted_ct(), Policy(profile=profile, pixels=PixelSettings()), KEY).dataset
    return seen, out


def test_the_pixel_stage_is_given_the_headers_date_shift(monkeypatch):
    """The patient key and date shift are computed once, in deidentify(), and passed to the pixel stage."""
    seen, out = _pixel_stage_arguments(monkeypatch, Profile())
    offset = seen["date_shift_days"]
    assert offset is not None and out.StudyDate == shift_da(P.STUDY_DATE, offset)


def test_no_date_shift_without_modified_dates(monkeypatch):
    seen, _ = _pixel_stage_arguments(monkeypatch, Profile(options=()))
    assert seen["date_shift_days"] is None


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
