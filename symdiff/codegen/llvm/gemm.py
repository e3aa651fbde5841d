"""``gemm`` and ``gram`` for native kernels: codegen/blas.py's and blas_gram.py's functions (same arguments, same
choice between loops, gemv, gemm and syrk) built as IR, calling CBLAS through the symbols ``symdiff_native_?gemm``/
``?gemv``/``?syrk`` (blas_bind.py)."""

from __future__ import annotations

import numpy as np
from llvmlite import ir

from .blas_symbols import _NO_TRANS as NO_TRANS
from .blas_symbols import _ROW_MAJOR as ROW_MAJOR
from .blas_symbols import _TRANS as TRANS
from .blas_symbols import _UPPER as UPPER
from .blas_symbols import K_PANEL, MIRROR_TILE, PANEL_BYTES, PANELED_OUTPUT, SMALL_MATMUL
from .dtypes import F32, F64, I32, I64
from .loops import counted_loop, smallest
from .unit import external

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


def _at_least(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """``x >= max(y, 1)``: a leading dimension BLAS accepts for ``y`` rows or columns."""
    return b.icmp_signed(">=", x, b.select(b.icmp_signed(">", y, I64(1)), y, I64(1)))


def _blas_product(b: ir.IRBuilder, dtype: str, args, layout, alpha: ir.Value, beta: ir.Value) -> None:
    """C = alpha * A @ B + beta * C by CBLAS at ``b``: gemv for one column or row, else gemm (over panels of k when
    C is small; the panels after the first accumulate, beta = 1), as blas.py's ``_blas``."""
    a, ao, ars, acs, bm, bo, brs, bcs, c, co, m, k, n = args[:13]
    a_rows, b_rows, column, row_vector = layout
    real, module, one = REAL[dtype], b.module, I64(1)
    prefix = "d" if dtype == "float64" else "s"
    pa, pb, pc = b.gep(a, [ao]), b.gep(bm, [bo]), b.gep(c, [co])
    gemv = external(module, f"symdiff_native_{prefix}gemv", gemv_type(real))

    def matrix_vector(rows_major: ir.Value, transposed: tuple, plain: tuple, matrix: ir.Value,
                      vector: ir.Value, step: ir.Value) -> None:
        """gemv on ``matrix``: its (rows, cols, ld) are ``plain`` when row-major, else ``transposed``."""
        trans = b.select(rows_major, I32(plain[0]), I32(transposed[0]))
        rows, cols, ld = (b.select(rows_major, p, t) for p, t in zip(plain[1:], transposed[1:]))
        b.call(gemv, [I32(ROW_MAJOR), trans, rows, cols, alpha, matrix, ld, vector, step, beta, pc, one])

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
                    gemm = external(module, f"symdiff_native_{prefix}gemm", gemm_type(real))
                    c_bytes = b.mul(b.mul(m, n), I64(np.dtype(dtype).itemsize))
                    small_panel = smallest(b, I64(K_PANEL), b.sdiv(I64(PANEL_BYTES), c_bytes))
                    panel = b.select(b.icmp_signed("<=", c_bytes, I64(PANELED_OUTPUT)), small_panel, k)

                    def one_panel(p: ir.Value) -> None:
                        start = b.mul(p, panel)
                        kk = smallest(b, panel, b.sub(k, start))
                        later = b.select(b.icmp_signed("==", p, I64(0)), beta, real(1.0))
                        b.call(gemm, [I32(ROW_MAJOR), ta, tb, m, n, kk, alpha, b.gep(pa, [b.mul(start, acs)]), lda,
                                      b.gep(pb, [b.mul(start, brs)]), ldb, later, pc, n])
                    counted_loop(b, I64(0), b.sdiv(b.add(k, b.sub(panel, one)), panel), one_panel)


def define_blas(module: ir.Module, dtype: str) -> ir.Function:
    """``i1 blas(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n, alpha, beta)``: C = alpha * A @ B + beta * C by
    CBLAS, true; false (nothing done) for a small product or strides BLAS cannot take (blas.py's ``_blas``). One
    function per module, which ``gemm`` and a parameter's update by a product both call."""
    name = f"symdiff_native_blas_{dtype}"
    if name in module.globals:
        return module.globals[name]
    real = REAL[dtype]
    pointer = real.as_pointer()
    fn = ir.Function(module, ir.FunctionType(ir.IntType(1), [pointer, I64, I64, I64, pointer, I64, I64, I64, pointer,
                                                             I64, I64, I64, I64, real, real]), name)
    fn.linkage = "internal"
    fn.attributes.add("noinline")  # one copy for every caller: a call costs nothing next to BLAS
    a, ao, ars, acs, bm, bo, brs, bcs, c, co, m, k, n, alpha, beta = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    one = I64(1)
    a_rows = b.and_(b.icmp_signed("==", acs, one), _at_least(b, ars, k))
    b_rows = b.and_(b.icmp_signed("==", bcs, one), _at_least(b, brs, n))
    a_ok = b.or_(a_rows, b.and_(b.icmp_signed("==", ars, one), _at_least(b, acs, m)))
    b_ok = b.or_(b_rows, b.and_(b.icmp_signed("==", brs, one), _at_least(b, bcs, k)))
    small = b.icmp_signed("<=", b.mul(b.mul(m, k), n), I64(SMALL_MATMUL))
    column = b.and_(b.and_(b.icmp_signed("==", n, one), b.icmp_signed(">=", brs, one)), a_ok)
    row_vector = b.and_(b.and_(b.icmp_signed("==", m, one), b.icmp_signed(">=", acs, one)), b_ok)
    blas_ok = b.or_(b.or_(column, row_vector), b.and_(a_ok, b_ok))
    with b.if_then(b.or_(small, b.not_(blas_ok))):
        b.ret(ir.IntType(1)(0))
    _blas_product(b, dtype, fn.args, (a_rows, b_rows, column, row_vector), alpha, beta)
    b.ret(ir.IntType(1)(1))
    return fn


def define_gemm(module: ir.Module, dtype: str, flags: tuple[str, ...] = ()) -> ir.Function:
    """``void gemm(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n)``: c[co:] = A @ B (see blas.py): BLAS, else
    a loop nest whose arithmetic carries ``flags`` (Numba compiles blas.py's gemm with its caller's fastmath)."""
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
    done = b.call(define_blas(module, dtype), [*fn.args, real(1.0), real(0.0)])
    with b.if_then(b.not_(done)):
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
    b.ret_void()
    return fn


def syrk_type(real: ir.Type) -> ir.FunctionType:
    """CBLAS ?syrk: order, uplo, trans, n, k, alpha, a, lda, beta, c, ldc (ILP64 ints)."""
    pointer = real.as_pointer()
    return ir.FunctionType(ir.VoidType(), [I32, I32, I32, I64, I64, real, pointer, I64, real, pointer, I64])


def define_gram(module: ir.Module, dtype: str, flags: tuple[str, ...] = ()) -> ir.Function:
    """``void gram(b, bo, brs, bcs, c, co, k, n)``: c[co:] = Bᵀ @ B (see blas_gram.py): the upper triangle by
    ``?syrk``, mirrored tile by tile; small products and strides BLAS cannot take go through ``gemm``."""
    real = REAL[dtype]
    name = f"symdiff_native_gram_{dtype}{'_fast' if flags else ''}"
    if name in module.globals:
        return module.globals[name]
    pointer = real.as_pointer()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [pointer, I64, I64, I64, pointer, I64, I64, I64]), name)
    fn.linkage = "internal"
    bm, bo, brs, bcs, c, co, k, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    one = I64(1)
    rows = b.and_(b.icmp_signed("==", bcs, one), _at_least(b, brs, n))
    columns = b.and_(b.icmp_signed("==", brs, one), _at_least(b, bcs, k))
    small = b.icmp_signed("<=", b.mul(b.mul(k, n), n), I64(SMALL_MATMUL))
    with b.if_else(b.or_(small, b.not_(b.or_(rows, columns)))) as (by_gemm, by_syrk):
        with by_gemm:
            b.call(define_gemm(module, dtype, flags), [bm, bo, bcs, brs, bm, bo, brs, bcs, c, co, n, k, n])
        with by_syrk:
            trans = b.select(rows, I32(TRANS), I32(NO_TRANS))  # a unit row stride: B's memory is Bᵀ row-major
            syrk = external(module, f"symdiff_native_{'d' if dtype == 'float64' else 's'}syrk", syrk_type(real))
            b.call(syrk, [I32(ROW_MAJOR), I32(UPPER), trans, n, k, real(1.0), b.gep(bm, [bo]),
                          b.select(rows, brs, bcs), real(0.0), b.gep(c, [co]), n])
            b.call(_define_mirror(module, dtype), [c, co, n])
    b.ret_void()
    return fn


def _define_mirror(module: ir.Module, dtype: str) -> ir.Function:
    """``void mirror(c, co, n)``: c[j, i] = c[i, j] for j > i in the n x n matrix at c[co:], in square tiles (a
    column walk of the whole matrix misses the cache). Kept small: with a constant n LLVM would unroll the tiles."""
    name = f"symdiff_native_mirror_{dtype}"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [REAL[dtype].as_pointer(), I64, I64]), name)
    fn.linkage = "internal"
    for attribute in ("noinline", "minsize", "optsize"):
        fn.attributes.add(attribute)
    c, co, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    tile = I64(MIRROR_TILE)

    tiles = b.sdiv(b.add(n, I64(MIRROR_TILE - 1)), tile)

    def tile_row(ti: ir.Value) -> None:
        def tile_column(tj: ir.Value) -> None:
            i0, j0 = b.mul(ti, tile), b.mul(tj, tile)

            def row(i: ir.Value) -> None:
                start = b.add(i, I64(1))
                start = b.select(b.icmp_signed(">", j0, start), j0, start)

                def entry(j: ir.Value) -> None:
                    value = b.load(b.gep(c, [b.add(co, b.add(b.mul(i, n), j))]))
                    b.store(value, b.gep(c, [b.add(co, b.add(b.mul(j, n), i))]))
                counted_loop(b, start, smallest(b, b.add(j0, tile), n), entry)
            counted_loop(b, i0, smallest(b, b.add(i0, tile), n), row)
        counted_loop(b, ti, tiles, tile_column)
    counted_loop(b, I64(0), tiles, tile_row)
    b.ret_void()
    return fn
