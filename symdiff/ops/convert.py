"""Turning Python/NumPy values into nodes, and NumPy-style dtype promotion."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import FLOAT_DTYPES, Node
from .registry import constant

_RANK = {"bool": 0, "int32": 1, "int64": 2, "float32": 3, "float64": 4}


def promote(*dtypes: str) -> str:
    """NumPy's promotion over the supported dtypes (an int64 with a float32 gives float64)."""
    best = max(dtypes, key=_RANK.__getitem__)
    if best == "float32" and "int64" in dtypes or best == "float32" and "int32" in dtypes:
        return "float64"
    return best


def is_float(node: Node) -> bool:
    return node.dtype in FLOAT_DTYPES


def as_node(value: Any, like: Node | None = None) -> Node:
    """``value`` as a node; a Python scalar takes the dtype of ``like`` (NumPy's weak scalars), a NumPy scalar keeps
    its own (``np.float64(0.1)`` is float64 even beside float32, as NumPy 2 promotes it)."""
    if isinstance(value, Node):
        return value
    if like is not None and isinstance(value, bool | int | float) and not isinstance(value, np.generic):
        if isinstance(value, float) and not is_float(like):
            return constant(value, "float64")
        if isinstance(value, bool) and like.dtype != "bool":
            value = int(value)
        elif not isinstance(value, bool) and like.dtype == "bool":
            return constant(value, "int64")  # a bool with a Python int is an int (NumPy), never the int as a bool
        return constant(value, like.dtype)
    return constant(value)


def as_nodes(a: Any, b: Any) -> tuple[Node, Node]:
    """Both operands of a binary op as nodes, scalars weakly typed by the other operand."""
    if not isinstance(a, Node) and not isinstance(b, Node):
        a = constant(a)
    if isinstance(a, Node):
        return a, as_node(b, like=a)
    return as_node(a, like=b), b
