"""One element of an elementwise node as a kernel IR expression, from the op record's ``kernel`` lowering.

The records say what to compute (symdiff.ops: ``("op", "add")``, ``("call", "exp")``, ...); this module is the one
reader that turns that into typed IR: arguments converted to the dtype the operation takes, symdiff's float64 fast
functions wrapped in conversions for float32 nodes (so float32 results round after every op, as NumPy's do), and
the exponents NumPy computes without pow (2, 3, 0.5, -1) written as it writes them.
"""

from __future__ import annotations

from collections.abc import Callable

from symdiff.ir import Node
from symdiff.ops import OPS, constant_value
from symdiff.ops.convert import promote
from symdiff.ops.functions import FUNCTIONS

from . import kir
from .fastlib import FLOAT32_NAMES


class MissingLoweringError(NotImplementedError):
    """An op has no kernel lowering (the message names the op)."""


def scalar_expr(node: Node, args: list[kir.Expr], expand: Callable[[Node], kir.Expr]) -> kir.Expr:
    """The IR computing one element of ``node`` from its arguments' elements. ``expand(graph)`` lowers a graph
    built over placeholder inputs (ops that are defined as compositions of other ops)."""
    spec = OPS[node.op].kernel
    if spec is None:
        raise MissingLoweringError(f"op {node.op!r} has no lowering for compiled kernels")
    kind, *rest = spec
    dtype = node.dtype
    if kind == "identity":
        return kir.cast(args[0], dtype)
    if kind == "cast":
        return kir.cast(args[0], dtype)
    if kind == "op":
        return kir.op(rest[0], *(kir.cast(a, dtype) for a in args))
    if kind == "compare":
        common = promote(*(i.dtype for i in node.inputs))
        return kir.op(rest[0], *(kir.cast(a, common) for a in args))
    if kind == "select":
        test, yes, no = args
        return kir.select(test, kir.cast(yes, dtype), kir.cast(no, dtype))
    if kind == "sign":
        x = kir.cast(args[0], dtype)
        if dtype in kir.FLOATS:
            return kir.op("sign", x)
        one, zero = kir.const(1, dtype), kir.const(0, dtype)
        return kir.select(kir.op("gt", x, zero), one, kir.select(kir.op("lt", x, zero), kir.op("neg", one), zero))
    if kind == "power":
        return _power(node, [kir.cast(a, dtype) for a in args])
    if kind == "call":
        return _call(rest[0], [kir.cast(a, dtype) for a in args], dtype)
    if kind == "expand":
        return expand(rest[0](*node.inputs))
    raise MissingLoweringError(f"op {node.op!r}: unknown lowering {spec!r}")


def _call(function: str, args: list[kir.Expr], dtype: str) -> kir.Expr:
    record = FUNCTIONS[function]
    own_float32 = dtype == "float32" and function in FLOAT32_NAMES
    if record.kernel.startswith("fast") and dtype != "float64" and not own_float32:
        # a fast function without a float32 algorithm computes in float64; float32 rounds once after
        return kir.cast(kir.call(function, *(kir.cast(a, "float64") for a in args)), dtype)
    return kir.call(function, *args)


#: Exponents computed without pow: NumPy's own fast paths (2, 0.5, -1) plus 3, all equal to pow at +-0, +-inf and
#: overflow (1/(x*x) and 1/sqrt(x) are not: x = -0.0, -inf or 1e160 gave other values).
def _power(node: Node, args: list[kir.Expr]) -> kir.Expr:
    x, y = args
    exponent = constant_value(node.inputs[1])
    value = float(exponent.flat[0]) if exponent is not None and exponent.size == 1 else None
    if value == 2.0:
        return kir.op("mul", x, x)
    if value == 3.0:
        return kir.op("mul", kir.op("mul", x, x), x)
    if value == 0.5:
        return kir.call("sqrt", x)
    if value == -1.0:
        return kir.op("div", kir.const(1.0, x.dtype), x)
    return kir.op("pow", x, y)
