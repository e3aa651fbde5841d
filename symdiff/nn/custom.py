"""User-made elementwise modules from SymPy: ``nn.elementwise("swish", "x*sigmoid(x)")``.

Each module becomes op-table records created at runtime: ``user.<name>`` and, lazily when a
derivative needs them, ``user.<name>.d1``, ``user.<name>.d2``, ... Each record carries a NumPy
reference (``sympy.lambdify``), a scalar code template for fused loops, a SymPy renderer and a VJP
that multiplies by the next derivative op, so every derivative order works and compiles.
Expressions may call ``sigmoid``, ``softplus`` and earlier user modules by name (composition).
SymPy is imported only when a module is made.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import Node
from ..ops import OPS, defop, make, scalar
from ..ops.convert import as_node
from ..ops.elementwise import same_shape, to_float
from ..ops.functions import FUNCTIONS
from ..ops.registry import MAKERS
from .activations import ACTIVATIONS, register_activation
from .expression import ExpressionError, parse_expression
from .module import Module

USER_PREFIX = "user."

_MODULES: dict[str, Elementwise] = {}


def _variable():
    import sympy

    return sympy.Symbol("x", real=True)


def _helpers() -> dict[str, Any]:
    """Names an expression string may call: sigmoid, softplus and the user modules made so far."""
    import sympy

    t = sympy.Symbol("t", real=True)
    helpers = {"sigmoid": sympy.Lambda(t, 1 / (1 + sympy.exp(-t))),
               "softplus": sympy.Lambda(t, sympy.log(1 + sympy.exp(t)))}
    helpers.update({name: sympy.Lambda(t, m.expr.subs(_variable(), t)) for name, m in _MODULES.items()})
    return helpers


def _heaviside(u, h0=None):
    import sympy

    if h0 is not None and h0 != sympy.S.Half:
        raise ValueError(f"Heaviside({u}, {h0}): only the midpoint value 1/2 at 0 is supported")
    return (1 + sympy.sign(u)) / 2


def conventional(expr):
    """``expr`` with steps written in the project's kink convention: ``Heaviside(u) = (1 + sign(u)) / 2``
    (1/2 at 0, the midpoint) and ``DiracDelta = 0`` (a step's derivative is zero, as sign's is), as are the
    derivatives of floor, ceiling and round (SymPy leaves them unevaluated)."""
    import sympy

    steps = (sympy.floor, sympy.ceiling, sympy.Function("round"))
    expr = expr.replace(lambda e: isinstance(e, sympy.Derivative) and e.expr.func in steps, lambda e: sympy.S.Zero)
    return expr.replace(sympy.DiracDelta, lambda *args: sympy.S.Zero).replace(sympy.Heaviside, _heaviside)


def parse(expr: Any, what: str):
    """``expr`` (a string, a SymPy expression of one symbol, or a one-argument Lambda) in the variable x."""
    import sympy

    if isinstance(expr, str):
        try:
            expr = parse_expression(expr, _variable(), _helpers())
        except ExpressionError as exc:
            raise ExpressionError(f"{what}: {exc}") from None
    if isinstance(expr, sympy.Lambda):
        if len(expr.variables) != 1:
            raise ValueError(f"{what}: the Lambda must take one argument, got {expr.variables}")
        return conventional(expr.expr.subs(expr.variables[0], _variable()))
    if not isinstance(expr, sympy.Expr):
        raise TypeError(f"{what}: expected an expression string, a SymPy expression or Lambda, got {expr!r}")
    free = sorted(expr.free_symbols, key=str)
    if len(free) > 1:
        raise ValueError(f"{what}: an elementwise function has one variable; {expr} has {[str(s) for s in free]}")
    return conventional(expr.subs(free[0], _variable()) if free else expr)


def _expansion(expr, x, what: str):
    """``a -> expr`` at ``a`` as a graph of built-in ops (how compiled kernels compute a user op), after checking
    that every function in ``expr`` has one."""
    from ..printing.errors import UnsupportedSympyError
    from ..printing.sympy_to_graph import convert

    try:
        convert(expr, {x.name: scalar("x")})
    except UnsupportedSympyError as exc:
        raise ValueError(f"{what}: {exc}") from exc
    return lambda a: convert(expr, {x.name: a})


class Elementwise(Module):
    """A parameter-free module applying a user-defined scalar function to every entry."""

    prefix = "elementwise"

    def __init__(self, name: str, expr) -> None:
        super().__init__(name)
        self.expr = expr
        self.text = expression_text(expr)  # what another process makes the module's ops from
        self.op_name = USER_PREFIX + name
        self._derivatives = [expr]
        self._define(0)

    def derivative(self, order: int):
        """The SymPy expression of the ``order``-th derivative (in the variable x)."""
        import sympy

        while len(self._derivatives) <= order:
            self._derivatives.append(conventional(sympy.diff(self._derivatives[-1], _variable())))
        return self._derivatives[order]

    def _define(self, order: int) -> str:
        """The op computing the ``order``-th derivative, registered on first use."""
        import sympy

        name = self.op_name if order == 0 else f"{self.op_name}.d{order}"
        if name in OPS:
            return name
        expr, x = self.derivative(order), _variable()
        what = f"elementwise {self.name!r}" + (f" (derivative {order})" if order else "")
        expand = _expansion(expr, x, what)
        # symdiff's NumPy references first: "numpy" alone maps erf/erfc to math's scalar functions
        compute = sympy.lambdify(x, expr, [{f.name: f.numpy for f in FUNCTIONS.values()}, "numpy"])
        defop(name, "elementwise", same_shape, lambda a: np.broadcast_to(compute(a), np.shape(a)),
              vjp=lambda g, out, a: (self._times_derivative(g, a, order + 1),),
              sympy=lambda sp, a: expr.subs(x, a), kernel=("expand", expand), definition=sympy.srepr(expr),
              remake=("elementwise", self.name, self.text, order))
        return name

    def _times_derivative(self, g: Node, x: Node, order: int) -> Node | None:
        d = self.derivative(order)
        if d == 0:
            return None
        if d.is_Number:
            return g * float(d)
        return g * make(self._define(order), [x])

    def forward(self, x: Node, *, training: bool) -> Node:
        return make(self.op_name, [to_float(as_node(x))])


def expression_text(expr) -> str:
    """``expr`` (in the variable x) as text :func:`parse` reads back to the same expression: SymPy's spelling, with
    float literals written as Python's ``repr`` (its shortest text that reads back to the same float)."""
    from sympy.printing.str import StrPrinter

    class Printer(StrPrinter):
        def _print_Float(self, number) -> str:  # noqa: N802 - SymPy's dispatch name
            return repr(float(number))

    return Printer().doprint(expr)


def remake(name: str, text: str, order: int) -> None:
    """In another process, the op of the ``order``-th derivative of the module ``name`` computing ``text`` (what
    ``OpDef.remake`` of the module's ops says; an unpickled compiled function reading them asks): the text is parsed
    by symdiff's grammar, never evaluated."""
    elementwise(name, text)._define(order)


MAKERS["elementwise"] = remake


def elementwise(name: str, expr: Any) -> Elementwise:
    """The elementwise module ``name`` computing ``expr`` (a string like ``"x*sigmoid(x)"``, a SymPy
    expression of one symbol, or a one-argument ``sympy.Lambda``); the derivatives come from SymPy.

    Making the same name with the same expression again returns the same module; a different
    expression under a taken name raises. The module is also available as ``get_activation(name)``.
    Expression strings are data: they are parsed by symdiff's own grammar (numbers, ``x``, ``pi``, ``E``,
    ``+ - * / **``, parentheses and named functions; see :mod:`symdiff.nn.expression`), never evaluated.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"elementwise: name {name!r} must be a Python identifier")
    parsed = parse(expr, f"elementwise {name!r}")
    existing = _MODULES.get(name)
    if existing is not None:
        if existing.expr != parsed:
            raise ValueError(f"elementwise: {name!r} is already defined as {existing.expr}, not {parsed}")
        return existing
    if name in ACTIVATIONS:
        raise ValueError(f"elementwise: {name!r} is a built-in activation; choose another name")
    module = Elementwise(name, parsed)
    register_activation(name, module)
    _MODULES[name] = module
    return module
