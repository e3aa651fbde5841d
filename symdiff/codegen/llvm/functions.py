"""Calls of scalar math functions in the LLVM lowering, as the function table (symdiff.ops.functions) says: LLVM
intrinsics, the C library (bound per process to this interpreter's libm), or symdiff's fast functions
(fastlib.py), which are lowered once per module into ``alwaysinline`` functions on scalars or SIMD vectors."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import llvmlite.binding as llvm
from llvmlite import ir

from symdiff.ops.functions import FUNCTIONS

from .. import kir
from ..fastlib import fast_function
from .dtypes import F64, REGISTER
from .unit import external

_LIBM_PREFIX = "symdiff_libm_"  # own names: the JIT's symbol table is shared with other libraries (Numba)


def intrinsic(module: ir.Module, name: str, ty: ir.Type, nargs: int = 1) -> ir.Function:
    """The LLVM intrinsic ``name`` ("llvm.fabs") on ``ty`` (double, float or a vector of them), declared once per
    type (llvmlite's declare_intrinsic cannot name vector overloads)."""
    element = ty.element if isinstance(ty, ir.VectorType) else ty
    suffix = "f64" if element == F64 else "f32"
    symbol = f"{name}.v{ty.count}{suffix}" if isinstance(ty, ir.VectorType) else f"{name}.{suffix}"
    return external(module, symbol, ir.FunctionType(ty, [ty] * nargs))


def libm_symbols() -> list[str]:
    """Every C library function a kernel may call, float64 and float32 versions."""
    names = {spec.split(".", 1)[1] for f in FUNCTIONS.values() for spec in (f.kernel, f.libm or "")
             if spec.startswith("libm.")}
    return sorted(n + suffix for n in names for suffix in ("", "f"))


@functools.cache  # once per process
def bind_libm() -> None:
    """Point the ``symdiff_libm_*`` symbols at this process's C math library (the one Python's math module uses)."""
    library = ctypes.CDLL(ctypes.util.find_library("m") or None)
    for symbol in libm_symbols():
        llvm.add_symbol(_LIBM_PREFIX + symbol, ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value)


def lowering_of(call: kir.Call, libm: bool) -> str:
    """How ``call`` is computed: "fast", "fast.libm", "llvm.<name>" or "libm.<name>"."""
    if call.function in FUNCTIONS:
        record = FUNCTIONS[call.function]
        return record.libm if libm and record.libm else record.kernel
    raise NotImplementedError(f"LLVM lowering: no lowering for the function {call.function!r}")


def call_function(lowering, call: kir.Call, args: list[ir.Value]) -> ir.Value:
    """The value of ``call`` inside ``lowering`` (a FunctionLowering), on scalars or vectors."""
    b, unit = lowering.b, lowering.unit
    route = lowering_of(call, unit.kernel.libm)
    ty = args[0].type
    if route.startswith("llvm."):
        return b.call(intrinsic(b.module, route, ty, len(args)), args, fastmath=unit.flags)
    if route.startswith("libm."):
        symbol = _LIBM_PREFIX + route[5:] + ("f" if call.dtype == "float32" else "")
        scalar = REGISTER[call.dtype]
        fn = external(b.module, symbol, ir.FunctionType(scalar, [scalar] * len(args)))
        if not isinstance(ty, ir.VectorType):
            return b.call(fn, args, fastmath=unit.flags)
        result = ir.Constant(ty, ir.Undefined)  # no vector libm: one call per lane
        for k in range(ty.count):
            lane = b.call(fn, [b.extract_element(a, ir.IntType(32)(k)) for a in args], fastmath=unit.flags)
            result = b.insert_element(result, lane, ir.IntType(32)(k))
        return result
    fn = define_fast(b.module, call.function, ty, call.dtype, route == "fast.libm")
    return b.call(fn, args)  # the caller's fast-math flags never reach the fast functions' own arithmetic


def define_fast(module: ir.Module, name: str, ty: ir.Type, dtype: str, libm: bool = False) -> ir.Function:
    """``name``'s fast function on ``ty`` (a ``dtype`` scalar or SIMD vector) in ``module``: defined once,
    internal, always inlined (inlining is what lets the caller's loop vectorize)."""
    lanes = ty.count if isinstance(ty, ir.VectorType) else 1
    width = dtype.replace("float", "f")
    symbol = f"symdiff_fast_{name}{'_libm' if libm else ''}_{width if lanes == 1 else f'v{lanes}{width}'}"
    fn = module.globals.get(symbol)
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(ty, [ty]), symbol)
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    definition = fast_function(name, libm, dtype)
    from .expressions import ExpressionLowering
    from .unit import Unit

    unit = Unit(module, kir.Kernel([], libm=True))  # no fast-math flags; C-library calls as the body says
    body = ExpressionLowering(unit, ir.IRBuilder(fn.append_basic_block("entry")), lanes)
    body.b.ret(body.expr(definition.body, {id(definition.x): fn.args[0]}))
    return fn
