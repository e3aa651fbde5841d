"""Graph walks: topological order, reachability and node counts."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence

from .node import Node


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


def depends_on(order: list[Node], sources: Iterable[Node]) -> set[int]:
    """ids of the nodes in ``order`` (topologically sorted) that depend on any of ``sources``."""
    hit = {id(s) for s in sources}
    for node in order:
        if id(node) not in hit and any(id(i) in hit for i in node.inputs):
            hit.add(id(node))
    return hit
