"""Symbol-to-symbol reverse mode: one walker that builds derivative graphs from the op table's VJP rules.

Accumulation over fan-out and un-broadcasting happen here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import ops
from ..ir import FLOAT_DTYPES, Node, ShapeError, broadcast_shapes, depends_on, size_of, toposort
from ..ops import OPS, broadcast_to, cast, constant, ones, reshape, zeros


class DisconnectedInputError(ValueError):
    """Raised by ``grad(..., disconnected="raise")`` when an input does not affect the output."""


def unbroadcast(g: Node, shape: tuple, batch: tuple = ()) -> Node:
    """Sum ``g`` over the axes along which a tensor of ``shape`` was broadcast to ``g``'s shape; ``g`` may lead with
    the axes ``batch`` of its own (a batch of cotangents), which stay."""
    target = batch + tuple(shape)
    if g.shape == target:
        return g
    lead = len(batch)
    full = batch + broadcast_shapes(g.shape[lead:], shape, what="gradient")
    if full != g.shape:  # a rule returned a cotangent smaller than the output: widen it first
        g = broadcast_to(g, full)
    extra = g.ndim - len(target)
    axes = list(range(lead, lead + extra))
    axes += [lead + extra + a for a, d in enumerate(shape) if d == 1 and g.shape[lead + extra + a] != 1]
    if axes:
        g = ops.sum(g, axis=axes, keepdims=True)
    return reshape(g, target)


def vjp_graph(outputs: Sequence[Node], cotangents: Sequence[Node], wrt: Sequence[Node],
              batch: tuple = ()) -> dict[int, Node]:
    """Cotangents of every node in ``wrt``, given cotangents of ``outputs`` (a dict keyed by node id).

    ``batch``: leading axes every cotangent has before the node's own shape, so one walk carries a whole batch of
    cotangents (the rows of a Jacobian at once): each cotangent of ``outputs`` has shape ``batch + out.shape``.
    """
    order = toposort(outputs)
    live = depends_on(order, wrt)
    adjoint: dict[int, Node] = {}
    for out, ct in zip(outputs, cotangents):
        if ct.shape != batch + out.shape:
            raise ShapeError(f"vjp: cotangent shape {ct.shape} differs from the output shape {out.shape} "
                             f"(after batch axes {batch})")
        adjoint[id(out)] = adjoint[id(out)] + ct if id(out) in adjoint else ct
    for node in reversed(order):
        g = adjoint.get(id(node))
        if g is None or node.op in ("input", "constant"):
            continue
        wanted = [id(i) in live and i.dtype in FLOAT_DTYPES for i in node.inputs]
        if not any(wanted):
            continue
        rule = OPS[node.op].vjp
        if rule is None:
            continue
        for inp, want, gi in zip(node.inputs, wanted, rule(g, node, *node.inputs, **dict(node.attrs))):
            if not want or gi is None:
                continue
            gi = unbroadcast(gi, inp.shape, batch)
            if gi.dtype != inp.dtype:
                gi = cast(gi, inp.dtype)
            adjoint[id(inp)] = adjoint[id(inp)] + gi if id(inp) in adjoint else gi
    return adjoint


def _scalar_derivative(y: Node, x: Node) -> Node | None:
    """dy/dx for a single-entry ``x`` by forward mode, simplified: a tangent depends only on its node, so gradients
    of gradients share their nodes across orders and nested ``grad`` stays polynomial (as ``sd.derivative``)."""
    from ..rewrite import simplify
    from .forward import tangent_graph

    tangent = tangent_graph([y], [x], [ones(x.shape, x.dtype)]).get(id(y))
    return None if tangent is None else simplify(reshape(tangent, x.shape))


def grad(y: Node, wrt: Node | Sequence[Node], *, disconnected: str = "zero") -> Node | list[Node]:
    """Gradient graph(s) of the scalar ``y`` with respect to ``wrt`` (a node or a list of nodes).

    ``disconnected="zero"`` gives zeros for inputs ``y`` does not depend on; ``"raise"`` raises
    :class:`DisconnectedInputError` instead. Returns a node when ``wrt`` is a node, else a list.
    """
    if not isinstance(y, Node):
        raise TypeError(f"grad: y must be a symdiff node, got {type(y).__name__}")
    if y.shape != ():
        raise ShapeError(f"grad: y must be a scalar (shape ()), got shape {y.shape}; use sd.vjp or sd.jacobian "
                         "for non-scalar outputs, or reduce it with sd.sum/sd.mean")
    if y.dtype not in FLOAT_DTYPES:
        raise TypeError(f"grad: y must be floating point, got {y.dtype}")
    if disconnected not in ("zero", "raise"):
        raise ValueError(f"grad: disconnected must be 'zero' or 'raise', got {disconnected!r}")
    single = isinstance(wrt, Node)
    targets = [wrt] if single else list(wrt)
    for t in targets:
        if not isinstance(t, Node):
            raise TypeError(f"grad: wrt entries must be symdiff nodes, got {type(t).__name__}")
        if t.dtype not in FLOAT_DTYPES:
            raise TypeError(f"grad: cannot differentiate with respect to {t!r}: its dtype is {t.dtype}")
    if single and size_of(wrt.shape) == 1:
        adjoint = {id(wrt): g for g in [_scalar_derivative(y, wrt)] if g is not None}
    else:
        adjoint = vjp_graph([y], [constant(1, y.dtype)], targets)
    grads = []
    for t in targets:
        g = adjoint.get(id(t))
        if g is None:
            if disconnected == "raise":
                raise DisconnectedInputError(f"grad: the output does not depend on {t!r}")
            g = zeros(t.shape, t.dtype)
        grads.append(g)
    return grads[0] if single else grads
