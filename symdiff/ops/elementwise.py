"""Unary elementwise ops: the scalar functions of the table (exp, log, tanh, erf, ...), negation, abs, sign, cast
and stop_gradient.

Each record sits next to its derivative. Derivatives reuse the op's own output
(``out``) where the maths allows, so backward graphs share forward nodes.
"""

from __future__ import annotations

import numpy as np

from ..ir import Node, normalize_dtype
from .convert import as_node, is_float
from .functions import FUNCTIONS
from .registry import defop, make


def same_shape(inputs: tuple[Node, ...], attrs: dict) -> tuple:
    return inputs[0].shape, inputs[0].dtype


def _unary(name: str, vjp, keeps_ints: bool = False, numpy=None, sympy=None, kernel=None):
    """Register op ``name``: a function of the scalar function table (its NumPy reference, SymPy form and kernel
    lowering come from there) unless ``numpy``/``sympy``/``kernel`` are given; returns its builder."""
    record = FUNCTIONS.get(name)
    defop(name, "elementwise", same_shape, numpy or record.numpy, vjp=vjp, sympy=sympy or record.sympy,
          kernel=kernel or ("call", name))

    def build(x) -> Node:
        x = as_node(x)
        return make(name, [x if keeps_ints else to_float(x)])

    build.__name__ = build.__qualname__ = name  # Python's argument errors name the op
    build.__doc__ = f"Elementwise {name} (NumPy semantics; integer inputs become float64)."
    return build


_LN2, _LN10, _TWO_OVER_SQRT_PI = float(np.log(2.0)), float(np.log(10.0)), float(2.0 / np.sqrt(np.pi))

_negative = _unary("negative", lambda g, out, x: (-g,), True, np.negative, lambda sp, a: -a, ("op", "neg"))
exp = _unary("exp", lambda g, out, x: (g * out,))
_log = _unary("log", lambda g, out, x: (g / x,))
log1p = _unary("log1p", lambda g, out, x: (g / (1.0 + x),))
expm1 = _unary("expm1", lambda g, out, x: (g * (out + 1.0),))
sqrt = _unary("sqrt", lambda g, out, x: (g * 0.5 / out,))
sin = _unary("sin", lambda g, out, x: (g * cos(x),))
cos = _unary("cos", lambda g, out, x: (-(g * sin(x)),))
tan = _unary("tan", lambda g, out, x: (g * (1.0 + out * out),))
sinh = _unary("sinh", lambda g, out, x: (g * cosh(x),))
cosh = _unary("cosh", lambda g, out, x: (g * sinh(x),))
arctan = _unary("arctan", lambda g, out, x: (g / (1.0 + x * x),))
# tanh'(x) = 1 - t^2 with t = tanh(x), as formulas and every derivative order see it (polynomials in t), but
# computed from x: 1 - t*t (and JAX's (1 - t)(1 + t)) inherit t's rounding, relative error 1e-8 at |x| = 10,
# 2e-4 at 15, and 0 for every |x| > 19 where t rounds to +-1.
tanh = _unary("tanh", lambda g, out, x: (g * make("tanh_grad", [out, x]),))


def _tanh_grad_kernel(t: Node, x: Node) -> Node:
    # sech^2(x) = 4e / (1 + e)^2 with e = exp(-2|x|) <= 1: no overflow, a few ulps everywhere
    e = exp(-2.0 * abs(x))
    return (4.0 * e) / ((1.0 + e) * (1.0 + e))


# tanh_grad(t, x) is 1 - t^2 for t = tanh(x) (only tanh's derivative builds it): its value is taken from x, its
# derivative from t, which is exact on that curve (d/dx = -2t t' and the x side contributes nothing).
defop("tanh_grad", "elementwise", same_shape, lambda t, x: 1.0 / np.cosh(x) ** 2,
      vjp=lambda g, out, t, x: (g * (-2.0 * t), None), sympy=lambda sp, t, x: 1 - t**2,
      kernel=("expand", _tanh_grad_kernel))
sigmoid = _unary("sigmoid", lambda g, out, x: (g * (out * (1.0 - out)),))
softplus = _unary("softplus", lambda g, out, x: (g * sigmoid(x),))
erf = _unary("erf", lambda g, out, x: (g * (_TWO_OVER_SQRT_PI * exp(-(x * x))),))
erfc = _unary("erfc", lambda g, out, x: (-(g * (_TWO_OVER_SQRT_PI * exp(-(x * x)))),))
log2 = _unary("log2", lambda g, out, x: (g / (x * _LN2),))
log10 = _unary("log10", lambda g, out, x: (g / (x * _LN10),))
exp2 = _unary("exp2", lambda g, out, x: (g * (out * _LN2),))
# steps: zero derivative (the midpoint convention at their jumps would be a Dirac delta's; all frameworks use 0)
floor = _unary("floor", lambda g, out, x: (None,))
ceil = _unary("ceil", lambda g, out, x: (None,))
round = _unary("round", lambda g, out, x: (None,))  # noqa: A001 - NumPy's name; halves round to even
# abs'(0) = sign(0) = 0: the midpoint of the subdifferential [-1, 1] (see docs/CONVENTIONS.md).
abs = _unary("abs", lambda g, out, x: (g * sign(x),), True, np.abs, lambda sp, a: sp.Abs(a), ("op", "abs"))  # noqa: A001
_sign = _unary("sign", lambda g, out, x: (None,), True, np.sign, lambda sp, a: sp.sign(a), ("sign",))


def log(x) -> Node:
    """Elementwise natural log (integer inputs become float64). The log of an exp is its argument, of a softmax
    ``exp(z) / s`` is ``z - log(s)`` and of a sigmoid ``-softplus(-x)``: the same values where they are finite, and
    the derivative stays finite where the exp overflows or the probability underflows (``p' / p`` is 0/0 there)."""
    x = as_node(x)
    if x.op == "exp":
        return x.inputs[0]
    if x.op == "divide" and x.inputs[0].op == "exp":
        return make("subtract", [x.inputs[0].inputs[0], log(x.inputs[1])])
    if x.op == "sigmoid":
        return negative(softplus(negative(x.inputs[0])))
    return _log(x)


def _numeric(name: str, x, instead: str) -> Node:
    """``x`` as a node, refused when it is bool: NumPy has no ``name`` of bools either (kernels none at all)."""
    x = as_node(x)
    if x.dtype == "bool":
        raise TypeError(f"{name}: expected a numeric tensor, got dtype bool (NumPy refuses it too); {instead}")
    return x


def negative(x) -> Node:
    """Elementwise negation; ``-(-x)`` is ``x``."""
    x = _numeric("negative", x, "for its logical not, use sd.equal(x, False)")
    return x.inputs[0] if x.op == "negative" else _negative(x)


def sign(x) -> Node:
    """Elementwise sign: -1, 0 or 1 in ``x``'s dtype (integers stay integers)."""
    return _sign(_numeric("sign", x, "cast it first, e.g. sd.sign(x.astype('int32'))"))


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
    lambda x, dtype: x.astype(dtype), vjp=_cast_vjp, sympy=_cast_sympy, kernel=("cast",),
)
defop(
    "stop_gradient", "elementwise", same_shape, lambda x: x,
    vjp=lambda g, out, x: (None,), sympy=lambda sp, a: a, kernel=("identity",),
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
