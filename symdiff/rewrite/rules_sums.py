"""Collecting like terms across a whole sum: ``2*(a*b) + c - a*b -> a*b + c``.

A sum tree (``add``/``subtract``/``negative`` and scalar-constant multiples of one dtype) is read
as a linear combination of *bases*. When two terms share a base, the sum is rebuilt as one term per
base, in canonical order. Only the partial sums that contain a repeated base are opened: the others
stay whole (other nodes may share them), and sums without repeats keep their structure. Derivatives
of products produce exactly such repeats (the Leibniz rule's binomial terms), so this keeps n-th
derivative graphs small.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir import FLOAT_DTYPES, Node
from ..ops import constant, zeros
from .facts import known_finite, order_key
from .patterns import Match, P, Rule, Var

#: Sums with more terms than this are left alone: the rule stays O(1) per node.
MAX_TERMS = 32

_SIGNS = {"add": (1.0, 1.0), "subtract": (1.0, -1.0)}


def _parts(n: Node, root: Node) -> list[tuple[float, Node]] | None:
    """The signed/scaled operands of a sum-like node of ``root``'s shape and dtype, or None for a base."""
    if n is not root and (n.dtype != root.dtype or n.shape != root.shape):
        return None
    if n.op in _SIGNS:
        sa, sb = _SIGNS[n.op]
        return [(sa, n.inputs[0]), (sb, n.inputs[1])]
    if n.op == "negative":
        return [(-1.0, n.inputs[0])]
    if n.op == "multiply" and n.inputs[0].op == "constant" and n.inputs[0].shape == ():
        return [(float(n.inputs[0].attr("value").array), n.inputs[1])]
    return None


def linear_terms(node: Node, opened: Callable[[Node], bool] = lambda n: True) -> list[tuple[float, Node]] | None:
    """``node`` as ``[(coefficient, base), ...]`` (unmerged), or None past :data:`MAX_TERMS` terms
    (or ``2 * MAX_TERMS`` nodes visited).

    Sum-like nodes for which ``opened`` is false count as bases, so their structure is kept.
    """
    terms: list[tuple[float, Node]] = []
    stack = [(1.0, node)]
    for _ in range(2 * MAX_TERMS):  # bounded work per node, even along long chains of negations
        if not stack:
            return terms
        coef, n = stack.pop()
        parts = _parts(n, node) if n is node or opened(n) else None
        if parts is None:
            terms.append((coef, n))
        else:
            stack += [(coef * c, child) for c, child in reversed(parts)]
        if len(terms) + len(stack) > MAX_TERMS:
            return None
    return None


def _merged(terms: list[tuple[float, Node]]) -> list[list]:
    merged: dict[int, list] = {}
    for coef, base in terms:
        merged.setdefault(id(base), [0.0, base])[0] += coef
    return list(merged.values())


def _collected(m: Match) -> Node | None:
    terms = linear_terms(m.node)
    if terms is None:
        return None
    merged = _merged(terms)
    counts: dict[int, int] = {}
    for _, base in terms:
        counts[id(base)] = counts.get(id(base), 0) + 1
    # Zero multiples of finite bases vanish; of others they stay (0 * inf is NaN).
    vanishing = {id(base) for coef, base in merged if coef == 0.0 and known_finite(base)}
    touched = {id(base) for _, base in merged if counts[id(base)] > 1} | vanishing
    if not touched:
        return None
    # Open only the partial sums that contain a term to merge; the others stay shared, as they were.
    contains: dict[int, bool] = {}

    def opened(n: Node) -> bool:
        if id(n) not in contains:
            parts = _parts(n, m.node)
            contains[id(n)] = id(n) in touched or parts is not None and any(opened(c) for _, c in parts)
        return contains[id(n)]

    kept = [(coef, base) for coef, base in _merged(linear_terms(m.node, opened)) if id(base) not in vanishing]
    kept.sort(key=lambda t: order_key(t[1]))
    if not kept:
        return zeros(m.node.shape, m.node.dtype)
    total = _scaled(*kept[0])
    for coef, base in kept[1:]:
        total = total - _scaled(-coef, base) if coef < 0 else total + _scaled(coef, base)
    return total


def _scaled(coef: float, base: Node) -> Node:
    if coef == 1.0:
        return base
    if coef == -1.0:
        return -base
    return constant(coef, base.dtype) * base


def _floating(m: Match) -> bool:
    return m.node.dtype in FLOAT_DTYPES


a, b = Var("a"), Var("b")

SUM_RULES = [
    Rule("collect like terms of a sum", P.add(a, b), _collected, guard=_floating),
    Rule("collect like terms of a difference", P.subtract(a, b), _collected, guard=_floating),
]
