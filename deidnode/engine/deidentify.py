"""Entry points of the engine: one instance in, a clean instance (or a reason to quarantine) out."""

from __future__ import annotations

import io
import mmap
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID

from ..config import RULES_DIR, Option
from ..dicomio import framing, printable
from ..dicomio.parse import parse_bytes
from ..dicomio.part10 import encode_part10
from ..dicomio.rawvalue import elements, get_strings, plain_uid
from ..reasons import Code, Stage
from .header.apply import HeaderCleaner, HeaderContext
from .header.decide import SCRUB_VRS
from .header.private import read_declarations
from .header.records import add_deid_records, rebuild_file_meta
from .header.table import load_table
from .keys import Keys
from .names import Lexicon, NameCleaner, NerFn, lexicon_tokens
from .names_ner import HeaderNerUnavailableError
from .phi import PhiValues, collect_phi
from .policy import Policy
from .pseudonyms import patient_key
from .result import EngineResult, LexiconUpdate, Quarantine

ENCAPSULATED_NATIVE = {
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.2",
}


@cache
def _unsafe_rules() -> tuple[dict[str, str], frozenset[str]]:
    doc = yaml.safe_load((Path(RULES_DIR) / "unsafe_sop_classes.yaml").read_text(encoding="utf-8"))
    return dict(doc["sop_classes"]), frozenset(doc["video_transfer_syntaxes"])


def check_payload(ds: Dataset, policy: Policy) -> Quarantine | None:
    """Refuse what the engine cannot clean (PS3.15 E.1.1: documents, raw data, video, private SOP classes)."""
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if not sop_class:
        return Quarantine(Stage.HEADER, Code.MISSING_SOP_CLASS_UID, "(0008,0016) is missing or empty")
    if not str(ds.get("SOPInstanceUID", "") or ""):
        return Quarantine(Stage.HEADER, Code.MISSING_SOP_INSTANCE_UID, "(0008,0018) is missing or empty")
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    if ts and not UID(ts).is_transfer_syntax:
        # the output's file meta would carry it: whatever text the input put there (and pixels nobody can decode)
        return Quarantine(Stage.PARSE, Code.UNKNOWN_TRANSFER_SYNTAX, printable.uid(ts))
    allowed = set(policy.profile.allowed_sop_classes)
    if sop_class in allowed:
        return None
    unsafe, video = _unsafe_rules()
    if sop_class in unsafe:
        return Quarantine(Stage.HEADER, Code.UNCLEANABLE_PAYLOAD, f"SOP Class {sop_class} ({unsafe[sop_class]})")
    if not sop_class.startswith("1.2.840.10008."):
        detail = "de-identification of private SOP Classes is not defined"
        return Quarantine(Stage.HEADER, Code.PRIVATE_SOP_CLASS, detail)
    if ts in video:
        return Quarantine(Stage.PIXELS, Code.VIDEO_NO_PIXEL_PATH, f"transfer syntax {ts} cannot be inspected")
    if (
        str(ds.get("BurnedInAnnotation", "")).upper() == "YES"
        and policy.pixels.policy == "off"
        and not policy.profile.allow_burned_in_annotation
    ):
        detail = "Burned In Annotation is YES and pixel cleaning is off"
        return Quarantine(Stage.PIXELS, Code.BURNED_IN_ANNOTATION, detail)
    return _check_pixel_length(ds, ts)


def _check_pixel_length(ds: Dataset, ts: str) -> Quarantine | None:
    """Native Pixel Data must be as long as its attributes say (PS3.5 8.1.1); catches truncated instances."""
    raw = ds.get_item(0x7FE00010)
    if raw is None or ts not in ENCAPSULATED_NATIVE:
        return None
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        bits = int(ds.BitsAllocated)
        spp = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        return Quarantine(Stage.PIXELS, Code.PIXEL_DATA_MISMATCH, "image pixel attributes are missing or invalid")
    if spp == 3 and str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        spp = 2  # chroma subsampled horizontally: Y Y Cb Cr per pair of pixels (PS3.3 C.7.6.3.1.2)
    expected = (rows * cols * frames * spp * bits + 7) // 8
    length = raw.length if hasattr(raw, "length") else len(ds.PixelData)
    if length == 0xFFFFFFFF:
        return Quarantine(Stage.PIXELS, Code.PIXEL_DATA_MISMATCH, "native Pixel Data with undefined length")
    if length < expected or length > expected + 1:
        detail = f"Pixel Data holds {length} bytes, attributes say {expected}"
        return Quarantine(Stage.PIXELS, Code.PIXEL_DATA_MISMATCH, detail)
    return None


def _encoding(ts: str) -> tuple[bool, bool]:
    """(implicit VR, little endian) of a transfer syntax."""
    uid = UID(ts)
    if uid.is_transfer_syntax:
        return uid.is_implicit_VR, uid.is_little_endian
    return False, True


def deidentify(
    ds: Dataset,
    policy: Policy,
    keys: Keys,
    *,
    preview: bool = False,
    lexicon: Lexicon | None = None,
    collect_mapping: bool = False,
    series_memo: Any = None,
) -> EngineResult:
    """De-identify ``ds`` (a FileDataset or Dataset with ``file_meta``); ``ds`` is modified in place.

    ``preview``: the pixel stage's before/after PNGs for QA come back in ``result.previews`` (the engine writes
    no files; they show PHI).
    ``lexicon``: the study lexicon (names and identifiers seen in other instances of the patient, as keyed
    hashes); free text is cleaned of them too, and ``result.lexicon`` holds what this instance adds to it.
    ``collect_mapping``: ``result.mapping`` gets each replaced identity with its pseudonym (for the honest
    broker's encrypted mapping store; PHI).
    ``series_memo``: the caller's ``pixels.series.SeriesMemo`` (one text-presence decision per CT/MR series).
    """
    if policy.pixels.policy_by_modality:
        policy = policy.for_modality(str(ds.get("Modality", "") or ""))
    profile = policy.profile
    audit: dict = {
        "sop_class_uid": printable.uid(ds.get("SOPClassUID", "")),
        "modality": printable.modality(ds.get("Modality", "")),
        "table_edition": load_table().edition,
        "options": list(profile.options),
    }
    try:
        q = check_payload(ds, policy)
        if q is not None:
            return EngineResult(None, q, audit)
        # PS3.10 7.1: the preamble is application-defined (e.g. a TIFF header with tags of its own): not kept.
        if getattr(ds, "preamble", None) is not None:
            ds.preamble = None
        meta = getattr(ds, "file_meta", None)
        ts = str(getattr(meta, "TransferSyntaxUID", "") or "1.2.840.10008.1.2")
        audit["transfer_syntax_in"] = printable.uid(ts)
        phi = collect_phi(ds)
        # the patient's key and date shift, once: the header and the pixel stage shift by the same days
        patient = patient_key(ds)
        day_offset = None
        if Option.retain_long_modified_dates in profile.option_set:
            day_offset = keys.day_offset(patient, profile.date_shift_max_days)
        pixels_cleaned = False
        previews: list[tuple[str, bytes]] | None = [] if preview else None
        if policy.pixels.policy != "off":
            q = _clean_pixels(ds, phi, policy, keys, audit, previews, series_memo, day_offset)
            if q is not None:
                return EngineResult(None, q, audit)
            pixels_cleaned = bool(audit.get("pixels", {}).get("clean_pixel_data"))
            ts = str(ds.file_meta.TransferSyntaxUID)
        if _has_embedded_overlay(ds):
            q = _clear_embedded_overlays(ds, policy, audit)
            if q is not None:
                return EngineResult(None, q, audit)
            ts = str(ds.file_meta.TransferSyntaxUID)
        implicit, little = _encoding(ts)
        scope = keys.lexicon_scope(patient) if lexicon is not None else b""
        known = lexicon.known(scope) if lexicon is not None else ()
        cleaner = NameCleaner(phi, keys, scope, known, _header_ner(policy))
        ctx = HeaderContext(
            keys=keys, profile=profile, phi=phi, day_offset=day_offset, explicit_vr=not implicit, text=cleaner
        )
        originals = _identities(ds) if collect_mapping else {}
        if ctx.rules.safe_private:
            ctx.declared = read_declarations(ds)
        HeaderCleaner(ctx).clean(ds)
        audit["codes"] = add_deid_records(
            ds, profile, pixels_cleaned=pixels_cleaned, little_endian=little, implicit_vr=implicit
        )
        audit["actions"] = dict(sorted(ctx.stats.items()))
        rebuild_file_meta(ds, ts)
        audit["transfer_syntax_out"] = ts
        audit["sop_instance_uid"] = plain_uid(ds, 0x00080018) or str(ds.SOPInstanceUID)
        update = None
        if lexicon is not None:
            tokens = lexicon_tokens(phi, cleaner.found)
            update = LexiconUpdate(scope, frozenset(keys.lexicon_token(scope, t) for t in tokens))
            audit["lexicon_known"] = len(known)
        mapping: tuple[tuple[str, str, str], ...] = ()
        if collect_mapping:
            now = _identities(ds)
            mapping = tuple((k, v, now.get(k, "")) for k, v in originals.items() if v and v != now.get(k, ""))
            if day_offset is not None:
                mapping += (("date_shift_days", patient, str(day_offset)),)
        return EngineResult(ds, None, audit, update, mapping, tuple(previews or ()))
    except HeaderNerUnavailableError as e:  # configured but not loadable: fail closed, say why
        return EngineResult(None, Quarantine(Stage.HEADER, e.code, e.detail), audit)
    except Exception as e:  # fail closed; the message may hold values, so only the type is reported
        return EngineResult(None, Quarantine(Stage.HEADER, Code.ENGINE_ERROR, type(e).__name__), audit)


# The identities an honest broker maps back (issue: mapping store), read before and after the walk.
_MAPPED = (
    (0x00100020, "LO", "patient_id"),
    (0x00100010, "PN", "patient_name"),
    (0x00080050, "SH", "accession_number"),
    (0x00200010, "SH", "study_id"),
    (0x0020000D, "UI", "study_instance_uid"),
    (0x0020000E, "UI", "series_instance_uid"),
    (0x00080018, "UI", "sop_instance_uid"),
)


def _identities(ds: Dataset) -> dict[str, str]:
    return {kind: "\\".join(get_strings(ds, tag, vr)).strip() for tag, vr, kind in _MAPPED if tag in elements(ds)}


def _header_ner(policy: Policy) -> NerFn | None:
    """The NER layer for header free text, when a stanza models folder is configured (names_ner.py)."""
    models = policy.header.stanza_models_dir
    if models is None:
        return None
    from .names_ner import get_person_ner

    return get_person_ner(models)


def lexicon_update(ds: Dataset, keys: Keys, policy: Policy) -> LexiconUpdate:
    """What ``ds`` would add to its patient's study lexicon, without de-identifying it: its own PHI values and
    the names its free text announces. ``deid`` gathers these for a whole batch before cleaning any file, so the
    order of files in a batch does not matter."""
    phi = collect_phi(ds)
    scope = keys.lexicon_scope(patient_key(ds))
    cleaner = NameCleaner(phi, ner=_header_ner(policy))
    for elem in ds.iterall():
        if elem.VR in SCRUB_VRS and not elem.tag.is_private and isinstance(elem.value, str | list | tuple):
            values = elem.value if isinstance(elem.value, list | tuple) else [elem.value]
            for v in values:
                if isinstance(v, str):
                    cleaner.clean(v)
    tokens = lexicon_tokens(phi, cleaner.found)
    return LexiconUpdate(scope, frozenset(keys.lexicon_token(scope, t) for t in tokens))


def _clean_pixels(
    ds: Dataset,
    phi: PhiValues,
    policy: Policy,
    keys: Keys,
    audit: dict,
    previews: list[tuple[str, bytes]] | None,
    series_memo: Any = None,
    date_shift_days: int | None = None,
) -> Quarantine | None:
    try:
        from .pixels.stage import clean_pixels

        return clean_pixels(
            ds,
            phi,
            policy,
            keys,
            audit,
            previews_out=previews,
            series_memo=series_memo,
            date_shift_days=date_shift_days,
        )
    except ImportError as e:  # a missing package or system library (e.g. libGL for OpenCV): name it
        return Quarantine(Stage.PIXELS, Code.PIXEL_STAGE_UNAVAILABLE, f"{type(e).__name__}: {e}"[:300])


def _has_embedded_overlay(ds: Dataset) -> bool:
    """An overlay kept in the unused high bits of Pixel Data (retired usage, PS3.3 C.9.2): an overlay group with
    rows but no Overlay Data (60xx,3000), or Overlay Bits Allocated (60xx,0100) above 1."""
    groups = {t.group for t in ds.keys() if 0x6000 <= t.group <= 0x60FF and not t.group & 1}
    for g in groups:
        tag = (g << 16) | 0x0010
        if tag in ds and ((g << 16) | 0x3000) not in ds:
            return True
        bits = ds.get((g << 16) | 0x0100)
        if bits is not None and bits.value not in (None, 1):
            return True
    return False


def _clear_embedded_overlays(ds: Dataset, policy: Policy, audit: dict) -> Quarantine | None:
    """Clear every bit above High Bit, where such overlays live, before the header removes the 60xx groups:
    removing only the description would leave the bitmap in the pixels. Fails closed when pixels cannot be
    decoded or written."""
    from .pixels.codec import PixelCodecError, clear_overlay_bits, decode_frames, encode_frames

    if "PixelData" not in ds:
        return None
    try:
        frames = decode_frames(ds)
        if clear_overlay_bits(ds, frames):
            audit["overlay_bits"] = encode_frames(
                ds, frames, range(frames.shape[0]), policy.pixels.fallback_transfer_syntax
            )
    except PixelCodecError as e:
        return Quarantine(Stage.PIXELS, Code.EMBEDDED_OVERLAY_NOT_CLEARED, e.code)
    return None


def deidentify_bytes(
    raw: bytes | mmap.mmap,
    policy: Policy,
    keys: Keys,
    *,
    preview: bool = False,
    lexicon: Lexicon | None = None,
    collect_mapping: bool = False,
    series_memo: Any = None,
) -> EngineResult:
    """Parse a Part 10 byte string (or a read-only memory map of a file) and de-identify it.

    A file that cannot be parsed gives a quarantine result (stage ``parse``), never an exception: ``unparseable``
    (detail: the exception type, or what :mod:`.framing` found, e.g. ``truncated: ...``) or ``inflate_limit``.
    """
    try:
        ds = parse_bytes(raw, max_inflated_bytes=policy.max_inflated_bytes)
    except framing.ParseLimitError as e:
        return EngineResult(None, Quarantine(Stage.PARSE, e.code, str(e)), {})
    except Exception as e:
        return EngineResult(None, Quarantine(Stage.PARSE, Code.UNPARSEABLE, type(e).__name__), {})
    return deidentify(
        ds,
        policy,
        keys,
        preview=preview,
        lexicon=lexicon,
        collect_mapping=collect_mapping,
        series_memo=series_memo,
    )


def encode_dataset(ds: Dataset) -> bytes:
    """Serialise a de-identified dataset as a Part 10 file (preamble, our file meta) in its transfer syntax."""
    implicit, little = _encoding(plain_uid(ds.file_meta, 0x00020010) or str(ds.file_meta.TransferSyntaxUID))
    fast = encode_part10(ds, implicit, little)
    if fast is not None:
        return fast
    buf = io.BytesIO()
    # The encoding is named explicitly so a Big Endian input whose pixels were re-encoded can be written little
    # endian (pydicom otherwise keeps the encoding the data set was read with).
    dcmwrite(buf, ds, enforce_file_format=True, implicit_vr=implicit, little_endian=little)
    return buf.getvalue()
