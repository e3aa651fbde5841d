"""Symmetric products ``Bᵀ @ B`` of generated Numba modules (printed after blas.py into modules whose kernel has one).

``gram`` computes the upper triangle with CBLAS ``?syrk`` of NumPy's bundled OpenBLAS (half the multiply-adds of
``?gemm``) and mirrors it in tiles; small products, operands BLAS cannot take, and the SciPy route use ``gemm``.
"""
import numba
import numpy as np

from .blas import _I32, _I64, BLAS_ROUTE, SMALL_MATMUL, gemm

_SYRK = {name: numba.types.ExternalFunction(f"symdiff_{name}", numba.void(
    _I32, _I32, _I32, _I64, _I64, real, _I64, _I64, real, _I64, _I64))
    for name, real in (("dsyrk", numba.float64), ("ssyrk", numba.float32))}
_dsyrk, _ssyrk = _SYRK["dsyrk"], _SYRK["ssyrk"]
_TILE = 32  # mirror the triangle tile by tile: a column walk of the whole matrix misses the cache


@numba.njit
def _syrk(b, bo, brs, bcs, c, co, k, n):
    """The upper triangle of c[co:] = Bᵀ @ B by CBLAS; False when BLAS cannot take B's strides."""
    rows, columns = bcs == 1 and brs >= max(n, 1), brs == 1 and bcs >= max(k, 1)
    if not (rows or columns):
        return False
    trans, lda = (112, brs) if rows else (111, bcs)  # a unit row stride: B's memory is Bᵀ row-major
    pb, pc = np.int64(b.ctypes.data) + bo * b.itemsize, np.int64(c.ctypes.data) + co * c.itemsize
    if c.itemsize == 8:
        _dsyrk(101, 121, trans, n, k, 1.0, pb, lda, 0.0, pc, n)
    else:
        _ssyrk(101, 121, trans, n, k, np.float32(1.0), pb, lda, np.float32(0.0), pc, n)
    return True


if BLAS_ROUTE != "numpy-openblas":
    @numba.njit
    def _syrk(b, bo, brs, bcs, c, co, k, n):
        """No ?syrk is bound on the SciPy route: gram multiplies by gemm."""
        return False


@numba.njit
def gram(b, bo, brs, bcs, c, co, k, n):
    """c[co:] = Bᵀ @ B for the k x n matrix at offset bo with row/column strides (elements)."""
    if k * n * n <= SMALL_MATMUL or not _syrk(b, bo, brs, bcs, c, co, k, n):
        gemm(b, bo, bcs, brs, b, bo, brs, bcs, c, co, n, k, n)
        return
    for i0 in range(0, n, _TILE):  # mirror the upper triangle
        for j0 in range(i0, n, _TILE):
            for i in range(i0, min(i0 + _TILE, n)):
                for j in range(max(j0, i + 1), min(j0 + _TILE, n)):
                    c[co + j * n + i] = c[co + i * n + j]
