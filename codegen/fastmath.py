"""Vectorizable transcendental functions for generated Numba kernels (algorithms: fastmath_ir.py).

Inside Numba loops ``math.exp`` / ``math.log`` / ``math.tanh`` become calls to scalar libm, which
blocks LLVM's loop vectorizer (PyPI llvmlite has no SVML).  fast_exp, fast_expm1, fast_log,
fast_log1p, fast_tanh, fast_sigmoid and fast_softplus use only arithmetic, bit casts and selects,
so ``for i in range(n): out[i] = fast_exp(x[i])`` vectorizes without fastmath.  float32 / integer /
boolean arguments are promoted to float64 and the caller casts the result back on store.

Usage notes:
* The public functions are Numba ``@intrinsic``s, callable from ``numba.njit`` code only.  A
  call costs the caller one type check and one LLVM call, so almost no compile time.  On first
  use in a process each is built (fastmath_ir.define_fast_function) into an ``alwaysinline``
  function in a small Numba code library of its own, which callers link: LLVM inlines it and
  vectorizes the caller's loop.  Cached callers (cache=True) store the inlined
  machine code; no addresses are baked in.
* Caller ``fastmath`` flags never reach this code (Numba sets them in the caller's own module;
  inlined instructions keep theirs), so the rounding tricks and special-case selects give the
  same bits even under fastmath=True.  The caller's own arithmetic around the calls follows its
  flags.
* Polynomials use llvm.fmuladd (FMA where the CPU has one, else mul + add), so results may
  differ by an ulp between FMA and non-FMA machines.
* Divisions are plain fdiv: no ZeroDivisionError branch, whatever the caller's error_model.
* This file is copied into generated modules right after fastmath_ir.py, without the line
  importing from it: it imports only numpy, numba and llvmlite otherwise, and its private names
  start with _fm_ / _FM_ so they do not clash with generated code.

FUNCTIONS (fastmath_ir.py) maps a name to ``(fast_function_name, libm_template)``; the code generator emits
``fast_exp(<arg>)`` or ``FUNCTIONS["exp"][1].format(<arg>)`` (e.g. ``math.exp(<arg>)``)
depending on the user's libm setting.  Templates are parenthesized expressions that may use
``{0}`` more than once, so pass a plain variable name as the argument.
"""
import math  # noqa: F401  (the libm templates below run as math.exp(...) in generated modules)

import numba  # noqa: F401  (unused here; the generated modules this file heads use numba and np)
import numpy as np  # noqa: F401
from numba import types
from numba.extending import intrinsic

from .fastmath_ir import _FM_BODIES, FUNCTIONS, declare_fast_function, define_fast_function, fast_function_name  # noqa: F401

_FM_LIBRARIES = {}  # (codegen, name) -> finalized Numba code library defining the fast function


def _fm_library(context, name):
    # the library defining the function, built on first use in the process; not emitted into the
    # caller's module, where Numba would add the caller's fastmath flags to its instructions
    key = (context.codegen(), name)
    if key not in _FM_LIBRARIES:
        library = context.codegen().create_library(fast_function_name(name))
        module = library.create_ir_module(fast_function_name(name))
        define_fast_function(module, name)
        library.add_ir_module(module)
        library.finalize()
        _FM_LIBRARIES[key] = library
    return _FM_LIBRARIES[key]


def _fm_public(name):
    """The intrinsic ``fast_<name>(x) -> float64`` over fastmath_ir's algorithm ``name``."""

    def codegen(context, builder, sig, args):
        x = context.cast(builder, args[0], sig.args[0], types.float64)
        context.add_linking_libs([_fm_library(context, name)])
        return builder.call(declare_fast_function(builder.module, name), [x])

    def typer(typingctx, x):
        if isinstance(x, (types.Float, types.Integer, types.Boolean)):
            return types.float64(x), codegen
        return None  # any other argument type: Numba reports a typing error

    typer.__name__ = typer.__qualname__ = f"fast_{name}"
    typer.__doc__ = _FM_BODIES[name].__doc__
    return intrinsic(typer)


fast_exp = _fm_public("exp")
fast_expm1 = _fm_public("expm1")
fast_log = _fm_public("log")
fast_log1p = _fm_public("log1p")
fast_tanh = _fm_public("tanh")
fast_sigmoid = _fm_public("sigmoid")
fast_softplus = _fm_public("softplus")
