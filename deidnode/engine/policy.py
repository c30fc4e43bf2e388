"""The policy the engine applies to one instance: a header profile and the pixel settings."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import PixelSettings, Profile, Settings


@dataclass(frozen=True)
class Policy:
    profile: Profile = Profile()
    pixels: PixelSettings = PixelSettings(policy="off")

    @classmethod
    def from_settings(cls, settings: Settings, profile: str = "default") -> Policy:
        return cls(profile=settings.profiles[profile], pixels=settings.pixels)
