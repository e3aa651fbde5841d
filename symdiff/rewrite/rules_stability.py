"""Stability rewrites: replace formulas that overflow or lose precision by their stable forms.

They agree with the original wherever the original is finite (up to rounding, which they improve);
where the original overflows to inf/NaN they return the finite true value.
"""

from __future__ import annotations

from .. import ops
from .facts import known_nonnegative
from .patterns import Const, P, Rule, Var

x, z, s = Var("x"), Var("z"), Var("s")

STABILITY_RULES = [
    # log(softmax(z)) = log(exp(z) / s) -> z - log(s): the log_softmax graph, without log(0).
    Rule("log(exp(z) / s) -> z - log(s)", P.log(P.divide(P.exp(z), s)), lambda m: m.z - ops.log(m.s)),
    Rule("log(sigmoid(x)) -> -softplus(-x)", P.log(P.sigmoid(x)), lambda m: -ops.softplus(-m.x)),
    Rule("log(1 + x) -> log1p(x)", P.log(P.add(Const(value=1), x)), lambda m: ops.log1p(m.x)),
    Rule("exp(x) - 1 -> expm1(x)", P.subtract(P.exp(x), Const(value=1)), lambda m: ops.expm1(m.x)),
    Rule("-1 + exp(x) -> expm1(x)", P.add(Const(value=-1), P.exp(x)), lambda m: ops.expm1(m.x)),
    Rule("log(exp(x)) -> x", P.log(P.exp(x)), lambda m: m.x),
    # log(x) is NaN for negative x, so exp(log(x)) is x only where x cannot be negative.
    Rule("exp(log(x)) -> x (x >= 0)", P.exp(P.log(x)), lambda m: m.x, guard=lambda m: known_nonnegative(m.x)),
]
