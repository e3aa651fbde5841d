"""Algebraic identities and a canonical operand order for commutative ops.

Every rule here is exact for finite values, and exact in IEEE arithmetic too unless guarded by
:func:`known_finite`: ``x * 0 -> 0`` would turn an inf/NaN ``x`` into 0, so it fires only when ``x``
is known finite. (``x - x`` becomes ``0 * x`` by like-term collection, so the same guard applies.)
"""

from __future__ import annotations

from .. import ops
from ..ir import Node
from .facts import known_finite, order_key
from .patterns import Const, Match, P, Rule, Var

a, b, x = Var("a"), Var("b"), Var("x")
c, d = Const("c"), Const("d")
zero, one = Const(value=0), Const(value=1)

# not maximum/minimum: on a tie of -0.0 and 0.0 NumPy returns the second operand, so their order is the value's sign
COMMUTATIVE = ("add", "multiply", "equal", "not_equal")


def _swapped(m: Match) -> Node | None:
    """The same commutative op with its operands in canonical order, or None when already ordered."""
    if order_key(m.b) < order_key(m.a):
        return ops.make(m.node.op, [m.b, m.a])
    return None


ORDER_RULES = [
    Rule(f"order operands of {op}", getattr(P, op)(a, b), _swapped) for op in COMMUTATIVE
]

IDENTITY_RULES = [
    Rule("0 + x -> x", P.add(zero, x), lambda m: m.x),
    Rule("x - 0 -> x", P.subtract(x, zero), lambda m: m.x),
    Rule("0 - x -> -x", P.subtract(zero, x), lambda m: -m.x),
    Rule("1 * x -> x", P.multiply(one, x), lambda m: m.x),
    Rule("-1 * x -> -x", P.multiply(Const(value=-1), x), lambda m: -m.x),
    Rule("0 * x -> 0 (x finite)", P.multiply(zero, x), lambda m: ops.zeros_like(m.node),
         guard=lambda m: known_finite(m.x)),
    Rule("x / 1 -> x", P.divide(x, one), lambda m: m.x),
    Rule("x ** 1 -> x", P.power(x, one), lambda m: m.x),
    Rule("x ** 0 -> 1", P.power(x, zero), lambda m: ops.ones_like(m.node)),
    Rule("-(-x) -> x", P.negative(P.negative(x)), lambda m: m.x),
    Rule("where(c, x, x) -> x", P.where(Var("cond"), x, x), lambda m: m.x),
]

SIGN_RULES = [
    Rule("-(c * x) -> (-c) * x", P.negative(P.multiply(c, x)), lambda m: ops.multiply(-m.c, m.x)),
    Rule("c * -x -> (-c) * x", P.multiply(c, P.negative(x)), lambda m: ops.multiply(-m.c, m.x)),
    Rule("a + -b -> a - b", P.add(a, P.negative(b)), lambda m: m.a - m.b),
    Rule("-a + b -> b - a", P.add(P.negative(a), b), lambda m: m.b - m.a),
    Rule("a - -b -> a + b", P.subtract(a, P.negative(b)), lambda m: m.a + m.b),
    Rule("-(a - b) -> b - a", P.negative(P.subtract(a, b)), lambda m: m.b - m.a),
]

CONSTANT_RULES = [
    Rule("c * (d * x) -> (c * d) * x", P.multiply(c, P.multiply(d, x)), lambda m: ops.multiply(m.c * m.d, m.x)),
    Rule("c + (d + x) -> (c + d) + x", P.add(c, P.add(d, x)), lambda m: ops.add(m.c + m.d, m.x)),
]

ALGEBRA_RULES = IDENTITY_RULES + CONSTANT_RULES + SIGN_RULES + ORDER_RULES
