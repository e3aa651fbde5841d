"""Derivatives built from the two walkers: vjp, jacobian, hessian, hvp and n-th derivatives.

Everything here composes :func:`~symdiff.autodiff.reverse.vjp_graph` (reverse mode) and
:func:`~symdiff.autodiff.forward.tangent_graph` (forward mode); no op-specific code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..ir import FLOAT_DTYPES, Node, ShapeError, inputs_of, size_of
from ..ops import constant, eye, ones, reshape, transpose, zeros
from ..rewrite import simplify
from .forward import check_pairs, jvp, tangent_graph
from .reverse import grad, vjp_graph


def vjp(outputs: Node | Sequence[Node], wrt: Node | Sequence[Node],
        cotangents: Node | Sequence[Node]) -> Node | list[Node]:
    """Reverse mode: ``cotangents @ J``, the cotangent of each ``wrt`` tensor (a node for a node, a list for a list).

    ``cotangents`` pair with ``outputs`` (same shapes). Inputs the outputs do not depend on get zeros.
    """
    outs = [outputs] if isinstance(outputs, Node) else list(outputs)
    cts = [cotangents] if isinstance(cotangents, Node) else list(cotangents)
    single = isinstance(wrt, Node)
    targets = [wrt] if single else list(wrt)
    check_pairs("vjp", "cotangent", outs, cts)
    for t in targets:
        if not isinstance(t, Node) or t.dtype not in FLOAT_DTYPES:
            raise TypeError(f"vjp: wrt entries must be floating-point symdiff nodes, got {t!r}")
    adjoint = vjp_graph(outs, cts, targets)
    results = [adjoint[id(t)] if id(t) in adjoint else zeros(t.shape, t.dtype) for t in targets]
    return results[0] if single else results


def jacobian(y: Node, x: Node, mode: str = "auto") -> Node:
    """The Jacobian ``dy/dx`` with shape ``y.shape + x.shape`` (any shapes; 0-d ``y`` gives the gradient).

    Vectorized: one reverse pass carries every row at once (``mode="reverse"``: the cotangents of ``y`` are the
    identity, with one leading axis of ``y.size`` entries), or one forward pass every column (``mode="forward"``);
    ``"auto"`` picks reverse when ``y`` has at most as many entries as ``x``. The graph's size does not grow with
    the number of entries; the side the pass seeds must have concrete dims.
    """
    for name, node in (("y", y), ("x", x)):
        if not isinstance(node, Node) or node.dtype not in FLOAT_DTYPES:
            raise TypeError(f"jacobian: {name} must be a floating-point symdiff node, got {node!r}")
    if mode not in ("auto", "reverse", "forward"):
        raise ValueError(f"jacobian: mode must be 'auto', 'reverse' or 'forward', got {mode!r}")
    ny, nx = size_of(y.shape), size_of(x.shape)
    if mode == "auto":
        if ny is None and nx is None:
            raise ShapeError(f"jacobian: y {y.shape} and x {x.shape} both have named dims; one side must be concrete")
        mode = "reverse" if nx is None or ny is not None and ny <= nx else "forward"
    seeded, n = (y, ny) if mode == "reverse" else (x, nx)
    if n is None:
        raise ShapeError(f"jacobian: {mode} mode seeds {seeded.shape}, which has named dims; use the other mode")
    seed = reshape(eye(n, seeded.dtype), (n,) + seeded.shape)
    if mode == "reverse":
        rows = vjp_graph([y], [seed], [x], batch=(n,)).get(id(x))
        rows = zeros((n,) + x.shape, x.dtype) if rows is None else rows
        return reshape(rows, y.shape + x.shape)
    columns = tangent_graph([y], [x], [seed], batch=(n,)).get(id(y))
    columns = zeros((n,) + y.shape, y.dtype) if columns is None else columns  # (x entries,) + y.shape
    return reshape(transpose(columns, tuple(range(1, y.ndim + 1)) + (0,)), y.shape + x.shape)


def hessian(f: Node, x: Node) -> Node:
    """The Hessian of the scalar ``f`` with respect to ``x`` (vector, matrix, any shape): ``x.shape + x.shape``."""
    _check_scalar("hessian", f)
    if not isinstance(x, Node) or size_of(x.shape) is None:
        raise ShapeError(f"hessian: x must be a node with concrete dims, got {x!r}")
    return jacobian(grad(f, x), x)


def hvp(f: Node, x: Node, v: Node) -> Node:
    """The Hessian of the scalar ``f`` at ``x`` applied to ``v`` (shape of ``x``), without forming the Hessian.

    Forward-over-reverse: the tangent of ``grad(f, x)`` along ``v``, one forward pass over the gradient graph.
    """
    _check_scalar("hvp", f)
    check_pairs("hvp", "direction", [x], [v])
    return jvp(grad(f, x), x, v)


def derivative(f: Node, x: Node, order: int = 1, mode: str = "symbolic") -> Node:
    """The ``order``-th derivative of ``f`` with respect to ``x``: ``x`` is a scalar (``f`` of any shape), or a
    tensor that ``f`` is elementwise in (``f`` of ``x``'s shape, each entry depending only on the same entry of
    ``x``, e.g. a function evaluated at many points along a named dim): then the result is the entrywise derivative.

    ``mode="symbolic"``: repeated forward mode with :func:`~symdiff.rewrite.simplify` after each order; tangents
    depend only on their node, so every order reuses the previous orders' nodes and graphs grow polynomially, and
    the result prints as a formula. ``mode="taylor"``: ``order! * taylor(f, x, order)[order]``, one Taylor-mode
    pass whose graph does not grow with the order (:func:`~symdiff.autodiff.taylor.taylor`): the road for high
    orders.
    """
    check_derivative_arguments("derivative", f, x, order)
    if mode == "taylor":
        from .taylor import taylor

        return taylor(f, x, order)[order] * float(math.factorial(order))
    if mode != "symbolic":
        raise ValueError(f"derivative: mode must be 'symbolic' or 'taylor', got {mode!r}")
    one = constant(1.0, x.dtype) if x.shape == () else ones(x.shape, x.dtype)
    for _ in range(order):
        f = simplify(jvp(f, x, one))
    return f


def check_derivative_arguments(who: str, f: Node, x: Node, order: object) -> None:
    """``x`` a floating-point tensor that ``f`` is elementwise in (or a scalar), ``order`` a non-negative int."""
    if not isinstance(x, Node) or x.dtype not in FLOAT_DTYPES:
        raise ShapeError(f"{who}: x must be a floating-point tensor, got {x!r}")
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise ValueError(f"{who}: order must be a non-negative int, got {order!r}")
    if x.shape != ():
        _check_elementwise(f, x)


def _check_elementwise(f: Node, x: Node) -> None:
    """``f`` has ``x``'s shape and each of its entries reads only the same entry of ``x`` (structurally, at three
    entries per named dim), else a ShapeError saying to use a Jacobian."""
    from .sparsity import jacobian_sparsity

    if not isinstance(f, Node) or f.shape != x.shape:
        raise ShapeError(f"derivative: with a non-scalar x, f must have x's shape {x.shape} (one value per entry "
                         f"of x), got {getattr(f, 'shape', f)!r}; use sd.jacobian for other shapes")
    if x.op != "input":
        raise ShapeError(f"derivative: a non-scalar x must be an input tensor (sd.tensor), got a {x.op} node")
    names = {d for n in inputs_of([f, x]) for d in n.shape if isinstance(d, str)}
    pattern = jacobian_sparsity(f, x, dict.fromkeys(names, 3)).tocoo()
    crossing = pattern.row != pattern.col
    if crossing.any():
        raise ShapeError(f"derivative: f is not elementwise in x: entry {int(pattern.row[crossing][0])} of f "
                         f"depends on entry {int(pattern.col[crossing][0])} of x (entries in C order, with named dims "
                         "of size 3); use sd.jacobian")


def _check_scalar(who: str, f: Node) -> None:
    if not isinstance(f, Node) or f.shape != () or f.dtype not in FLOAT_DTYPES:
        raise ShapeError(f"{who}: f must be a floating-point scalar (shape ()), got {f!r}")

