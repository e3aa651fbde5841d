"""Numerically stable composites built from primitives: logsumexp, softmax, log_softmax.

Each shifts by the (gradient-stopped) maximum. These functions are invariant under
that shift, so treating it as a constant gives the exact derivative at every order
while keeping derivative graphs small.
"""

from __future__ import annotations

from ..ir import Node
from .binary import where
from .convert import as_node
from .elementwise import abs, exp, log, stop_gradient, to_float
from .reductions import max, sum
from .shape_ops import squeeze


def _shift(x: Node, axis: int) -> Node:
    return stop_gradient(max(x, axis=axis, keepdims=True))


def logsumexp(x, axis: int = -1, keepdims: bool = False) -> Node:
    """``log(sum(exp(x), axis))``, computed without overflow; ``-inf`` for an all ``-inf`` row and ``+inf`` for
    a row holding ``+inf`` (as SciPy, JAX and PyTorch; the gradient there is JAX's)."""
    x = to_float(as_node(x))
    m = _shift(x, axis)
    m = where(abs(m) < float("inf"), m, 0.0)  # an infinite max would make x - m nan; shifting by 0 is exact there
    out = log(sum(exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else squeeze(out, axis)


def softmax(x, axis: int = -1) -> Node:
    """``exp(x) / sum(exp(x))`` along ``axis``, computed without overflow."""
    x = to_float(as_node(x))
    e = exp(x - _shift(x, axis))
    return e / sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis: int = -1) -> Node:
    """``log(softmax(x))`` along ``axis``, without overflow or log(0)."""
    x = to_float(as_node(x))
    z = x - _shift(x, axis)
    return z - log(sum(exp(z), axis=axis, keepdims=True))
