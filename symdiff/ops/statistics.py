"""NumPy reductions built from the op table: var, std, prod, argmax, argmin (no new op records, so every
derivative, both lowerings and the reference evaluator come from the ops they are made of)."""

from __future__ import annotations

import functools
import operator

import numpy as np

from ..ir import Node, ShapeError, normalize_axes
from .binary import equal, maximum, not_equal, where
from .convert import as_node
from .elementwise import sqrt, to_float
from .indexing import concatenate
from .reductions import accumulated, count, max, mean, min, sum
from .registry import constant
from .shape_ops import broadcast_to, expand_dims, reshape


def var(x, axis=None, ddof: int = 0, keepdims: bool = False) -> Node:
    """Variance over ``axis`` (all axes by default): ``sum((x - mean)^2) / max(count - ddof, 0)``, NumPy's two-pass
    form (inf or nan when ``ddof`` is at least the count, as in NumPy)."""
    x = to_float(as_node(x))
    centred = x - mean(x, axis, keepdims=True)
    divisor = count(x, axis, x.dtype) - float(ddof)
    return sum(centred * centred, axis, keepdims) / (maximum(divisor, 0.0) if ddof > 0 else divisor)


def std(x, axis=None, ddof: int = 0, keepdims: bool = False) -> Node:
    """Standard deviation over ``axis``: ``sqrt(var(x, axis, ddof))``."""
    return sqrt(var(x, axis, ddof, keepdims))


def concrete_axis(x: Node, axis: int, what: str) -> tuple[int, int]:
    (axis,) = normalize_axes(axis, x.ndim, what)
    n = x.shape[axis]
    if isinstance(n, str):
        raise ShapeError(f"{what}: axis {axis} of {x.shape} is the named dim {n!r}; it needs a concrete axis")
    return axis, n


def prod(x, axis=None, keepdims: bool = False) -> Node:
    """Product over ``axis`` (concrete axes): a product of slices, so the gradient is exact with zeros in ``x``;
    NumPy's dtype (bool and int32 multiply in int64)."""
    x = accumulated(as_node(x))
    axes = normalize_axes(axis, x.ndim, "prod")
    result = x
    for a in sorted(axes, reverse=True):
        a, n = concrete_axis(result, a, "prod")
        factors = [result[(slice(None),) * a + (slice(k, k + 1),)] for k in range(n)]
        result = functools.reduce(operator.mul, factors) if factors else \
            broadcast_to(constant(1, result.dtype), result.shape[:a] + (1,) + result.shape[a + 1:])  # empty product
    return result if keepdims else reshape(result, tuple(d for a, d in enumerate(result.shape) if a not in axes))


def _arg_extremum(x, axis, reduce, what: str) -> Node:
    x = as_node(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis, n = concrete_axis(x, axis, what)
    best = reduce(x, axis, keepdims=True)
    hit = equal(x, best)
    if x.dtype in ("float32", "float64"):
        hit = where(not_equal(x, x), constant(True), hit)  # a nan is the extremum (NumPy returns its first one)
    positions = constant(np.arange(n, dtype=np.int64).reshape((n,) + (1,) * (x.ndim - axis - 1)))
    return min(where(hit, positions, constant(np.int64(n))), axis)


def argmax(x, axis: int | None = None) -> Node:
    """Index of the first maximum along ``axis`` (of the flattened array when None); int64, no derivative."""
    return _arg_extremum(x, axis, max, "argmax")


def argmin(x, axis: int | None = None) -> Node:
    """Index of the first minimum along ``axis`` (of the flattened array when None); int64, no derivative."""
    return _arg_extremum(x, axis, min, "argmin")


def stack(xs, axis: int = 0) -> Node:
    """Join tensors of one shape along a new axis."""
    xs = [as_node(x) for x in xs]
    if not xs:
        raise ValueError("stack: need at least one tensor")
    shapes = {x.shape for x in xs}
    if len(shapes) > 1:
        raise ShapeError(f"stack: all tensors need one shape, got {sorted(map(str, shapes))}")
    (axis,) = normalize_axes(axis, xs[0].ndim + 1, "stack")
    return concatenate([expand_dims(x, axis) for x in xs], axis=axis)


def relu(x) -> Node:
    """``max(x, 0)``; relu'(0) = 1/2 (the midpoint convention at every kink)."""
    return maximum(to_float(as_node(x)), 0.0)

