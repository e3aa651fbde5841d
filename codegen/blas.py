"""Matrix products for generated kernels (copied verbatim into modules whose graph multiplies matrices).

``gemm`` runs ``C = A @ B`` on operands given as flat buffers with offsets and strides. Large products
call CBLAS ``?gemm`` (``?gemv`` for a single column or row) through ``symdiff_?gemm``/``symdiff_?gemv``, bound by name
(not by a baked-in pointer) so kernels stay cacheable on disk. The symbols are bound when this module
is imported, to the first of:

1. NumPy's own OpenBLAS (the ``scipy_cblas_?gemm64_`` entry points of the ``scipy-openblas64`` library
   that NumPy wheels ship): already loaded by NumPy, so nothing more is imported — this is what keeps a
   warm start cheap — and the library NumPy's own ``@`` uses, so timings compare like with like;
2. SciPy's Fortran BLAS (``scipy.linalg.cython_blas``) behind a small CBLAS-shaped adapter, for NumPy
   builds without a bundled OpenBLAS (conda/MKL, Accelerate, distribution packages).

``SYMDIFF_BLAS=scipy`` forces the second route (tested; also a switch for debugging).
"""
import llvmlite.binding
import numba
import numpy as np

from .blas_symbols import _NO_TRANS, _ROW_MAJOR, _TRANS, SMALL_MATMUL, _numpy_openblas, _scipy_fortran


# CBLAS argument lists (pointers travel as int64, which the x86-64 and AArch64 ABIs pass exactly like
# pointers). gemm: order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc.
# gemv: order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy.
def _cblas_signature(routine, real):
    i32, i64 = numba.types.int32, numba.types.int64
    if routine == "gemm":
        return numba.types.void(i32, i32, i32, i64, i64, i64, real, i64, i64, i64, i64, real, i64, i64)
    return numba.types.void(i32, i32, i64, i64, real, i64, i64, i64, i64, real, i64, i64)


@numba.njit(inline="always")
def _fortran_flag(trans):
    return 78 if trans == _NO_TRANS else 84  # 'N' / 'T'


def _scipy_adapter(routine, real):
    """A CBLAS-shaped cfunc over SciPy's Fortran ?gemm/?gemv (column-major, by reference, 32-bit ints):
    a row-major matrix is the column-major matrix of its transpose, so operands and flags swap."""
    prefix = "d" if real == numba.types.float64 else "s"
    llvmlite.binding.add_symbol(f"symdiff_fortran_{prefix}{routine}", _scipy_fortran(prefix + routine))
    by_reference = numba.types.void(*([numba.types.int64] * (13 if routine == "gemm" else 11)))
    fortran = numba.types.ExternalFunction(f"symdiff_fortran_{prefix}{routine}", by_reference)
    dtype = np.float64 if prefix == "d" else np.float32

    if routine == "gemm":
        @numba.cfunc(_cblas_signature(routine, real), cache=True)
        def adapter(order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
            # Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
            ints = np.array([n, m, k, ldb, lda, ldc], np.int32)
            flags = np.array([_fortran_flag(transb), _fortran_flag(transa)], np.uint8)
            scalars = np.array([alpha, beta], dtype)
            ip, sp, fp = np.int64(ints.ctypes.data), np.int64(scalars.ctypes.data), np.int64(flags.ctypes.data)
            fortran(fp, fp + 1, ip, ip + 4, ip + 8, sp, b, ip + 12, a, ip + 16, sp + scalars.itemsize, c, ip + 20)
    else:
        @numba.cfunc(_cblas_signature(routine, real), cache=True)
        def adapter(order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy):
            # A row-major m x n matrix is a column-major n x m one: y = A x is y = (A^T)^T x there.
            ints = np.array([n, m, lda, incx, incy], np.int32)
            flags = np.array([_fortran_flag(_TRANS if trans == _NO_TRANS else _NO_TRANS)], np.uint8)
            scalars = np.array([alpha, beta], dtype)
            ip, sp, fp = np.int64(ints.ctypes.data), np.int64(scalars.ctypes.data), np.int64(flags.ctypes.data)
            fortran(fp, ip, ip + 4, sp, a, ip + 8, x, ip + 12, sp + scalars.itemsize, y, ip + 16)

    return adapter.address


def _bind_blas():
    """Bind the symbols; returns the route taken ("numpy-openblas" or "scipy")."""
    addresses = _numpy_openblas()
    route = "numpy-openblas" if addresses else "scipy"
    if not addresses:
        addresses = {p + r: _scipy_adapter(r, real) for p, real in (("d", numba.types.float64),
                                                                   ("s", numba.types.float32))
                     for r in ("gemm", "gemv")}
    for name, address in addresses.items():
        llvmlite.binding.add_symbol(f"symdiff_{name}", address)
    return route


BLAS_ROUTE = _bind_blas()
_dgemm = numba.types.ExternalFunction("symdiff_dgemm", _cblas_signature("gemm", numba.types.float64))
_sgemm = numba.types.ExternalFunction("symdiff_sgemm", _cblas_signature("gemm", numba.types.float32))
_dgemv = numba.types.ExternalFunction("symdiff_dgemv", _cblas_signature("gemv", numba.types.float64))
_sgemv = numba.types.ExternalFunction("symdiff_sgemv", _cblas_signature("gemv", numba.types.float32))


@numba.njit
def _gemv(item, trans, rows, cols, pa, lda, px, incx, py):
    """y = op(A) x for the row-major rows x cols matrix at pa (CBLAS gemv, alpha 1, beta 0)."""
    if item == 8:
        _dgemv(_ROW_MAJOR, trans, rows, cols, 1.0, pa, lda, px, incx, 0.0, py, 1)
    else:
        _sgemv(_ROW_MAJOR, trans, rows, cols, np.float32(1.0), pa, lda, px, incx, np.float32(0.0), py, 1)


@numba.njit
def gemm(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n):
    """c[co:] = A @ B for matrices stored at offsets ao/bo with row/column strides (elements).

    BLAS when each operand is row-major (unit column stride) or a transposed row-major matrix (unit
    row stride: no copy) and the product is large enough to pay for the call (gemv when one side is a
    single column or row); a loop nest otherwise.
    """
    a_rows = acs == 1 and ars >= max(k, 1)
    b_rows = bcs == 1 and brs >= max(n, 1)
    a_ok = a_rows or ars == 1 and acs >= max(m, 1)
    b_ok = b_rows or brs == 1 and bcs >= max(k, 1)
    column = n == 1 and brs >= 1 and a_ok  # A @ (one column): gemv
    row = m == 1 and acs >= 1 and b_ok  # (one row) @ B: gemv on B
    if m * k * n <= SMALL_MATMUL or not (column or row or a_ok and b_ok):
        for r in range(m):
            for col in range(n):
                c[co + r * n + col] = 0.0
            for j in range(k):
                x = a[ao + r * ars + j * acs]
                for col in range(n):
                    c[co + r * n + col] += x * b[bo + j * brs + col * bcs]
        return
    item = c.itemsize
    # np.int64 first: uintp + int64 would promote to float64 in Numba
    pa, pb, pc = (np.int64(a.ctypes.data) + ao * item, np.int64(b.ctypes.data) + bo * item,
                  np.int64(c.ctypes.data) + co * item)
    if column:  # gemm would pack all of A to multiply one column
        trans, rows, cols, lda = (_NO_TRANS, m, k, ars) if a_rows else (_TRANS, k, m, acs)
        _gemv(item, trans, rows, cols, pa, lda, pb, brs, pc)
        return
    if row:
        trans, rows, cols, ldb = (_TRANS, k, n, brs) if b_rows else (_NO_TRANS, n, k, bcs)
        _gemv(item, trans, rows, cols, pb, ldb, pa, acs, pc)
        return
    ta, lda = (_NO_TRANS, ars) if a_rows else (_TRANS, acs)
    tb, ldb = (_NO_TRANS, brs) if b_rows else (_TRANS, bcs)
    if item == 8:
        _dgemm(_ROW_MAJOR, ta, tb, m, n, k, 1.0, pa, lda, pb, ldb, 0.0, pc, n)
    else:
        _sgemm(_ROW_MAJOR, ta, tb, m, n, k, np.float32(1.0), pa, lda, pb, ldb, np.float32(0.0), pc, n)
