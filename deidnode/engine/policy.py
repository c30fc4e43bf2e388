"""The policy the engine applies to one instance: a header profile and the pixel settings."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..config import HeaderSettings, NodeSettings, PixelSettings, Profile, Settings


@dataclass(frozen=True)
class Policy:
    profile: Profile = Profile()
    pixels: PixelSettings = PixelSettings(policy="off")
    header: HeaderSettings = HeaderSettings()
    max_inflated_bytes: int = NodeSettings().max_inflated_bytes
    """Parse limit: the most a deflated data set may inflate to (``node.max_inflated_bytes``)."""

    @classmethod
    def from_settings(cls, settings: Settings, profile: str = "default") -> Policy:
        """The policy for a profile (chosen by a route): its ``pixel_policy``, if set, decides for every
        modality."""
        prof = settings.profiles[profile]
        pixels = settings.pixels
        if prof.pixel_policy is not None:
            pixels = pixels.model_copy(update={"policy": prof.pixel_policy, "policy_by_modality": {}})
        return cls(
            profile=prof, pixels=pixels, header=settings.header, max_inflated_bytes=settings.node.max_inflated_bytes
        )

    def for_modality(self, modality: str) -> Policy:
        """This policy with ``pixels.policy_by_modality`` applied to an instance of ``modality``."""
        chosen = self.pixels.policy_by_modality.get(modality.strip().upper())
        if chosen is None or chosen == self.pixels.policy:
            return self
        return replace(self, pixels=self.pixels.model_copy(update={"policy": chosen}))
