"""Matrix products: 2-D and batched matmul with NumPy semantics (1-D operands promoted)."""

from __future__ import annotations

import numpy as np

from ..ir import Node, ShapeError, broadcast_shapes
from .convert import as_node, promote
from .elementwise import cast
from .registry import defop, make
from .shape_ops import reshape, swapaxes


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
    """``a @ b``: matrix product, batched over leading dims; 1-D operands act as row/column vectors."""
    a, b = as_node(a), as_node(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must be at least 1-d, got shapes {a.shape} and {b.shape}")
    dtype = promote(a.dtype, b.dtype)
    if dtype not in ("float32", "float64"):
        dtype = "float64"
    a, b = cast(a, dtype), cast(b, dtype)
    if a.ndim == 1 or b.ndim == 1:
        if (a.shape[-1] != b.shape[0]) if b.ndim == 1 else (a.shape[-1] != b.shape[-2]):
            raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} are not aligned")
        a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
        b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
        full = make("matmul", [a2, b2])
        drop = ([full.ndim - 2] if a.ndim == 1 else []) + ([full.ndim - 1] if b.ndim == 1 else [])
        return reshape(full, [d for i, d in enumerate(full.shape) if i not in drop])
    return make("matmul", [a, b])


def dot(a, b) -> Node:
    """Alias of :func:`matmul` for 1-D/2-D operands."""
    return matmul(a, b)
