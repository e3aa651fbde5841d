"""Binary and ternary elementwise ops with NumPy broadcasting: arithmetic, max/min, comparisons, where.

Builders apply the cheap identities that keep derivative graphs small (x + 0, x * 1, x ** 1);
everything heavier lives in the rewrite engine.
"""

from __future__ import annotations

import functools

import numpy as np

from ..ir import Node, broadcast_shapes
from .convert import as_node, as_nodes, promote
from .elementwise import cast, log, negative, to_float
from .functions import FUNCTIONS
from .registry import constant_value, defop, is_constant, make


def broadcast_rule(inputs: tuple[Node, ...], attrs: dict, *, name: str = "", dtype: str | None = None):
    shape = broadcast_shapes(*(i.shape for i in inputs), what=name)
    return shape, dtype or promote(*(i.dtype for i in inputs))


def _rule(name: str, dtype: str | None = None):
    return lambda inputs, attrs: broadcast_rule(inputs, attrs, name=name, dtype=dtype)


def _pick(a: Node, b: Node, better) -> Node:
    """Where ``a`` wins against ``b``: 1, on ties 1/2, else 0 (midpoint convention at kinks)."""
    return cast(better(a, b), a.dtype) + 0.5 * cast(equal(a, b), a.dtype)


def _power_vjp(g, out, a, b):
    # Where the exponent is 0, a ** b is 1 for every base: slope 0 in a (not 0 * 0 ** -1 = nan at a = 0); at a base
    # of 0, a ** b is 0 (b > 0) or 1 (b = 0) for every b near: slope 0 in b (not 0 * log(0) = nan). JAX does the same.
    # Only the base is guarded, only where both are 0, so the slope in a keeps its dependence on b (d/db at b = 0
    # is 1 / a: the mixed second derivative).
    base = a if _nonzero(a) or _nonzero(b) else where(equal(a, 0.0), where(equal(b, 0.0), 1.0, a), a)
    return g * (b * power(base, b - 1.0)), g * out * log(a if _nonzero(a) else where(equal(a, 0.0), 1.0, a))


def _nonzero(x: Node) -> bool:
    """True when ``x`` is a constant without a zero entry."""
    value = constant_value(x)
    return value is not None and bool(np.all(value != 0))


_ARITH = {
    "add": (np.add, lambda g, out, a, b: (g, g), lambda sp, a, b: a + b, ("op", "add")),
    "subtract": (np.subtract, lambda g, out, a, b: (g, -g), lambda sp, a, b: a - b, ("op", "sub")),
    "multiply": (np.multiply, lambda g, out, a, b: (g * b, g * a), lambda sp, a, b: a * b, ("op", "mul")),
    "divide": (np.divide, lambda g, out, a, b: (g / b, -(g * out) / b), lambda sp, a, b: a / b, ("op", "div")),
    "power": (np.power, _power_vjp, lambda sp, a, b: a**b, ("power",)),
    "maximum": (np.maximum, lambda g, out, a, b: (g * _pick(a, b, greater), g * _pick(b, a, greater)),
                lambda sp, a, b: sp.Max(a, b), ("op", "max")),
    "minimum": (np.minimum, lambda g, out, a, b: (g * _pick(a, b, less), g * _pick(b, a, less)),
                lambda sp, a, b: sp.Min(a, b), ("op", "min")),
}
for _name, (_np, _vjp, _sympy, _kernel) in _ARITH.items():
    defop(_name, "elementwise", _rule(_name), _np, vjp=_vjp, sympy=_sympy, kernel=_kernel)

def _arctan2_vjp(g, out, a, b):
    scale = g / (a * a + b * b)
    return scale * b, -(scale * a)


defop("arctan2", "elementwise", _rule("arctan2"), FUNCTIONS["arctan2"].numpy, vjp=_arctan2_vjp,
      sympy=FUNCTIONS["arctan2"].sympy, kernel=("call", "arctan2"))

_COMPARE = {
    "less": (np.less, "Lt", "lt"), "less_equal": (np.less_equal, "Le", "le"),
    "greater": (np.greater, "Gt", "gt"), "greater_equal": (np.greater_equal, "Ge", "ge"),
    "equal": (np.equal, "Eq", "eq"), "not_equal": (np.not_equal, "Ne", "ne"),
}
for _name, (_np, _sym, _op) in _COMPARE.items():
    defop(
        _name, "elementwise", _rule(_name, "bool"), _np,
        sympy=(lambda s: lambda sp, a, b: getattr(sp, s)(a, b))(_sym), kernel=("compare", _op),
    )


def _keeps(x: Node, other: Node) -> bool:
    """True when dropping ``other`` leaves the broadcast result's shape and dtype unchanged."""
    return broadcast_shapes(x.shape, other.shape) == x.shape and promote(x.dtype, other.dtype) == x.dtype


def add(a, b) -> Node:
    """``a + b`` with broadcasting."""
    a, b = as_nodes(a, b)
    if is_constant(b, 0) and _keeps(a, b):
        return a
    if is_constant(a, 0) and _keeps(b, a):
        return b
    return make("add", [a, b])


def subtract(a, b) -> Node:
    """``a - b`` with broadcasting."""
    a, b = as_nodes(a, b)
    if a.dtype == b.dtype == "bool":
        raise TypeError("subtract of two bool tensors is not supported (nor in NumPy); for their exclusive or, use "
                        "sd.not_equal(a, b)")
    if is_constant(b, 0) and _keeps(a, b):
        return a
    if is_constant(a, 0) and _keeps(b, a):
        return negative(b)
    return make("subtract", [a, b])


def multiply(a, b) -> Node:
    """``a * b`` with broadcasting."""
    a, b = as_nodes(a, b)
    for x, y in ((a, b), (b, a)):
        if is_constant(y, 1) and _keeps(x, y):
            return x
        if is_constant(y, -1) and _keeps(x, y):
            return negative(x)
    return make("multiply", [a, b])


def divide(a, b) -> Node:
    """``a / b`` (true division) with broadcasting."""
    a, b = as_nodes(a, b)
    a, b = to_float(a), to_float(b)
    if is_constant(b, 1) and _keeps(a, b):
        return a
    return make("divide", [a, b])


def power(a, b) -> Node:
    """``a ** b`` with broadcasting (float result)."""
    a, b = as_nodes(a, b)
    a, b = to_float(a), to_float(b)
    if is_constant(b, 1) and _keeps(a, b):
        return a
    return make("power", [a, b])


def arctan2(a, b) -> Node:
    """The angle of the point ``(b, a)``: ``arctan(a / b)`` in the right quadrant (NumPy's ``arctan2(y, x)``)."""
    a, b = as_nodes(a, b)
    return make("arctan2", [to_float(a), to_float(b)])


def clip(x, lo=None, hi=None) -> Node:
    """``x`` limited to ``[lo, hi]`` (NumPy's clip: ``hi`` where ``lo > hi``; a bound left None is none, as in
    NumPy 2.1+); at a bound the gradient is halved, as at every tie of maximum/minimum."""
    # a tie returns the second operand: x, as np.clip does
    if lo is not None:
        x = maximum(lo, x)
    return as_node(x) if hi is None else minimum(hi, x)


def reciprocal(x) -> Node:
    """``1 / x``."""
    return divide(1.0, x)


def square(x) -> Node:
    """``x * x``."""
    x = as_node(x)
    return multiply(x, x)


def maximum(a, b) -> Node:
    """Elementwise maximum; at ties each side gets half the gradient."""
    return make("maximum", as_nodes(a, b))


def minimum(a, b) -> Node:
    """Elementwise minimum; at ties each side gets half the gradient."""
    return make("minimum", as_nodes(a, b))


def _max_of_vjp(g, out, *xs):
    # Tied maxima share the gradient equally, as in the max reduction (not halved pairwise as nested maximums).
    wins = [cast(equal(x, out), out.dtype) for x in xs]
    share = g / functools.reduce(add, wins)
    return tuple(share * win for win in wins)


defop("max_of", "elementwise", _rule("max_of"), lambda *xs: functools.reduce(np.maximum, xs), vjp=_max_of_vjp,
      sympy=lambda sp, *xs: sp.Max(*xs), kernel=("expand", lambda *xs: functools.reduce(maximum, xs)))


def max_of(*xs) -> Node:
    """Elementwise maximum of two or more tensors (broadcasting), ties sharing the gradient equally: the max
    reduction over them stacked, without the stack (max pooling's windows)."""
    if len(xs) < 2:
        raise ValueError(f"max_of needs at least two tensors, got {len(xs)}")
    like = next((x for x in xs if isinstance(x, Node)), None)  # Python numbers take its dtype, as in maximum
    return make("max_of", [as_node(x) if like is None else as_node(x, like=like) for x in xs])


def _comparison(name: str):
    def build(a, b) -> Node:
        return make(name, as_nodes(a, b))

    build.__name__ = build.__qualname__ = name  # Python's argument errors name the op
    build.__doc__ = f"Elementwise ``{name}`` comparison (a boolean node, no gradient)."
    return build


less, less_equal = _comparison("less"), _comparison("less_equal")
greater, greater_equal = _comparison("greater"), _comparison("greater_equal")
equal, not_equal = _comparison("equal"), _comparison("not_equal")


def _where_rule(inputs, attrs):
    cond, a, b = inputs
    if cond.dtype != "bool":
        raise TypeError(f"where: the condition must be boolean, got {cond.dtype}")
    shape = broadcast_shapes(cond.shape, a.shape, b.shape, what="where")
    return shape, promote(a.dtype, b.dtype)


def _where_vjp(g, out, cond, a, b):
    zero = as_node(0.0, like=g)
    return None, where(cond, g, zero), where(cond, zero, g)


defop(
    "where", "elementwise", _where_rule, np.where, vjp=_where_vjp,
    sympy=lambda sp, c, a, b: sp.Piecewise((a, c), (b, True)), kernel=("select",),
)


def where(cond, a, b) -> Node:
    """``a`` where ``cond`` holds, else ``b`` (broadcasting; gradients flow to the chosen side)."""
    cond = as_node(cond)
    a, b = as_nodes(a, b)
    if cond.dtype != "bool":
        cond = not_equal(cond, 0)
    return make("where", [cond, a, b])
