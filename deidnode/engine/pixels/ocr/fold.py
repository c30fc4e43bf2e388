"""PaddleOCR's exported models (PP-OCRv4 detection and recognition in rapidocr's wheel) rewritten into an
equivalent graph that onnxruntime runs 1.5-2x faster on a CPU.

The Paddle-to-ONNX export writes each PP-LCNetV3 block as plain element-wise operators: a learnable scale and
bias after each convolution (``Conv -> Mul(s) -> Add(b)``), hard-swish as ``Add(3) -> Clip(0, 6) -> Mul ->
Div(6)``, and another scale and bias after it. onnxruntime fuses none of these into the convolution, so every
one of them runs as its own pass over the feature map, with layout reorders around it: about half of a read's
time. The same arithmetic, rearranged:

- ``Conv -> Mul(s) -> Add(b)`` (scalars): the scale and bias go into the convolution's weights and bias;
- ``Add(a, 3) -> Clip(0, 6) -> Mul(a, .) -> Div(6)``: ``a * HardSigmoid(a)`` (alpha 1/6, beta 1/2), which
  onnxruntime fuses into one hard-swish kernel;
- ``Mul(s) -> Add(b) -> Conv`` (scalars): the scale goes into the convolution's weights; the bias too when the
  convolution is 1x1 and unpadded (``conv(x + b) = conv(x) + b * sum(W)`` holds only where no padding is read),
  otherwise it stays as ``Add(b / s)``.

Outputs differ from the original's by float rounding (~1e-6 in the recogniser's probabilities;
``tests/test_pixels_ocr_fold.py`` holds the bound). Only these exact patterns are touched: another model, or
one exported differently, comes back unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import onnxproto


def folded_model(path: Path) -> tuple[bytes, int]:
    """The model at ``path`` rewritten (serialised, for ``onnxruntime.InferenceSession``) and the number of
    rewrites made (0: the graph holds none of the patterns)."""
    model = onnxproto.load_model(path.read_bytes())
    n = _Folder(model.graph).run()
    return model.SerializeToString(), n


class _Folder:
    def __init__(self, graph: Any) -> None:
        self.graph = graph
        # one list of the nodes, held for the whole rewrite: protobuf may hand out a new wrapper object on each
        # walk of ``graph.node``, so nodes are told apart by their place in this list, not by identity
        self.nodes = list(graph.node)
        self.const: dict[str, np.ndarray] = {}
        for node in self.nodes:
            if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
                value = onnxproto.float_array(node.attribute[0].t)
                if value is not None:
                    self.const[node.output[0]] = value
        for init in graph.initializer:
            value = onnxproto.float_array(init)
            if value is not None:
                self.const[init.name] = value
        self.dropped: set[int] = set()
        self.added: dict[str, None] = {}
        """Names of the tensors made here, in order (some replaced again by a later rewrite)."""

    # -- graph queries ----------------------------------------------------------------------------------

    def _live(self) -> list[Any]:
        return [n for k, n in enumerate(self.nodes) if k not in self.dropped]

    def _drop(self, *nodes: Any) -> None:
        for node in nodes:
            self.dropped.update(k for k, n in enumerate(self.nodes) if n is node)

    def _consumers(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for n in self._live():
            for i in n.input:
                out.setdefault(i, []).append(n)
        for o in self.graph.output:
            out.setdefault(o.name, []).append(None)
        return out

    def _scalar(self, name: str) -> float | None:
        v = self.const.get(name)
        return None if v is None or v.size != 1 or v.dtype != np.float32 else float(v.reshape(()))

    def _scalar_input(self, node: Any) -> tuple[str, float, str] | None:
        """(the scalar's name, its value, the other input) of a two-input node with one scalar constant."""
        if len(node.input) != 2:
            return None
        for k in (0, 1):
            v = self._scalar(node.input[k])
            if v is not None and self._scalar(node.input[1 - k]) is None:
                return node.input[k], v, node.input[1 - k]
        return None

    @staticmethod
    def _sole(cons: dict[str, list[Any]], name: str, op: str) -> Any | None:
        c = cons.get(name, [])
        return c[0] if len(c) == 1 and c[0] is not None and c[0].op_type == op else None

    def _tensor(self, values: np.ndarray, name: str) -> str:
        self.const[name] = values.astype(np.float32)
        self.added[name] = None
        return name

    def _weights(self, conv: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """A convolution's constant weights and bias (zeros when it has none); None when either is computed."""
        if len(conv.input) < 2 or conv.input[1] not in self.const:
            return None
        w = self.const[conv.input[1]]
        if len(conv.input) < 3:
            return w, np.zeros(w.shape[0], np.float32)
        return (w, self.const[conv.input[2]]) if conv.input[2] in self.const else None

    def _set_weights(self, conv: Any, w: np.ndarray, b: np.ndarray | None) -> None:
        conv.input[1] = self._tensor(w, f"{conv.output[0]}.w{len(self.added)}")
        if b is not None:
            name = self._tensor(b, f"{conv.output[0]}.b{len(self.added)}")
            if len(conv.input) > 2:
                conv.input[2] = name
            else:
                conv.input.append(name)

    def _affine(self, cons: dict[str, list[Any]], mul: Any) -> tuple[Any, float, float, str] | None:
        """``mul`` as the start of ``Mul(x, s) -> Add(b)`` with scalar s and b: (the Add, s, b, x)."""
        ms = self._scalar_input(mul) if mul is not None and mul.op_type == "Mul" else None
        add = self._sole(cons, mul.output[0], "Add") if ms is not None else None
        bs = self._scalar_input(add) if add is not None else None
        if ms is None or bs is None:
            return None
        return add, ms[1], bs[1], ms[2]

    # -- rewrites ---------------------------------------------------------------------------------------

    def run(self) -> int:
        n = self._hard_swish() + self._conv_then_affine() + self._affine_then_conv()
        if n:
            cons = self._consumers()
            keep = [
                node.SerializeToString()
                for node in self._live()
                if node.op_type != "Constant" or any(o in cons for o in node.output)
            ]
            del self.graph.node[:]
            for raw in keep:
                self.graph.node.add().ParseFromString(raw)
            self.graph.initializer.extend(onnxproto.float_tensor(self.const[t], t) for t in self.added if t in cons)
        return n

    def _hard_swish(self) -> int:
        cons, n = self._consumers(), 0
        for add in self._live():
            s = self._scalar_input(add) if add.op_type == "Add" else None
            if s is None or s[1] != 3.0:
                continue
            a = s[2]
            clip = self._sole(cons, add.output[0], "Clip")
            if clip is None or len(clip.input) != 3 or self._scalar(clip.input[1]) != 0.0:
                continue
            if self._scalar(clip.input[2]) != 6.0:
                continue
            mul = self._sole(cons, clip.output[0], "Mul")
            if mul is None or sorted(mul.input) != sorted([a, clip.output[0]]):
                continue
            div = self._sole(cons, mul.output[0], "Div")
            if div is None or div.input[0] != mul.output[0] or self._scalar(div.input[1]) != 6.0:
                continue
            clip.op_type = "HardSigmoid"
            del clip.input[:]
            clip.input.append(a)
            clip.attribute.extend(
                [onnxproto.float_attribute("alpha", 1.0 / 6.0), onnxproto.float_attribute("beta", 0.5)]
            )
            div.op_type = "Mul"
            del div.input[:]
            div.input.extend([a, clip.output[0]])
            self._drop(add, mul)
            n += 1
        return n

    def _conv_then_affine(self) -> int:
        cons, n = self._consumers(), 0
        for conv in self._live():
            weights = self._weights(conv) if conv.op_type == "Conv" else None
            mul = self._sole(cons, conv.output[0], "Mul") if weights is not None else None
            chain = self._affine(cons, mul)
            if weights is None or chain is None:
                continue
            (w, b), (add, scale, bias, _x) = weights, chain
            self._set_weights(conv, w * scale, b * scale + bias)
            conv.output[0] = add.output[0]
            self._drop(mul, add)
            n += 1
        return n

    def _affine_then_conv(self) -> int:
        cons, n = self._consumers(), 0
        for mul in self._live():
            chain = self._affine(cons, mul)
            if chain is None or chain[1] == 0.0:
                continue
            add, scale, bias, x = chain
            conv = self._sole(cons, add.output[0], "Conv")
            weights = self._weights(conv) if conv is not None and conv.input[0] == add.output[0] else None
            if conv is None or weights is None:
                continue
            w, b = weights
            attrs = {a.name: a for a in conv.attribute}
            padded = "pads" in attrs and any(attrs["pads"].ints)
            if "auto_pad" in attrs and attrs["auto_pad"].s not in (b"NOTSET", b"VALID"):
                padded = True
            if w.shape[2:] == (1, 1) and not padded:
                shifted = b.astype(np.float64) + bias * w.astype(np.float64).sum(axis=(1, 2, 3))
                self._set_weights(conv, w * scale, shifted)
                conv.input[0] = x
                self._drop(mul, add)
            else:
                self._set_weights(conv, w * scale, None)
                shift = self._tensor(np.array([bias / scale], np.float32), f"{add.output[0]}.shift")
                del add.input[:]
                add.input.extend([x, shift])
                self._drop(mul)
            n += 1
        return n
