"""Unary elementwise ops: exp, log, tanh, ... plus cast and stop_gradient.

Each record sits next to its derivative. Derivatives reuse the op's own output
(``out``) where the maths allows, so backward graphs share forward nodes.
"""

from __future__ import annotations

import numpy as np

from ..ir import Node, normalize_dtype
from .convert import as_node, is_float
from .registry import defop, make


def same_shape(inputs: tuple[Node, ...], attrs: dict) -> tuple:
    return inputs[0].shape, inputs[0].dtype


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Two branches so neither exp overflows.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.zeros_like(x), x)


def _unary(name: str, numpy, vjp, sympy, scalar, keeps_ints: bool = False):
    defop(name, "elementwise", same_shape, numpy, vjp=vjp, sympy=sympy, scalar=scalar)

    def build(x) -> Node:
        x = as_node(x)
        return make(name, [x if keeps_ints else to_float(x)])

    build.__name__ = name
    build.__doc__ = f"Elementwise {name} (NumPy semantics; integer inputs become float64)."
    return build


_negative = _unary("negative", np.negative, lambda g, out, x: (-g,), lambda sp, a: -a, "(-{0})", keeps_ints=True)
exp = _unary("exp", np.exp, lambda g, out, x: (g * out,), lambda sp, a: sp.exp(a), "exp({0})")
log = _unary("log", np.log, lambda g, out, x: (g / x,), lambda sp, a: sp.log(a), "log({0})")
log1p = _unary("log1p", np.log1p, lambda g, out, x: (g / (1.0 + x),), lambda sp, a: sp.log(1 + a), "log1p({0})")
expm1 = _unary("expm1", np.expm1, lambda g, out, x: (g * (out + 1.0),), lambda sp, a: sp.exp(a) - 1, "expm1({0})")
sqrt = _unary("sqrt", np.sqrt, lambda g, out, x: (g * 0.5 / out,), lambda sp, a: sp.sqrt(a), "sqrt({0})")
sin = _unary("sin", np.sin, lambda g, out, x: (g * cos(x),), lambda sp, a: sp.sin(a), "sin({0})")
cos = _unary("cos", np.cos, lambda g, out, x: (-(g * sin(x)),), lambda sp, a: sp.cos(a), "cos({0})")
tanh = _unary("tanh", np.tanh, lambda g, out, x: (g * (1.0 - out * out),), lambda sp, a: sp.tanh(a), "tanh({0})")
sigmoid = _unary(
    "sigmoid", _sigmoid, lambda g, out, x: (g * (out * (1.0 - out)),),
    lambda sp, a: 1 / (1 + sp.exp(-a)), "sigmoid({0})",
)
softplus = _unary(
    "softplus", _softplus, lambda g, out, x: (g * sigmoid(x),), lambda sp, a: sp.log(1 + sp.exp(a)), "softplus({0})"
)
# abs'(0) = sign(0) = 0: the midpoint of the subdifferential [-1, 1] (see docs/CONVENTIONS.md).
abs = _unary("abs", np.abs, lambda g, out, x: (g * sign(x),), lambda sp, a: sp.Abs(a), "abs({0})", True)  # noqa: A001
sign = _unary("sign", np.sign, lambda g, out, x: (None,), lambda sp, a: sp.sign(a), "sign({0})", True)


def negative(x) -> Node:
    """Elementwise negation; ``-(-x)`` is ``x``."""
    x = as_node(x)
    return x.inputs[0] if x.op == "negative" else _negative(x)


def _cast_vjp(g: Node, out: Node, x: Node, dtype: str):
    return (cast(g, x.dtype) if is_float(x) else None,)


def _cast_sympy(sp, a, dtype: str):
    # A condition cast to a number is 1 or 0; a number cast to bool is "nonzero" (SymPy keeps the two apart).
    logic = sp.logic.boolalg
    is_condition = bool(a.is_Relational) or isinstance(a, logic.BooleanFunction | logic.BooleanAtom)
    if dtype == "bool":
        return a if is_condition else sp.Ne(a, 0)
    return sp.Piecewise((1, a), (0, True)) if is_condition else a


defop(
    "cast", "elementwise", lambda inputs, attrs: (inputs[0].shape, attrs["dtype"]),
    lambda x, dtype: x.astype(dtype), vjp=_cast_vjp, sympy=_cast_sympy, scalar="{0}",
)
defop(
    "stop_gradient", "elementwise", same_shape, lambda x: x,
    vjp=lambda g, out, x: (None,), sympy=lambda sp, a: a, scalar="{0}",
)


def cast(x, dtype) -> Node:
    """``x`` converted to ``dtype`` (``float32``, ``float64``, ``int32``, ``int64``, ``bool``)."""
    x = as_node(x)
    dtype = normalize_dtype(dtype, "cast")
    return x if x.dtype == dtype else make("cast", [x], dtype=dtype)


def to_float(x: Node) -> Node:
    """Integer/bool nodes become float64, as NumPy's float ufuncs do."""
    return x if is_float(x) else cast(x, "float64")


def stop_gradient(x) -> Node:
    """Identity whose derivative is zero: gradients do not flow through it."""
    x = as_node(x)
    return x if x.op in ("constant", "stop_gradient") else make("stop_gradient", [x])
