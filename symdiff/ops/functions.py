"""The one table of scalar math functions: every consumer reads it, so a function is added in one place.

Each :class:`ScalarFunction` says how the reference evaluator computes it (``numpy``), how formulas and SymPy
interop write it (``sympy``), and how compiled kernels compute it (``kernel``: symdiff's own vectorizable body,
an LLVM intrinsic or a C library function, as data the code generator reads; ``libm``: the alternative used with
``sd.compile(..., libm=True)``). ``transcendental`` is the planner's cost class (worth a vectorized loop of its
own). The elementwise ops of the same names (``sd.exp``, ``sd.erf``, ...) are built from these records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ScalarFunction:
    """``kernel``/``libm``: ``"fast"`` (codegen/fastlib.py: float64, and float32 for exp/tanh/sigmoid; other float32
    callers convert around it),
    ``"llvm.<name>"`` (an LLVM intrinsic, float32 and float64) or ``"libm.<name>"`` (the C library, ``<name>f``
    for float32). ``numba`` is the spelling of the intrinsic/libm route in generated Numba source."""

    name: str
    arity: int
    numpy: Callable[..., Any]
    sympy: Callable[..., Any]  # (sympy module, *args) -> expression
    kernel: str
    numba: str
    libm: str | None = None
    transcendental: bool = True


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Two branches so neither exp overflows.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.zeros_like(x), x)


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(x)


def _erfc(x: np.ndarray) -> np.ndarray:
    from scipy.special import erfc

    return erfc(x)


_TABLE = [
    ScalarFunction("exp", 1, np.exp, lambda sp, a: sp.exp(a), "fast", "math.exp", "llvm.exp"),
    ScalarFunction("log", 1, np.log, lambda sp, a: sp.log(a), "fast", "math.log", "llvm.log"),
    ScalarFunction("log1p", 1, np.log1p, lambda sp, a: sp.log(1 + a), "fast", "math.log1p", "libm.log1p"),
    ScalarFunction("expm1", 1, np.expm1, lambda sp, a: sp.exp(a) - 1, "fast", "math.expm1", "libm.expm1"),
    ScalarFunction("tanh", 1, np.tanh, lambda sp, a: sp.tanh(a), "fast", "math.tanh", "libm.tanh"),
    ScalarFunction("sigmoid", 1, _sigmoid, lambda sp, a: 1 / (1 + sp.exp(-a)), "fast", "", "fast.libm"),
    ScalarFunction("softplus", 1, _softplus, lambda sp, a: sp.log(1 + sp.exp(a)), "fast", "", "fast.libm"),
    ScalarFunction("sqrt", 1, np.sqrt, lambda sp, a: sp.sqrt(a), "llvm.sqrt", "math.sqrt"),
    ScalarFunction("sin", 1, np.sin, lambda sp, a: sp.sin(a), "llvm.sin", "math.sin"),
    ScalarFunction("cos", 1, np.cos, lambda sp, a: sp.cos(a), "llvm.cos", "math.cos"),
    ScalarFunction("tan", 1, np.tan, lambda sp, a: sp.tan(a), "libm.tan", "math.tan"),
    ScalarFunction("sinh", 1, np.sinh, lambda sp, a: sp.sinh(a), "libm.sinh", "math.sinh"),
    ScalarFunction("cosh", 1, np.cosh, lambda sp, a: sp.cosh(a), "libm.cosh", "math.cosh"),
    ScalarFunction("arctan", 1, np.arctan, lambda sp, a: sp.atan(a), "libm.atan", "math.atan"),
    ScalarFunction("arctan2", 2, np.arctan2, lambda sp, a, b: sp.atan2(a, b), "libm.atan2", "math.atan2"),
    ScalarFunction("erf", 1, _erf, lambda sp, a: sp.erf(a), "libm.erf", "math.erf"),
    ScalarFunction("erfc", 1, _erfc, lambda sp, a: sp.erfc(a), "libm.erfc", "math.erfc"),
    ScalarFunction("log2", 1, np.log2, lambda sp, a: sp.log(a, 2), "llvm.log2", "np.log2"),
    ScalarFunction("log10", 1, np.log10, lambda sp, a: sp.log(a, 10), "llvm.log10", "np.log10"),
    ScalarFunction("exp2", 1, np.exp2, lambda sp, a: 2**a, "llvm.exp2", "np.exp2"),
    ScalarFunction("floor", 1, np.floor, lambda sp, a: sp.floor(a), "llvm.floor", "np.floor", transcendental=False),
    ScalarFunction("ceil", 1, np.ceil, lambda sp, a: sp.ceiling(a), "llvm.ceil", "np.ceil", transcendental=False),
    # NumPy rounds halves to even, as llvm.rint does in the default rounding mode
    ScalarFunction("round", 1, np.round, lambda sp, a: sp.Function("round")(a), "llvm.rint", "np.rint",
                   transcendental=False),
]

#: name -> record, in a stable order.
FUNCTIONS: dict[str, ScalarFunction] = {f.name: f for f in _TABLE}
#: Names of the functions worth a vectorized loop of their own (the planner's cost class).
TRANSCENDENTAL = frozenset(f.name for f in _TABLE if f.transcendental)
