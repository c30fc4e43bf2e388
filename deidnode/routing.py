"""Routing rules: which destinations an instance goes to and with which de-identification profile.

A routes file (``routes_file`` in the config, example in ``rules/routes.yaml``) lists rules; the first rule
whose ``match`` fits wins. A match field left out matches anything; listed values are alternatives:

- ``calling_aet``: the sender's AE title (from the association; no decoding needed),
- ``sop_class``: SOP Class UIDs or their keywords (``CTImageStorage``), from the presentation context,
- ``modality``: values of (0008,0060) Modality, read from the header only when some rule needs it.

An instance no rule matches is quarantined (stage ``route``, code ``no_route``). Without a routes file, every
instance goes to every destination with the ``default`` profile.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydicom.uid import UID

from .config import Settings
from .errors import ConfigError


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RouteMatch(_Model):
    calling_aet: tuple[str, ...] = ()
    modality: tuple[str, ...] = ()
    sop_class: tuple[str, ...] = ()


class Route(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    match: RouteMatch = RouteMatch()
    destinations: tuple[str, ...] = Field(min_length=1)
    profile: str = "default"


class RoutesFile(_Model):
    routes: tuple[Route, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Decision:
    """The chosen rule: its name (for logs), destinations and profile."""

    route: str
    destinations: tuple[str, ...]
    profile: str


def _sop_matches(wanted: tuple[str, ...], sop_class: str) -> bool:
    keyword = UID(sop_class).keyword if sop_class else ""
    return any(w == sop_class or (keyword and w == keyword) for w in wanted)


def peek_modality(raw: bytes | mmap.mmap) -> str | None:
    """(0008,0060) Modality from Part 10 bytes, reading the header only; None if absent or unreadable."""
    from pydicom import dcmread

    from .dicomio.parse import as_file

    try:
        ds = dcmread(as_file(raw), stop_before_pixels=True, specific_tags=["Modality"])
        value = ds.get("Modality")
    except Exception:  # noqa: BLE001 - unreadable input is the engine's to quarantine
        return None
    return str(value).strip().upper() if value else None


class Router:
    """Applies the rules; validated against the configured destinations and profiles at construction."""

    def __init__(self, settings: Settings) -> None:
        names = {d.name for d in settings.destinations}
        if settings.routes_file is None:
            self.routes: tuple[Route, ...] = (Route(name="all", destinations=tuple(sorted(names))),)
        else:
            self.routes = load_routes(settings.routes_file).routes
        for r in self.routes:
            for d in r.destinations:
                if d not in names:
                    raise ConfigError(f"config error: routes: rule '{r.name}': unknown destination '{d}'")
            if r.profile not in settings.profiles:
                raise ConfigError(f"config error: routes: rule '{r.name}': unknown profile '{r.profile}'")
        self.needs_modality = any(r.match.modality for r in self.routes)

    def route(self, *, calling_aet: str, sop_class: str, modality: str | None = None) -> Decision | None:
        """The first matching rule's decision, or None when no rule matches."""
        for r in self.routes:
            m = r.match
            if m.calling_aet and calling_aet.strip() not in m.calling_aet:
                continue
            if m.sop_class and not _sop_matches(m.sop_class, sop_class):
                continue
            if m.modality and (modality or "") not in {x.upper() for x in m.modality}:
                continue
            return Decision(r.name, r.destinations, r.profile)
        return None


def load_routes(path: Path) -> RoutesFile:
    """Read and validate a routes file; errors name the file and the key."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"config error: routes_file: cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config error: routes_file: {path} is not valid YAML: {e}") from None
    try:
        return RoutesFile.model_validate(data or {})
    except ValidationError as e:
        msgs = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise ConfigError(f"config error: routes_file {path}: " + "; ".join(msgs)) from None
