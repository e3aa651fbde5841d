"""Shape ops: reshape, transpose/permute, broadcast_to, and expand_dims/squeeze built on reshape.

Target shapes may contain named dims; consumers resolve them when values are bound.
"""

from __future__ import annotations

import numpy as np

from ..ir import Node, Shape, ShapeError, broadcast_shapes, normalize_axes, normalize_shape, size_of
from .convert import as_node
from .registry import defop, make


def _reshape_rule(inputs, attrs):
    (x,) = inputs
    shape = attrs["shape"]
    if _named_multiset(x.shape) != _named_multiset(shape):
        raise ShapeError(f"reshape: named dims of {x.shape} and {shape} must match")
    # with the same named dims on both sides, the sizes agree exactly when the concrete parts do
    before, after = _concrete_size(x.shape), _concrete_size(shape)
    if before != after:
        raise ShapeError(f"reshape: cannot reshape {x.shape} into {shape}: the concrete dims hold {before} "
                         f"elements{' per combination of named dims' if _named_multiset(shape) else ''} "
                         f"on the left and {after} on the right")
    return shape, x.dtype


def _concrete_size(shape: Shape) -> int:
    return int(np.prod([d for d in shape if isinstance(d, int)], dtype=np.int64))


def _named_multiset(shape: Shape) -> list[str]:
    return sorted(d for d in shape if isinstance(d, str))


defop(
    "reshape", "shape", _reshape_rule, lambda x, shape: np.reshape(x, shape),
    vjp=lambda g, out, x, shape: (reshape(g, g.shape[:g.ndim - out.ndim] + x.shape),),
)


def reshape(x, shape) -> Node:
    """``x`` with a new shape of the same size; one ``-1`` is inferred from the concrete dims when the named dims
    on both sides are the same (``reshape(x, ("batch", -1, 3))`` for ``x`` of shape ``("batch", 12)``)."""
    x = as_node(x)
    shape = tuple(shape) if not isinstance(shape, int | str) else (shape,)
    if -1 in shape:
        if shape.count(-1) > 1:
            raise ShapeError(f"reshape: at most one -1 in {shape}")
        named = sorted(d for d in x.shape if isinstance(d, str))
        total = size_of(tuple(d for d in x.shape if not isinstance(d, str)))
        rest = size_of(tuple(d for d in shape if d != -1 and not isinstance(d, str)))
        if named != sorted(d for d in shape if isinstance(d, str)) or not rest or total % rest:
            raise ShapeError(f"reshape: cannot infer the -1 in {shape} from {x.shape}")
        shape = tuple(total // rest if d == -1 else d for d in shape)
    shape = normalize_shape(shape, "reshape")
    if shape == x.shape:
        return x
    if x.op == "reshape":
        x = x.inputs[0]
        if shape == x.shape:
            return x
    return make("reshape", [x], shape=shape)


def _permute_rule(inputs, attrs):
    (x,) = inputs
    perm = attrs["perm"]
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {perm} are not a permutation of a {x.ndim}-d tensor's axes")
    return tuple(x.shape[p] for p in perm), x.dtype


defop(
    "transpose", "shape", _permute_rule, lambda x, perm: np.transpose(x, perm),
    vjp=lambda g, out, x, perm: (_transpose_back(g, perm, g.ndim - out.ndim),),
)


def _transpose_back(g: Node, perm: tuple[int, ...], lead: int) -> Node:
    """The inverse permutation of ``perm`` on ``g``'s last axes (``lead`` leading axes stay)."""
    return transpose(g, tuple(range(lead)) + tuple(lead + int(i) for i in np.argsort(perm)))


def transpose(x, axes=None) -> Node:
    """Permute axes (reverse them by default); ``x.T`` is ``transpose(x)``. A view in compiled code."""
    x = as_node(x)
    perm = tuple(range(x.ndim))[::-1] if axes is None else tuple(a % max(x.ndim, 1) for a in axes)
    if perm == tuple(range(x.ndim)):
        return x
    if x.op == "transpose":  # fold transpose of transpose into one permutation
        inner = x.attr("perm")
        return transpose(x.inputs[0], tuple(inner[p] for p in perm))
    return make("transpose", [x], perm=perm)


def swapaxes(x, a: int, b: int) -> Node:
    """Exchange two axes."""
    x = as_node(x)
    perm = list(range(x.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


def _broadcast_rule(inputs, attrs):
    (x,) = inputs
    shape = attrs["shape"]
    if broadcast_shapes(x.shape, shape, what="broadcast_to") != shape:
        raise ShapeError(f"broadcast_to: cannot broadcast {x.shape} to {shape}")
    return shape, x.dtype


defop(
    "broadcast_to", "elementwise", _broadcast_rule, lambda x, shape: np.broadcast_to(x, shape),
    vjp=lambda g, out, x, shape: (g,), sympy=lambda sp, a, shape: a, kernel=("identity",),
)


def broadcast_to(x, shape) -> Node:
    """``x`` broadcast to ``shape`` (NumPy rules; named dims allowed)."""
    x = as_node(x)
    shape = normalize_shape(shape, "broadcast_to")
    return x if shape == x.shape else make("broadcast_to", [x], shape=shape)


def expand_dims(x, axis) -> Node:
    """Insert length-1 axes at ``axis`` (positions in the result)."""
    x = as_node(x)
    axes = normalize_axes(axis, x.ndim + (1 if isinstance(axis, int) else len(axis)), "expand_dims")
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, shape)


def squeeze(x, axis=None) -> Node:
    """Remove length-1 axes (all of them by default)."""
    x = as_node(x)
    axes = [a for a, d in enumerate(x.shape) if d == 1] if axis is None else normalize_axes(axis, x.ndim)
    for a in axes:
        if x.shape[a] != 1:
            raise ShapeError(f"squeeze: axis {a} of {x.shape} has length {x.shape[a]}, not 1")
    return reshape(x, [d for a, d in enumerate(x.shape) if a not in axes])
