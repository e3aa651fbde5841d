"""Matrix products: 2-D and batched matmul with NumPy semantics (1-D operands promoted)."""

from __future__ import annotations

import numpy as np

from ..ir import Node, ShapeError, broadcast_shapes
from . import reductions
from .convert import as_node, promote
from .elementwise import cast
from .registry import defop, make
from .shape_ops import expand_dims, reshape, swapaxes


def _matmul_rule(inputs, attrs):
    a, b = inputs
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                         f"(inner dims {a.shape[-1]!r} and {b.shape[-2]!r} differ)")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2], what="matmul batch dims")
    return batch + (a.shape[-2], b.shape[-1]), a.dtype


def _matmul_vjp(g, out, a, b):
    return matmul(g, swapaxes(b, -1, -2)), matmul(swapaxes(a, -1, -2), g)


defop("matmul", "matmul", _matmul_rule, np.matmul, vjp=_matmul_vjp)


def matmul(a, b) -> Node:
    """``a @ b``: matrix product, batched over leading dims; 1-D operands act as row/column vectors. NumPy's dtype:
    integer and bool products are exact (see :func:`_product`)."""
    a, b = as_node(a), as_node(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must be at least 1-d, got shapes {a.shape} and {b.shape}")
    dtype = promote(a.dtype, b.dtype)
    a, b = cast(a, dtype), cast(b, dtype)
    if a.ndim == 1 or b.ndim == 1:
        if (a.shape[-1] != b.shape[0]) if b.ndim == 1 else (a.shape[-1] != b.shape[-2]):
            raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} are not aligned")
        a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
        b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
        full = _product(a2, b2)
        drop = ([full.ndim - 2] if a.ndim == 1 else []) + ([full.ndim - 1] if b.ndim == 1 else [])
        return reshape(full, [d for i, d in enumerate(full.shape) if i not in drop])
    return _product(a, b)


def _product(a: Node, b: Node) -> Node:
    """The product of two matrices (or batches of them) of one dtype: the matmul op for floats. Integer and bool
    products are computed as NumPy computes them: the terms ``a_ik * b_kj`` (a bool's: a_ik and b_kj) summed over k
    by one reduction, no float BLAS (float64 lost integers beyond 2^53); int32 and int64 wrap as NumPy's, and a bool
    entry is whether any term is true. A compiled kernel adds each term as its loop makes it."""
    if a.dtype in ("float32", "float64"):
        return make("matmul", [a, b])
    _matmul_rule((a, b), {})  # the shapes checked as the op checks them
    terms = expand_dims(a, -1) * expand_dims(b, -3)  # (..., m, k, 1) * (..., 1, k, n)
    return cast(reductions.sum(terms, axis=-2), a.dtype)


def dot(a, b) -> Node:
    """Alias of :func:`matmul` for 1-D/2-D operands."""
    return matmul(a, b)
