"""Parameter updates by a scaled product in generated Numba modules (printed after blas.py into modules whose kernel
has one): ``c[co:] += alpha * A @ B`` by one CBLAS call with beta = 1, or False (nothing done) when BLAS does not take
the product, and the kernel's fallback computes the product and the update loop.
"""
import numba

from .blas import BLAS_ROUTE, SMALL_MATMUL, _blas

if BLAS_ROUTE == "numpy-openblas":
    @numba.njit
    def gemm_update(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n, alpha):
        """c[co:] += alpha * A @ B by one CBLAS call (beta = 1); False (nothing done) when BLAS does not take it."""
        return m * k * n > SMALL_MATMUL and _blas(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n, alpha, 1.0)
else:
    @numba.njit
    def gemm_update(a, ao, ars, acs, b, bo, brs, bcs, c, co, m, k, n, alpha):
        """SciPy's BLAS through np.dot has no alpha and beta: the caller's loops update C."""
        return False
