"""ocr/fold.py: the rewritten models compute what the originals compute, with fewer operators."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from deidnode.engine.pixels.ocr import fold, rapid


def _session(model: bytes | str) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def _run(model: bytes | str, x: np.ndarray) -> np.ndarray:
    s = _session(model)
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def _ops(model: bytes | str) -> collections.Counter[str]:
    m = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(model)
    return collections.Counter(n.op_type for n in m.graph.node)


def _const(name: str, value: np.ndarray | float) -> onnx.NodeProto:
    arr = np.asarray(value, np.float32)
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name + ".v"))


def _block_model(tmp_path: Path) -> Path:
    """Conv -> affine -> hard-swish -> affine -> 3x3 padded conv -> affine -> hard-swish -> affine -> 1x1 conv:
    every pattern, with the bias kept before the padded convolution and folded into the 1x1 one."""
    rng = np.random.default_rng(7)
    nodes, inits = [], []

    def conv(name: str, x: str, cin: int, cout: int, k: int) -> str:
        inits.append(numpy_helper.from_array(rng.normal(size=(cout, cin, k, k)).astype(np.float32), name + ".w"))
        inits.append(numpy_helper.from_array(rng.normal(size=cout).astype(np.float32), name + ".b"))
        pads = [k // 2] * 4
        nodes.append(helper.make_node("Conv", [x, name + ".w", name + ".b"], [name], pads=pads))
        return name

    def affine(name: str, x: str, s: float, b: float) -> str:
        nodes.extend([_const(name + ".s", s), _const(name + ".c", b)])
        nodes.append(helper.make_node("Mul", [name + ".s", x], [name + ".m"]))
        nodes.append(helper.make_node("Add", [name + ".m", name + ".c"], [name]))
        return name

    def hswish(name: str, a: str) -> str:
        nodes.extend([_const(name + ".3", 3.0), _const(name + ".0", 0.0), _const(name + ".6", 6.0)])
        nodes.append(helper.make_node("Add", [a, name + ".3"], [name + ".a"]))
        nodes.append(helper.make_node("Clip", [name + ".a", name + ".0", name + ".6"], [name + ".c"]))
        nodes.append(helper.make_node("Mul", [a, name + ".c"], [name + ".m"]))
        nodes.append(helper.make_node("Div", [name + ".m", name + ".6"], [name]))
        return name

    y = conv("c1", "x", 3, 8, 1)
    y = hswish("h1", affine("a1", y, 1.3, -0.4))
    y = conv("c2", affine("a2", y, 0.7, 0.25), 8, 8, 3)
    y = hswish("h2", affine("a3", y, 0.9, 0.1))
    y = conv("c3", affine("a4", y, 1.1, -0.3), 8, 4, 1)
    graph = helper.make_graph(
        nodes,
        "blocks",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 12, 20])],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, 4, 12, 20])],
        inits,
    )
    path = tmp_path / "blocks.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)]), str(path))
    return path


def test_every_pattern_folds_to_the_same_output(tmp_path: Path) -> None:
    path = _block_model(tmp_path)
    folded, n = fold.folded_model(path)
    assert n == 2 + 2 + 2  # hard-swish, conv -> affine, affine -> conv: twice each
    x = np.random.default_rng(1).normal(size=(1, 3, 12, 20)).astype(np.float32) * 3
    want, got = _run(str(path), x), _run(folded, x)
    assert np.abs(got - want).max() < 1e-4 * max(1.0, float(np.abs(want).max()))
    ops = _ops(folded)
    assert (ops["Div"], ops["Clip"], ops["HardSigmoid"]) == (0, 0, 2)
    # left: the two hard-swish products, and the bias before the padded 3x3 convolution (its border reads zeros)
    assert (ops["Mul"], ops["Add"]) == (2, 1)


def test_a_model_without_the_patterns_comes_back_unchanged(tmp_path: Path) -> None:
    w = numpy_helper.from_array(np.ones((2, 1, 1, 1), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"]), helper.make_node("Relu", ["y"], ["z"])],
        "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 2, 4, 4])],
        [w],
    )
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)]), str(path))
    folded, n = fold.folded_model(path)
    assert n == 0
    assert onnx.load_from_string(folded).graph == onnx.load(str(path)).graph


@pytest.mark.parametrize(
    ("model", "shape"), [(rapid.DET_MODEL, (1, 3, 256, 320)), (rapid.REC_MODEL, (3, 3, rapid.REC_HEIGHT, 240))]
)
def test_rapidocr_models_fold_and_agree(model: str, shape: tuple[int, ...]) -> None:
    path = rapid._models_dir() / model
    folded, n = fold.folded_model(path)
    assert n >= 40  # every PP-LCNetV3 block of the backbone
    x = np.random.default_rng(3).uniform(-1, 1, size=shape).astype(np.float32)
    want, got = _run(str(path), x), _run(folded, x)
    assert np.abs(got - want).max() < 1e-4
    if model == rapid.REC_MODEL:
        assert (got.argmax(-1) == want.argmax(-1)).all()
