"""The pixel stage: find burned-in text, decide what is PHI, redact or obfuscate it, verify, write back.

``clean_pixels`` runs on the original dataset (before header de-identification). It records PHI-free facts in
``audit["pixels"]`` (counts per layer and kind, engine, seconds per stage; never recognised text) and returns
None on success, or a :class:`Quarantine` to fail closed. When nothing needs doing the pixel data is left
bit-identical. ``audit["pixels"]["clean_pixel_data"]`` is True when the pixels were read (or blanked) and
passed verification: the header stage then adds option code 113101 and Burned In Annotation NO.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from ...errors import PermanentError
from ...reasons import Code, Stage
from ..keys import Keys
from ..policy import Policy
from ..result import Quarantine
from .changing import changing_lines
from .codec import PixelCodecError, decode_frames, encode_frames, fill_value
from .codec._info import PixelInfo
from .cover import cover_glyphs
from .detect import (
    ALONG_PAD,
    CANDIDATE_SCORE,
    END_PAD,
    Finding,
    box_behind_text,
    covered,
    judge_frame,
    no_words,
    read_frame,
    same_place,
    sample_frames,
    second_opinions,
    solid_blots,
    to_display,
    trim_unread,
)
from .glyphs import find_text_regions
from .obfuscate import glyph_value, render_text, replacement_text
from .ocr import OcrEngine, TextBox, get_engine, get_reader
from .redact import Box, fill_boxes, inside_share, intersects, pad_clear_of
from .regions import regions_for, zones_for
from .select import has_text, selection, wsi_kind
from .series import SeriesMemo
from .text import TextJudge
from .text.decide import UNSURE
from .text.metadata import PhiLike
from .verify import Residual, residual_phi
from .words import ink_profile, span_box, stroke_mask

STAGE = "pixels"


def _q(code: Code, detail: str = "") -> Quarantine:
    return Quarantine(stage=Stage.PIXELS, code=code, detail=detail)


def clean_pixels(
    ds: Dataset,
    phi: PhiLike,
    policy: Policy,
    keys: Keys,
    audit: dict[str, Any],
    *,
    previews_out: list[tuple[str, bytes]] | None = None,
    findings_out: list[Finding] | None = None,
    series_memo: SeriesMemo | None = None,
    date_shift_days: int | None = None,
) -> Quarantine | None:
    """Clean burned-in PHI from ``ds``'s pixel data in place (see the module docstring).

    ``previews_out``: receives a before/after PNG (name by the de-identified SOP Instance UID, bytes) for QA; the
    caller writes it (it shows PHI).
    ``findings_out``: receives the recognised lines and decisions (holds PHI: for QA and benchmarks only).
    ``series_memo``: the caller's per-series text-presence decisions (``series.SeriesMemo``).
    ``date_shift_days``: the header's date offset for this patient when dates are shifted, else None (computed
    once, by ``deidentify``; obfuscated dates in the pixels move by the same days).
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
        return _clean(ds, phi, policy, keys, a, seconds, previews_out, findings_out, series_memo, date_shift_days)
    except PixelCodecError as e:
        return _q(e.code, e.detail)
    except PermanentError as e:  # OCR or NER unavailable: fail closed, naming the dependency
        return _q(e.code, e.detail)
    finally:
        seconds["total"] = round(time.perf_counter() - t0, 4)
        for k, v in seconds.items():
            seconds[k] = round(v, 4)


def _in_band(box: Box, lines: list[TextBox]) -> bool:
    """Whether ``box`` shares a row (half its height or more) with a line that was read."""
    h = max(box[3] - box[1], 1)
    return any(min(ln.y1, box[3]) - max(ln.y0, box[1]) >= 0.5 * min(h, max(ln.y1 - ln.y0, 1)) for ln in lines)


def _clean(
    ds: Dataset,
    phi: PhiLike,
    policy: Policy,
    keys: Keys,
    a: dict[str, Any],
    seconds: dict[str, float],
    previews_out: list[tuple[str, bytes]] | None,
    findings_out: list[Finding] | None,
    series_memo: SeriesMemo | None = None,
    date_shift_days: int | None = None,
) -> Quarantine | None:
    s = policy.pixels
    wsi = wsi_kind(ds)
    if wsi is not None:
        a["selected"] = f"wsi_{wsi.lower()}"
        if s.wsi_label == "drop":
            return _q(Code.WSI_LABEL_DROPPED, f"whole-slide {wsi} image dropped by pixels.wsi_label")
        frames = decode_frames(ds)
        rows, cols = frames.shape[1], frames.shape[2]
        blanked = fill_boxes(frames, [(0, 0, cols, rows)], fill_value(ds, frames))
        a["codec"] = encode_frames(ds, frames, blanked, s.fallback_transfer_syntax)
        a["frames_changed"] = len(blanked)
        a["clean_pixel_data"] = True
        ds.BurnedInAnnotation = "NO"
        return None

    sel = selection(ds, s)
    regions = regions_for(ds)
    a["selected"] = sel
    if sel == "skip" and not regions:
        return None
    memo_key = SeriesMemo.key(ds) if (series_memo is not None and sel == "check") else None
    if memo_key is not None and series_memo is not None:
        remembered = series_memo.get(memo_key)
        if remembered is not None:
            a["text_check"] = remembered
            a["text_check_from"] = "series"
            if not remembered and not regions:
                return None
            sel = "always" if remembered else "skip"
    t = time.perf_counter()
    frames = decode_frames(ds)
    working_pi = PixelInfo.from_dataset(ds).working_pi
    seconds["decode"] = time.perf_counter() - t
    n_frames, rows, cols = frames.shape[0], frames.shape[1], frames.shape[2]
    idx = sample_frames(n_frames, s.max_ocr_frames)
    before = to_display(frames[idx[0]], working_pi) if previews_out is not None else None

    run_ocr = sel == "always"
    if sel == "check":
        t = time.perf_counter()
        checker = functools.partial(get_engine, s.ocr)  # the models load only for a candidate line
        run_ocr = any(has_text(to_display(frames[i], working_pi), checker) for i in idx)
        seconds["text_check"] = time.perf_counter() - t
        a["text_check"] = run_ocr
        if memo_key is not None and series_memo is not None:
            series_memo.put(memo_key, run_ocr)
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
    filled: list[Box] = list(regions)

    findings: list[Finding] = []
    second: OcrEngine | None = None
    rendered: list[Box] = []
    keeps: dict[int, list[Box]] = {}
    texts: dict[int, list[tuple[Box, float]]] = {}
    kept: dict[int, list[tuple[Box, str]]] = {}  # text the first pass read and kept, where it stands
    sure: dict[int, list[Box]] = {}
    engine: OcrEngine | None = None
    judge: TextJudge | None = None
    if run_ocr:
        engine = get_engine(s.ocr)
        a["engine"] = engine.name
        judge = TextJudge(phi, stanza_models_dir=s.stanza_models_dir)
        second = get_reader("tesseract", s.ocr) if s.second_reader == "tesseract" else None
        reads = []
        for i in idx:
            r = read_frame(to_display(frames[i], working_pi), engine, i)
            t = time.perf_counter()
            second_opinions(r, second, UNSURE)
            r.seconds["second_opinions"] = time.perf_counter() - t
            for k, v in r.seconds.items():
                seconds[k] = seconds.get(k, 0.0) + v
            reads.append(r)
        if n_frames > len(idx):  # text that changes between frames: every other frame is scanned for new text
            t = time.perf_counter()
            known = [ln for r in reads for ln in r.lines]
            for i in range(n_frames):
                if i in idx:
                    continue
                view = to_display(frames[i], working_pi)
                fresh = [g for g in find_text_regions(view, min_score=CANDIDATE_SCORE) if not covered(g.box, known)]
                if fresh:
                    r = read_frame(view, engine, i)
                    second_opinions(r, second, UNSURE)
                    reads.append(r)
                    known += r.lines
            a["frames_scanned"] = n_frames - len(idx)
            a["frames_read"] = len(reads)
            seconds["scan"] = time.perf_counter() - t
        t = time.perf_counter()
        moving = changing_lines(
            {r.frame: r.view for r in reads},
            {r.frame: r.lines for r in reads},
            lambda ln: ln.confidence >= UNSURE and judge.judge(ln.text, ln.confidence).allowlisted,
            lambda ln: ln.confidence >= UNSURE,
        )
        a["lines_changing"] = sum(len(v) for v in moving.values())
        elsewhere = same_place(reads) if len(reads) > 1 else {}
        for r in reads:
            findings.extend(judge_frame(r, judge, s.policy, frozenset(moving.get(r.frame, ())), elsewhere.get(r.frame)))
        seconds["decide"] = time.perf_counter() - t
        if findings_out is not None:
            findings_out.extend(findings)
        a["lines"] = len(findings)
        a["crops_read"] = sum(r.crops_read for r in reads)
        a["layers"] = dict(Counter(f.decision.layer for f in findings))
        a["kinds"] = dict(Counter(f.decision.kind for f in findings if f.decision.phi))
        for f in findings:
            keeps.setdefault(f.frame, []).extend(f.keeps)  # a line that stays keeps its own characters
        # what the second reader reads again: every text that stays, except technical annotation the first
        # read surely (allow-listed at 0.9 or more: no misreading of a name gives "W 400 L 40"), and the
        # text-like regions nothing read
        for f in findings:
            pairs = zip(f.keeps, f.kept_text, strict=False) if f.redact else [(f.box.box, f.box.text)]
            kept.setdefault(f.frame, []).extend(pairs)
            if _sure_technical(f):
                sure.setdefault(f.frame, []).append(f.box.box)
            else:
                stays = f.keeps if f.redact and f.keeps else (f.box.box,)
                texts.setdefault(f.frame, []).extend((b, float(f.box.height)) for b in stays)
        for r in reads:
            texts.setdefault(r.frame, []).extend(
                (g.box, g.height) for g in r.regions if g.score >= 0.8 and not covered(g.box, r.lines)
            )

        t = time.perf_counter()
        # text-like regions no reader could read: removed where text is known to be (the row of a line that
        # was read, a device region) or when the policy removes all unknown text; otherwise refused
        unread = [(r.frame, u, r.lines) for r in reads for u in r.unread]
        a["unread"] = len(unread)
        views = {r.frame: r.view for r in reads}
        boxes: list[tuple[Box, int, bool, bool, int]] = []
        for frame, u, lines in unread:
            if box_behind_text(u, lines):
                a["unread_boxes"] = a.get("unread_boxes", 0) + 1
                continue
            if no_words(views[frame], u):
                a["unread_blots"] = a.get("unread_blots", 0) + 1
                continue
            zones = [*regions, *zones_for(ds)]
            if s.policy in ("strict", "all") or _in_band(u.box, lines) or any(intersects(u.box, g) for g in zones):
                part = trim_unread(u, lines)
                if part is not None:
                    boxes.append((part.box, int(part.height), part.vertical, True, frame))
                    preview_boxes.append((part.box, "unread"))
            elif solid_blots(views[frame], u):
                a["unread_blots"] = a.get("unread_blots", 0) + 1
            else:
                return _q(Code.TEXT_UNREAD, "a text-like region that no OCR reader could read, outside any read row")
        shift = date_shift_days if s.action == "obfuscate" else None
        n_obf = 0
        for f in findings:
            if not f.redact:
                preview_boxes.append((f.box.box, "keep"))
                continue
            reason = f"{f.decision.layer}:{f.decision.kind}" if f.decision.phi else f"{s.policy}:text"
            text = None
            if s.action == "obfuscate" and f.decision.hit is not None and len(f.targets) == 1:
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
                pad = pad_clear_of(
                    f.box.box,
                    keeps.get(f.frame, ()),
                    rows,
                    cols,
                    _pad(f.box.height, s.box_padding),
                    vertical=f.box.vertical,
                )
                changed.update(fill_boxes(frames, [pad], fill))
                render_text(frames, f.box, text, colour, range(n_frames))
                rendered.append(pad)
                filled.append(pad)
                preview_boxes.append((pad, reason))
                n_obf += 1
                continue
            for n_t, tb in enumerate(f.targets):
                end = f.ends[n_t] if n_t < len(f.ends) else True
                boxes.append((tb, f.box.height, f.box.vertical, end, f.frame))
                preview_boxes.append((tb, reason))
        all_keeps = _all_keeps(keeps)
        padded = [
            cover_glyphs(views[i], _padded(b, h, v, all_keeps, rows, cols, s.box_padding, e), h, all_keeps, v)
            for b, h, v, e, i in boxes
        ]
        changed.update(fill_boxes(frames, padded, fill))
        filled.extend(padded)
        a["boxes_redacted"] = len(padded)
        a["boxes_obfuscated"] = n_obf
        seconds["redact"] = time.perf_counter() - t

    if s.verify and engine is not None and judge is not None and (changed or findings):
        a["second_reader"] = second.name if second is not None else None
        t = time.perf_counter()
        residual = _verify(
            frames, working_pi, idx, filled, {}, texts, engine, second, judge, rendered, seconds, sure, kept
        )
        a["verify_residual"] = len(residual)
        if residual:  # one repair: remove what a reader still found, then verify the repair by both readers
            extra = _residual_boxes(residual, judge, frames, working_pi, keeps, rows, cols, s.box_padding)
            changed.update(fill_boxes(frames, extra, fill))
            filled.extend(extra)
            where = {i: [r.box.box for r in residual if r.frame == i] for i in idx}
            again = _verify(
                frames, working_pi, idx, extra, where, {}, engine, second, judge, rendered, seconds, sure, kept
            )
            a["verify_repaired"] = len(residual)
            if again:
                seconds["verify"] = time.perf_counter() - t
                readers = ",".join(sorted({r.reader for r in again}))
                layers = ",".join(sorted({r.decision.layer for r in again}))
                detail = f"{len(again)} text line(s) still judged PHI after cleaning ({readers}; {layers})"
                return _q(Code.PHI_REMAINS, detail)
        seconds["verify"] = time.perf_counter() - t

    if previews_out is not None and before is not None:
        from .preview import render_preview

        name = keys.uid(str(ds.get("SOPInstanceUID", ""))) + ".png"
        previews_out.append((name, render_preview(before, to_display(frames[idx[0]], working_pi), preview_boxes)))

    t = time.perf_counter()
    a["frames_changed"] = len(changed)
    if changed:
        a["codec"] = encode_frames(ds, frames, sorted(changed), s.fallback_transfer_syntax)
    seconds["encode"] = time.perf_counter() - t
    a["clean_pixel_data"] = True
    ds.BurnedInAnnotation = "NO"
    return None


def _pad(height: int, ratio: float) -> int:
    return max(2, int(round(height * ratio)))


def _padded(
    box: Box, height: int, vertical: bool, keeps: list[Box], rows: int, cols: int, ratio: float, end: bool = False
) -> Box:
    """``box`` padded by ``ratio`` of the text height across its line and by ``ALONG_PAD`` along it (``END_PAD``
    where it reaches an end of its line; at least as much as across), never into text that stays."""
    across = _pad(height, ratio)
    along = max(across, int(round((END_PAD if end else ALONG_PAD) * height)))
    if vertical:
        return pad_clear_of(box, keeps, rows, cols, across, pad_x=across, pad_y=along, vertical=True)
    return pad_clear_of(box, keeps, rows, cols, across, pad_x=along, pad_y=across)


def _all_keeps(keeps: dict[int, list[Box]]) -> list[Box]:
    """Boxes are removed on every frame, so text kept on any frame limits the padding."""
    return [b for v in keeps.values() for b in v]


def _verify(
    frames: np.ndarray,
    working_pi: str,
    idx: list[int],
    changed: list[Box],
    keeps: dict[int, list[Box]],
    regions: dict[int, list[tuple[Box, float]]],
    engine: OcrEngine,
    second: OcrEngine | None,
    judge: TextJudge,
    rendered: list[Box],
    seconds: dict[str, float],
    sure: dict[int, list[Box]],
    kept: dict[int, list[tuple[Box, str]]],
) -> list[Residual]:
    """PHI still found on the cleaned frames, but for an unsure match to a value inside text the first reader
    read surely as technical annotation (``sure``: "ETL 16" at 0.98, read by Tesseract as "EIL It", two edits
    from ELENI), and for a reading whose PHI lies only on such text (``_only_on_sure``). A reading that is PHI
    as read (no tolerance) always counts."""
    out: list[Residual] = []
    for i in idx:
        view = to_display(frames[i], working_pi)
        texts = list(regions.get(i, []))
        texts += [(b, float(max(1, min(b[3] - b[1], b[2] - b[0])))) for b in keeps.get(i, [])]
        on = sure.get(i, [])
        for r in residual_phi(view, i, changed, texts, engine, second, judge, rendered, seconds, kept.get(i, ())):
            on_sure = any(inside_share(r.box.box, b) >= SURE_SHARE for b in on)
            if on_sure and not judge.judge(r.box.text).phi:
                continue
            if not _only_on_sure(r, on, changed, judge, view):
                out.append(r)
    return out


SURE_SHARE = 0.7
"""Share of a reading's box (or of its PHI's) inside text read surely as technical for it to be that text read
again (``_verify``)."""


def _only_on_sure(r: Residual, sure: list[Box], filled: list[Box], judge: TextJudge, view: np.ndarray) -> bool:
    """Whether every PHI span of a verification reading is, where it has ink that was not removed, text the
    first reader read surely as technical annotation, its characters no PHI read alone: a label's value that is
    the technical text after it, the label's own value having been removed. Tesseract read "Ref. Phys maaan"
    across a removed name and on to the "mA 200" beyond it, read at 0.93-0.98 on every frame of a cine, and
    the repair removed "mA 200" (dev-drawn cine)."""
    spans = r.decision.spans
    if not spans or not sure:
        return False
    for sp in spans:
        x0, y0, x1, y1 = span_box(r.box, sp.start, sp.end)
        x0, y0 = max(x0, 0), max(y0, 0)
        if y1 <= y0 or x1 <= x0:
            return False
        # strokes narrower than half the text's height (the sure text's, under a reader's tall box), not the
        # crop's odd one out, which a label box or anatomy under part of the box is (dev-drawn, twelfth 400)
        under = [b for b in sure if intersects(b, (x0, y0, x1, y1))]
        h = min([r.box.height] + [min(b[2] - b[0], b[3] - b[1]) for b in under])
        ink = stroke_mask(view, (x0, y0, x1, y1), h // 2 + 1, 6)
        for b in filled:  # what was removed is no text
            ink[_in_crop(b, x0, y0)] = False
        on = np.zeros_like(ink)
        for b in sure:
            on[_in_crop(b, x0, y0)] = True
        if not ink.any() or (on & ink).sum() < SURE_SHARE * ink.sum():
            return False
        if judge.judge(r.box.text[sp.start : sp.end]).phi:
            return False
    return True


def _in_crop(b: Box, x0: int, y0: int) -> tuple[slice, slice]:
    """The rows and columns of box ``b`` in a crop whose top-left corner is (``x0``, ``y0``)."""
    return slice(max(b[1] - y0, 0), max(b[3] - y0, 0)), slice(max(b[0] - x0, 0), max(b[2] - x0, 0))


def _sure_technical(f: Finding) -> bool:
    """Technical annotation the first reader read surely (allow-listed at 0.9 or more): no misreading of a
    name gives "W 400 L 40". The second reader does not read it again."""
    return f.decision.allowlisted and f.box.confidence >= UNSURE


def _residual_boxes(
    residual: list[Residual],
    judge: TextJudge,
    frames: np.ndarray,
    working_pi: str,
    keeps: dict[int, list[Box]],
    rows: int,
    cols: int,
    ratio: float,
) -> list[Box]:
    """Padded boxes of the PHI spans the verification still found."""
    out = []
    all_keeps = _all_keeps(keeps)
    for r in residual:
        view = to_display(frames[r.frame], working_pi)
        ink = ink_profile(view, r.box)
        spans = [(sp.start, sp.end) for sp in r.decision.spans] or [(0, len(r.box.text))]
        for a0, b0 in spans:
            box = span_box(r.box, a0, b0, ink)
            padded = _padded(box, r.box.height, r.box.vertical, all_keeps, rows, cols, ratio)
            out.append(cover_glyphs(view, padded, r.box.height, all_keeps, r.box.vertical))
    return out
