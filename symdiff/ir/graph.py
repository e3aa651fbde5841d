"""Graph walks: topological order, reachability and node counts; a table of values by node identity."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from typing import Generic, TypeVar

from .node import Node

V = TypeVar("V")


class NodeMap(Generic[V]):
    """``node -> value`` by identity (``==`` on nodes builds a graph, so nodes cannot be dict keys). The table holds
    the nodes it maps: an id is unique only while its node lives, and a node made and dropped while the table is in
    use (a loop's leaves, a traced step) would otherwise hand its id, and its value, to a node made later."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Node, V]] = {}

    def __getitem__(self, node: Node) -> V:
        return self._entries[id(node)][1]

    def __setitem__(self, node: Node, value: V) -> None:
        self._entries[id(node)] = (node, value)

    def __contains__(self, node: Node) -> bool:
        return id(node) in self._entries

    def get(self, node: Node, default: V | None = None) -> V | None:
        entry = self._entries.get(id(node))
        return default if entry is None else entry[1]


def toposort(outputs: Iterable[Node], stop: Container[int] = (),
             children: Callable[[Node], Sequence[Node]] | None = None) -> list[Node]:
    """All nodes reachable from ``outputs``, inputs before users (iterative, deterministic).

    Nodes whose id is in ``stop`` are listed but not walked through (their inputs are not reached via them).
    ``children`` gives what a node refers to (default: its inputs).
    """
    order: list[Node] = []
    seen: set[int] = set()
    for root in outputs:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            if id(node) in stop:
                continue
            for child in reversed(node.inputs if children is None else children(node)):
                if id(child) not in seen:
                    stack.append((child, False))
    return order


def count_nodes(outputs: Node | Iterable[Node]) -> int:
    """Number of distinct nodes (shared subexpressions counted once)."""
    return len(toposort([outputs] if isinstance(outputs, Node) else outputs))


def inputs_of(outputs: Node | Iterable[Node]) -> list[Node]:
    """The input tensors a graph reads, in first-use order."""
    roots = [outputs] if isinstance(outputs, Node) else list(outputs)
    return [n for n in toposort(roots) if n.op == "input"]


def unbound_dims(roots: Iterable[Node], inputs: Iterable[Node]) -> list[tuple[str, Node]]:
    """The named dims a graph uses (in shapes, and as a loop's number of steps) that no axis of ``inputs`` gives,
    each with the first node using it: a compiled function could not tell their sizes."""
    bound = {d for node in inputs for d in node.shape if isinstance(d, str)}
    missing: dict[str, Node] = {}
    for node in toposort(list(roots)):
        for d in (*node.shape, node.attr("length")):
            if isinstance(d, str) and d not in bound:
                missing.setdefault(d, node)
    return list(missing.items())


def depends_on(order: list[Node], sources: Iterable[Node]) -> set[int]:
    """ids of the nodes in ``order`` (topologically sorted) that depend on any of ``sources``."""
    hit = {id(s) for s in sources}
    for node in order:
        if id(node) not in hit and any(id(i) in hit for i in node.inputs):
            hit.add(id(node))
    return hit
