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
    """``(records, positions of roots)``: every node ``roots`` reach (through inputs, and through graphs held in
    attributes such as a loop's body), each listed after everything it refers to."""
    order = _order(list(roots))
    position = {id(node): k for k, node in enumerate(order)}
    records = [(node.op, tuple(position[id(i)] for i in node.inputs),
                {key: _plain(value, position) for key, value in node.attrs}, node.shape, node.dtype) for node in order]
    return records, [position[id(r)] for r in roots]


def from_table(records: Sequence[Record]) -> list[Node]:
    """The nodes of a table made by :func:`to_table`, in table order."""
    nodes: list[Node] = []
    for op, inputs, attrs, shape, dtype in records:
        nodes.append(Node(op, tuple(nodes[k] for k in inputs), {key: _frozen(v, nodes) for key, v in attrs.items()},
                          tuple(shape), dtype))
    return nodes


def _attr_nodes(node: Node) -> list[Node]:
    """The nodes a node's attributes hold (a loop's body and placeholders)."""
    found = []
    for _, value in node.attrs:
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, Node):
                found.append(item)
    return found


def _order(roots: list[Node]) -> list[Node]:
    """Topological order over inputs and attribute graphs: a node after its inputs and its attributes' nodes."""
    return toposort(roots, children=lambda node: list(node.inputs) + _attr_nodes(node))


class _NodeRef:
    """A node held in an attribute, as its position in the table."""

    __slots__ = ("position",)

    def __init__(self, position: int) -> None:
        self.position = position

    def __reduce__(self):
        return _NodeRef, (self.position,)


class _ArrayValue:
    """A constant's array in a table (rebuilt as a FrozenArray: read-only, hashed by content)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __reduce__(self):
        return _ArrayValue, (np.asarray(self.array),)


def _plain(value: Any, position: dict[int, int]) -> Any:
    if isinstance(value, FrozenArray):
        return _ArrayValue(value.array)
    if isinstance(value, Node):
        return _NodeRef(position[id(value)])
    if isinstance(value, tuple) and any(isinstance(v, Node) for v in value):
        return tuple(_plain(v, position) for v in value)
    return value


def _frozen(value: Any, nodes: list[Node]) -> Any:
    if isinstance(value, _ArrayValue):
        return FrozenArray(value.array)
    if isinstance(value, _NodeRef):
        return nodes[value.position]
    if isinstance(value, tuple) and any(isinstance(v, _NodeRef) for v in value):
        return tuple(_frozen(v, nodes) for v in value)
    return value
