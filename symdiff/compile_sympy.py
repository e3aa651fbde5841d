"""``compile_sympy``: SymPy expressions to one vectorized kernel returning values, gradients and Hessians.

Each argument becomes its own 1-d input over the named dim ``points``, so every node of the value,
gradient and Hessian graphs is elementwise over the points: a scalar program per point, which
``symdiff.codegen.pointwise`` lowers straight to one LLVM loop (vectorized, run on every core). Nodes are
interned, so a subexpression shared by values, gradients and Hessians is computed once per point.

Why the gradient of a sum is the per-point gradient: value ``k`` depends only on the arguments at
point ``k``, so ``∂/∂x_i[k] Σ_m f[m] = ∂f[k]/∂x_i[k]``. One reverse pass over ``Σ f`` thus gives the
gradient at every point at once; the same argument on ``Σ ∂f/∂x_i`` gives Hessian row ``i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from .autodiff import grad
from .ir import Node
from .ops import sum as total
from .ops import tensor

DERIVATIVES = ("value", "grad", "hessian")
#: The named dim of the points (one kernel serves every number of points).
POINTS = "points"


class SympyKernel:
    """A compiled SymPy kernel: call it with an ``(N, nargs)`` float64 array of points.

    Returns a dict with the requested ``derivatives``: ``"value"`` of shape ``(N, nexprs)``,
    ``"grad"`` ``(N, nexprs, nargs)``, ``"hessian"`` ``(N, nexprs, nargs, nargs)``; the ``nexprs`` axis is
    absent when one expression (not a list) was compiled. ``threads`` (default: every core) split the
    points. ``kernel`` is the underlying :class:`symdiff.codegen.pointwise.PointwiseKernel` (``kernel.llvm_ir``
    is its optimized LLVM IR) and ``outputs`` the graph nodes it computes.
    """

    def __init__(self, kernel: Any, outputs: list[Node], nexprs: int, single: bool, nargs: int,
                 derivatives: tuple[str, ...]) -> None:
        self.kernel, self.outputs = kernel, outputs
        self.nexprs, self.single, self.nargs, self.derivatives = nexprs, single, nargs, derivatives

    def __reduce__(self) -> tuple:
        """Pickles by its SymPy expressions, never machine code: the receiving process compiles again (its object
        code cache makes that a load). Unpickling is as trusted as pickle itself."""
        return _restore, self.definition

    def __call__(self, points: Any, threads: int | None = None) -> dict[str, np.ndarray]:
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != self.nargs:
            raise ValueError(f"compile_sympy kernel: points must have shape (N, {self.nargs}) "
                             f"(one column per argument), got shape {points.shape}")
        n, e, a = points.shape[0], self.nexprs, self.nargs
        shapes = {"value": (n, e), "grad": (n, e, a), "hessian": (n, e, a, a)}
        # the kernel writes each array points-first in its final layout: reshaping costs nothing
        arrays = self.kernel(points, threads)
        results = {name: array.reshape(shapes[name]) for name, array in zip(self.derivatives, arrays)}
        if self.single:
            results = {k: v[:, 0] for k, v in results.items()}
        return results

    def __repr__(self) -> str:
        return (f"<symdiff compile_sympy kernel: {self.nexprs} expressions of {self.nargs} arguments"
                f" -> {self.derivatives}>")


def _check_derivatives(derivatives: Sequence[str]) -> tuple[str, ...]:
    wanted = (derivatives,) if isinstance(derivatives, str) else tuple(derivatives)
    unknown = [d for d in wanted if d not in DERIVATIVES]
    if unknown or not wanted:
        raise ValueError(f"compile_sympy: derivatives must be a non-empty selection of {DERIVATIVES}, got {wanted!r}")
    return tuple(d for d in DERIVATIVES if d in wanted)


def _check_args(exprs: list[Any], args: Sequence[Any]) -> list[Any]:
    import sympy as sp

    args = list(args)
    bad = [a for a in args if not isinstance(a, sp.Symbol)]
    if bad or not args:
        raise TypeError(f"compile_sympy: args must be a non-empty list of SymPy symbols, got {args!r}")
    if len(set(args)) != len(args):
        raise ValueError(f"compile_sympy: args {args!r} list a symbol twice")
    try:  # strict: numbers and SymPy objects only (non-strict sympify would eval the object's text)
        free = set().union(*(sp.sympify(e, strict=True).free_symbols for e in exprs)) - set(args)
    except sp.SympifyError as exc:
        raise TypeError(f"compile_sympy: expected SymPy expressions, got {type(exc.expr).__name__}") from None
    if free:
        names = sorted(str(s) for s in free)
        raise ValueError(f"compile_sympy: the expressions use symbols {names} that are not in args {args!r}")
    return args


def compile_sympy(exprs: Any, args: Sequence[Any], derivatives: Sequence[str] = DERIVATIVES) -> SympyKernel:
    """Compile SymPy ``exprs`` (one expression or a list) of the symbols ``args`` into one vectorized kernel.

    The kernel takes an ``(N, len(args))`` float64 array (row = point, column = argument, in the order of
    ``args``) and returns a dict with the requested ``derivatives`` (any of ``"value"``, ``"grad"``,
    ``"hessian"``); see :class:`SympyKernel` for the shapes. Everything is compiled into one LLVM kernel
    (about a second even for thousands of operations), so subexpressions shared by values, gradients and
    Hessians are computed once per point, and the points are split over every core. Supported
    functions are those of ``sd.from_sympy``; others raise ``UnsupportedSympyError`` naming the function.
    """
    from .printing.sympy_to_graph import from_sympy

    single = not isinstance(exprs, (list, tuple))
    expr_list = [exprs] if single else list(exprs)
    texts = [e for e in expr_list if isinstance(e, str)]
    if texts:  # SymPy would eval the text: build the expression with sympy.Symbol and operators instead
        raise TypeError(f"compile_sympy: expressions must be SymPy expressions, not strings (got {texts[0][:60]!r})")
    if not expr_list:
        raise ValueError("compile_sympy: exprs is an empty list; give at least one SymPy expression")
    wanted = _check_derivatives(derivatives)
    symbols = _check_args(expr_list, args)
    columns = [tensor(f"x{i}", (POINTS,)) for i in range(len(symbols))]
    # Constant expressions become 0-d nodes; broadcasting against a column makes them per-point.
    values = [from_sympy(e, dict(zip(symbols, columns))) for e in expr_list]
    outputs, layout = _derivative_outputs(values, columns, wanted)
    from symdiff.codegen.pointwise import PointwiseKernel

    kernel = SympyKernel(PointwiseKernel(columns, outputs, layout), outputs, len(expr_list), single, len(symbols),
                         wanted)
    kernel.definition = (exprs, list(symbols), wanted)
    return kernel


def _derivative_outputs(values: list[Node], columns: list[Node], wanted: tuple[str, ...]):
    """The graph outputs (values, gradients, upper Hessian triangles) and the kernel layout placing them:
    one array per wanted derivative, entries in C order of ``(nexprs, nargs[, nargs])``."""
    outputs, layout = [], []

    def place(nodes: list[Node]) -> list[int]:
        outputs.extend(nodes)
        return list(range(len(outputs) - len(nodes), len(outputs)))

    if "value" in wanted:
        layout.append(place(values))
    if "grad" in wanted or "hessian" in wanted:
        grads = [grad(total(v), columns) for v in values]
        if "grad" in wanted:
            layout.append(place([g for per_expr in grads for g in per_expr]))
        if "hessian" in wanted:
            nargs, full = len(columns), []
            for per_expr in grads:
                # row i of the Hessian is the gradient of Σ ∂f/∂x_i; only j >= i is built (symmetry)
                upper = {(i, j): k for i, g in enumerate(per_expr)
                         for j, k in enumerate(place(grad(total(g), columns[i:])), start=i)}
                full += [upper[min(i, j), max(i, j)] for i in range(nargs) for j in range(nargs)]
            layout.append(full)
    return outputs, layout


def _restore(*definition: Any) -> SympyKernel:
    """A pickled kernel in this process: the one already rebuilt from the same definition, or a new one."""
    key = tuple(tuple(part) if isinstance(part, list) else part for part in definition)
    try:
        hash(key)
    except TypeError:  # an unhashable definition: rebuild every time
        return compile_sympy(*definition)
    return _rebuilt(key)


@lru_cache(maxsize=64)  # a Dask worker unpickles a kernel once per computation; a long-lived one keeps the latest
def _rebuilt(definition: tuple) -> SympyKernel:
    return compile_sympy(*definition)
