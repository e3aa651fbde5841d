"""``gemm`` for native kernels: codegen/blas.py's function (same arguments, same choice between loops, gemv and
gemm) built as IR, calling CBLAS through the symbols ``symdiff_native_?gemm``/``?gemv`` (blas_bind.py)."""

from __future__ import annotations

from llvmlite import ir

from .blas_symbols import _NO_TRANS as NO_TRANS
from .blas_symbols import _ROW_MAJOR as ROW_MAJOR
from .blas_symbols import _TRANS as TRANS
from .blas_symbols import SMALL_MATMUL
from .dtypes import F32, F64, I32, I64
from .loops import counted_loop

REAL = {"float64": F64, "float32": F32}


def gemm_type(real: ir.Type) -> ir.FunctionType:
    """CBLAS ?gemm: order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc (ILP64 ints)."""
    pointer = real.as_pointer()
    return ir.FunctionType(ir.VoidType(), [I32, I32, I32, I64, I64, I64, real, pointer, I64, pointer, I64, real,
                                           pointer, I64])


def gemv_type(real: ir.Type) -> ir.FunctionType:
    """CBLAS ?gemv: order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy (ILP64 ints)."""
    pointer = real.as_pointer()
    return ir.FunctionType(ir.VoidType(), [I32, I32, I64, I64, real, pointer, I64, pointer, I64, real, pointer,
                                           I64])


def _external(module: ir.Module, symbol: str, ty: ir.FunctionType) -> ir.Function:
    return module.globals.get(symbol) or ir.Function(module, ty, symbol)


def define_gemm(module: ir.Module, dtype: str, flags: tuple[str, ...] = ()) -> ir.Function:
    """``void gemm(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n)``: c[co:] = A @ B (see blas.py). The
    loop nest's arithmetic carries ``flags``: Numba compiles blas.py's gemm with its caller's fastmath."""
    real = REAL[dtype]
    name = f"symdiff_native_gemm_{dtype}{'_fast' if flags else ''}"
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
    column = b.and_(b.and_(b.icmp_signed("==", n, one), b.icmp_signed(">=", brs, one)), a_ok)
    row_vector = b.and_(b.and_(b.icmp_signed("==", m, one), b.icmp_signed(">=", acs, one)), b_ok)
    blas_ok = b.or_(b.or_(column, row_vector), b.and_(a_ok, b_ok))
    prefix = "d" if dtype == "float64" else "s"
    with b.if_else(b.or_(small, b.not_(blas_ok))) as (loops, blas):
        with loops:
            def row(r: ir.Value) -> None:
                out = b.add(co, b.mul(r, n))
                counted_loop(b, I64(0), n, lambda col: b.store(real(0.0), b.gep(c, [b.add(out, col)])))

                def term(j: ir.Value) -> None:
                    x = b.load(b.gep(a, [b.add(ao, b.add(b.mul(r, ars), b.mul(j, acs)))]))
                    base = b.add(bo, b.mul(j, brs))

                    def update(col: ir.Value) -> None:
                        target = b.gep(c, [b.add(out, col)])
                        product = b.fmul(x, b.load(b.gep(bm, [b.add(base, b.mul(col, bcs))])), flags=flags)
                        b.store(b.fadd(b.load(target), product, flags=flags), target)
                    counted_loop(b, I64(0), n, update)
                counted_loop(b, I64(0), k, term)
            counted_loop(b, I64(0), m, row)
        with blas:
            pa, pb, pc = b.gep(a, [ao]), b.gep(bm, [bo]), b.gep(c, [co])
            gemv = _external(module, f"symdiff_native_{prefix}gemv", gemv_type(real))

            def matrix_vector(rows_major: ir.Value, transposed: tuple, plain: tuple, matrix: ir.Value,
                              vector: ir.Value, step: ir.Value) -> None:
                """gemv on ``matrix``: its (rows, cols, ld) are ``plain`` when row-major, else ``transposed``."""
                trans = b.select(rows_major, I32(plain[0]), I32(transposed[0]))
                rows, cols, ld = (b.select(rows_major, p, t) for p, t in zip(plain[1:], transposed[1:]))
                b.call(gemv, [I32(ROW_MAJOR), trans, rows, cols, real(1.0), matrix, ld, vector, step, real(0.0),
                              pc, one])

            with b.if_else(column) as (times_column, other):
                with times_column:  # gemm would pack all of A to multiply one column
                    matrix_vector(a_rows, (TRANS, k, m, acs), (NO_TRANS, m, k, ars), pa, pb, brs)
                with other:
                    with b.if_else(row_vector) as (row_times, full):
                        with row_times:
                            matrix_vector(b_rows, (NO_TRANS, n, k, bcs), (TRANS, k, n, brs), pb, pa, acs)
                        with full:
                            ta, lda = b.select(a_rows, I32(NO_TRANS), I32(TRANS)), b.select(a_rows, ars, acs)
                            tb, ldb = b.select(b_rows, I32(NO_TRANS), I32(TRANS)), b.select(b_rows, brs, bcs)
                            gemm = _external(module, f"symdiff_native_{prefix}gemm", gemm_type(real))
                            b.call(gemm, [I32(ROW_MAJOR), ta, tb, m, n, k, real(1.0), pa, lda, pb, ldb, real(0.0),
                                          pc, n])
    b.ret_void()
    return fn
