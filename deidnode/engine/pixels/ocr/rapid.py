"""RapidOCR's models (PP-OCRv4 detection and recognition, inside the ``rapidocr_onnxruntime`` wheel) on
onnxruntime, driven here rather than through RapidOCR's pipeline object, for three reasons:

- threads: one intra-op thread per session by default (``pixels.ocr.threads``); onnxruntime's default of one
  per core made a 512x512 read 2-3x slower on a shared 2-core machine, and workers already run one process
  per core;
- character positions: the recogniser's CTC time steps give where each character sits along the line, so a
  PHI word can be removed without the technical text beside it;
- crops: a region can be read without upscaling it to the whole-image detection size, and vertical lines are
  read in both directions (no angle classifier needed);
- speed: both models are loaded rewritten by ``fold.py`` (the same arithmetic in operators onnxruntime fuses:
  detection ~1.5x, recognition ~1.9x faster on one CPU thread).

Nothing here mutates shared state per call, so one engine serves every lane of a worker process.
"""

from __future__ import annotations

import importlib.util
import math
import unicodedata
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ....config import OcrSettings
from . import TextBox, fold

NAME = "rapidocr"
REQUIRES = ("rapidocr_onnxruntime", "onnxruntime")
DET_MODEL = "ch_PP-OCRv4_det_infer.onnx"
REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"
REC_HEIGHT = 48
REC_BATCH = 8
RETRY_BELOW = 0.85
"""Readings less confident than this are read again with a margin around the line."""
SMALL_LINE = 14
UPSCALE_SMALL = cv2.INTER_LINEAR
"""Line crops this many pixels high or fewer are scaled up to the recogniser's input bilinearly, higher ones
bicubically. On small text bicubic's overshoot rings around thin strokes and bitmap glyph edges: read at their
true boxes, the dev split's lines 7-10 px high came out exact 107 -> 133 of 209 (character error 0.166 ->
0.112) bilinear; 11-28 px gained little (361 -> 363 of 434), and bilinear there runs words together ("14-Sep-2009T1":
the technical word then goes with the date). In the whole stage, against bicubic everywhere: dev PHI removed
1167 -> 1170 of 1261, technical 653 -> 652 of 704 (bilinear everywhere: 1165, 647); small bitmap fonts no split
uses (75 dpi New Century Schoolbook and Lucida 8-12 px) PHI 606 -> 617 of 696, technical 328 -> 331 of 369;
larger unused bitmap fonts (Lucida Bright, DEC terminal, 12x24, ClearlyU) 561 -> 564 of 604, 316 -> 315 of 335.
The height, with the later text rules: 12 px lost 16 PHI segments of the small-font set (604 against 620 of 696);
18 px gained 5 there and lost 2 PHI and 3 technical segments on dev."""
BLOCK_SCALE = 3


def blocky(crop: np.ndarray) -> np.ndarray:
    """``crop`` enlarged ``BLOCK_SCALE`` times by repeating its pixels, then softened by a 3x3 Gaussian: a small
    line's glyph edges stay where the font put them (bilinear scaling to the recogniser's height blurs a 7-10 px
    bitmap glyph into its neighbours). A third reading of small lines (``SMALL_LINE`` px or less) still unsure
    after the padded retry; the more confident reading stands. On the dev split: PHI removed 1185 -> 1187 of 1261,
    technical kept 669 -> 671 of 704, nothing lost; small bitmap fonts no split uses: PHI 628 -> 629 of 696,
    technical 333 -> 334 of 369 (Lanczos instead: dev PHI 1185, technical 671)."""
    big = cv2.resize(crop, None, fx=BLOCK_SCALE, fy=BLOCK_SCALE, interpolation=cv2.INTER_NEAREST)
    return cv2.GaussianBlur(big, (3, 3), 0)


# punctuation the recogniser's dictionary holds outside ASCII: the Chinese full stop and comma, a middle dot,
# dashes and curly quotes
_ASCII_OF = {"\u3002": ".", "\u3001": ",", "\u00b7": ".", "\u2014": "-", "\u2013": "-", "\u2018": "'", "\u2019": "'"}


def latin_punctuation(char: str) -> str:
    """The model's Chinese punctuation and full-width forms as the ASCII they look like ("Moretti，E." is
    "Moretti,E.", "l。 Kristlansen" is "l. Kristlansen"): the text layers match names and labels in ASCII."""
    if char in _ASCII_OF:
        return _ASCII_OF[char]
    if len(char) == 1 and 0xFF01 <= ord(char) <= 0xFF5E:
        return unicodedata.normalize("NFKC", char)
    return char


def is_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in REQUIRES)


def _models_dir() -> Path:
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "models"


def _session(path: Path, threads: int, gpu: bool):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads > 1:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CPUExecutionProvider"]
    if gpu and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(fold.folded_model(path)[0], sess_options=opts, providers=providers)


def _bgr(image: np.ndarray) -> np.ndarray:
    """The models were trained on OpenCV's BGR order; grey images become three equal channels."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image[..., ::-1])


class RapidEngine:
    name = NAME

    def __init__(self, settings: OcrSettings) -> None:
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

        models = _models_dir()
        threads = max(1, int(getattr(settings, "threads", 1)))
        self._det = _session(models / DET_MODEL, threads, settings.gpu)
        self._rec = _session(models / REC_MODEL, threads, settings.gpu)
        self._det_in = self._det.get_inputs()[0].name
        self._rec_in = self._rec.get_inputs()[0].name
        meta = self._rec.get_modelmeta().custom_metadata_map
        self._chars = ["", *map(latin_punctuation, meta["character"].splitlines()), " "]  # CTC blank, space last
        # The model reads Chinese too; faint Latin text is sometimes read as CJK characters. Where a reading
        # holds characters outside Latin scripts, the best reading in Latin characters is also taken, and the
        # more confident of the two kept.
        self._latin = np.array([i == 0 or (len(c) == 1 and ord(c) < 0x250) for i, c in enumerate(self._chars)])
        self._post = DBPostProcess(
            thresh=0.3, box_thresh=0.4, max_candidates=1000, unclip_ratio=1.6, score_mode="fast", use_dilation=True
        )
        self.min_confidence = settings.min_confidence

    # -- detection --------------------------------------------------------------------------------------

    def detect(self, image: np.ndarray, min_side: int | None = 512, max_side: int = 1536) -> list[np.ndarray]:
        """Text quads (4x2, clockwise from top-left) in image coordinates. The image is scaled so that its
        short side is ``min_side`` (None: not enlarged), its long side at most ``max_side``, both multiples
        of 32."""
        h, w = image.shape[:2]
        scale = 1.0 if min_side is None else max(1.0, min_side / min(h, w))
        if max(h, w) * scale > max_side:
            scale = max_side / max(h, w)
        nh = max(32, int(round(h * scale / 32)) * 32)
        nw = max(32, int(round(w * scale / 32)) * 32)
        img = cv2.resize(_bgr(image), (nw, nh)) if (nh, nw) != (h, w) else _bgr(image)
        x = (img.astype(np.float32) / 255.0 - 0.5) / 0.5
        pred = self._det.run(None, {self._det_in: x.transpose(2, 0, 1)[None]})[0]
        boxes, _scores = self._post(pred, (h, w))
        out = []
        for b in boxes:
            b = np.asarray(b, np.float32)
            if min(np.linalg.norm(b[0] - b[1]), np.linalg.norm(b[0] - b[3])) <= 3:
                continue
            out.append(b)
        return out

    # -- recognition ------------------------------------------------------------------------------------

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float, list[float]]]:
        """(text, confidence, character centres along the crop's width in crop pixels) per line crop."""
        out: list[tuple[str, float, list[float]]] = [("", 0.0, [])] * len(crops)
        if not crops:
            return out
        widths = [max(8, int(math.ceil(REC_HEIGHT * c.shape[1] / max(c.shape[0], 1) / 8)) * 8) for c in crops]
        order = sorted(range(len(crops)), key=lambda i: widths[i])
        batches: list[list[int]] = []
        for i in order:  # batch only lines of nearly the same width: padding costs as much as text
            if batches and len(batches[-1]) < REC_BATCH and widths[i] <= 1.15 * widths[batches[-1][0]] + 8:
                batches[-1].append(i)
            else:
                batches.append([i])
        for idx in batches:
            wmax = max(widths[i] for i in idx)
            batch = np.zeros((len(idx), 3, REC_HEIGHT, wmax), np.float32)
            for k, i in enumerate(idx):
                h = crops[i].shape[0]
                how = UPSCALE_SMALL if h <= SMALL_LINE else cv2.INTER_CUBIC if h < REC_HEIGHT else cv2.INTER_AREA
                img = cv2.resize(_bgr(crops[i]), (widths[i], REC_HEIGHT), interpolation=how)
                batch[k, :, :, : widths[i]] = ((img.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
            probs = self._rec.run(None, {self._rec_in: batch})[0]  # (n, T, classes)
            steps = probs.shape[1]
            for k, i in enumerate(idx):
                out[i] = self._decode(probs[k], wmax / steps, crops[i].shape[1] / widths[i])
        return out

    def _decode(self, p: np.ndarray, step_px: float, back: float) -> tuple[str, float, list[float]]:
        full = self._ctc(p, p.argmax(axis=1), step_px, back)
        if all(ord(c) < 0x250 for c in full[0]):
            return full
        q = np.where(self._latin[None, : p.shape[1]], p, 0.0)
        latin = self._ctc(p, q.argmax(axis=1), step_px, back)
        return latin if latin[1] >= full[1] else full

    def _ctc(self, p: np.ndarray, best: np.ndarray, step_px: float, back: float) -> tuple[str, float, list[float]]:
        conf = p[np.arange(p.shape[0]), best]
        text, confs, pos = [], [], []
        prev = 0
        for t, c in enumerate(best):
            if c != 0 and c != prev:
                text.append(self._chars[c] if c < len(self._chars) else "")
                confs.append(float(conf[t]))
                pos.append((t + 0.5) * step_px * back)
            prev = c
        s = "".join(text)
        return s, (float(np.mean(confs)) if confs else 0.0), pos

    # -- whole reads ------------------------------------------------------------------------------------

    def read_boxes(
        self, image: np.ndarray, quads: list[np.ndarray], prepare: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> list[TextBox]:
        """Recognise the lines at ``quads`` (detection output, or 4-point boxes) of ``image``; ``prepare`` may
        turn each crop into what the recogniser reads best (contrast stretched, one plane)."""
        rows, cols = image.shape[:2]
        crops, meta = [], []
        for q in quads:
            x0, y0 = (int(v) for v in np.floor(q.min(axis=0)))
            x1, y1 = (int(v) for v in np.ceil(q.max(axis=0)))
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(cols, x1), min(rows, y1)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            crop = image[y0:y1, x0:x1]
            if prepare is not None:
                crop = prepare(crop)
            if (y1 - y0) >= 1.5 * (x1 - x0):  # vertical: read both ways up, keep the better reading
                crops += [np.ascontiguousarray(np.rot90(crop, 1)), np.ascontiguousarray(np.rot90(crop, 3))]
                meta.append((x0, y0, x1, y1, True))
            else:
                crops.append(np.ascontiguousarray(crop))
                meta.append((x0, y0, x1, y1, False))
        res = self.recognize(crops)
        # an unsure reading is read again with a margin around the line (recognisers are trained on crops
        # with some background); the more confident reading stands
        again = [i for i, r in enumerate(res) if r[1] < RETRY_BELOW]
        if again:
            pads = [max(2, crops[i].shape[0] // 4) for i in again]
            padded = [
                cv2.copyMakeBorder(crops[i], p, p, p, p, cv2.BORDER_REPLICATE) for i, p in zip(again, pads, strict=True)
            ]
            more = self.recognize(padded)
            for i, p, r in zip(again, pads, more, strict=True):
                if r[1] > res[i][1]:
                    res[i] = (r[0], r[1], [q - p for q in r[2]])
            # a small line still unsure: once more from its pixels enlarged as blocks (``blocky``)
            small = [
                (i, p, c)
                for i, p, c in zip(again, pads, padded, strict=True)
                if crops[i].shape[0] <= SMALL_LINE and res[i][1] < RETRY_BELOW
            ]
            if small:
                blocks = [blocky(c) for _i, _p, c in small]
                for (i, p, c), blk, r in zip(small, blocks, self.recognize(blocks), strict=True):
                    if r[1] > res[i][1]:
                        f = blk.shape[1] / c.shape[1]
                        res[i] = (r[0], r[1], [q / f - p for q in r[2]])
        out: list[TextBox] = []
        k = 0
        for x0, y0, x1, y1, vertical in meta:
            if vertical:
                a, b = res[k], res[k + 1]
                k += 2
                # rot90 once (counter-clockwise) reads a line running down the image; three times, up it
                down = (a[0], a[1], [y0 + p for p in a[2]])
                up = (b[0], b[1], [y1 - p for p in b[2]])
                (text, conf, pos), (t2, c2, p2) = (down, up) if a[1] >= b[1] else (up, down)
                other = self._line(x0, y0, x1, y1, t2, c2, p2, True, None)
            else:
                text, conf, pos = res[k]
                k += 1
                pos = [x0 + p for p in pos]
                other = None
            line = self._line(x0, y0, x1, y1, text, conf, pos, vertical, other)
            if line is not None:
                out.append(line)
        return out

    def _line(
        self,
        x0: int,
        y0: int,
        x1: int,
        y1: int,
        text: str,
        conf: float,
        pos: list[float],
        vertical: bool,
        other: TextBox | None,
    ) -> TextBox | None:
        """A reading as a line (``other``: a vertical line's reading the other way up), or None when it is empty
        or less confident than ``min_confidence``."""
        lead = len(text) - len(text.lstrip())
        text = text.strip()
        if not text or conf < self.min_confidence:
            return None
        return TextBox(x0, y0, x1, y1, text, conf, tuple(pos[lead : lead + len(text)]), vertical, other)

    def read(self, image: np.ndarray) -> list[TextBox]:
        return self.read_boxes(image, self.detect(image, min_side=512))

    def read_region(self, image: np.ndarray) -> list[TextBox]:
        return self.read_boxes(image, self.detect(image, min_side=None))


def create(settings: OcrSettings) -> RapidEngine:
    return RapidEngine(settings)
