"""The pixel stage: find burned-in text, decide what is PHI, redact or obfuscate it, verify, write back.

``clean_pixels`` runs on the original dataset (before header de-identification). It records PHI-free facts in
``audit["pixels"]`` (counts per layer and kind, engine, seconds per stage; never recognised text) and returns
None on success, or a :class:`Quarantine` to fail closed. When nothing needs doing the pixel data is left
bit-identical. ``audit["pixels"]["clean_pixel_data"]`` is True when the pixels were read (or blanked) and
passed verification: the header stage then adds option code 113101 and Burned In Annotation NO.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from ...errors import PermanentError
from ..header.pseudonyms import patient_key
from ..keys import Keys
from ..policy import Policy
from ..result import Quarantine
from .codec import PixelCodecError, decode_frames, encode_frames, fill_value
from .codec._info import PixelInfo
from .detect import Finding, detect, sample_frames, to_display
from .obfuscate import glyph_value, render_text, replacement_text
from .ocr import get_engine
from .redact import Box, fill_boxes, pad_box
from .regions import regions_for
from .select import has_text, selection, wsi_kind
from .text import TextJudge
from .text.metadata import PhiLike
from .verify import residual_phi

STAGE = "pixels"


def _q(code: str, detail: str = "") -> Quarantine:
    return Quarantine(stage=STAGE, code=code, detail=detail)


def _date_shift(ds: Dataset, policy: Policy, keys: Keys) -> int | None:
    """The header's date offset when dates are shifted (retain_long_modified_dates), else None."""
    if "retain_long_modified_dates" not in policy.profile.options:
        return None
    return keys.day_offset(patient_key(ds), policy.profile.date_shift_max_days)


def clean_pixels(
    ds: Dataset,
    phi: PhiLike,
    policy: Policy,
    keys: Keys,
    audit: dict[str, Any],
    *,
    preview_dir: str | os.PathLike[str] | None = None,
    findings_out: list[Finding] | None = None,
) -> Quarantine | None:
    """Clean burned-in PHI from ``ds``'s pixel data in place (see the module docstring).

    ``preview_dir``: also write a before/after PNG named by the de-identified SOP Instance UID.
    ``findings_out``: receives the recognised lines and decisions (holds PHI: for QA and benchmarks only).
    """
    s = policy.pixels
    a: dict[str, Any] = {
        "policy": s.policy,
        "action": s.action,
        "clean_pixel_data": False,
        "selected": "skip",
    }
    audit["pixels"] = a
    seconds: dict[str, float] = {}
    a["seconds"] = seconds
    if s.policy == "off" or "PixelData" not in ds:
        a["selected"] = "off" if s.policy == "off" else "no_pixel_data"
        return None
    t0 = time.perf_counter()
    try:
        return _clean(ds, phi, policy, keys, a, seconds, preview_dir, findings_out)
    except PixelCodecError as e:
        return _q(e.code, e.detail)
    except PermanentError as e:  # OCR or NER unavailable: fail closed, naming the dependency
        return _q(e.code, e.detail)
    finally:
        seconds["total"] = round(time.perf_counter() - t0, 4)
        for k, v in seconds.items():
            seconds[k] = round(v, 4)


def _clean(
    ds: Dataset,
    phi: PhiLike,
    policy: Policy,
    keys: Keys,
    a: dict[str, Any],
    seconds: dict[str, float],
    preview_dir: str | os.PathLike[str] | None,
    findings_out: list[Finding] | None,
) -> Quarantine | None:
    s = policy.pixels
    wsi = wsi_kind(ds)
    if wsi is not None:
        a["selected"] = f"wsi_{wsi.lower()}"
        if s.wsi_label == "drop":
            return _q("wsi_label_dropped", f"whole-slide {wsi} image dropped by pixels.wsi_label")
        frames = decode_frames(ds)
        rows, cols = frames.shape[1], frames.shape[2]
        changed = fill_boxes(frames, [(0, 0, cols, rows)], fill_value(ds, frames))
        a["codec"] = encode_frames(ds, frames, changed, s.fallback_transfer_syntax)
        a["frames_changed"] = len(changed)
        a["clean_pixel_data"] = True
        ds.BurnedInAnnotation = "NO"
        return None

    sel = selection(ds, s)
    regions = regions_for(ds)
    a["selected"] = sel
    if sel == "skip" and not regions:
        return None
    t = time.perf_counter()
    frames = decode_frames(ds)
    working_pi = PixelInfo.from_dataset(ds).working_pi
    seconds["decode"] = time.perf_counter() - t
    n_frames = frames.shape[0]
    idx = sample_frames(n_frames, s.max_ocr_frames)
    before = to_display(frames[idx[0]], working_pi) if preview_dir is not None else None

    run_ocr = sel == "always"
    if sel == "check":
        t = time.perf_counter()
        run_ocr = any(has_text(to_display(frames[i], working_pi)) for i in idx)
        seconds["text_check"] = time.perf_counter() - t
        a["text_check"] = run_ocr
    if not run_ocr and not regions:
        return None

    fill = fill_value(ds, frames)
    changed: set[int] = set()
    if regions:
        t = time.perf_counter()
        changed.update(fill_boxes(frames, regions, fill))
        seconds["regions"] = time.perf_counter() - t
    a["region_boxes"] = len(regions)
    preview_boxes: list[tuple[Box, str]] = [(r, "region") for r in regions]

    findings: list[Finding] = []
    rendered: list[Box] = []
    engine = judge = None
    if run_ocr:
        engine = get_engine(s.ocr)
        a["engine"] = engine.name
        judge = TextJudge(phi, stanza_models_dir=s.stanza_models_dir)
        findings = detect(frames, working_pi, engine, judge, s.policy, idx, seconds)
        if findings_out is not None:
            findings_out.extend(findings)
        a["lines"] = len(findings)
        a["layers"] = dict(Counter(f.decision.layer for f in findings))
        a["kinds"] = dict(Counter(f.decision.kind for f in findings if f.decision.phi))
        t = time.perf_counter()
        rows, cols = frames.shape[1], frames.shape[2]
        boxes: list[Box] = []
        shift = _date_shift(ds, policy, keys) if s.action == "obfuscate" else None
        n_obf = 0
        for f in findings:
            if not f.redact:
                preview_boxes.append((f.box.box, "keep"))
                continue
            padded = pad_box(f.box.box, rows, cols, s.box_padding)
            reason = f"{f.decision.layer}:{f.decision.kind}" if f.decision.phi else f"{s.policy}:text"
            preview_boxes.append((padded, reason))
            text = None
            if s.action == "obfuscate" and f.decision.hit is not None:
                text = replacement_text(
                    f.decision.hit,
                    f.box.text,
                    keys,
                    id_prefix=policy.profile.patient_id_prefix,
                    date_shift_days=shift,
                )
            if text:
                x0, y0, x1, y1 = f.box.box
                colour = glyph_value(frames[f.frame, y0:y1, x0:x1], np.asarray(fill))
                changed.update(fill_boxes(frames, [padded], fill))
                render_text(frames, f.box, text, colour, range(n_frames))
                rendered.append(padded)
                n_obf += 1
            else:
                boxes.append(padded)
        changed.update(fill_boxes(frames, boxes, fill))
        a["boxes_redacted"] = len(boxes)
        a["boxes_obfuscated"] = n_obf
        seconds["redact"] = time.perf_counter() - t

    if s.verify and engine is not None and judge is not None and changed:
        t = time.perf_counter()
        residual = residual_phi(frames, working_pi, engine, judge, idx, rendered)
        seconds["verify"] = time.perf_counter() - t
        a["verify_residual"] = len(residual)
        if residual:
            layers = ",".join(sorted({f.decision.layer for f in residual}))
            return _q("phi_remains", f"{len(residual)} text line(s) still judged PHI after cleaning ({layers})")

    if preview_dir is not None and before is not None:
        from .preview import write_preview

        name = keys.uid(str(ds.get("SOPInstanceUID", ""))) + ".png"
        write_preview(before, to_display(frames[idx[0]], working_pi), preview_boxes, Path(preview_dir) / name)

    t = time.perf_counter()
    a["frames_changed"] = len(changed)
    if changed:
        a["codec"] = encode_frames(ds, frames, sorted(changed), s.fallback_transfer_syntax)
    seconds["encode"] = time.perf_counter() - t
    a["clean_pixel_data"] = True
    ds.BurnedInAnnotation = "NO"
    return None
