"""Sparse Jacobians and Hessians, compiled: the structural pattern (read from the graph), a column colouring of
it, and one kernel that pushes one tangent per colour group through the graph in a single vectorized forward
pass and gathers the nonzeros out of the compressed result.

Columns of one colour share no row, so each nonzero (i, j) of the matrix is entry i of the compressed column of
j's colour: the kernel computes ``colours`` directional derivatives instead of ``x.size``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .autodiff import grad, tangent_graph
from .autodiff.sparsity import hessian_sparsity, jacobian_sparsity
from .compile import CompiledFunction
from .compile import compile as compile_graph
from .ir import FLOAT_DTYPES, Node, ShapeError, size_of
from .ops import constant, reshape, take_along_axis

__all__ = ["SparseDerivative", "color_columns", "hessian_sparsity", "jacobian_sparsity", "sparse_hessian",
           "sparse_jacobian"]


def color_columns(pattern) -> np.ndarray:
    """A colour per column of the sparse ``pattern`` such that no two columns of one colour share a row
    (greedy over the column intersection graph, columns in order: a banded matrix of bandwidth b gets at most
    2b + 1 colours).

    A plain loop over columns: SciPy has no graph colouring, and colouring runs once per compiled function.
    """
    from scipy import sparse

    csr = sparse.csr_array(pattern, dtype=bool).astype(np.int8)
    shared = (csr.T @ csr).tocsr()  # columns j, k conflict when they share a row
    indptr, indices = shared.indptr.tolist(), shared.indices.tolist()  # Python lists: ~1 µs a column, not ~10
    colours = [-1] * csr.shape[1]
    for j in range(csr.shape[1]):
        used = {colours[k] for k in indices[indptr[j]:indptr[j + 1]]}
        colour = 0
        while colour in used:
            colour += 1
        colours[j] = colour
    return np.array(colours, dtype=np.int64)


class SparseDerivative:
    """A compiled sparse Jacobian or Hessian: call it like the compiled function (same inputs) to get a
    ``scipy.sparse.csr_array``. ``pattern`` is the structural pattern, ``colours`` the colour of each column,
    ``n_colours`` the number of directional derivatives one call computes, ``fn`` the compiled kernel."""

    def __init__(self, fn: CompiledFunction, pattern, colours: np.ndarray) -> None:
        self.fn, self.pattern, self.colours = fn, pattern, colours
        self.n_colours = int(colours.max()) + 1 if colours.size else 0

    def __call__(self, *args: Any):
        from scipy import sparse

        values = self.fn(*args)
        # the index arrays are copied: in-place methods of the result (eliminate_zeros) must not change ours
        return sparse.csr_array((values, self.pattern.indices.copy(), self.pattern.indptr.copy()),
                                shape=self.pattern.shape)

    def __repr__(self) -> str:
        rows, cols = self.pattern.shape
        return (f"<SparseDerivative {rows}x{cols}, {self.pattern.nnz} structural nonzeros, "
                f"{self.n_colours} colours, backend {self.fn.backend!r}>")


def sparse_jacobian(y: Node, x: Node, inputs: Sequence[Node], dims: Mapping[str, int] | None = None,
                    **options: Any) -> SparseDerivative:
    """Compile ``dy/dx`` as a sparse matrix ``(y.size, x.size)``; ``inputs`` and ``options`` as in ``sd.compile``.

    ``y`` and ``x`` need concrete shapes; other named dims (a data batch) take their sizes from ``dims`` for the
    pattern, which must not change with them.
    """
    for name, node in (("y", y), ("x", x)):
        if not isinstance(node, Node) or node.dtype not in FLOAT_DTYPES:
            raise TypeError(f"sparse_jacobian: {name} must be a floating-point symdiff node, got {node!r}")
        if size_of(node.shape) is None:
            raise ShapeError(f"sparse_jacobian: {name} {node.shape} must have concrete dims")
    return _compile(y, x, jacobian_sparsity(y, x, dims), inputs, options)


def sparse_hessian(f: Node, x: Node, inputs: Sequence[Node], dims: Mapping[str, int] | None = None,
                   **options: Any) -> SparseDerivative:
    """Compile the Hessian of the scalar ``f`` with respect to ``x`` as a sparse matrix ``(x.size, x.size)``."""
    pattern = hessian_sparsity(f, x, dims)
    if size_of(x.shape) is None:
        raise ShapeError(f"sparse_hessian: x {x.shape} must have concrete dims")
    return _compile(grad(f, x), x, pattern, inputs, options)


def _compile(y: Node, x: Node, pattern, inputs: Sequence[Node], options: dict) -> SparseDerivative:
    pattern = pattern.tocsr()
    pattern.sum_duplicates()  # canonical: the gather below and the returned matrix list nonzeros in one order
    if max(pattern.shape + (pattern.nnz,)) < 2**31:  # 32-bit indices, as SciPy picks: half the copy per call
        pattern.indices, pattern.indptr = pattern.indices.astype(np.int32), pattern.indptr.astype(np.int32)
    colours = color_columns(pattern)
    groups = int(colours.max()) + 1 if colours.size else 1
    seed = np.zeros((groups, colours.size), dtype=x.dtype)
    seed[colours, np.arange(colours.size)] = 1.0
    compressed = tangent_graph([y], [x], [constant(seed.reshape((groups,) + x.shape))], batch=(groups,)).get(id(y))
    rows = pattern.shape[0]
    if compressed is None:
        compressed = constant(np.zeros((groups,) + y.shape, dtype=y.dtype))
    row_of = np.repeat(np.arange(rows), np.diff(pattern.indptr))
    where = colours[pattern.indices] * rows + row_of
    flat = reshape(compressed, (groups * rows,))
    index = np.int32 if groups * rows < 2**31 else np.int64  # half the index traffic of the gather
    values = take_along_axis(flat, constant(where.astype(index)), axis=0)
    return SparseDerivative(compile_graph(list(inputs), values, **options), pattern, colours)
