"""Binding the BLAS symbols native kernels call (``symdiff_native_?gemm``, ``?gemv``, ``?syrk``), once per
process: to NumPy's bundled OpenBLAS, or else to CBLAS-shaped adapters over SciPy's Fortran BLAS built here."""

from __future__ import annotations

import functools

import llvmlite.binding as llvm
from llvmlite import ir

from .dtypes import I8, I32, I64
from .gemm import NO_TRANS, REAL, UPPER, gemm_type, gemv_type, syrk_type


class _Adapter:
    """One CBLAS-shaped function calling a Fortran routine: every argument by reference, ints as 32 bits.
    A row-major matrix is the column-major matrix of its transpose, which is why operands and flags swap."""

    def __init__(self, module: ir.Module, name: str, ty: ir.FunctionType) -> None:
        self.fn = ir.Function(module, ty, name)
        self.b = ir.IRBuilder(self.fn.append_basic_block())

    def ref(self, value: ir.Value) -> ir.Value:
        slot = self.b.alloca(value.type)
        self.b.store(value, slot)
        return slot

    def int32(self, value: ir.Value) -> ir.Value:
        return self.ref(self.b.trunc(value, I32))

    def flag(self, trans: ir.Value, swap: bool = False) -> ir.Value:
        """'N' or 'T' for a CBLAS transpose value; ``swap`` gives the other one."""
        plain = self.b.icmp_signed("==", trans, I32(NO_TRANS))
        return self.ref(self.b.select(plain, I8(ord("T" if swap else "N")), I8(ord("N" if swap else "T"))))

    def call(self, address: int, args: list[ir.Value]) -> None:
        signature = ir.FunctionType(ir.VoidType(), [a.type for a in args])
        self.b.call(self.b.inttoptr(I64(address), signature.as_pointer()), args)
        self.b.ret_void()


def _gemm_adapter(module: ir.Module, dtype: str, address: int) -> str:
    """Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T."""
    adapter = _Adapter(module, f"symdiff_native_fortran_gemm_{dtype}", gemm_type(REAL[dtype]))
    _, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc = adapter.fn.args
    n32, m32, k32, ldb32, lda32, ldc32 = (adapter.int32(v) for v in (n, m, k, ldb, lda, ldc))
    adapter.call(address, [adapter.flag(tb), adapter.flag(ta), n32, m32, k32, adapter.ref(alpha), b, ldb32, a, lda32,
                           adapter.ref(beta), c, ldc32])
    return adapter.fn.name


def _gemv_adapter(module: ir.Module, dtype: str, address: int) -> str:
    """A row-major m x n matrix is a column-major n x m one: y = A x there is y = (A^T)^T x."""
    adapter = _Adapter(module, f"symdiff_native_fortran_gemv_{dtype}", gemv_type(REAL[dtype]))
    _, trans, m, n, alpha, a, lda, x, incx, beta, y, incy = adapter.fn.args
    n32, m32, lda32, incx32, incy32 = (adapter.int32(v) for v in (n, m, lda, incx, incy))
    adapter.call(address, [adapter.flag(trans, swap=True), n32, m32, adapter.ref(alpha), a, lda32, x, incx32,
                           adapter.ref(beta), y, incy32])
    return adapter.fn.name


def _syrk_adapter(module: ir.Module, dtype: str, address: int) -> str:
    """The row-major upper triangle is the column-major lower one, and a row-major A is a column-major Aᵀ."""
    adapter = _Adapter(module, f"symdiff_native_fortran_syrk_{dtype}", syrk_type(REAL[dtype]))
    _, uplo, trans, n, k, alpha, a, lda, beta, c, ldc = adapter.fn.args
    n32, k32, lda32, ldc32 = (adapter.int32(v) for v in (n, k, lda, ldc))
    upper = adapter.b.icmp_signed("==", uplo, I32(UPPER))
    triangle = adapter.ref(adapter.b.select(upper, I8(ord("L")), I8(ord("U"))))
    adapter.call(address, [triangle, adapter.flag(trans, swap=True), n32, k32, adapter.ref(alpha), a, lda32,
                           adapter.ref(beta), c, ldc32])
    return adapter.fn.name


@functools.cache  # once per process; the cached result also keeps the adapters' engine alive
def bind_blas() -> tuple[str, llvm.ExecutionEngine | None]:
    """Bind the symbols; returns the route (as blas.py's BLAS_ROUTE) and the adapters' engine, if any."""
    from ..llvm_host import target_machine
    from .blas_symbols import ROUTINES, _numpy_openblas, _scipy_fortran

    addresses, engine, route = _numpy_openblas(), None, "numpy-openblas"
    if not addresses:  # adapters built here, per process: this route is the uncommon one
        route, module = "scipy", ir.Module("symdiff_blas_adapters")
        builders = {"gemm": _gemm_adapter, "gemv": _gemv_adapter, "syrk": _syrk_adapter}
        names = {r: builders[r[1:]](module, "float64" if r[0] == "d" else "float32", _scipy_fortran(r))
                 for r in ROUTINES}
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(str(module)), target_machine())
        engine.finalize_object()
        addresses = {r: engine.get_function_address(name) for r, name in names.items()}
    for routine, address in addresses.items():
        llvm.add_symbol(f"symdiff_native_{routine}", address)
    return route, engine
