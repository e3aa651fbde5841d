"""``gemm`` for native kernels: blas.py's function (same arguments, same choice between BLAS and loops)
built as IR, calling CBLAS through the symbols ``symdiff_native_?gemm`` bound by :func:`bind_blas`."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import llvmlite.binding as llvm
from llvmlite import ir

from .kinds import F32, F64, I8, I32, I64

_SYMBOLS_FILE = Path(__file__).parent.parent / "blas_symbols.py"  # read, not imported: one source of the threshold
_CONSTANTS = {t.id: s.value.value for s in ast.parse(_SYMBOLS_FILE.read_text()).body
              if isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant) for t in s.targets}
SMALL_MATMUL = _CONSTANTS["SMALL_MATMUL"]
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
_REAL = {"float64": F64, "float32": F32}


def _cblas_type(real: ir.Type) -> ir.FunctionType:
    pointer = real.as_pointer()
    return ir.FunctionType(ir.VoidType(), [I32, I32, I32, I64, I64, I64, real, pointer, I64, pointer, I64, real,
                                           pointer, I64])


def _counted(b: ir.IRBuilder, count: ir.Value, body: Callable[[ir.Value], None]) -> None:
    """``for i in range(count): body(i)``."""
    before = b.block
    head, inner, done = (b.function.append_basic_block(n) for n in ("gemm.head", "gemm.body", "gemm.end"))
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(I64(0), before)
    b.cbranch(b.icmp_signed("<", i, count), inner, done)
    b.position_at_end(inner)
    body(i)
    i.add_incoming(b.add(i, I64(1)), b.block)
    b.branch(head)
    b.position_at_end(done)


def define_gemm(module: ir.Module, dtype: str) -> ir.Function:
    """``void gemm(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n)``: c[co:] = A @ B (see blas.py)."""
    real = _REAL[dtype]
    name = f"symdiff_native_gemm_{dtype}"
    if name in module.globals:
        return module.globals[name]
    pointer = real.as_pointer()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [pointer, I64, I64, I64, pointer, I64, I64, I64,
                                                             pointer, I64, I64, I64, I64]), name)
    fn.linkage = "internal"
    a, ao, ars, acs, bm, bo, brs, bcs, c, co, m, k, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def at_least(x: ir.Value, y: ir.Value) -> ir.Value:  # x >= max(y, 1)
        return b.icmp_signed(">=", x, b.select(b.icmp_signed(">", y, I64(1)), y, I64(1)))

    one = I64(1)
    a_rows = b.and_(b.icmp_signed("==", acs, one), at_least(ars, k))
    b_rows = b.and_(b.icmp_signed("==", bcs, one), at_least(brs, n))
    a_ok = b.or_(a_rows, b.and_(b.icmp_signed("==", ars, one), at_least(acs, m)))
    b_ok = b.or_(b_rows, b.and_(b.icmp_signed("==", brs, one), at_least(bcs, k)))
    small = b.icmp_signed("<=", b.mul(b.mul(m, k), n), I64(SMALL_MATMUL))
    with b.if_else(b.or_(small, b.not_(b.and_(a_ok, b_ok)))) as (loops, blas):
        with loops:
            def row(r: ir.Value) -> None:
                out = b.add(co, b.mul(r, n))
                _counted(b, n, lambda col: b.store(real(0.0), b.gep(c, [b.add(out, col)])))

                def term(j: ir.Value) -> None:
                    x = b.load(b.gep(a, [b.add(ao, b.add(b.mul(r, ars), b.mul(j, acs)))]))
                    base = b.add(bo, b.mul(j, brs))

                    def update(col: ir.Value) -> None:
                        target = b.gep(c, [b.add(out, col)])
                        product = b.fmul(x, b.load(b.gep(bm, [b.add(base, b.mul(col, bcs))])))
                        b.store(b.fadd(b.load(target), product), target)
                    _counted(b, n, update)
                _counted(b, k, term)
            _counted(b, m, row)
        with blas:
            ta, lda = b.select(a_rows, I32(NO_TRANS), I32(TRANS)), b.select(a_rows, ars, acs)
            tb, ldb = b.select(b_rows, I32(NO_TRANS), I32(TRANS)), b.select(b_rows, brs, bcs)
            symbol = f"symdiff_native_{'d' if dtype == 'float64' else 's'}gemm"
            cblas = module.globals.get(symbol) or ir.Function(module, _cblas_type(real), symbol)
            b.call(cblas, [I32(ROW_MAJOR), ta, tb, m, n, k, real(1.0), b.gep(a, [ao]), lda, b.gep(bm, [bo]), ldb,
                           real(0.0), b.gep(c, [co]), n])
    b.ret_void()
    return fn


def _fortran_adapter(module: ir.Module, dtype: str, fortran_address: int) -> str:
    """A CBLAS-shaped function over SciPy's Fortran ?gemm: row-major C = op(A) op(B) is column-major
    C^T = op(B)^T op(A)^T, so the operands swap; every argument goes by reference as 32-bit ints."""
    real = _REAL[dtype]
    name = f"symdiff_native_fortran_adapter_{dtype}"
    fn = ir.Function(module, _cblas_type(real), name)
    _, ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc = fn.args
    b = ir.IRBuilder(fn.append_basic_block())

    def by_reference(value: ir.Value) -> ir.Value:
        slot = b.alloca(value.type)
        b.store(value, slot)
        return slot

    def flag(trans: ir.Value) -> ir.Value:
        return by_reference(b.select(b.icmp_signed("==", trans, I32(NO_TRANS)), I8(ord("N")), I8(ord("T"))))

    ints = [by_reference(b.trunc(v, I32)) for v in (n, m, k, ldb, lda, ldc)]
    pointer = real.as_pointer()
    signature = ir.FunctionType(ir.VoidType(), [I8.as_pointer()] * 2 + [I32.as_pointer()] * 3 +
                                [pointer, pointer, I32.as_pointer(), pointer, I32.as_pointer(), pointer, pointer,
                                 I32.as_pointer()])
    fortran = b.inttoptr(I64(fortran_address), signature.as_pointer())
    b.call(fortran, [flag(tb), flag(ta), *ints[:3], by_reference(alpha), bm, ints[3], a, ints[4],
                     by_reference(beta), c, ints[5]])
    b.ret_void()
    return name


_BOUND: list = []  # [route, engine keeping the adapters alive]


def bind_blas(machine: llvm.TargetMachine) -> str:
    """Bind ``symdiff_native_dgemm``/``sgemm`` (once per process); returns the route, as blas.py's BLAS_ROUTE."""
    if _BOUND:
        return _BOUND[0]
    from ..blas_symbols import _numpy_openblas, _scipy_fortran_gemm

    addresses, engine, route = _numpy_openblas(), None, "numpy-openblas"
    if not addresses:  # an adapter built here, per process: this route is the uncommon one
        route, module = "scipy", ir.Module("symdiff_blas_adapters")
        names = [_fortran_adapter(module, dtype, _scipy_fortran_gemm(p)) for dtype, p in (("float64", "d"),
                                                                                        ("float32", "s"))]
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(str(module)), machine)
        engine.finalize_object()
        addresses = [engine.get_function_address(name) for name in names]
    for prefix, address in zip("ds", addresses):
        llvm.add_symbol(f"symdiff_native_{prefix}gemm", address)
    _BOUND.extend([route, engine])
    return route
