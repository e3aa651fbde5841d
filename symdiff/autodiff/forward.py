"""Forward mode: tangents pushed from inputs to outputs in one walk, with rules derived from the VJP table.

An op's VJP rule maps an output cotangent ``g`` linearly to input cotangents; its JVP is that
map's transpose. The walker obtains it by running the reverse walker over the rule itself, with
respect to ``g``, once per op signature on placeholder nodes (a *template*), then instantiates the
template for every node by substitution. So forward mode needs no second rule table, and the
tangent of a node depends only on the node and the tangents of its inputs, never on the rest of
the graph: differentiating a derivative graph again reuses every tangent already built (interning
makes them the same nodes). That is what keeps n-th derivative graphs polynomial in n.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from ..ir import FLOAT_DTYPES, OPERATORS, Node, ShapeError, depends_on, inputs_of, toposort
from ..ops import OPS, cast, make, tensor, zeros
from .reverse import unbroadcast, vjp_graph

#: A template: the tangent of ``op(args)`` in terms of placeholders for ``out``, the args and their tangents.
Template = tuple[Node, tuple[tuple[Node, str, int], ...]]


def _placeholder(name: str, signature: tuple) -> Node:
    shape, dtype = signature
    return tensor(name, shape, dtype)


@lru_cache(maxsize=8192)
def _template(op: str, attrs: tuple, out_sig: tuple, arg_sigs: tuple, live: tuple[bool, ...],
              batch: tuple = ()) -> Template | None:
    """The JVP of ``op`` as a small graph over placeholders, or None when its tangent is always zero.

    ``arg_sigs`` holds, per input, the constant node itself or its ``(shape, dtype)``; ``live`` marks
    the inputs that carry a tangent; tangents lead with the axes ``batch`` (a batch of directions at once).
    """
    rule = OPS[op].vjp
    if rule is None:
        return None
    out_shape, out_dtype = out_sig
    g = _placeholder("_jvp_cotangent", (batch + out_shape, out_dtype))
    out = _placeholder("_jvp_out", out_sig)
    args = [sig if isinstance(sig, Node) else _placeholder(f"_jvp_arg{i}", sig) for i, sig in enumerate(arg_sigs)]
    cotangents, tangents, slots = [], [], [(out, "out", 0)]
    slots += [(arg, "arg", i) for i, arg in enumerate(args) if not isinstance(arg_sigs[i], Node)]
    for i, (arg, ct) in enumerate(zip(args, rule(g, out, *args, **dict(attrs)))):
        if not live[i] or ct is None:
            continue
        ct = unbroadcast(ct, arg.shape, batch)
        cotangents.append(ct if ct.dtype == arg.dtype else cast(ct, arg.dtype))
        tangents.append(_placeholder(f"_jvp_tangent{i}", (batch + arg.shape, arg.dtype)))
        slots.append((tangents[-1], "tangent", i))
    tangent = vjp_graph(cotangents, tangents, [g]).get(id(g)) if cotangents else None
    if tangent is None:
        return None
    if any(node is g for node in inputs_of(tangent)):
        raise TypeError(f"jvp: the VJP rule of op {op!r} is not linear in its cotangent, so it cannot be transposed")
    return tangent, tuple(slots)


def _instantiate(template: Template, node: Node, tangents: Sequence[Node | None]) -> Node:
    """The template's graph with its placeholders replaced by ``node``, its inputs and their tangents."""
    root, slots = template
    bound = {id(p): node if role == "out" else node.inputs[i] if role == "arg" else tangents[i]
             for p, role, i in slots}
    for t in toposort([root]):
        if id(t) in bound or not t.inputs:
            continue
        inputs = [bound.get(id(i), i) for i in t.inputs]
        # Arithmetic goes through its builders, so x*1, x+0 and -(-x) disappear as the tangent is built.
        build = OPERATORS.get(t.op) if not t.attrs else None
        bound[id(t)] = build(*inputs) if build is not None else make(t.op, inputs, **dict(t.attrs))
    return bound.get(id(root), root)


def _signature(node: Node) -> tuple:
    return node if node.op == "constant" else (node.shape, node.dtype)


def tangent_graph(outputs: Sequence[Node], wrt: Sequence[Node], tangents: Sequence[Node],
                  batch: tuple = ()) -> dict[int, Node]:
    """Tangents of every node reachable from ``outputs`` that depends on ``wrt`` (a dict keyed by node id).

    Nodes missing from the dict have a zero tangent. ``batch``: leading axes every tangent has before the node's
    own shape, so one walk pushes a whole batch of directions (the columns of a Jacobian at once).
    """
    order = toposort(outputs)
    live = depends_on(order, wrt)
    tangent: dict[int, Node] = {id(w): t for w, t in zip(wrt, tangents)}
    for node in order:
        if id(node) in tangent or id(node) not in live or node.dtype not in FLOAT_DTYPES or not node.inputs:
            continue
        ins = [tangent.get(id(i)) if i.dtype in FLOAT_DTYPES else None for i in node.inputs]
        if all(t is None for t in ins):
            continue
        rule = OPS[node.op].jvp
        if rule is not None:
            tangent[id(node)] = rule(ins, node, *node.inputs, **dict(node.attrs))
            continue
        template = _template(node.op, node.attrs, (node.shape, node.dtype), tuple(_signature(i) for i in node.inputs),
                             tuple(t is not None for t in ins), batch)
        if template is not None:
            tangent[id(node)] = _instantiate(template, node, ins)
    return tangent


def jvp(outputs: Node | Sequence[Node], wrt: Node | Sequence[Node],
        tangents: Node | Sequence[Node]) -> Node | list[Node]:
    """Forward mode: the directional derivative of ``outputs`` along ``tangents`` (one per ``wrt`` tensor).

    Returns ``J @ tangents`` with each output's shape (a node for a node, a list for a list).
    Outputs that do not depend on ``wrt`` get zeros.
    """
    single = isinstance(outputs, Node)
    outs = [outputs] if single else list(outputs)
    targets = [wrt] if isinstance(wrt, Node) else list(wrt)
    tans = [tangents] if isinstance(tangents, Node) else list(tangents)
    check_pairs("jvp", "tangent", targets, tans)
    for out in outs:
        if not isinstance(out, Node) or out.dtype not in FLOAT_DTYPES:
            raise TypeError(f"jvp: outputs must be floating-point symdiff nodes, got {out!r}")
    found = tangent_graph(outs, targets, tans)
    results = [found[id(out)] if id(out) in found else zeros(out.shape, out.dtype) for out in outs]
    return results[0] if single else results


def check_pairs(who: str, what: str, nodes: Sequence[Node], partners: Sequence[Node]) -> None:
    """Each of ``nodes`` is a floating-point node paired with a ``what`` node of the same shape and dtype."""
    if len(nodes) != len(partners):
        raise ValueError(f"{who}: got {len(nodes)} tensors but {len(partners)} {what}s; they must pair up")
    for node, partner in zip(nodes, partners):
        if not isinstance(node, Node) or not isinstance(partner, Node):
            raise TypeError(f"{who}: expected symdiff nodes, got {node!r} and {what} {partner!r}")
        if node.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{who}: cannot differentiate with respect to {node!r}: its dtype is {node.dtype}")
        if partner.shape != node.shape:
            raise ShapeError(f"{who}: the {what} for {node!r} has shape {partner.shape}, expected {node.shape}")
        if partner.dtype != node.dtype:
            raise TypeError(f"{who}: the {what} for {node!r} has dtype {partner.dtype}, expected {node.dtype}")
