"""What every printer does first: accept a node, a list or a labelled dict, and simplify the graph.

Simplification is the rewrite engine's (``symdiff.rewrite.simplify``), applied when that package exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..ir import Node

Roots = Node | Sequence[Node] | Mapping[str, Node]


def labelled_roots(nodes: Roots, what: str) -> tuple[list[Node], list[str | None]]:
    """Output nodes and their labels: None for a lone node, ``out0, out1, ...`` for a list, keys for a dict."""
    if isinstance(nodes, Node):
        return [nodes], [None]
    if isinstance(nodes, Mapping):
        labels, roots = [str(k) for k in nodes], list(nodes.values())
    elif isinstance(nodes, Sequence) and not isinstance(nodes, str):
        roots = list(nodes)
        labels = [f"out{i}" for i in range(len(roots))]
    else:
        raise TypeError(f"{what}: expected a node, a list of nodes or a dict label -> node, got {type(nodes).__name__}")
    for label, root in zip(labels, roots):
        if not isinstance(root, Node):
            raise TypeError(f"{what}: output {label!r} must be a symdiff node, got {type(root).__name__}")
    if not roots:
        raise ValueError(f"{what}: no outputs given")
    return roots, labels


def rewrite_available() -> bool:
    """True when the rewrite engine (``symdiff.rewrite``) is installed in this checkout."""
    return _simplifier() is not None


def simplified(roots: list[Node]) -> list[Node]:
    """``roots`` after the rewrite engine's simplification, or unchanged when there is no rewrite engine."""
    simplify = _simplifier()
    return roots if simplify is None else list(simplify(roots))


def _simplifier():
    try:
        from ..rewrite import simplify
    except ModuleNotFoundError as exc:
        if exc.name != "symdiff.rewrite":  # a broken rewrite package must fail loudly, not print raw graphs
            raise
        return None
    return simplify
