"""A small pattern language for rewrite rules.

A pattern is an op pattern ``P.log(P.exp(x))``, a variable ``Var("x")`` (matches any node; a
variable used twice must bind the same node, which interning makes a structural test) or a
constant pattern ``Const("c")`` / ``Const(value=0)``. A :class:`Rule` pairs a pattern with a
replacement built from the bindings; rule tables are plain lists of rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ir import Node


@dataclass(frozen=True)
class Var:
    """Matches any node and binds it to ``name``."""

    name: str


@dataclass(frozen=True)
class Const:
    """Matches a constant node (all of whose entries equal ``value`` when one is given)."""

    name: str | None = None
    value: float | None = None

    def accepts(self, node: Node) -> bool:
        if node.op != "constant":
            return False
        if self.value is None:
            return True
        array = node.attr("value").array
        return array.size > 0 and bool(np.all(array == self.value))


@dataclass(frozen=True)
class OpPattern:
    """Matches a node with op ``op`` whose inputs match ``args`` (and whose attributes satisfy ``attrs``)."""

    op: str
    args: tuple[Any, ...]
    attrs: tuple[tuple[str, Any], ...] = ()


class _PatternBuilders:
    """``P.exp(x)`` is ``OpPattern("exp", (x,))``; keyword arguments constrain attributes."""

    def __getattr__(self, op: str) -> Callable[..., OpPattern]:
        return lambda *args, **attrs: OpPattern(op, args, tuple(sorted(attrs.items())))


P = _PatternBuilders()


class Match:
    """The bindings of a successful match; ``m.x`` is the node bound to ``Var("x")``, ``m.node`` the root."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.bound: dict[str, Node] = {}

    def __getattr__(self, name: str) -> Node:
        try:
            return self.__dict__["bound"][name]
        except KeyError:
            raise AttributeError(f"pattern variable {name!r} is not bound") from None

    def bind(self, name: str | None, node: Node) -> bool:
        if name is None:
            return True
        seen = self.bound.setdefault(name, node)
        return seen is node


def match(pattern: Any, node: Node, m: Match) -> bool:
    """True (filling ``m``) when ``node`` matches ``pattern``."""
    if isinstance(pattern, Var):
        return m.bind(pattern.name, node)
    if isinstance(pattern, Const):
        return pattern.accepts(node) and m.bind(pattern.name, node)
    if node.op != pattern.op or len(node.inputs) != len(pattern.args):
        return False
    if any(node.attr(key) != value for key, value in pattern.attrs):
        return False
    return all(match(p, child, m) for p, child in zip(pattern.args, node.inputs))


@dataclass(frozen=True)
class Rule:
    """``lhs`` -> ``rhs(match)``; ``rhs`` may return None to decline. ``guard(match)`` must hold to fire.

    The replacement may have a smaller (broadcastable) shape or another dtype than the matched node:
    the engine broadcasts and casts it back, so rules can be written at the level of the maths.
    """

    name: str
    lhs: OpPattern
    rhs: Callable[[Match], Node | None]
    guard: Callable[[Match], bool] | None = field(default=None)
    #: ``(input position, required op)`` for the pattern's direct children: a cheap test before matching.
    needs: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        needs = tuple((i, a.op if isinstance(a, OpPattern) else "constant") for i, a in enumerate(self.lhs.args)
                      if isinstance(a, OpPattern | Const))
        object.__setattr__(self, "needs", needs)

    def apply(self, node: Node) -> Node | None:
        """The replacement for ``node``, or None when the rule does not apply."""
        inputs = node.inputs
        if len(inputs) != len(self.lhs.args) or any(inputs[i].op != op for i, op in self.needs):
            return None
        m = Match(node)
        if not match(self.lhs, node, m):
            return None
        if self.guard is not None and not self.guard(m):
            return None
        return self.rhs(m)
