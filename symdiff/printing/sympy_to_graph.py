"""SymPy -> graph: a table from SymPy classes to builders, and one walker.

Each symbol is bound to a tensor (or a shape, making a new input named like the symbol), and the
expression is applied elementwise with NumPy broadcasting. Unsupported SymPy functions raise
:class:`UnsupportedSympyError` naming the function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import reduce
from typing import Any

import sympy as sp
from sympy.codegen.cfunctions import expm1 as sp_expm1
from sympy.codegen.cfunctions import log1p as sp_log1p

from .. import ops
from ..ir import Node
from ..ops.convert import as_node
from ..ops.functions import FUNCTIONS
from ..ops.registry import is_constant
from .errors import UnsupportedSympyError

Binding = Node | Sequence[int | str] | int


def _add(*args: Node) -> Node:
    return reduce(ops.add, args)


def _is_reciprocal(x: Any) -> bool:
    return isinstance(x, Node) and x.op == "divide" and is_constant(x.inputs[0], 1)


def _mul(*args: Any) -> Node:
    # SymPy writes a / b as a * b**-1: gather the reciprocals back into one division.
    numer = [a for a in args if not _is_reciprocal(a)] or [1.0]
    denom = [a.inputs[1] for a in args if _is_reciprocal(a)]
    product = reduce(ops.multiply, numer)
    return ops.divide(product, reduce(ops.multiply, denom)) if denom else as_node(product)


def _pow(base: Any, exp: Any) -> Node:
    shortcut = {0.5: ops.sqrt, -1.0: lambda b: ops.divide(1.0, b), -0.5: lambda b: ops.divide(1.0, ops.sqrt(b))}
    if isinstance(exp, float) and exp in shortcut:
        return shortcut[exp](base)
    return ops.power(base, exp)


def _piecewise(*pairs: tuple[Node, Node]) -> Node:
    *pieces, (last, last_cond) = pairs
    # No "otherwise" piece: SymPy's value is undefined there, NaN here.
    out = last if last_cond is True else ops.where(last_cond, last, float("nan"))
    for value, cond in reversed(pieces):
        out = ops.where(cond, value, out)
    return out


def _heaviside(x: Node, at_zero: Node | float = 0.5) -> Node:
    return ops.where(x > 0, 1.0, ops.where(x < 0, 0.0, at_zero))


#: SymPy class -> builder over the already converted arguments (Add, Mul, Max, Min are n-ary).
BUILDERS: dict[type, Callable[..., Any]] = {
    sp.Add: _add,
    sp.Mul: _mul,
    sp.Pow: _pow,
    sp_log1p: ops.log1p,
    sp_expm1: ops.expm1,
    sp.log: lambda x, base=None: ops.log(x) if base is None else ops.log(x) / ops.log(base),
    sp.sinh: ops.sinh,
    sp.cosh: ops.cosh,
    sp.Abs: ops.abs,
    sp.sign: ops.sign,
    sp.Max: lambda *args: reduce(ops.maximum, args),
    sp.Min: lambda *args: reduce(ops.minimum, args),
    sp.Heaviside: _heaviside,
    sp.Piecewise: _piecewise,
    sp.functions.elementary.piecewise.ExprCondPair: lambda value, cond: (value, cond),
    sp.StrictLessThan: ops.less,
    sp.LessThan: ops.less_equal,
    sp.StrictGreaterThan: ops.greater,
    sp.GreaterThan: ops.greater_equal,
    sp.Equality: ops.equal,
    sp.Unequality: ops.not_equal,
    sp.And: lambda *args: reduce(lambda a, b: ops.where(a, b, False), args),
    sp.Or: lambda *args: reduce(lambda a, b: ops.where(a, True, b), args),
    sp.Not: lambda a: ops.equal(a, False),
}


def _table_builders() -> dict[type, Callable[..., Any]]:
    """The scalar function table's functions that SymPy writes as a function of its own (exp, tan, erf, ...)."""
    builders = {}
    for record in FUNCTIONS.values():
        applied = record.sympy(sp, *sp.symbols(f"a:{record.arity}", real=True))
        if isinstance(applied, sp.Function) and type(applied) not in BUILDERS:
            builders[type(applied)] = getattr(ops, record.name)
    return builders


BUILDERS.update(_table_builders())


def _leaf(expr: sp.Basic, bindings: Mapping[str, Node]) -> Any:
    if isinstance(expr, sp.Symbol):
        return bindings[expr.name] if expr.name in bindings else ops.scalar(expr.name)
    if expr is sp.true or expr is sp.false:
        return bool(expr)
    try:
        return float(expr)  # numbers and constant expressions (pi, sqrt(2)) at full precision
    except TypeError as exc:
        raise UnsupportedSympyError(f"from_sympy: {type(expr).__name__} ({expr}) is not a real number") from exc


def _is_leaf(expr: sp.Basic) -> bool:
    return not expr.args or expr.is_number


def convert(expr: sp.Basic, bindings: Mapping[str, Node]) -> Any:
    """The graph of ``expr`` with symbols looked up by name in ``bindings`` (others become 0-d inputs)."""
    done: dict[sp.Basic, Any] = {}
    stack = [expr]
    while stack:  # iterative post-order, so deep expressions do not hit the recursion limit
        e = stack[-1]
        if e in done:
            stack.pop()
        elif _is_leaf(e):
            done[e] = _leaf(e, bindings)
            stack.pop()
        else:
            pending = [a for a in e.args if a not in done]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            done[e] = _build(e, [done[a] for a in e.args])
    return done[expr]


def _build(expr: sp.Basic, args: list[Any]) -> Any:
    for cls in type(expr).__mro__:
        builder = BUILDERS.get(cls)
        if builder is not None:
            return builder(*args)
    name = getattr(expr, "func", type(expr)).__name__
    supported = ", ".join(sorted(c.__name__ for c in BUILDERS))
    raise UnsupportedSympyError(f"from_sympy: the SymPy function {name!r} (in {expr}) is not supported; "
                                f"supported: {supported}")


def bind(symbols: Sequence[sp.Symbol | str], values: Sequence[Binding]) -> dict[str, Node]:
    """Symbol names -> nodes; a shape (tuple or int) makes a new input tensor named like the symbol."""
    out: dict[str, Node] = {}
    for symbol, value in zip(symbols, values):
        name = symbol if isinstance(symbol, str) else getattr(symbol, "name", None)
        if not isinstance(name, str):
            raise TypeError(f"from_sympy: binding keys must be SymPy symbols or names, got {symbol!r}")
        if isinstance(value, Node):
            out[name] = value
        elif isinstance(value, int | str | tuple | list):
            out[name] = ops.tensor(name, value)
        else:
            raise TypeError(f"from_sympy: symbol {name!r} must be bound to a tensor or a shape, "
                            f"got {type(value).__name__}")
    return out


def from_sympy(expr: Any, bindings: Mapping[sp.Symbol | str, Binding] | Sequence[Binding] | None = None) -> Any:
    """The graph of a SymPy expression (documented at ``symdiff.printing.from_sympy``)."""
    if isinstance(expr, list | tuple):
        return [from_sympy(e, bindings) for e in expr]
    if isinstance(expr, sp.Lambda):
        values = list(bindings or [])
        if isinstance(bindings, Mapping) or len(values) != len(expr.variables):
            raise TypeError(f"from_sympy: a Lambda of {len(expr.variables)} arguments {expr.variables} needs a list "
                            f"of {len(expr.variables)} tensors or shapes, got {bindings!r}")
        return as_node(convert(expr.expr, bind(expr.variables, values)))
    if not isinstance(expr, sp.Basic):
        raise TypeError(f"from_sympy: expected a SymPy expression, got {type(expr).__name__}")
    if bindings is not None and not isinstance(bindings, Mapping):
        raise TypeError(f"from_sympy: bindings must map symbols to tensors or shapes, got {type(bindings).__name__}")
    table = bind(list(bindings or {}), list((bindings or {}).values()))
    return as_node(convert(expr, table))
