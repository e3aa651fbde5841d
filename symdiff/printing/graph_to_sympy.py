"""Graph -> SymPy: one walker over the op table's ``sympy`` field, plus a small table for ops on uniform values.

A graph converts when every node is one scalar expression per element: elementwise ops over any inputs,
and shape ops, reductions and matmuls over *uniform* values (every element equal, e.g. anything built
from 0-d inputs), where a sum over ``n`` equal entries is ``n`` times the entry.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from ..ir import Node, toposort
from ..ops import OPS
from .errors import SympyConversionError

#: Shortest-decimal floats with at most this many significant digits become exact rationals (0.5 -> 1/2).
EXACT_DIGITS = 8


def number(value: Any) -> sp.Basic:
    """A NumPy/Python scalar as a SymPy number: ints and short decimals exactly, other floats as Floats."""
    value = np.asarray(value).item()
    if isinstance(value, bool):
        return sp.true if value else sp.false
    if isinstance(value, int) or float(value).is_integer():
        return sp.Integer(int(value))
    text = repr(float(value))
    if "inf" in text or "nan" in text:
        return {"inf": sp.oo, "-inf": -sp.oo}.get(text, sp.nan)
    mantissa = text.lower().split("e")[0].lstrip("-").replace(".", "").strip("0")
    if len(mantissa) <= EXACT_DIGITS:
        return sp.Rational(Fraction(text))  # exact decimal the user most likely wrote
    return sp.Float(value)


def uniform_value(node: Node) -> np.ndarray | None:
    """The one value of a constant whose entries are all equal, else None."""
    array = node.attr("value").array
    if array.size and np.all(array == array.flat[0]):
        return array.flat[0]
    return None


def dim_size(dim: int | str) -> sp.Expr:
    """A dimension as a SymPy integer, a named dim as a positive integer symbol."""
    return sp.Integer(dim) if isinstance(dim, int) else sp.Symbol(dim, integer=True, positive=True)


def elements(dims: Sequence[int | str]) -> sp.Expr:
    """The number of elements spanned by ``dims``."""
    return sp.Mul(*(dim_size(d) for d in dims))


def apply_elementwise(node: Node, args: Sequence[sp.Basic]) -> sp.Basic:
    """The op table's SymPy rendering of an elementwise node applied to its arguments' expressions."""
    return OPS[node.op].sympy(sp, *args, **node.attr_dict)


def is_uniform_shape(node: Node) -> bool:
    """True when ``node`` has one element in every dim (0-d or all dims 1)."""
    return all(d == 1 for d in node.shape)


def keeps_elements(node: Node) -> bool:
    """True for a reshape that only adds or drops length-1 axes, keeping a matrix's orientation: every element
    keeps its meaning (a (4, 1) column reshaped to a (1, 4) row is a transpose in a formula, not nothing)."""
    before, after = node.inputs[0].shape, node.shape
    if len(before) == len(after) >= 2 and [d != 1 for d in before[-2:]] != [d != 1 for d in after[-2:]]:
        return False
    return [d for d in after if d != 1] == [d for d in before if d != 1]


def layout(shape: tuple) -> list[tuple[int, int | str]]:
    """Each dim above 1 with its place from the right: two shapes of one layout broadcast alike (a (3,) vector and
    its (1, 3) row do; its (3, 1) column does not)."""
    return [(len(shape) - k, d) for k, d in enumerate(shape) if d != 1]


def _reduced(node: Node) -> list[int | str]:
    x = node.inputs[0]
    return [x.shape[a] for a in node.attr("axes")]


#: Shape ops, reductions and matmul applied to uniform values: how the single value transforms.
UNIFORM_RULES: dict[str, Callable[..., sp.Basic]] = {
    "reshape": lambda node, a: a,
    "transpose": lambda node, a: a,
    "slice": lambda node, a: a,
    "max": lambda node, a: a,
    "min": lambda node, a: a,
    "sum": lambda node, a: a * elements(_reduced(node)),
    "count": lambda node, a: elements(_reduced(node)),  # reads only the shape, so any input will do
    "matmul": lambda node, a, b: a * b * dim_size(node.inputs[0].shape[-1]),
}
#: Ops whose value depends only on their input's shape.
SHAPE_ONLY = frozenset({"count"})


def printed_inputs(node: Node) -> tuple[int, ...]:
    """Positions of the inputs ``node``'s formula shows (count shows none; tanh_grad(t, x) only t)."""
    if node.op in SHAPE_ONLY:
        return ()
    rule = OPS[node.op].sympy
    if rule is None or OPS[node.op].kind != "elementwise":
        return tuple(range(len(node.inputs)))
    return _rule_inputs(node.op, node.attrs, len(node.inputs))


@functools.lru_cache(maxsize=1024)
def _rule_inputs(op: str, attrs: tuple, arity: int) -> tuple[int, ...]:
    symbols = sp.symbols(f"_arg0:{arity}", real=True)
    free = getattr(OPS[op].sympy(sp, *symbols, **dict(attrs)), "free_symbols", set())
    return tuple(k for k, symbol in enumerate(symbols) if symbol in free)


def to_sympy(nodes: Node | Sequence[Node], *, real: bool = False) -> sp.Basic | list[sp.Basic]:
    """SymPy expression(s) of elementwise/scalar graphs (documented at ``symdiff.printing.to_sympy``)."""
    single = isinstance(nodes, Node)
    roots = [nodes] if single else list(nodes)
    exprs: dict[int, sp.Basic] = {}
    uniform: set[int] = set()  # ids of nodes whose elements are all equal
    for node in toposort(roots):
        exprs[id(node)] = _convert(node, [exprs[id(i)] for i in node.inputs], uniform, real)
        if _is_uniform(node, uniform):
            uniform.add(id(node))
    out = [exprs[id(r)] for r in roots]
    return out[0] if single else out


def _is_uniform(node: Node, uniform: set[int]) -> bool:
    if node.op == "input":
        return is_uniform_shape(node)
    return node.op == "constant" or node.op in SHAPE_ONLY or all(id(i) in uniform for i in node.inputs)


def _convert(node: Node, args: list[sp.Basic], uniform: set[int], real: bool) -> sp.Basic:
    if node.op == "input":
        return sp.Symbol(node.name, real=True) if real else sp.Symbol(node.name)
    if node.op == "constant":
        value = uniform_value(node)
        if value is None:
            raise SympyConversionError(
                f"to_sympy: a constant of shape {node.shape} holds different values, so it is not one scalar "
                "expression; use sd.formula() to print tensor graphs")
        return number(value)
    op = OPS[node.op]
    if op.kind == "elementwise" and op.sympy is not None:
        return apply_elementwise(node, args)
    if node.op == "reshape" and layout(node.shape) == layout(node.inputs[0].shape):
        return args[0]
    rule = UNIFORM_RULES.get(node.op)
    if rule is None:
        raise SympyConversionError(f"to_sympy: op {node.op!r} ({node!r}) has no SymPy rendering")
    varying = [] if node.op in SHAPE_ONLY else [i for i in node.inputs if id(i) not in uniform]
    if varying:
        raise SympyConversionError(
            f"to_sympy: {node.op} of {varying[0]!r} is not elementwise (its entries differ); "
            "use sd.formula() to print tensor graphs")
    return rule(node, *args)
