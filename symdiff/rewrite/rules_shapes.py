"""Shape-op rules: drop identity views, fuse chains of views, and sum a broadcast by multiplying."""

from __future__ import annotations

from .. import ops
from ..ir import Node, broadcast_shapes
from .patterns import Match, P, Rule, Var

x = Var("x")


def _sum_of_broadcast(m: Match) -> Node | None:
    """``sum(broadcast_to(x, S), axes)``: axes along which ``x`` was broadcast become a factor (their size)."""
    node, spread = m.node, m.node.inputs[0]
    axes, keepdims = node.attr("axes"), node.attr("keepdims")
    lead = spread.ndim - m.x.ndim
    padded = ops.reshape(m.x, (1,) * lead + m.x.shape)  # x with the broadcast's rank
    copied = [a for a in axes if padded.shape[a] == 1 and spread.shape[a] != 1]
    if not copied:
        return None
    summed = [a for a in axes if a not in copied]
    inner = ops.sum(padded, axis=summed, keepdims=True) if summed else padded
    kept = ops.broadcast_to(inner, tuple(1 if a in axes else d for a, d in enumerate(spread.shape)))
    return (kept if keepdims else ops.reshape(kept, node.shape)) * ops.count(spread, axis=copied, dtype=node.dtype)


def _implicit_broadcast(m: Match) -> Node | None:
    """An elementwise op reading ``broadcast_to(x)`` reads ``x`` instead when its result keeps its shape."""
    node = m.node
    inputs = list(node.inputs)
    for k, inp in enumerate(inputs):
        if inp.op == "broadcast_to":
            trial = inputs[:k] + [inp.inputs[0]] + inputs[k + 1:]
            if broadcast_shapes(*(i.shape for i in trial)) == node.shape:
                inputs = trial
    changed = any(a is not b for a, b in zip(inputs, node.inputs))
    return ops.make(node.op, inputs, **dict(node.attrs)) if changed else None


def _broadcast_constants(m: Match) -> Node | None:
    """An op of constants, some of them broadcast (a seed's ones times a factor): the op of the constants,
    folded by ``make``, broadcast once (a broadcast constant is inlined by every loop, a computed array is stored)."""
    node = m.node
    bases = [i.inputs[0] if i.op == "broadcast_to" else i for i in node.inputs]
    if all(i.op != "broadcast_to" for i in node.inputs) or any(b.op != "constant" for b in bases):
        return None
    folded = ops.make(node.op, bases, **dict(node.attrs))
    return ops.broadcast_to(folded, node.shape) if folded.op == "constant" else None


def _is_single_entry(m: Match) -> bool:
    return m.x.shape != () and all(d == 1 for d in m.x.shape)


#: Elementwise ops whose operands broadcast implicitly (NumPy rules).
BROADCASTING = ("add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "less", "less_equal",
                "greater", "greater_equal", "equal", "not_equal")

SHAPE_RULES = [
    Rule("reshape(x, x.shape) -> x", P.reshape(x), lambda m: m.x if m.node.shape == m.x.shape else None),
    Rule("reshape(reshape(x)) -> reshape(x)", P.reshape(P.reshape(x)), lambda m: ops.reshape(m.x, m.node.shape)),
    # The transpose builder fuses a transpose of a transpose into one permutation (or none).
    Rule("transpose(transpose(x)) -> transpose(x)", P.transpose(P.transpose(x)),
         lambda m: ops.transpose(m.node.inputs[0], m.node.attr("perm"))),
    Rule("transpose(x, identity) -> x", P.transpose(x),
         lambda m: m.x if m.node.attr("perm") == tuple(range(m.x.ndim)) else None),
    Rule("broadcast_to(x, x.shape) -> x", P.broadcast_to(x), lambda m: m.x if m.node.shape == m.x.shape else None),
    Rule("broadcast_to(broadcast_to(x)) -> broadcast_to(x)", P.broadcast_to(P.broadcast_to(x)),
         lambda m: ops.broadcast_to(m.x, m.node.shape)),
    Rule("sum(broadcast_to(x)) -> sum(x) * count", P.sum(P.broadcast_to(x)), _sum_of_broadcast),
    # A broadcast single entry is a broadcast scalar, whatever views it passed through.
    Rule("broadcast_to(x of one entry) -> broadcast_to(reshape(x, ()))", P.broadcast_to(x),
         lambda m: ops.broadcast_to(ops.reshape(m.x, ()), m.node.shape), guard=_is_single_entry),
    Rule("reshape(broadcast_to(scalar)) -> broadcast_to(scalar)", P.reshape(P.broadcast_to(x)),
         lambda m: ops.broadcast_to(m.x, m.node.shape) if m.x.shape == () else None),
    *(Rule(f"{op}(broadcast_to(x), y) -> {op}(x, y)", getattr(P, op)(Var("a"), Var("b")), _implicit_broadcast)
      for op in BROADCASTING),
    Rule("where(c, broadcast_to(x), y) -> where(c, x, y)", P.where(Var("c"), Var("a"), Var("b")),
         _implicit_broadcast),
    *(Rule(f"{op}(broadcast_to(constant), constant) -> broadcast_to(constant)", getattr(P, op)(Var("a"), Var("b")),
           _broadcast_constants) for op in BROADCASTING),
]
