"""Calls in kernel text: NumPy casts, math (libm or symdiff's fast functions), helpers inlined from the
module's own definitions, ``gemm`` and the kernel's ``_partN`` functions."""

from __future__ import annotations

import ast
import functools

import numpy as np
from llvmlite import ir

from ..fastmath_ir import define_fast_function, math_intrinsic
from .kinds import FLOATS, I32, I64, NUMPY_NAMES, REGISTER, Buffer, NativeUnsupportedError, Value, convert

# As Numba lowers math.*: LLVM intrinsics for these, the C library (f-suffixed for float32) for the others.
_INTRINSICS = {"exp": "llvm.exp", "log": "llvm.log", "sqrt": "llvm.sqrt", "sin": "llvm.sin", "cos": "llvm.cos"}
_EXTERNS = ("tanh", "log1p", "expm1")
_LIBM_PREFIX = "symdiff_libm_"  # own names: the JIT's symbol table is shared with other libraries


@functools.cache  # once per process
def bind_libm() -> None:
    """Point the ``symdiff_libm_*`` symbols at the C library's functions, as loaded in this process (Python's
    math module uses the same ones)."""
    import ctypes

    import llvmlite.binding as llvm

    libm = ctypes.CDLL(None)
    for name in _EXTERNS:
        for symbol in (name, name + "f"):
            llvm.add_symbol(_LIBM_PREFIX + symbol, ctypes.cast(getattr(libm, symbol), ctypes.c_void_p).value)


def call(lowering, node: ast.Call) -> Value:
    """The value of call ``node`` inside ``lowering`` (a FunctionLowering)."""
    if node.keywords:
        raise NativeUnsupportedError(f"keyword arguments: {ast.unparse(node)!r}")
    func, unit = node.func, lowering.unit
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        owner, attr = func.value.id, func.attr
        if owner == "np" and attr in NUMPY_NAMES:
            (arg,) = node.args
            kind = NUMPY_NAMES[attr]
            return Value(convert(lowering.builder, lowering.expr(arg), kind), kind)
        if owner == "math":
            return math_call(lowering, attr, [lowering.expr(a) for a in node.args])
        if attr == "reshape":  # a flat alias of a C-contiguous array: the same pointer
            return lowering.variable(owner, id(func.value))
    if not isinstance(func, ast.Name):
        raise NativeUnsupportedError(f"call {ast.unparse(node)!r}")
    name = func.id
    if name == "_overlap":
        return _overlap(lowering, [lowering.expr(a) for a in node.args])
    if name in unit.inline:
        tree = unit.inline[name]
        lowering.bound.append({p.arg: lowering.expr(a) for p, a in zip(tree.args.args, node.args)})
        try:
            return lowering.expr(tree.body[-1].value)
        finally:
            lowering.bound.pop()
    args = [lowering.expr(a) for a in node.args]
    target = unit.aliases.get(name, ("builtin", name))
    if target[0] == "index":
        return Value(convert(lowering.builder, args[0], "int64"), "int64")
    if target[0] == "math":
        return math_call(lowering, target[1], args)
    if target[0] == "fast":
        (x,) = args
        fn = define_fast_function(lowering.builder.module, target[1])
        fn.linkage = "internal"  # inlined; an exported copy would clash with other kernels' in the JIT's symbols
        value = lowering.builder.call(fn, [convert(lowering.builder, x, "float64")], fastmath=unit.flags)
        return Value(value, "float64")
    if name == "abs":
        return absolute(lowering.builder, args[0], unit.flags)
    if name == "gemm":
        return _gemm(lowering, args)
    if name in unit.parts:
        return _part(lowering, name, args)
    raise NativeUnsupportedError(f"call of {name!r}")


def math_call(lowering, name: str, args: list[Value]) -> Value:
    """``math.<name>`` on a float (integers are converted to float64 first, as in Numba)."""
    b = lowering.builder
    (x,) = args
    kind = x.kind if x.kind in FLOATS else "float64"
    ty = REGISTER[kind]
    if name in _INTRINSICS:
        fn = math_intrinsic(b.module, _INTRINSICS[name], ty)
    elif name in _EXTERNS:
        symbol = _LIBM_PREFIX + name + ("f" if kind == "float32" else "")
        fn = b.module.globals.get(symbol) or ir.Function(b.module, ir.FunctionType(ty, [ty]), symbol)
    elif name == "fabs":
        return absolute(b, Value(convert(b, x, kind), kind), lowering.unit.flags)
    else:
        raise NativeUnsupportedError(f"math.{name}")
    # Numba's fastmath pass flags every call returning a float, so LLVM may rewrite these calls too
    return Value(b.call(fn, [convert(b, x, kind)], fastmath=lowering.unit.flags), kind)


def absolute(b: ir.IRBuilder, x: Value, flags: tuple[str, ...]) -> Value:
    """``abs``: fabs on floats; integers keep their width (int32 wraps at its minimum, as in Numba)."""
    if x.kind in FLOATS:
        fn = math_intrinsic(b.module, "llvm.fabs", REGISTER[x.kind])
        return Value(b.call(fn, [x.ir], fastmath=flags), x.kind)
    kind = "int64" if x.kind == "bool" else x.kind
    v = convert(b, x, kind)
    return Value(b.select(b.icmp_signed("<", v, ir.Constant(v.type, 0)), b.neg(v), v), kind)


def _gemm(lowering, args: list[Value]) -> Value:
    """``gemm(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n)`` (blas.py's signature)."""
    if len(args) != 13 or not all(isinstance(args[i].kind, Buffer) for i in (0, 4, 8)):
        raise NativeUnsupportedError("gemm arguments")
    dtype = args[8].kind.dtype
    b = lowering.builder
    values = [a.ir if isinstance(a.kind, Buffer) else convert(b, a, "int64") for a in args]
    b.call(lowering.unit.gemm(dtype), values)  # the loop nest inside follows the kernel's fastmath flags
    return Value(I64(0), "int64")


def _overlap(lowering, args: list[Value]) -> Value:
    """``_overlap(a, na, b, nb)`` (module helper): do ``na`` elements at ``a`` and ``nb`` at ``b`` share memory?"""
    b = lowering.builder
    a, na, c, nc = args
    if not (isinstance(a.kind, Buffer) and isinstance(c.kind, Buffer)):
        raise NativeUnsupportedError("_overlap arguments")

    def extent(pointer: Value, count: Value) -> tuple[ir.Value, ir.Value, ir.Value]:
        start = b.ptrtoint(pointer.ir, I64)
        n = convert(b, count, "int64")
        itemsize = np.dtype(pointer.kind.dtype).itemsize
        return start, b.add(start, b.mul(n, I64(itemsize))), n

    a0, a1, an = extent(a, na)
    c0, c1, cn = extent(c, nc)
    nonempty = b.and_(b.icmp_signed(">", an, I64(0)), b.icmp_signed(">", cn, I64(0)))
    meet = b.and_(b.icmp_unsigned("<", a0, c1), b.icmp_unsigned("<", c0, a1))
    return Value(b.and_(nonempty, meet), "bool")


def _part(lowering, name: str, args: list[Value]) -> Value:
    """Call a ``_partN`` helper (lowered for these argument kinds) and pass on its non-zero status."""
    b = lowering.builder
    status = b.call(lowering.unit.part(name, tuple(a.kind for a in args)), [a.ir for a in args])
    with b.if_then(b.icmp_signed("!=", status, I32(0)), likely=False):
        b.ret(status)
    return Value(status, "int32")
