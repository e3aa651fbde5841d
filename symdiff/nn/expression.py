"""Expression strings as data: a small grammar of our own, parsed without evaluating anything.

``"x*sigmoid(x)"`` in a spec file or ``nn.elementwise`` is read by Python's ``ast`` parser (which only
parses) and walked here against a whitelist: numbers, the variable ``x``, the constants ``pi`` and ``E``,
``+ - * / **``, parentheses and the named functions below. Anything else (attributes, subscripts,
keyword arguments, lambdas, strings, other names) is rejected with the offending token and its column.
SymPy builds the expression from the walked tree, never from the text (``sympify`` evaluates its input).
Sizes are bounded so that no expression can hang: the text length, the number of tree nodes, the digits
of a literal and the size of a constant power (``9**9**9`` is refused before SymPy computes it).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from typing import Any

from ..ops.functions import FUNCTIONS

MAX_LENGTH = 2000
MAX_NODES = 400
MAX_LITERAL_DIGITS = 40
#: A constant power may have at most this many decimal digits (10**1000 is fine, 9**9**9 is not).
MAX_CONSTANT_DIGITS = 1000

_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


def _sympy_functions(sp) -> dict[str, Callable[..., Any]]:
    """Function name -> builder over SymPy arguments: the scalar table (NumPy spellings) plus SymPy's."""
    table: dict[str, Callable[..., Any]] = {
        name: (lambda *a, r=rec: r.sympy(sp, *a)) for name, rec in FUNCTIONS.items()}
    table.update({"abs": sp.Abs, "Abs": sp.Abs, "sign": sp.sign, "sinh": sp.sinh, "cosh": sp.cosh,
                  "Max": sp.Max, "max": sp.Max, "maximum": sp.Max, "Min": sp.Min, "min": sp.Min, "minimum": sp.Min,
                  "Heaviside": sp.Heaviside, "heaviside": sp.Heaviside,
                  "atan": table["arctan"], "atan2": table["arctan2"], "ceiling": table["ceil"]})
    return table


class ExpressionError(ValueError):
    """An expression string outside the grammar; the message names the token and its column."""


class _Builder:
    """Walks a parsed tree, building the SymPy expression bottom-up (iteratively: no recursion limit)."""

    def __init__(self, text: str, variable: Any, helpers: Mapping[str, Any]) -> None:
        import sympy

        self.sp, self.text, self.variable = sympy, text, variable
        self.names = {"x": variable, "pi": sympy.pi, "E": sympy.E}
        self.functions = _sympy_functions(sympy) | dict(helpers)

    def fail(self, node: ast.AST, what: str) -> ExpressionError:
        col = getattr(node, "col_offset", 0)
        token = ast.get_source_segment(self.text, node) or type(node).__name__
        return ExpressionError(f"{what}: {token!r} at column {col + 1} of {self.text!r}; expressions may use "
                               "numbers, x, pi, E, + - * / **, parentheses and the functions "
                               f"{', '.join(sorted(self.functions))}")

    def build(self, tree: ast.Expression) -> Any:
        done: dict[int, Any] = {}
        checked: set[int] = set()
        stack: list[ast.AST] = [tree.body]
        while stack:
            node = stack[-1]
            if id(node) not in checked:  # first visit, in reading order: the first bad token is reported
                self.check(node)
                checked.add(id(node))
            children = self.children(node)
            pending = [c for c in children if id(c) not in done]
            if pending:
                stack.extend(reversed(pending))
                continue
            stack.pop()
            done[id(node)] = self.combine(node, [done[id(c)] for c in children])
        return done[id(tree.body)]

    @staticmethod
    def children(node: ast.AST) -> list[ast.AST]:
        if isinstance(node, ast.BinOp):
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            return [node.operand]
        if isinstance(node, ast.Call):
            return list(node.args)
        return []

    def check(self, node: ast.AST) -> None:
        """Raises for a node outside the grammar (before any of its parts is built)."""
        if isinstance(node, ast.Constant):
            self.number(node)
        elif isinstance(node, ast.Name):
            if node.id not in self.names:
                raise self.fail(node, "unknown name (the variable is x)")
        elif isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in self.functions):
                raise self.fail(node.func, "unknown function")
            if node.keywords:
                raise self.fail(node.keywords[0], "keyword arguments are not allowed")
            for arg in node.args:
                if isinstance(arg, ast.Starred):
                    raise self.fail(arg, "starred arguments are not allowed")
        elif isinstance(node, ast.BinOp | ast.UnaryOp):
            if type(node.op) not in _OPERATORS and not isinstance(node.op, ast.USub | ast.UAdd):
                raise self.fail(node, "unsupported operator (use + - * / **)")
        else:
            raise self.fail(node, "not allowed")

    def combine(self, node: ast.AST, args: list[Any]) -> Any:
        sp = self.sp
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.names[node.id]
        if isinstance(node, ast.UnaryOp):
            return -args[0] if isinstance(node.op, ast.USub) else args[0]
        if isinstance(node, ast.BinOp):
            left, right = args
            if isinstance(node.op, ast.Pow):
                self.check_power(node, left, right)
                return left**right
            return {ast.Add: sp.Add, ast.Sub: lambda a, b: a - b, ast.Mult: sp.Mul,
                    ast.Div: lambda a, b: a / b}[type(node.op)](left, right)
        try:  # a call: check() admitted only known functions
            return self.functions[node.func.id](*args)
        except (TypeError, ValueError) as exc:
            raise self.fail(node, f"bad call ({exc})") from None

    def number(self, node: ast.Constant) -> Any:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(node, "not a real number")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(node, "not a finite number")
        digits = ast.get_source_segment(self.text, node) or ""
        if len(digits) > MAX_LITERAL_DIGITS:
            raise self.fail(node, f"number longer than {MAX_LITERAL_DIGITS} characters")
        return self.sp.Integer(value) if isinstance(value, int) else self.sp.Float(value)

    def check_power(self, node: ast.BinOp, base: Any, exponent: Any) -> None:
        """Refuses a constant power SymPy would compute to more than MAX_CONSTANT_DIGITS digits."""
        if not (base.is_number and exponent.is_number):
            return
        try:
            size = abs(float(exponent)) * math.log10(max(abs(float(base)), 1e-300))
        except (TypeError, OverflowError):
            raise self.fail(node, "constant power too large") from None
        if abs(size) > MAX_CONSTANT_DIGITS:
            raise self.fail(node, f"constant power with more than {MAX_CONSTANT_DIGITS} digits")


def parse_expression(text: str, variable: Any, helpers: Mapping[str, Any] | None = None) -> Any:
    """The SymPy expression of ``text`` in ``variable`` (named ``x`` in the text).

    ``helpers`` adds callable names (for example earlier user modules as ``sympy.Lambda``). Raises
    :class:`ExpressionError` (a ``ValueError``) naming the offending token for anything outside the grammar.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected an expression string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters ({len(text)})")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {text!r}: {exc.msg} at column {exc.offset}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(f"cannot parse {text!r}: too deeply nested or too large") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExpressionError(f"expression with more than {MAX_NODES} parts: {text[:60]!r}...")
    builder = _Builder(text.strip(), variable, helpers or {})
    expr = builder.build(tree)
    if expr.has(builder.sp.zoo, builder.sp.nan, builder.sp.oo, -builder.sp.oo):
        raise ExpressionError(f"{text!r} is not finite ({expr})")
    for number in builder.sp.preorder_traversal(expr):  # exact constants beyond float64 (10**1000, exp(exp(99)))
        if number.is_number and not _finite_float(number):
            shown = str(number) if len(str(number)) <= 40 else str(number)[:37] + "..."
            raise ExpressionError(f"{text!r}: {shown} is not a finite float64 number")
    return expr


def _finite_float(number) -> bool:
    try:
        return math.isfinite(float(number))
    except (OverflowError, TypeError):  # TypeError: a complex value
        return False
