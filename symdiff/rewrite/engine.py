"""The rewrite walker: runs a rule table to a fixpoint over a graph, rebuilding interned nodes bottom-up.

Every node is visited once, after its inputs have been put in normal form; the rules for its op
are tried in table order and the first that fires replaces it, after which the replacement is
normalised in turn (its new subterms first). Results are memoised per node and per rule set, so
simplifying a graph that shares most of its nodes with an already simplified one (the next
derivative order, the same model with a new loss) only visits the new nodes. Unreachable nodes
simply are not part of the result: graphs are defined by reachability, so dead-node removal is free.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence

from ..ir import Node, ShapeError, broadcast_shapes
from ..ops import OPS, broadcast_to, cast, make
from .memo import NodeMemo
from .patterns import Rule

#: A rule firing more often than this on one node means the table has a cycle.
MAX_FIRINGS_PER_NODE = 64


class RewriteCycleError(RuntimeError):
    """A rule table keeps rewriting the same node: two rules undo each other."""


class RuleSet:
    """An ordered rule table plus its memo (node -> normal form). Build once, reuse for every graph."""

    def __init__(self, *tables: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rule for table in tables for rule in table)
        unknown = sorted({r.lhs.op for r in self.rules} - set(OPS))
        if unknown:
            raise ValueError(f"rule table: patterns name unknown ops {unknown}")
        self._by_op: dict[str, tuple[Rule, ...]] = {}
        for rule in self.rules:
            self._by_op[rule.lhs.op] = self._by_op.get(rule.lhs.op, ()) + (rule,)
        self._by_signature: dict[tuple, tuple[Rule, ...]] = {}
        # node -> weak reference to its normal form: the memo never keeps a graph alive.
        self._memo: NodeMemo[weakref.ref[Node]] = NodeMemo()

    def simplify(self, nodes: Node | Sequence[Node]) -> Node | list[Node]:
        """The normal form of ``nodes`` (a node or a list of nodes) under this rule table."""
        single = isinstance(nodes, Node)
        roots = [nodes] if single else list(nodes)
        for root in roots:
            if not isinstance(root, Node):
                raise TypeError(f"simplify: expected symdiff nodes, got {type(root).__name__}")
        local: dict[int, tuple[Node, Node]] = {}
        results = [self._normalize(root, local) for root in roots]
        return results[0] if single else results

    def _known(self, node: Node) -> Node | None:
        ref = self._memo.get(node)
        return ref() if ref is not None else None

    def _normalize(self, root: Node, local: dict[int, tuple[Node, Node]]) -> Node:
        """Normal form of ``root``. ``local`` maps ``id(node)`` to ``(node, normal form)`` for this call;
        holding both keeps transient nodes alive, so their ids cannot be reused while it is in use."""
        stack = [root]
        while stack:
            node = stack[-1]
            if id(node) in local:
                stack.pop()
                continue
            known = self._known(node)
            if known is not None:
                local[id(node)] = (node, known)
                stack.pop()
                continue
            pending = [i for i in node.inputs if id(i) not in local]
            if pending:
                stack.extend(reversed(pending))
                continue
            stack.pop()
            local[id(node)] = (node, self._rewrite(node, local))
        return local[id(root)][1]

    def _rewrite(self, node: Node, local: dict[int, tuple[Node, Node]]) -> Node:
        current = _rebuild(node, tuple(local[id(i)][1] for i in node.inputs))
        for _ in range(MAX_FIRINGS_PER_NODE):
            known = self._known(current)
            if known is not None:
                current = known
                break
            replacement = self._first_firing(current)
            if replacement is None:
                break
            replacement = _conform(replacement, current)
            # The replacement's own subterms may be new: put them in normal form before trying rules on it.
            current = _rebuild(replacement, tuple(self._normalize(i, local) for i in replacement.inputs))
        else:
            raise RewriteCycleError(f"simplify: rules keep rewriting {node!r} (now {current!r}) after "
                                    f"{MAX_FIRINGS_PER_NODE} rewrites; rules for {current.op!r}: "
                                    f"{[r.name for r in self._by_op.get(current.op, ())]}")
        self._memo[node] = weakref.ref(current)
        self._memo[current] = weakref.ref(current)
        return current

    def _candidates(self, node: Node) -> tuple[Rule, ...]:
        """The rules whose pattern fits ``node``'s op, arity and input ops (cached per such signature)."""
        key = (node.op, tuple(i.op for i in node.inputs))
        rules = self._by_signature.get(key)
        if rules is None:
            rules = tuple(r for r in self._by_op.get(node.op, ()) if len(r.lhs.args) == len(node.inputs)
                          and all(key[1][i] == op for i, op in r.needs))
            self._by_signature[key] = rules
        return rules

    def _first_firing(self, node: Node) -> Node | None:
        for rule in self._candidates(node):
            replacement = rule.apply(node)
            if replacement is not None and replacement is not node:
                return replacement
        return None


def _rebuild(node: Node, inputs: tuple[Node, ...]) -> Node:
    """``node`` over new inputs (re-interned, and constant-folded by ``make``); itself when nothing changed."""
    if all(a is b for a, b in zip(inputs, node.inputs)):
        return node
    return make(node.op, inputs, **dict(node.attrs))


def _conform(replacement: Node, node: Node) -> Node:
    """``replacement`` broadcast and cast to ``node``'s shape and dtype (rules may return the smaller form)."""
    if replacement.shape != node.shape:
        try:
            ok = broadcast_shapes(replacement.shape, node.shape) == node.shape
        except ShapeError:
            ok = False
        if not ok:
            raise ShapeError(f"simplify: a rule replaced {node!r} by {replacement!r}, whose shape "
                             f"{replacement.shape} does not broadcast to {node.shape}")
        replacement = broadcast_to(replacement, node.shape)
    if replacement.dtype != node.dtype:
        replacement = cast(replacement, node.dtype)
    return replacement
