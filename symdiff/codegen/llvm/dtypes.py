"""LLVM types of the kernel IR's dtypes, and value conversions between them (C casts)."""

from __future__ import annotations

from llvmlite import ir

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
F32, F64 = ir.FloatType(), ir.DoubleType()
#: In registers (bool is i1) and in memory (bool is one byte, as NumPy stores it).
REGISTER = {"float64": F64, "float32": F32, "int64": I64, "int32": I32, "uint64": I64, "bool": I1}
MEMORY = {**REGISTER, "bool": I8}
FLOATS = ("float32", "float64")


def _like(value: ir.Value, element: ir.Type) -> ir.Type:
    """``element``, or a vector of it as wide as ``value``."""
    return ir.VectorType(element, value.type.count) if isinstance(value.type, ir.VectorType) else element


def convert(b: ir.IRBuilder, value: ir.Value, source: str, target: str) -> ir.Value:
    """``value`` of dtype ``source`` as ``target`` (to bool: ``!= 0``; from bool: 0 or 1)."""
    if source == target:
        return value
    ty = _like(value, REGISTER[target])
    if target == "bool":
        zero = ir.Constant(value.type, 0.0 if source in FLOATS else 0)
        return b.fcmp_unordered("!=", value, zero) if source in FLOATS else b.icmp_unsigned("!=", value, zero)
    if source in FLOATS:
        if target in FLOATS:
            return b.fpext(value, ty) if target == "float64" else b.fptrunc(value, ty)
        return b.fptoui(value, ty) if target == "uint64" else b.fptosi(value, ty)
    unsigned = source in ("bool", "uint64")
    if target in FLOATS:
        return b.uitofp(value, ty) if unsigned else b.sitofp(value, ty)
    width, target_width = REGISTER[source].width, REGISTER[target].width
    if width == target_width:
        return value
    if width > target_width:
        return b.trunc(value, ty)
    return b.zext(value, ty) if unsigned else b.sext(value, ty)
