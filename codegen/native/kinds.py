"""Value kinds of generated kernels and Numba's promotion rules for them, so both backends compute alike.

A scalar kind is a NumPy dtype name; an array is a flat C buffer, ``Buffer(dtype)``, lowered to a pointer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from llvmlite import ir

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
F32, F64 = ir.FloatType(), ir.DoubleType()
#: In registers (bool is i1) and in memory (bool is one byte, as NumPy stores it).
REGISTER = {"float64": F64, "float32": F32, "int64": I64, "int32": I32, "uint64": I64, "bool": I1}
MEMORY = {**REGISTER, "bool": I8}
FLOATS = ("float32", "float64")
#: ``np.<name>`` in kernel text (dtypes and casts) -> kind; Numba's signatures add ``numba.boolean``.
NUMPY_NAMES = {"float64": "float64", "float32": "float32", "int64": "int64", "int32": "int32", "uint64": "uint64",
               "bool_": "bool"}
NUMBA_NAMES = {**NUMPY_NAMES, "boolean": "bool"}


class NativeUnsupportedError(Exception):
    """The kernel text uses a construct the native backend does not lower (the caller falls back to Numba)."""


@dataclass(frozen=True)
class Buffer:
    dtype: str


class Value(NamedTuple):
    ir: ir.Value
    kind: str | Buffer


def promote(a: str, b: str) -> str:
    """Result kind of arithmetic on ``a`` and ``b`` (Numba's scalar typing: small ints widen to int64,
    any int with float32 gives float64, uint64 with a signed int or a bool gives int64)."""
    if a == b:
        return "int64" if a in ("bool", "int32") else a
    if a in FLOATS or b in FLOATS:
        return "float32" if {a, b} <= {"float32", "bool"} else "float64"
    if "uint64" in (a, b):
        return "int64"  # (uint64 with itself returned above)
    return "int64"


def unify(a: str, b: str) -> str:
    """One kind for a variable assigned both (or for both branches of a conditional expression)."""
    return a if a == b else promote(a, b)


def convert(builder: ir.IRBuilder, value: Value, kind: str) -> ir.Value:
    """``value`` as ``kind`` (C casts, as Numba's implicit conversions)."""
    source = value.kind
    if isinstance(source, Buffer):
        raise NativeUnsupportedError(f"an array where a {kind} scalar is expected")
    v = value.ir
    if source == kind:
        return v
    target = REGISTER[kind]
    if kind == "bool":
        return builder.fcmp_unordered("!=", v, ir.Constant(v.type, 0.0)) if source in FLOATS else \
            builder.icmp_unsigned("!=", v, ir.Constant(v.type, 0))
    if source in FLOATS:
        if kind in FLOATS:
            return builder.fpext(v, target) if kind == "float64" else builder.fptrunc(v, target)
        return builder.fptoui(v, target) if kind == "uint64" else builder.fptosi(v, target)
    unsigned = source in ("bool", "uint64")
    if kind in FLOATS:
        return builder.uitofp(v, target) if unsigned else builder.sitofp(v, target)
    width, target_width = v.type.width, target.width
    if width == target_width:
        return v
    if width > target_width:
        return builder.trunc(v, target)
    return builder.zext(v, target) if unsigned else builder.sext(v, target)

