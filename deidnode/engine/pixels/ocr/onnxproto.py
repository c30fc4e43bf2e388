"""The part of ONNX's protobuf schema (``onnx.proto``, proto2) that ``fold.py`` reads and writes, built on
``protobuf``, which onnxruntime already requires.

The ``onnx`` package would do, but importing it costs about a second (its ``ml_dtypes`` extension), paid by every
worker process before its first read. Fields not declared here (types, value infos, metadata) are kept as
unknown fields and written back unchanged. Field numbers are those of onnx.proto (ONNX IR version 7-10).
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT = 1
"""TensorProto.DataType FLOAT."""
ATTR_FLOAT = 1
"""AttributeProto.AttributeType FLOAT."""

_OPT, _REP = 1, 3
_F, _I64, _I32, _STR, _BYTES, _MSG = 2, 3, 5, 9, 12, 11

_MESSAGES: dict[str, list[tuple[str, int, int, int, str]]] = {
    # name: [(field, number, label, type, message type)]
    "TensorProto": [
        ("dims", 1, _REP, _I64, ""),
        ("data_type", 2, _OPT, _I32, ""),
        ("float_data", 4, _REP, _F, ""),
        ("name", 8, _OPT, _STR, ""),
        ("raw_data", 9, _OPT, _BYTES, ""),
    ],
    "AttributeProto": [
        ("name", 1, _OPT, _STR, ""),
        ("f", 2, _OPT, _F, ""),
        ("i", 3, _OPT, _I64, ""),
        ("s", 4, _OPT, _BYTES, ""),
        ("t", 5, _OPT, _MSG, "TensorProto"),
        ("ints", 8, _REP, _I64, ""),
        ("type", 20, _OPT, _I32, ""),
    ],
    "NodeProto": [
        ("input", 1, _REP, _STR, ""),
        ("output", 2, _REP, _STR, ""),
        ("name", 3, _OPT, _STR, ""),
        ("op_type", 4, _OPT, _STR, ""),
        ("attribute", 5, _REP, _MSG, "AttributeProto"),
        ("domain", 7, _OPT, _STR, ""),
    ],
    "ValueInfoProto": [("name", 1, _OPT, _STR, "")],
    "GraphProto": [
        ("node", 1, _REP, _MSG, "NodeProto"),
        ("initializer", 5, _REP, _MSG, "TensorProto"),
        ("output", 12, _REP, _MSG, "ValueInfoProto"),
    ],
    "ModelProto": [("graph", 7, _OPT, _MSG, "GraphProto")],
}
_PACKAGE = "deidnode_onnx_subset"


def _build() -> dict[str, Any]:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fd = descriptor_pb2.FileDescriptorProto(name=f"{_PACKAGE}.proto", package=_PACKAGE, syntax="proto2")
    for msg, fields in _MESSAGES.items():
        m = fd.message_type.add(name=msg)
        for name, number, label, ftype, mtype in fields:
            f = m.field.add(name=name, number=number, label=label, type=ftype)
            if mtype:
                f.type_name = f".{_PACKAGE}.{mtype}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return {msg: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{msg}")) for msg in _MESSAGES}


_CLASSES = _build()
"""Built once, at import (which Python serialises): messages of two pools built by two threads at once do not
mix (``MergeFrom`` raises TypeError), and two lanes of a worker load their engine at the same time."""


def load_model(data: bytes) -> Any:
    """A ModelProto (this subset) parsed from serialised bytes."""
    model = _CLASSES["ModelProto"]()
    model.ParseFromString(data)
    return model


def float_array(tensor: Any) -> np.ndarray | None:
    """The values of a FLOAT tensor held in the model (raw or float_data); None for any other tensor."""
    if tensor.data_type != FLOAT:
        return None
    dims = tuple(int(d) for d in tensor.dims)
    if tensor.raw_data:
        values = np.frombuffer(tensor.raw_data, dtype="<f4")
    else:
        values = np.asarray(tensor.float_data, dtype=np.float32)
    return values.astype(np.float32).reshape(dims) if values.size == int(np.prod(dims)) else None


def float_tensor(values: np.ndarray, name: str) -> Any:
    """A FLOAT TensorProto holding ``values``."""
    t = _CLASSES["TensorProto"]()
    t.name = name
    t.data_type = FLOAT
    t.dims.extend(int(d) for d in values.shape)
    t.raw_data = np.ascontiguousarray(values, dtype="<f4").tobytes()
    return t


def float_attribute(name: str, value: float) -> Any:
    a = _CLASSES["AttributeProto"]()
    a.name = name
    a.type = ATTR_FLOAT
    a.f = value
    return a
