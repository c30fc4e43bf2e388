"""Typed, validated configuration: one YAML file -> one frozen ``Settings``.

Every default lives here. A bad value raises :class:`ConfigError` naming the key, e.g.
``config error: node.port: Input should be less than or equal to 65535``.
Settings are built once (``load_settings``) and passed in; there is no module-level state.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from .dicomio.parse import DEFAULT_MAX_INFLATED_BYTES
from .dicomio.tags import parse_tag_key
from .errors import ConfigError
from .ruledata import RULES_DIR

__all__ = ["RULES_DIR", "ConfigError", "Settings", "load_settings", "settings_from_dict"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Option(StrEnum):
    """PS3.15 Annex E options, by the name used in the config. Values are the table's column names."""

    retain_safe_private = "rtn_safe_priv"
    retain_uids = "rtn_uids"
    retain_device_identity = "rtn_dev_id"
    retain_institution_identity = "rtn_inst_id"
    retain_patient_characteristics = "rtn_pat_chars"
    retain_long_full_dates = "rtn_long_full_dates"
    retain_long_modified_dates = "rtn_long_modif_dates"
    clean_descriptors = "clean_desc"
    clean_structured_content = "clean_struct_cont"
    clean_graphics = "clean_graph"


class TagOverride(_Model):
    """A per-tag override of the profile: keep, remove, or replace with ``value``."""

    action: Literal["keep", "remove", "replace", "empty", "clean", "uid", "dummy"]
    value: str | None = None

    @model_validator(mode="after")
    def _value_for_replace(self) -> TagOverride:
        if self.action == "replace" and self.value is None:
            raise ValueError("action 'replace' needs a 'value'")
        if self.action != "replace" and self.value is not None:
            raise ValueError(f"'value' is only used with action 'replace', not '{self.action}'")
        return self


class Profile(_Model):
    """How the header is de-identified (PS3.15 E.1 Basic Profile plus the named options)."""

    options: tuple[str, ...] = (
        "retain_long_modified_dates",
        "retain_patient_characteristics",
        "clean_descriptors",
        "clean_structured_content",
        "clean_graphics",
    )
    overrides: dict[int, TagOverride] = Field(default_factory=dict)
    """Tag -> override; written with tag keys or keywords, held as tag ints."""
    unlisted_standard: Literal["remove", "keep"] = "remove"
    """Standard attributes neither in Table E.1-1 nor on the keep-list (rules/keep_attributes.yaml)."""
    allowed_sop_classes: tuple[str, ...] = ()
    """SOP Class UIDs whose payload we cannot clean (PDF, CDA, STL, raw data...) that may pass anyway."""
    date_shift_max_days: int = Field(default=3650, ge=1, le=36500)
    patient_id_prefix: str = Field(default="DN", max_length=8)
    method_text: str = Field(default="deidnode PS3.15 E.1", max_length=64)
    pixel_policy: PixelPolicy | None = None
    """Burned-in text policy for instances routed to this profile (overrides pixels.policy and
    pixels.policy_by_modality); None: the pixels section decides."""
    allow_burned_in_annotation: bool = False
    """Forward instances marked Burned In Annotation = YES even when pixel cleaning is off (not fail-safe)."""

    @field_validator("options")
    @classmethod
    def _known_options(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        names = {o.name for o in Option}
        for name in v:
            if name not in names:
                raise ValueError(f"unknown option '{name}'; known: {', '.join(sorted(names))}")
        if "retain_long_full_dates" in v and "retain_long_modified_dates" in v:
            raise ValueError("retain_long_full_dates and retain_long_modified_dates exclude each other")
        return tuple(dict.fromkeys(v))

    @field_validator("overrides", mode="before")
    @classmethod
    def _tag_keys(cls, v: object) -> object:
        """Keys as written (``"(0010,0010)"``, ``0010,0010``, ``PatientName``) parsed once, here, to tag ints."""
        if not isinstance(v, dict):
            return v
        out = {}
        for key, ov in v.items():
            if isinstance(key, int):
                out[key] = ov
                continue
            try:
                out[parse_tag_key(str(key))] = ov
            except ValueError as e:
                raise ValueError(f"override key '{key}': {e}") from None
        return out

    @field_serializer("overrides")
    def _tag_keys_out(self, v: dict[int, TagOverride]) -> dict[str, object]:
        return {f"({t >> 16:04X},{t & 0xFFFF:04X})": ov.model_dump(exclude_none=True) for t, ov in v.items()}

    @property
    def option_set(self) -> frozenset[Option]:
        return frozenset(Option[o] for o in self.options)


class TLS(_Model):
    cert: Path
    key: Path
    ca: Path | None = None
    require_client_cert: bool = False


DimseImplementation = Literal["fast", "pynetdicom"]
DIMSE_ENV = "DEIDNODE_DIMSE"


def _default_dimse() -> str:
    """The DICOM network implementation when the YAML names none: ``fast``, unless ``DEIDNODE_DIMSE`` names
    another (the test suite runs on the reference implementation that way)."""
    value = os.environ.get(DIMSE_ENV, "fast")
    if value not in ("fast", "pynetdicom"):
        raise ConfigError(f"config error: {DIMSE_ENV}: should be 'fast' or 'pynetdicom', not {value[:20]!r}")
    return value


class NodeSettings(_Model):
    """The Storage SCP (receive/)."""

    ae_title: str = Field(default="DEIDNODE", min_length=1, max_length=16, pattern=r"^[ -~]*[!-~][ -~]*$")
    host: str = "0.0.0.0"
    port: int = Field(default=11112, ge=0, le=65535)
    """0: any free port (the bound port is logged in the ``ready`` event)."""
    allowed_calling_aets: tuple[str, ...] = ()
    """Empty: any calling AE title is accepted."""
    allowed_networks: tuple[str, ...] = ()
    """CIDR blocks (e.g. 10.1.0.0/16); empty: any source address."""
    check_called_aet: bool = False
    """Reject associations whose called AE title is not ``ae_title``."""
    max_associations: int = Field(default=16, ge=1, le=1000)
    max_pdu: int = Field(default=65536, ge=0)
    acse_timeout: float = Field(default=30, gt=0)
    dimse_timeout: float = Field(default=60, gt=0)
    network_timeout: float = Field(default=60, gt=0)
    tls: TLS | None = None
    shutdown_grace_seconds: float = Field(default=10, ge=0)
    """On SIGTERM, how long open associations may go on before they are aborted."""
    max_connections_per_address: int | None = Field(default=None, ge=1, le=10000)
    """Connections one source address may hold at once (associated or negotiating); None: half of
    ``max_associations``, at least 2. The node holds at most ``2 x max_associations + 8`` in all."""
    min_transfer_rate: float = Field(default=16384, gt=0)
    """Bytes per second a message must move at: each message must arrive within ``dimse_timeout`` plus its
    size at this rate (an absolute deadline a slow-dripping peer cannot stretch)."""
    max_inflated_bytes: int = Field(default=DEFAULT_MAX_INFLATED_BYTES, ge=1024 * 1024)
    """Largest size a Deflated Explicit VR Little Endian data set may inflate to; larger ones (deflate bombs)
    are quarantined (``parse``, ``inflate_limit``) without being inflated further."""
    dimse: DimseImplementation = Field(default_factory=_default_dimse, validate_default=True)
    """The SCP's DICOM upper layer: ``fast`` (deidnode's own) or ``pynetdicom`` (the reference)."""

    def connections_per_address(self) -> int:
        return self.max_connections_per_address or max(2, self.max_associations // 2)

    @field_validator("allowed_calling_aets")
    @classmethod
    def _ae_titles(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for title in v:
            if not 0 < len(title) <= 16 or not title.strip(" ") or any(c < " " or c > "~" or c == "\\" for c in title):
                raise ValueError(f"{title!r} is not an AE title (1-16 printable ASCII characters, no backslash)")
        return v

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for n in v:
            try:
                ipaddress.ip_network(n, strict=False)
            except ValueError:
                raise ValueError(f"'{n}' is not a network in CIDR notation") from None
        return v


class SpoolSettings(_Model):
    path: Path = Path("./var/spool")
    lease_seconds: float = Field(default=300, gt=0)
    min_free_bytes: int = Field(default=512 * 1024 * 1024, ge=0)


class WorkerSettings(_Model):
    count: int = Field(default=0, ge=0, le=256)
    """0 means one per CPU core."""
    max_tasks: int = Field(default=10000, ge=1)
    """Recycle a worker process after this many instances."""
    poll_seconds: float = Field(default=0.2, gt=0)
    claim_batch: int = Field(default=4, ge=1, le=64)
    """Instances a worker leases per spool transaction (fewer write locks; released on shutdown)."""
    lanes: int = Field(default=2, ge=1, le=16)
    """Threads per worker process, each with its own association per destination: while one waits for a
    destination's C-STORE response, another de-identifies (instances in flight = count x lanes)."""


class RetrySettings(_Model):
    """One retry clock per destination: after a failure it is not tried for ``initial_seconds``, doubling up to
    ``max_seconds``; instances waiting longer than ``max_age_seconds`` are quarantined."""

    initial_seconds: float = Field(default=5, gt=0)
    max_seconds: float = Field(default=600, gt=0)
    max_age_seconds: float = Field(default=86400, gt=0)
    probe_seconds: float = Field(default=5, gt=0)
    """While a destination is down, one worker checks it this often (an association, no data); when it answers,
    every instance waiting for it is due at once, whatever its back-off."""


class Destination(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    type: Literal["dicom", "folder"]
    # dicom
    ae_title: str | None = Field(default=None, max_length=16)
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    calling_ae_title: str = Field(default="DEIDNODE", max_length=16)
    tls: TLS | None = None
    timeout: float = Field(default=30, gt=0)
    """DIMSE and network timeout of an association with this destination."""
    idle_release_seconds: float = Field(default=10, gt=0)
    """An association left unused this long is released (it is reused until then)."""
    max_pdu: int = Field(default=0, ge=0)
    """Largest PDU we accept from the destination (0: no limit)."""
    dimse: DimseImplementation = Field(default_factory=_default_dimse, validate_default=True)
    """The SCU's DICOM upper layer: ``fast`` (deidnode's own) or ``pynetdicom`` (the reference)."""
    # folder
    path: Path | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> Destination:
        if self.type == "dicom":
            for f in ("ae_title", "host", "port"):
                if getattr(self, f) is None:
                    raise ValueError(f"a dicom destination needs '{f}'")
        elif self.path is None:
            raise ValueError("a folder destination needs 'path'")
        return self


class HeaderSettings(_Model):
    """Header free text beyond the instance's own values (docs/header.md)."""

    stanza_models_dir: Path | None = None
    """A folder of stanza models (tokenize, ner) enables the NER layer for names in header free text; none ships."""


class LexiconSettings(_Model):
    """The study lexicon: keyed hashes of the names, IDs and identifying phrases seen in a patient's instances,
    used to clean the free text of later instances (docs/header.md)."""

    enabled: bool = True
    path: Path | None = None
    """SQLite file shared by the workers; None: ``lexicon.sqlite`` in the spool folder."""
    ttl_days: float = Field(default=30, gt=0, le=3650)
    """An entry not seen again for this long expires."""


class MappingSettings(_Model):
    """The re-identification mapping for an honest broker (docs/header.md): original -> pseudonym, encrypted.
    Off by default; the file is PHI."""

    enabled: bool = False
    path: Path = Path("./var/mapping/mapping.sqlite")
    key_file: Path | None = None
    """A Fernet key (``deidnode mapping new-key FILE``), not the de-identification key."""
    retention_days: float | None = Field(default=None, gt=0)
    """Entries older than this are deleted (None: kept until deleted by hand)."""

    @model_validator(mode="after")
    def _key_when_enabled(self) -> MappingSettings:
        if self.enabled and self.key_file is None:
            raise ValueError("an enabled mapping store needs 'key_file'")
        return self


class MetricsSettings(_Model):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)


class WebSettings(_Model):
    """The other pages of the metrics port: /healthz, /readyz, /status, /api/v1/ (deidnode/web/)."""

    stall_seconds: float = Field(default=30, gt=0)
    """/healthz fails, and the systemd watchdog is no longer fed, when the node's main loop has not run for
    this long (a stuck node); during shutdown each step has its own allowance."""
    quarantine_items: int = Field(default=20, ge=0, le=1000)
    """Quarantined items listed on /status (stage, code, time; never attribute values)."""
    admin_token_file: Path | None = None
    """Set: retry and purge of quarantine entries from /status, for requests that carry this file's token."""


class AuditSettings(_Model):
    """The audit trail of ``serve`` (``deid`` writes ``<out>/audit.jsonl`` with the same schema)."""

    path: Path | None = Path("./var/audit/audit.jsonl")
    """JSON lines, mode 0600, one PHI-free record per instance and attempt; None: no audit trail."""
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=4096)
    """Rotate when the file would grow past this size (``audit.jsonl.1`` ... ``.<backups>``)."""
    backups: int = Field(default=20, ge=0, le=1000)
    """Rotated files kept; older ones are deleted."""


class KeySettings(_Model):
    key_file: Path | None = None
    """Secret for pseudonyms, UIDs and date shifts. --key-file, then $DEIDNODE_KEY_FILE, come first
    (deidnode/keysource.py); none -> refuse to run."""


class OcrSettings(_Model):
    """OCR for burned-in text. rapidocr is the default: best F1 and fastest on CPU (docs/pixels.md)."""

    engine: Literal["rapidocr", "easyocr", "tesseract"] = "rapidocr"
    gpu: bool = False
    """easyocr only: use CUDA when present."""
    min_confidence: float = Field(default=0.3, ge=0, le=1)
    threads: int = Field(default=1, ge=1, le=64)
    """Threads per OCR model; workers already run one process per core (docs/pixels.md)."""


PixelPolicy = Literal["off", "phi", "strict", "all"]


class PixelSettings(_Model):
    """Burned-in text (issue 5) and pixel codec policy (issue 4)."""

    policy: PixelPolicy = "phi"
    """phi: remove text judged PHI; strict: remove all text not allow-listed; all: remove all text."""
    policy_by_modality: dict[str, PixelPolicy] = Field(default_factory=dict)
    """Per-modality policy, e.g. {US: strict, CT: "off"}; a route's profile.pixel_policy overrides both."""
    action: Literal["redact", "obfuscate"] = "redact"
    verify: bool = True
    """Read the cleaned pixels again; PHI still found quarantines the instance."""
    second_reader: Literal["tesseract", "none"] = "tesseract"
    """The second, independent reader of the verification (docs/pixels.md)."""
    series_memo_seconds: float = Field(default=600.0, ge=0)
    """CT/MR: how long a series' text-presence decision is reused by a worker lane (0: check every slice)."""
    series_memo_slices: int = Field(default=1000, ge=0)
    """CT/MR: how many slices reuse one series decision before the next is checked again."""
    ocr_modalities: tuple[str, ...] = ("US", "SC", "OT", "XA", "DX", "CR", "MG", "ES", "XC", "RF", "PX", "IO")
    """Modalities whose images are always read for text."""
    ocr_check_modalities: tuple[str, ...] = ("CT", "MR", "PT", "NM", "SM")
    """Read when Burned In Annotation is YES or a cheap text-presence check fires."""
    ocr_sop_classes: tuple[str, ...] = (
        "1.2.840.10008.5.1.4.1.1.7",
        "1.2.840.10008.5.1.4.1.1.7.1",
        "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3",
        "1.2.840.10008.5.1.4.1.1.7.4",
    )
    """SOP classes always read (secondary captures)."""
    ocr_image_types: tuple[str, ...] = ("SCREEN SAVE",)
    """Image Type values that make an image always read."""
    max_ocr_frames: int = Field(default=4, ge=1, le=10000)
    """Frames read per multi-frame instance (evenly spaced); boxes found are removed on every frame."""
    box_padding: float = Field(default=0.25, ge=0, le=2)
    """Padding around a text box, as a share of its height."""
    wsi_label: Literal["blank", "drop"] = "blank"
    """Whole-slide LABEL and OVERVIEW images: blank every frame, or drop the instance (quarantine code)."""
    fallback_transfer_syntax: str = "1.2.840.10008.1.2.1"
    """Lossless syntax used where the input's syntax cannot be written (HTJ2K...)."""
    stanza_models_dir: Path | None = None
    ocr: OcrSettings = OcrSettings()


class Settings(_Model):
    node: NodeSettings = Field(default_factory=NodeSettings)
    spool: SpoolSettings = SpoolSettings()
    quarantine_path: Path = Path("./var/quarantine")
    workers: WorkerSettings = WorkerSettings()
    retry: RetrySettings = RetrySettings()
    destinations: tuple[Destination, ...] = Field(
        default_factory=lambda: (Destination(name="local", type="folder", path=Path("./var/out")),), min_length=1
    )
    routes_file: Path | None = None
    """Routing rules (YAML). None: every instance goes to every destination with the 'default' profile."""
    profiles: dict[str, Profile] = Field(default_factory=lambda: {"default": Profile()})
    metrics: MetricsSettings = MetricsSettings()
    web: WebSettings = WebSettings()
    audit: AuditSettings = AuditSettings()
    keys: KeySettings = KeySettings()
    pixels: PixelSettings = PixelSettings()
    header: HeaderSettings = HeaderSettings()
    lexicon: LexiconSettings = LexiconSettings()
    mapping: MappingSettings = MappingSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        names = [d.name for d in self.destinations]
        if len(set(names)) != len(names):
            raise ValueError("destinations: names must be unique")
        if "default" not in self.profiles:
            raise ValueError("profiles: a profile named 'default' is required")
        return self

    def destination(self, name: str) -> Destination:
        for d in self.destinations:
            if d.name == name:
                return d
        raise KeyError(name)


def _format_error(e: ValidationError) -> str:
    lines = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}")
    return "config error: " + "; ".join(lines)


def settings_from_dict(data: dict[str, Any] | None) -> Settings:
    try:
        return Settings.model_validate(data or {})
    except ValidationError as e:
        raise ConfigError(_format_error(e)) from None


def load_settings(path: str | os.PathLike[str] | None) -> Settings:
    """Read the YAML file at ``path`` (None: the embedded defaults) and validate it.

    Relative paths in the file are taken relative to the file's folder.
    """
    if path is None:
        return Settings()
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"config error: cannot read {p}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config error: {p} is not valid YAML: {e}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError("config error: (top level): expected a mapping of sections")
    settings = settings_from_dict(data)
    return _resolve_paths(settings, p.parent)


def _resolve_paths(s: Settings, base: Path) -> Settings:
    def fix(v: Path | None) -> Path | None:
        return v if v is None or v.is_absolute() else base / v

    dests = tuple(d.model_copy(update={"path": fix(d.path)}) for d in s.destinations)
    return s.model_copy(
        update={
            "spool": s.spool.model_copy(update={"path": fix(s.spool.path)}),
            "quarantine_path": fix(s.quarantine_path),
            "destinations": dests,
            "routes_file": fix(s.routes_file),
            "keys": s.keys.model_copy(update={"key_file": fix(s.keys.key_file)}),
            "header": s.header.model_copy(update={"stanza_models_dir": fix(s.header.stanza_models_dir)}),
            "lexicon": s.lexicon.model_copy(update={"path": fix(s.lexicon.path)}),
            "mapping": s.mapping.model_copy(update={"path": fix(s.mapping.path), "key_file": fix(s.mapping.key_file)}),
            "web": s.web.model_copy(update={"admin_token_file": fix(s.web.admin_token_file)}),
            "audit": s.audit.model_copy(update={"path": fix(s.audit.path)}),
        }
    )
