"""Indexing: basic slicing (``x[1:3, :, 0]``), gather by integer labels (take_along_axis),
their transposes (used by the derivatives), concatenate and one_hot."""

from __future__ import annotations

import numpy as np

from ..ir import Node, ShapeError, is_integer, normalize_axes
from .binary import equal
from .convert import as_node, promote
from .elementwise import cast
from .registry import constant, defop, make
from .shape_ops import reshape

Triple = tuple[int, "int | None", int]


def _slices(index: tuple[Triple, ...]) -> tuple[slice, ...]:
    return tuple(slice(*t) for t in index)


def _slice_len(dim, t: Triple):
    start, stop, step = t
    if isinstance(dim, str):
        return dim
    return len(range(dim)[slice(start, stop, step)])


def _slice_rule(inputs, attrs):
    x = inputs[0]
    return tuple(_slice_len(d, t) for d, t in zip(x.shape, attrs["index"])), x.dtype


def _pad_rule(inputs, attrs):
    return attrs["shape"], inputs[0].dtype


def _pad(g: np.ndarray, shape, index) -> np.ndarray:
    out = np.zeros(shape, dtype=g.dtype)
    out[_slices(index)] = g
    return out


_WHOLE: Triple = (0, None, 1)


def _lead(g: Node, out: Node) -> int:
    """Leading axes a cotangent has beyond the output's (a batch of cotangents: vectorized Jacobians)."""
    return g.ndim - out.ndim


def _slice_vjp(g, out, x, index):
    lead = _lead(g, out)
    return (make("pad_slice", [g], shape=g.shape[:lead] + x.shape, index=(_WHOLE,) * lead + index),)


defop("slice", "index", _slice_rule, lambda x, index: x[_slices(index)], vjp=_slice_vjp)
defop("pad_slice", "index", _pad_rule, _pad,
      vjp=lambda g, out, x, shape, index: (make("slice", [g], index=(_WHOLE,) * _lead(g, out) + index),))


def _normalize_slice(s: slice, dim, axis: int) -> Triple:
    if isinstance(dim, str):
        if s.start not in (None, 0) or s.stop is not None or s.step not in (None, 1):
            raise ShapeError(f"indexing: axis {axis} has the named dim {dim!r}; only ':' can slice it")
        return (0, None, 1)
    start, stop, step = s.indices(dim)
    return (start, None if stop < 0 else stop, step)


def getitem(x, index) -> Node:
    """Basic NumPy indexing: ints, slices, ``None`` and ``...``. Use take_along_axis to gather by labels."""
    x = as_node(x)
    items = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, Node | list | np.ndarray) for i in items):
        raise TypeError("indexing with arrays is not supported; use sd.take_along_axis(x, labels, axis)")
    if items.count(Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    if used > x.ndim:
        raise IndexError(f"too many indices for a {x.ndim}-d tensor of shape {x.shape}: {index!r}")
    if Ellipsis in items:
        k = items.index(Ellipsis)
        items = items[:k] + (slice(None),) * (x.ndim - used) + items[k + 1:]
        used = x.ndim
    items = items + (slice(None),) * (x.ndim - used)
    triples, shape, axis = [], [], 0
    for item in items:
        if item is None:
            shape.append(1)
            continue
        dim = x.shape[axis]
        if isinstance(item, slice):
            t = _normalize_slice(item, dim, axis)
            shape.append(_slice_len(dim, t))
        elif isinstance(item, int | np.integer):
            if isinstance(dim, str):  # as slicing says: its size is known only when the function is called
                raise ShapeError(f"indexing: axis {axis} has the named dim {dim!r}; only ':' can slice it, so "
                                 f"index {item} cannot pick one of its entries")
            if not -dim <= item < dim:
                raise IndexError(f"index {item} is out of bounds for axis {axis} with size {dim}")
            t = (int(item) % dim, int(item) % dim + 1, 1)
        else:
            raise TypeError(f"unsupported index {item!r} of type {type(item).__name__}")
        triples.append(t)
        axis += 1
    sliced = x
    if any(t != (0, None, 1) and t != (0, d, 1) for t, d in zip(triples, x.shape)):
        sliced = make("slice", [x], index=tuple(triples))
    return reshape(sliced, shape)


def _gather_rule(inputs, attrs):
    x, idx = inputs
    if idx.dtype not in ("int32", "int64"):
        raise TypeError(f"take_along_axis: indices must be integers, got {idx.dtype}")
    if idx.ndim != x.ndim:
        raise ShapeError(f"take_along_axis: indices {idx.shape} and values {x.shape} need the same number of dims")
    axis = attrs["axis"]
    for a, (dx, di) in enumerate(zip(x.shape, idx.shape)):
        if a != axis and dx != di and di != 1:
            raise ShapeError(f"take_along_axis: indices {idx.shape} do not match values {x.shape} on axis {a}")
    return tuple(di if a == axis else dx for a, (dx, di) in enumerate(zip(x.shape, idx.shape))), x.dtype


def out_of_range_message(op: str, axis: int, bound) -> str:
    """The error for an index outside ``[0, bound)`` (the reference evaluator and compiled kernels raise it alike;
    negative indices do not wrap around)."""
    return f"{op}: an index is out of range [0, {bound}) on axis {axis}"


def check_range(idx: np.ndarray, bound: int, op: str, axis: int) -> np.ndarray:
    """``idx``, after checking every entry lies in ``[0, bound)`` (IndexError naming the first bad one)."""
    bad = (idx < 0) | (idx >= bound)
    if np.any(bad):
        raise IndexError(f"{out_of_range_message(op, axis, bound)}: got {idx[bad].flat[0]}")
    return idx


def _take_along_axis(x: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    return np.take_along_axis(x, check_range(idx, x.shape[axis], "take_along_axis", axis), axis)


def _scatter_add(g: np.ndarray, idx: np.ndarray, axis: int, shape) -> np.ndarray:
    check_range(idx, shape[axis], "scatter_add", axis)
    out = np.zeros(shape, dtype=g.dtype)
    grid = list(np.ix_(*(np.arange(n) for n in g.shape)))
    grid[axis] = np.broadcast_to(idx, g.shape)
    np.add.at(out, tuple(grid), g)
    return out


def _lifted(idx: Node, lead: int) -> Node:
    """Indices with ``lead`` leading axes of length 1, to index a batch of cotangents."""
    return reshape(idx, (1,) * lead + idx.shape)


def _gather_vjp(g, out, x, idx, axis):
    lead = _lead(g, out)
    return make("scatter_add", [g, _lifted(idx, lead)], axis=axis + lead, shape=g.shape[:lead] + x.shape), None


def _scatter_vjp(g, out, upd, idx, axis, shape):
    lead = _lead(g, out)
    return make("take_along_axis", [g, _lifted(idx, lead)], axis=axis + lead), None


defop("take_along_axis", "index", _gather_rule, _take_along_axis, vjp=_gather_vjp)
defop("scatter_add", "index", lambda inputs, attrs: (attrs["shape"], inputs[0].dtype), _scatter_add,
      vjp=_scatter_vjp)


def take_along_axis(x, indices, axis: int) -> Node:
    """``np.take_along_axis``: pick entries of ``x`` along ``axis`` by integer ``indices`` (e.g. class labels)."""
    x, indices = as_node(x), as_node(indices)
    (axis,) = normalize_axes(axis, x.ndim, "take_along_axis")
    return make("take_along_axis", [x, indices], axis=axis)


def _concat_rule(inputs, attrs):
    axis = attrs["axis"]
    first = inputs[0]
    total = 0
    for node in inputs:
        off_axis = any(a != axis and d != e for a, (d, e) in enumerate(zip(node.shape, first.shape)))
        if node.ndim != first.ndim or off_axis:
            raise ShapeError(f"concatenate: shapes {[n.shape for n in inputs]} differ off axis {axis}")
        if isinstance(node.shape[axis], str):
            raise ShapeError(f"concatenate: axis {axis} is the named dim {node.shape[axis]!r}; it must be concrete")
        total += node.shape[axis]
    return first.shape[:axis] + (total,) + first.shape[axis + 1:], first.dtype


def _concat_vjp(g, out, *inputs, axis):
    grads, offset, lead = [], 0, _lead(g, out)
    for node in inputs:
        n = node.shape[axis]
        index = [_WHOLE] * g.ndim
        index[lead + axis] = (offset, offset + n, 1)
        grads.append(make("slice", [g], index=tuple(index)))
        offset += n
    return grads


defop("concatenate", "index", _concat_rule, lambda *xs, axis: np.concatenate(xs, axis=axis), vjp=_concat_vjp)


def concatenate(xs, axis: int | None = 0) -> Node:
    """Join tensors along an existing (concrete) axis; ``axis=None`` joins them flattened, as NumPy does."""
    xs = [as_node(x) for x in xs]
    if not xs:
        raise ValueError("concatenate: need at least one tensor")
    if axis is None:
        xs, axis = [reshape(x, (-1,)) for x in xs], 0
    dtype = promote(*(x.dtype for x in xs))
    xs = [cast(x, dtype) for x in xs]
    (axis,) = normalize_axes(axis, xs[0].ndim, "concatenate")
    return xs[0] if len(xs) == 1 else make("concatenate", xs, axis=axis)


def _check_index_rule(inputs, attrs):
    (idx,) = inputs
    if idx.dtype not in ("int32", "int64"):
        raise TypeError(f"{attrs['op']}: indices must be integers, got {idx.dtype}")
    return idx.shape, idx.dtype


# The identity on integer indices that raises IndexError unless every entry is in [0, bound); compiled as a
# view of its input plus a loop that checks it.
defop("check_index", "shape", _check_index_rule,
      lambda idx, bound, op, axis: check_range(idx, bound, op, axis))


defop("eye", "index", lambda inputs, attrs: ((attrs["n"], attrs["n"]), attrs["dtype"]),
      lambda n, dtype: np.eye(n, dtype=dtype))


def eye(n: int, dtype: str = "float64") -> Node:
    """The ``n x n`` identity matrix, kept symbolic (no ``n*n`` literal): the seed of vectorized Jacobians, which
    the simplifier removes from products (``x @ eye = x``)."""
    if not is_integer(n) or n < 0:
        raise ValueError(f"eye: n must be a non-negative int, got {n!r}")
    return make("eye", [], n=int(n), dtype=dtype)


def one_hot(labels, depth: int, dtype: str = "float64") -> Node:
    """``labels`` (integers in [0, depth); others raise IndexError) as one-hot rows along a new last axis."""
    labels = as_node(labels)
    if labels.dtype not in ("int32", "int64"):
        raise TypeError(f"one_hot: labels must be integers, got {labels.dtype}")
    labels = make("check_index", [labels], bound=int(depth), op="one_hot", axis=labels.ndim)
    classes = constant(np.arange(depth, dtype=labels.dtype))
    return cast(equal(reshape(labels, labels.shape + (1,)), classes), dtype)
