"""Matrix products of generated Numba modules (printed into modules whose kernel multiplies matrices).

``gemm`` runs ``C = A @ B`` on flat buffers at offsets with row/column strides: a loop nest for small products,
else CBLAS ``?gemm`` (``?gemv`` for one column or row) of NumPy's own bundled OpenBLAS, bound by symbol name when
the module is imported (kernels stay cacheable). Without a bundled OpenBLAS (or with ``SYMDIFF_BLAS=scipy``) the
products go through Numba's ``np.dot``, which uses SciPy's BLAS.
"""
import ctypes
import glob
import os

import llvmlite.binding
import numba
import numpy as np

SMALL_MATMUL = 4096  # below this many multiply-adds a loop nest beats a BLAS call's fixed cost
# A small C (bytes) over a long k: one ?gemm per panel of k, each small enough for OpenBLAS to skip packing
PANELED_OUTPUT, PANEL_BYTES, K_PANEL = 16384, 2 << 20, 2048


def _bind_numpy_openblas():
    """Bind symdiff_?gemm/?gemv/?syrk to NumPy's bundled ILP64 OpenBLAS; False when there is none."""
    if os.environ.get("SYMDIFF_BLAS") == "scipy":
        return False
    for path in sorted(glob.glob(os.path.join(os.path.dirname(np.__file__), "../numpy.libs/*openblas64*"))):
        library = ctypes.CDLL(path)
        for routine in ("dgemm", "sgemm", "dgemv", "sgemv", "dsyrk", "ssyrk"):
            function = getattr(library, f"scipy_cblas_{routine}64_")
            llvmlite.binding.add_symbol(f"symdiff_{routine}", ctypes.cast(function, ctypes.c_void_p).value)
        return True
    return False


BLAS_ROUTE = "numpy-openblas" if _bind_numpy_openblas() else "scipy"
_I32, _I64 = numba.int32, numba.int64
_CBLAS = {name: numba.types.ExternalFunction(f"symdiff_{name}", numba.void(
    *((_I32, _I32, _I32, _I64, _I64, _I64, real, _I64, _I64, _I64, _I64, real, _I64, _I64) if name[1:] == "gemm"
      else (_I32, _I32, _I64, _I64, real, _I64, _I64, _I64, _I64, real, _I64, _I64))))
    for name, real in (("dgemm", numba.float64), ("sgemm", numba.float32), ("dgemv", numba.float64),
                       ("sgemv", numba.float32))}
_dgemm, _sgemm, _dgemv, _sgemv = _CBLAS["dgemm"], _CBLAS["sgemm"], _CBLAS["dgemv"], _CBLAS["sgemv"]


@numba.njit
def _gemv(c, trans, rows, cols, pa, lda, px, incx, py, alpha, beta):
    if c.itemsize == 8:
        _dgemv(101, trans, rows, cols, alpha, pa, lda, px, incx, beta, py, 1)
    else:
        _sgemv(101, trans, rows, cols, np.float32(alpha), pa, lda, px, incx, np.float32(beta), py, 1)


@numba.njit
def _blas(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n, alpha, beta):
    """C = alpha * A @ B + beta * C by CBLAS (row-major; a unit row stride is a transposed operand); False (nothing
    done) for a small product or strides BLAS cannot take."""
    if m * k * n <= SMALL_MATMUL:
        return False
    a_rows, b_rows = acs == 1 and ars >= max(k, 1), bcs == 1 and brs >= max(n, 1)
    a_ok, b_ok = a_rows or ars == 1 and acs >= max(m, 1), b_rows or brs == 1 and bcs >= max(k, 1)
    pa, pb, pc = (np.int64(a.ctypes.data) + ao * a.itemsize, np.int64(b.ctypes.data) + bo * b.itemsize,
                  np.int64(c.ctypes.data) + co * c.itemsize)
    if n == 1 and brs >= 1 and a_ok:  # A @ (one column): gemv, as gemm would pack all of A
        if a_rows:
            _gemv(c, 111, m, k, pa, ars, pb, brs, pc, alpha, beta)
        else:
            _gemv(c, 112, k, m, pa, acs, pb, brs, pc, alpha, beta)
    elif m == 1 and acs >= 1 and b_ok:  # (one row) @ B: gemv on B
        if b_rows:
            _gemv(c, 112, k, n, pb, brs, pa, acs, pc, alpha, beta)
        else:
            _gemv(c, 111, n, k, pb, bcs, pa, acs, pc, alpha, beta)
    elif a_ok and b_ok:
        ta, lda = (111, ars) if a_rows else (112, acs)
        tb, ldb = (111, brs) if b_rows else (112, bcs)
        c_bytes = m * n * c.itemsize
        panel = min(K_PANEL, PANEL_BYTES // c_bytes) if c_bytes <= PANELED_OUTPUT else k
        for s in range(0, k, panel):  # the panels after the first accumulate into C (beta = 1)
            kk, pas, pbs = min(panel, k - s), pa + s * acs * a.itemsize, pb + s * brs * b.itemsize
            if c.itemsize == 8:
                _dgemm(101, ta, tb, m, n, kk, alpha, pas, lda, pbs, ldb, beta if s == 0 else 1.0, pc, n)
            else:
                _sgemm(101, ta, tb, m, n, kk, np.float32(alpha), pas, lda, pbs, ldb,
                       np.float32(beta if s == 0 else 1.0), pc, n)
    else:
        return False
    return True


if BLAS_ROUTE == "numpy-openblas":
    blas_product = _blas
else:
    @numba.njit
    def blas_product(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n, alpha, beta):
        """C = A @ B by Numba's np.dot (SciPy's BLAS) for row-major operands; False (nothing done) otherwise, and
        for ``alpha`` != 1 or ``beta`` != 0 (np.dot has neither) and small products."""
        if m * k * n <= SMALL_MATMUL or alpha != 1.0 or beta != 0.0 or acs != 1 or bcs != 1 or ars != k or brs != n:
            return False
        np.dot(a[ao:ao + m * k].reshape((m, k)), b[bo:bo + k * n].reshape((k, n)), c[co:co + m * n].reshape((m, n)))
        return True


@numba.njit
def gemm(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n):
    """c[co:] = A @ B for the matrices at offsets ao/bo with row/column strides (elements)."""
    if blas_product(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n, 1.0, 0.0):
        return
    for r in range(m):
        for col in range(n):
            c[co + r * n + col] = 0.0
        for j in range(k):
            x = a[ao + r * ars + j * acs]
            for col in range(n):
                c[co + r * n + col] += x * b[bo + j * brs + col * bcs]
