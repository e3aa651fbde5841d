"""Structural sparsity of Jacobians and Hessians, read from the graph: no probing, no random evaluation.

Every node that depends on ``x`` gets a boolean pattern matrix (node entries x ``x`` entries): entry (i, j) is
set when entry i of the node can depend on entry j of ``x``. A node's pattern is the union over its inputs of the
op's *local* pattern (node entries x input entries) times the input's pattern:

* elementwise ops: each entry reads the entries its broadcast maps to, for the inputs the op's VJP rule
  differentiates (``where``'s condition, ``floor``, comparisons and ``stop_gradient`` carry no dependence);
* reductions: each entry reads the entries it reduces; ``matmul``: a row of one operand and a column of the
  other; zeros of a known operand (a constant, ``eye``) of ``matmul`` or ``multiply`` cut entries;
* ops that move values (reshape, transpose, slices, padding, concatenation, gathers with constant indices):
  the op's own NumPy rule applied to arrays of entry numbers says where each entry comes from; a gather with
  data-dependent indices reads every entry its index could name.

The Hessian's pattern is the Jacobian pattern of the gradient graph, made symmetric.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..ir import FLOAT_DTYPES, Node, ShapeError, depends_on, inputs_of, resolve_shape, toposort
from ..ops import OPS
from ..ops.interpret import interpret
from .reverse import grad


def jacobian_sparsity(y: Node, x: Node, dims: Mapping[str, int] | None = None):
    """The structural nonzero pattern of ``dy/dx`` as a boolean ``scipy.sparse.csr_array`` of shape
    ``(y.size, x.size)`` (entries in C order). Named dims take their sizes from ``dims``."""
    from scipy import sparse

    dims = dict(dims or {})
    for name, node in (("y", y), ("x", x)):
        if not isinstance(node, Node) or node.dtype not in FLOAT_DTYPES:
            raise TypeError(f"jacobian_sparsity: {name} must be a floating-point symdiff node, got {node!r}")
    if x.op != "input":
        raise TypeError(f"jacobian_sparsity: x must be an input (sd.tensor), got a {x.op} node")
    n = _size(x, dims)
    order = toposort([y])
    live = depends_on(order, [x])
    patterns = {id(x): sparse.eye_array(n, dtype=bool, format="csr")}
    for node in order:
        if id(node) in patterns or id(node) not in live or node.dtype not in FLOAT_DTYPES or not node.inputs:
            continue
        total = None
        for k, local in _local_patterns(node, dims):
            source = patterns.get(id(node.inputs[k]))
            if source is not None:
                term = (local @ source).astype(bool)
                total = term if total is None else (total + term).astype(bool)
        if total is not None:
            patterns[id(node)] = total.tocsr()
    found = patterns.get(id(y))
    if found is None:
        return sparse.csr_array((_size(y, dims), n), dtype=bool)
    found.sum_duplicates()
    found.eliminate_zeros()
    return found


def hessian_sparsity(f: Node, x: Node, dims: Mapping[str, int] | None = None):
    """The structural nonzero pattern of the Hessian of the scalar ``f`` with respect to ``x``
    (``(x.size, x.size)``, boolean, symmetric ``scipy.sparse.csr_array``)."""
    if not isinstance(f, Node) or f.shape != () or f.dtype not in FLOAT_DTYPES:
        raise ShapeError(f"hessian_sparsity: f must be a floating-point scalar (shape ()), got {f!r}")
    pattern = jacobian_sparsity(grad(f, x), x, dims)
    return (pattern + pattern.T).astype(bool).tocsr()


def _size(node: Node, dims: Mapping[str, int]) -> int:
    return int(np.prod(_shape(node, dims), dtype=np.int64))


def _shape(node: Node, dims: Mapping[str, int]) -> tuple[int, ...]:
    unbound = [d for d in node.shape if isinstance(d, str) and d not in dims]
    if unbound:
        raise ShapeError(f"sparsity: named dim {unbound[0]!r} of {node!r} needs a size: pass dims={{...}}")
    return resolve_shape(node.shape, dims)


def _numbered(shape: tuple[int, ...]) -> np.ndarray:
    return np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)


def _matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]):
    from scipy import sparse

    rows, cols = np.ravel(rows), np.ravel(cols)
    return sparse.csr_array((np.ones(rows.size, dtype=bool), (rows, cols)), shape=shape)


def _local_patterns(node: Node, dims: Mapping[str, int]) -> list[tuple[int, object]]:
    """``(input position, local pattern)`` for every input the node's value can depend on differentiably."""
    out_shape = _shape(node, dims)
    in_shapes = [_shape(i, dims) for i in node.inputs]
    kind = OPS[node.op].kind
    if kind == "elementwise":
        factors = [_known_value(i, dims) if node.op == "multiply" else None for i in node.inputs[::-1]]
        return [(k, _broadcast_pattern(in_shapes[k], out_shape, factors[k])) for k in _differentiated(node)]
    if kind == "reduction":
        return [(0, _reduction_pattern(in_shapes[0], node.attr("axes"), node.attr("keepdims")))] \
            if _differentiated(node) else []
    if kind == "matmul":
        return _matmul_patterns(node, in_shapes, out_shape, dims)
    if node.op in ("take_along_axis", "scatter_add"):
        return _gather_patterns(node, in_shapes, out_shape, dims)
    if kind == "loop":  # a carry mixes everything it has read by later steps: every entry, conservatively
        return [(k, _dense_pattern(in_shapes[k], out_shape)) for k in _differentiated(node)]
    return _moved_patterns(node, in_shapes, out_shape, dims)


def _differentiated(node: Node) -> list[int]:
    """Inputs whose cotangent the op's VJP rule builds (a missing rule or an all-zero constant means none)."""
    rule = OPS[node.op].vjp
    if rule is None:
        return []
    cotangents = rule(node, node, *node.inputs, **dict(node.attrs))
    return [k for k, (i, c) in enumerate(zip(node.inputs, cotangents))
            if c is not None and i.dtype in FLOAT_DTYPES
            and not (c.op == "constant" and not np.any(c.attr("value").array))]


def _known_value(node: Node, dims: Mapping[str, int]) -> np.ndarray | None:
    """The value of a node that reads no input (a constant, ``eye``, arithmetic on them; named dims of size
    ``dims``), else None."""
    if inputs_of([node]):
        return None
    return interpret([node], {}, dims)[id(node)]


def _broadcast_pattern(in_shape: tuple[int, ...], out_shape: tuple[int, ...], factor: np.ndarray | None = None):
    """Each output entry reads the input entry it broadcasts from; a known factor's zeros cut the entry."""
    source = np.broadcast_to(_numbered(in_shape), out_shape)
    rows = np.arange(int(np.prod(out_shape, dtype=np.int64))).reshape(out_shape)
    if factor is not None:
        keep = np.broadcast_to(factor != 0, out_shape)
        source, rows = source[keep], rows[keep]
    size_out = int(np.prod(out_shape, dtype=np.int64))
    return _matrix(rows, source, (size_out, int(np.prod(in_shape, dtype=np.int64))))


def _dense_pattern(in_shape: tuple[int, ...], out_shape: tuple[int, ...]):
    """Every output entry may depend on every input entry."""
    size_out, size_in = int(np.prod(out_shape, dtype=np.int64)), int(np.prod(in_shape, dtype=np.int64))
    return _matrix(np.repeat(np.arange(size_out), size_in), np.tile(np.arange(size_in), size_out), (size_out, size_in))


def _reduction_pattern(in_shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool):
    coords = np.indices(in_shape).reshape(len(in_shape), -1)
    kept_axes = [a for a in range(len(in_shape)) if a not in axes]
    out_shape = tuple(in_shape[a] for a in kept_axes)
    target = np.ravel_multi_index(tuple(coords[a] for a in kept_axes), out_shape) if kept_axes \
        else np.zeros(coords.shape[1], dtype=np.int64)
    size_in = int(np.prod(in_shape, dtype=np.int64))
    return _matrix(target, np.arange(size_in), (int(np.prod(out_shape, dtype=np.int64)), size_in))


def _matmul_patterns(node: Node, in_shapes: list[tuple[int, ...]], out_shape: tuple[int, ...],
                     dims: Mapping[str, int]):
    """out[..., i, j] reads a[..., i, k] and b[..., k, j] for every k (where a known operand is nonzero)."""
    a_shape, b_shape = in_shapes
    a_num = _numbered(a_shape).reshape((1,) + a_shape if len(a_shape) == 1 else a_shape)
    b_num = _numbered(b_shape).reshape(b_shape + (1,) if len(b_shape) == 1 else b_shape)
    full_out = a_num.shape[:-1] + b_num.shape[-1:]
    lead = np.broadcast_shapes(a_num.shape[:-2], b_num.shape[:-2])
    out_num = _numbered(lead + full_out[-2:])
    inner = a_num.shape[-1]
    a_full = np.broadcast_to(a_num[..., :, :, None], lead + (a_num.shape[-2], inner, b_num.shape[-1]))
    b_full = np.broadcast_to(b_num[..., None, :, :], lead + (a_num.shape[-2], inner, b_num.shape[-1]))
    rows = np.broadcast_to(out_num[..., :, None, :], a_full.shape)
    result = []
    for k in _differentiated(node):
        cols = (a_full, b_full)[k]
        keep = np.ones(cols.shape, dtype=bool)
        value = _known_value(node.inputs[1 - k], dims)
        if value is not None:  # a structural zero of the other operand cuts the term
            value = value.reshape((1,) + value.shape if value.ndim == 1 and k == 1 else
                                  value.shape + (1,) if value.ndim == 1 else value.shape)
            other_full = np.broadcast_to(value[..., :, :, None] if k == 1 else value[..., None, :, :], cols.shape)
            keep = other_full != 0
        size_in = int(np.prod(in_shapes[k], dtype=np.int64))
        result.append((k, _matrix(rows[keep], cols[keep], (int(np.prod(out_shape, dtype=np.int64)), size_in))))
    return result


def _moved_patterns(node: Node, in_shapes, out_shape, dims) -> list[tuple[int, object]]:
    """Ops that only move values: run the op's NumPy rule on entry numbers (1-based; 0 marks "no source")."""
    op = OPS[node.op]
    attrs = {k: resolve_shape(v, dims) if k == "shape" else v for k, v in node.attrs}
    size_out = int(np.prod(out_shape, dtype=np.int64))
    result = []
    for k in _differentiated(node):
        args = [np.zeros(s, dtype=np.float64) for s in in_shapes]
        args[k] = (_numbered(in_shapes[k]) + 1).astype(np.float64)
        for j, i in enumerate(node.inputs):
            if i.dtype not in FLOAT_DTYPES:
                args[j] = _value_of(i, in_shapes[j])
        moved = np.asarray(op.numpy(*args, **attrs)).reshape(-1)
        rows = np.flatnonzero(moved)
        result.append((k, _matrix(rows, moved[rows].astype(np.int64) - 1,
                                  (size_out, int(np.prod(in_shapes[k], dtype=np.int64))))))
    return result


def _value_of(node: Node, shape: tuple[int, ...]) -> np.ndarray:
    if node.op != "constant":
        raise ShapeError(f"sparsity: {node.op} reads integer input {node!r}, which is not a constant")
    return node.attr("value").array


def _gather_patterns(node: Node, in_shapes, out_shape, dims) -> list[tuple[int, object]]:
    """take_along_axis / scatter_add: with constant indices, where each entry goes; with data-dependent
    indices, the union over every index the axis allows."""
    values_shape, index = in_shapes[0], node.inputs[1]
    axis = node.attr("axis")
    bound = (values_shape if node.op == "take_along_axis" else out_shape)[axis]
    choices = [index.attr("value").array] if index.op == "constant" else \
        [np.full(in_shapes[1], c, dtype=np.int64) for c in range(bound)]
    size_out, size_in = int(np.prod(out_shape, dtype=np.int64)), int(np.prod(values_shape, dtype=np.int64))
    total = None
    for idx in choices:
        if node.op == "take_along_axis":  # out entry e reads values[idx[e]] along the axis
            rows = np.arange(size_out)
            cols = np.take_along_axis(_numbered(values_shape), np.broadcast_to(idx, out_shape), axis)
        else:  # values entry e goes to out[idx[e]] along the axis
            cols = np.arange(size_in)
            rows = np.take_along_axis(_numbered(out_shape), np.broadcast_to(idx, values_shape), axis)
        term = _matrix(rows, cols, (size_out, size_in))
        total = term if total is None else (total + term).astype(bool)
    return [(0, total)] if _differentiated(node) else []
