"""Graphs as plain data: a flat, topologically ordered table of records (op, input positions, attributes, shape,
dtype) that pickles without recursion however deep the graph, and rebuilds the same (interned) nodes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .graph import toposort
from .node import FrozenArray, Node

#: One node: (op, positions of its inputs in the table, attributes, shape, dtype).
Record = tuple[str, tuple[int, ...], dict[str, Any], tuple, str]


def to_table(roots: Sequence[Node]) -> tuple[list[Record], list[int]]:
    """``(records, positions of roots)``: every node ``roots`` reach, inputs before users."""
    order = toposort(list(roots))
    position = {id(node): k for k, node in enumerate(order)}
    records = [(node.op, tuple(position[id(i)] for i in node.inputs),
                {key: _plain(value) for key, value in node.attrs}, node.shape, node.dtype) for node in order]
    return records, [position[id(r)] for r in roots]


def from_table(records: Sequence[Record]) -> list[Node]:
    """The nodes of a table made by :func:`to_table`, in table order."""
    nodes: list[Node] = []
    for op, inputs, attrs, shape, dtype in records:
        nodes.append(Node(op, tuple(nodes[k] for k in inputs), {key: _frozen(v) for key, v in attrs.items()},
                          tuple(shape), dtype))
    return nodes


class _ArrayValue:
    """A constant's array in a table (rebuilt as a FrozenArray: read-only, hashed by content)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __reduce__(self):
        return _ArrayValue, (np.asarray(self.array),)


def _plain(value: Any) -> Any:
    return _ArrayValue(value.array) if isinstance(value, FrozenArray) else value


def _frozen(value: Any) -> Any:
    return FrozenArray(value.array) if isinstance(value, _ArrayValue) else value
