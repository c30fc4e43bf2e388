"""Pixel policy per modality and per route (through the route's profile)."""

from __future__ import annotations

import phi_dataset as P

from deidnode.config import settings_from_dict
from deidnode.engine import Keys, Policy, deidentify

KEY = Keys(b"p" * 32)


def test_policy_by_modality_applies_to_that_modality_only():
    s = settings_from_dict({"pixels": {"policy": "phi", "policy_by_modality": {"CT": "off", "us": "strict"}}})
    base = Policy.from_settings(s)
    assert base.for_modality("CT").pixels.policy == "off"
    assert base.for_modality("MR").pixels.policy == "phi"


def test_profile_pixel_policy_overrides_global_and_modality_policies():
    s = settings_from_dict(
        {
            "pixels": {"policy": "phi", "policy_by_modality": {"CT": "off"}},
            "profiles": {"default": {}, "review": {"pixel_policy": "all"}},
        }
    )
    review = Policy.from_settings(s, "review")
    assert review.pixels.policy == "all" and review.for_modality("CT").pixels.policy == "all"


def test_modality_policy_off_takes_ct_with_burned_in_annotation_to_quarantine():
    # pixels off for CT: an instance that says it has burned-in text cannot be cleaned, so it is refused
    s = settings_from_dict({"pixels": {"policy": "phi", "policy_by_modality": {"CT": "off"}}})
    ds = P.planted_ct()
    ds.BurnedInAnnotation = "YES"
    result = deidentify(ds, Policy.from_settings(s), KEY)
    assert result.quarantine is not None and result.quarantine.code == "burned_in_annotation"
