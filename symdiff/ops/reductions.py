"""Reductions over axes: sum, max, min, and the element count that mean divides by."""

from __future__ import annotations

import numpy as np

from ..ir import Node, ShapeError, normalize_axes
from .binary import equal
from .convert import as_node
from .elementwise import cast, to_float
from .registry import constant, defop, make
from .shape_ops import broadcast_to, reshape


def _reduce_rule(inputs, attrs):
    (x,) = inputs
    axes, keepdims = attrs["axes"], attrs["keepdims"]
    shape = tuple(1 if a in axes else d for a, d in enumerate(x.shape) if keepdims or a not in axes)
    return shape, x.dtype


def kept(g: Node, x: Node, axes: tuple[int, ...], lead: int = 0) -> Node:
    """``g`` (a reduction of ``x`` over ``axes``, after ``lead`` leading axes of its own) reshaped with the reduced
    axes kept as length 1."""
    return reshape(g, g.shape[:lead] + tuple(1 if a in axes else d for a, d in enumerate(x.shape)))


# VJP rules take cotangents with leading axes of their own (a batch of cotangents: vectorized Jacobians); the
# rules that address axes count them from the cotangent's end.
def _sum_vjp(g, out, x, axes, keepdims):
    lead = g.ndim - out.ndim
    return (broadcast_to(kept(g, x, axes, lead), g.shape[:lead] + x.shape),)


def _extremum_vjp(g, out, x, axes, keepdims):
    # Ties share the gradient equally: the midpoint convention used at every kink.
    mask = cast(equal(x, kept(out, x, axes)), x.dtype)
    count = make("sum", [mask], axes=axes, keepdims=True)
    return (mask * (kept(g, x, axes, g.ndim - out.ndim) / count),)


defop("sum", "reduction", _reduce_rule, lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims),
      vjp=_sum_vjp)
def empty_extremum_message(op: str, axes: tuple[int, ...], shape: tuple) -> str:
    """The error for a max/min over no elements (the reference evaluator and compiled kernels raise it alike)."""
    return f"{op}: the {op}imum of no elements is undefined (reducing axes {axes} of a tensor of shape {shape})"


def _extremum_rule(inputs, attrs, op: str):
    (x,) = inputs
    if any(x.shape[a] == 0 for a in attrs["axes"]):
        raise ShapeError(empty_extremum_message(op, attrs["axes"], x.shape))
    return _reduce_rule(inputs, attrs)


def _extremum(reduce, op: str):
    def numpy(x, axes, keepdims):
        if any(x.shape[a] == 0 for a in axes):  # NumPy's own message names no axis or shape
            raise ValueError(empty_extremum_message(op, axes, x.shape))
        return reduce(x, axis=axes, keepdims=keepdims)
    return numpy


for _op, _reduce in (("max", np.max), ("min", np.min)):
    defop(_op, "reduction", lambda inputs, attrs, op=_op: _extremum_rule(inputs, attrs, op), _extremum(_reduce, _op),
          vjp=_extremum_vjp)


def accumulated(x: Node) -> Node:
    """``x`` in the dtype NumPy's sum, prod and cumsum add or multiply it in: bool and int32 in int64."""
    return cast(x, "int64") if x.dtype in ("bool", "int32") else x


def _reduction(name: str, doc: str):
    def build(x, axis=None, keepdims: bool = False) -> Node:
        x = accumulated(as_node(x)) if name == "sum" else as_node(x)
        axes = normalize_axes(axis, x.ndim, name)
        if not axes:
            return x
        return make(name, [x], axes=axes, keepdims=bool(keepdims))

    build.__name__ = build.__qualname__ = name  # Python's argument errors name the op
    build.__doc__ = doc
    return build


sum = _reduction("sum", "Sum over ``axis`` (all axes by default), NumPy semantics.")  # noqa: A001
max = _reduction("max", "Maximum over ``axis``; tied maxima share the gradient equally.")  # noqa: A001
min = _reduction("min", "Minimum over ``axis``; tied minima share the gradient equally.")  # noqa: A001


def _count(x: np.ndarray, axes: tuple[int, ...], dtype: str) -> np.ndarray:
    return np.asarray(np.prod([x.shape[a] for a in axes]), dtype=dtype)


defop("count", "reduction", lambda inputs, attrs: ((), attrs["dtype"]), _count)


def count(x, axis=None, dtype: str = "float64") -> Node:
    """Number of elements of ``x`` over ``axis`` (works for named dims; no gradient)."""
    x = as_node(x)
    axes = normalize_axes(axis, x.ndim, "count")
    sizes = [x.shape[a] for a in axes]
    if all(isinstance(d, int) for d in sizes):
        return constant(int(np.prod(sizes)), dtype)
    return make("count", [x], axes=axes, dtype=dtype)


def mean(x, axis=None, keepdims: bool = False) -> Node:
    """Arithmetic mean over ``axis``."""
    x = to_float(as_node(x))
    return sum(x, axis, keepdims) / count(x, axis, x.dtype)
