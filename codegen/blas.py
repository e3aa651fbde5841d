"""Matrix products for generated kernels (copied verbatim into modules whose graph multiplies matrices).

``gemm`` runs ``C = A @ B`` on operands given as flat buffers with offsets and strides. Large products
call CBLAS ``dgemm``/``sgemm`` through the symbols ``symdiff_dgemm``/``symdiff_sgemm``, bound by name
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

from .blas_symbols import _NO_TRANS, _ROW_MAJOR, _TRANS, SMALL_MATMUL, _numpy_openblas, _scipy_fortran_gemm


# CBLAS argument list: order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc (pointers travel
# as int64, which the x86-64 and AArch64 ABIs pass exactly like pointers).
def _cblas_signature(real):
    i32, i64 = numba.types.int32, numba.types.int64
    return numba.types.void(i32, i32, i32, i64, i64, i64, real, i64, i64, i64, i64, real, i64, i64)


def _scipy_adapter(prefix, real):
    """A CBLAS-shaped cfunc over SciPy's Fortran ?gemm (column-major, by reference, 32-bit ints)."""
    llvmlite.binding.add_symbol(f"symdiff_fortran_{prefix}gemm", _scipy_fortran_gemm(prefix))
    by_reference = numba.types.void(*([numba.types.int64] * 13))
    fortran = numba.types.ExternalFunction(f"symdiff_fortran_{prefix}gemm", by_reference)
    dtype = np.float64 if real == numba.types.float64 else np.float32

    @numba.cfunc(_cblas_signature(real), cache=True)
    def adapter(order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        # Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
        ints = np.array([n, m, k, ldb, lda, ldc], np.int32)
        flags = np.array([78 if transb == _NO_TRANS else 84, 78 if transa == _NO_TRANS else 84], np.uint8)
        scalars = np.array([alpha, beta], dtype)
        ip, sp, fp = np.int64(ints.ctypes.data), np.int64(scalars.ctypes.data), np.int64(flags.ctypes.data)
        fortran(fp, fp + 1, ip, ip + 4, ip + 8, sp, b, ip + 12, a, ip + 16, sp + scalars.itemsize, c, ip + 20)

    return adapter.address


def _bind_blas():
    """Bind the symbols; returns the route taken ("numpy-openblas" or "scipy")."""
    addresses = _numpy_openblas()
    route = "numpy-openblas" if addresses else "scipy"
    if not addresses:
        addresses = [_scipy_adapter("d", numba.types.float64), _scipy_adapter("s", numba.types.float32)]
    for name, address in zip(("symdiff_dgemm", "symdiff_sgemm"), addresses):
        llvmlite.binding.add_symbol(name, address)
    return route


BLAS_ROUTE = _bind_blas()
_dgemm = numba.types.ExternalFunction("symdiff_dgemm", _cblas_signature(numba.types.float64))
_sgemm = numba.types.ExternalFunction("symdiff_sgemm", _cblas_signature(numba.types.float32))


@numba.njit
def gemm(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n):
    """c[co:] = A @ B for matrices stored at offsets ao/bo with row/column strides (elements).

    BLAS when each operand is row-major (unit column stride) or a transposed row-major matrix (unit
    row stride: no copy) and the product is large enough to pay for the call; a loop nest otherwise.
    """
    a_rows = acs == 1 and ars >= max(k, 1)
    b_rows = bcs == 1 and brs >= max(n, 1)
    a_ok = a_rows or ars == 1 and acs >= max(m, 1)
    b_ok = b_rows or brs == 1 and bcs >= max(k, 1)
    if m * k * n <= SMALL_MATMUL or not (a_ok and b_ok):
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
    ta, lda = (_NO_TRANS, ars) if a_rows else (_TRANS, acs)
    tb, ldb = (_NO_TRANS, brs) if b_rows else (_TRANS, bcs)
    if item == 8:
        _dgemm(_ROW_MAJOR, ta, tb, m, n, k, 1.0, pa, lda, pb, ldb, 0.0, pc, n)
    else:
        _sgemm(_ROW_MAJOR, ta, tb, m, n, k, np.float32(1.0), pa, lda, pb, ldb, np.float32(0.0), pc, n)
