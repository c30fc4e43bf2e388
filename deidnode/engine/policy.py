"""The policy the engine applies to one instance: a header profile and the pixel settings."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import HeaderSettings, PixelSettings, Profile, Settings


@dataclass(frozen=True)
class Policy:
    profile: Profile = Profile()
    pixels: PixelSettings = PixelSettings(policy="off")
    header: HeaderSettings = HeaderSettings()

    @classmethod
    def from_settings(cls, settings: Settings, profile: str = "default") -> Policy:
        """The policy for a profile (chosen by a route): its ``pixel_policy``, if set, decides for every
        modality."""
        prof = settings.profiles[profile]
        pixels = settings.pixels
        if prof.pixel_policy is not None:
            pixels = pixels.model_copy(update={"policy": prof.pixel_policy, "policy_by_modality": {}})
        return cls(profile=prof, pixels=pixels, header=settings.header)

    def for_modality(self, modality: str) -> Policy:
        """This policy with ``pixels.policy_by_modality`` applied to an instance of ``modality``."""
        chosen = self.pixels.policy_by_modality.get(modality.strip().upper())
        if chosen is None or chosen == self.pixels.policy:
            return self
        return Policy(self.profile, self.pixels.model_copy(update={"policy": chosen}), self.header)
