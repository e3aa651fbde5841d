"""``compile_sympy``: SymPy expressions to one vectorized kernel returning values, gradients and Hessians.

Each argument becomes its own 1-d input over the named dim ``points``, so every node of the value,
gradient and Hessian graphs is elementwise over the points and the code generator fuses them into a few
loops. (Slicing the columns out of one ``(points, nargs)`` input instead makes the reverse pass scatter
into whole matrices: about 9x more loops and 3-4x longer Numba compiles.)

Why the gradient of a sum is the per-point gradient: value ``k`` depends only on the arguments at
point ``k``, so ``∂/∂x_i[k] Σ_m f[m] = ∂f[k]/∂x_i[k]``. One reverse pass over ``Σ f`` thus gives the
gradient at every point at once; the same argument on ``Σ ∂f/∂x_i`` gives Hessian row ``i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autodiff import grad
from ..compile import CompiledFunction
from ..compile import compile as compile_graph
from ..ops import sum as total
from ..ops import tensor

DERIVATIVES = ("value", "grad", "hessian")
#: The named dim of the points (one kernel serves every number of points).
POINTS = "points"


class SympyKernel:
    """A compiled SymPy kernel: call it with an ``(N, nargs)`` float64 array of points.

    Returns a dict with the requested ``derivatives``: ``"value"`` of shape ``(N, nexprs)``,
    ``"grad"`` ``(N, nexprs, nargs)``, ``"hessian"`` ``(N, nexprs, nargs, nargs)``; the ``nexprs`` axis is
    absent when one expression (not a list) was compiled. ``compiled`` is the underlying
    :class:`~symdiff.CompiledFunction` (its ``source`` is the generated module).
    """

    def __init__(self, compiled: CompiledFunction, constants: dict[int, np.ndarray], nexprs: int, single: bool,
                 nargs: int, derivatives: tuple[str, ...]) -> None:
        self.compiled, self.constants = compiled, constants
        self.nexprs, self.single, self.nargs, self.derivatives = nexprs, single, nargs, derivatives

    def _outputs(self, columns: np.ndarray) -> list[np.ndarray]:
        """Every output in graph order: the kernel's, with the constant outputs put back in place."""
        computed = iter(self.compiled(*columns))
        count = len(self.compiled.outputs) + len(self.constants)
        return [self.constants[k] if k in self.constants else next(computed) for k in range(count)]

    def __call__(self, points: Any) -> dict[str, np.ndarray]:
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != self.nargs:
            raise ValueError(f"compile_sympy kernel: points must have shape (N, {self.nargs}) "
                             f"(one column per argument), got shape {points.shape}")
        columns = np.ascontiguousarray(points.T)  # row i is argument i at every point, contiguous
        flat = iter(self._outputs(columns))
        n, e, a = points.shape[0], self.nexprs, self.nargs

        def take(count: int) -> np.ndarray:
            # Outputs not depending on the points (e.g. constant Hessian entries) may be 0-d.
            return np.stack([np.broadcast_to(next(flat), (n,)) for _ in range(count)], axis=-1)

        results: dict[str, np.ndarray] = {}
        if "value" in self.derivatives:
            results["value"] = take(e)
        if "grad" in self.derivatives:
            results["grad"] = take(e * a).reshape(n, e, a)
        if "hessian" in self.derivatives:
            rows, cols = np.triu_indices(a)
            upper = take(e * len(rows)).reshape(n, e, len(rows))
            hessian = np.empty((n, e, a, a))
            hessian[:, :, rows, cols] = upper
            hessian[:, :, cols, rows] = upper  # symmetric: only the upper triangle is computed
            results["hessian"] = hessian
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
    free = set().union(*(sp.sympify(e).free_symbols for e in exprs)) - set(args)
    if free:
        names = sorted(str(s) for s in free)
        raise ValueError(f"compile_sympy: the expressions use symbols {names} that are not in args {args!r}")
    return args


def compile_sympy(exprs: Any, args: Sequence[Any], derivatives: Sequence[str] = DERIVATIVES, *,
                  name: str = "sympy_kernel") -> SympyKernel:
    """Compile SymPy ``exprs`` (one expression or a list) of the symbols ``args`` into one vectorized kernel.

    The kernel takes an ``(N, len(args))`` float64 array (row = point, column = argument, in the order of
    ``args``) and returns a dict with the requested ``derivatives`` (any of ``"value"``, ``"grad"``,
    ``"hessian"``); see :class:`SympyKernel` for the shapes. Everything is compiled in one ``sd.compile``,
    so subexpressions shared by values, gradients and Hessians are computed once per point. Supported
    functions are those of ``sd.from_sympy``; others raise ``UnsupportedSympyError`` naming the function.
    """
    from .sympy_to_graph import from_sympy

    single = not isinstance(exprs, (list, tuple))
    expr_list = [exprs] if single else list(exprs)
    if not expr_list:
        raise ValueError("compile_sympy: exprs is an empty list; give at least one SymPy expression")
    wanted = _check_derivatives(derivatives)
    symbols = _check_args(expr_list, args)
    columns = [tensor(f"x{i}", (POINTS,)) for i in range(len(symbols))]
    # Constant expressions become 0-d nodes; broadcasting against a column makes them per-point.
    values = [from_sympy(e, dict(zip(symbols, columns))) for e in expr_list]
    outputs = list(values) if "value" in wanted else []
    if "grad" in wanted or "hessian" in wanted:
        grads = [grad(total(v), columns) for v in values]
        if "grad" in wanted:
            outputs += [g for per_expr in grads for g in per_expr]
        if "hessian" in wanted:
            outputs += [h for per_expr in grads for i, g in enumerate(per_expr)
                        for h in grad(total(g), columns[i:])]
    # Constant outputs stay out of the kernel (the code generator cannot return a bare 0-d constant).
    constants = {k: node.attr("value").array for k, node in enumerate(outputs) if node.op == "constant"}
    compiled = compile_graph(columns, [n for n in outputs if n.op != "constant"], name=name)
    return SympyKernel(compiled, constants, len(expr_list), single, len(symbols), wanted)
