"""Where BLAS lives in this process, for native kernels: NumPy's bundled OpenBLAS, else SciPy's Fortran BLAS.

Printed Numba modules bind the same OpenBLAS themselves (codegen/blas.py, which must stand alone); the two agree on
``SMALL_MATMUL``, the panels and the routines (tested).
"""
import ctypes
import glob
import os

import numpy as np

#: Below this many multiply-adds a loop nest beats a BLAS call's fixed cost.
SMALL_MATMUL = 4096

#: A product whose output C takes at most ``PANELED_OUTPUT`` bytes, over a longer inner dimension, runs as ``?gemm``
#: calls over panels of min(``K_PANEL``, ``PANEL_BYTES`` / C's bytes) terms (accumulating, beta = 1). One call runs
#: at a fraction of OpenBLAS's rate (packed, threaded), while each panel is small enough for its unpacked small-matrix
#: kernels: a convolution's kernel gradient, 9 x 43264 x 32 in float32, 880 -> 355 us; an RNN's weight gradients,
#: 64 x 1600 x 64 float32 126 -> 60 us, 16 x 1600 x 64 float64 83 -> 47 us (2 cores). Larger outputs gained nothing.
PANELED_OUTPUT, PANEL_BYTES, K_PANEL = 16384, 2 << 20, 2048

# CBLAS enums (row-major layout, transpose flags, the upper triangle) shared by both bindings.
_ROW_MAJOR, _NO_TRANS, _TRANS, _UPPER = 101, 111, 112, 121
#: Symmetric products mirror their computed triangle in square tiles of this side (blas_gram.py's ``_TILE``).
MIRROR_TILE = 32


#: The routines kernels call: matrix products, matrix-vector products (gemm would pack all of A for a single
#: column) and symmetric products Bᵀ B (one triangle: half the multiply-adds).
ROUTINES = ("dgemm", "sgemm", "dgemv", "sgemv", "dsyrk", "ssyrk")


def _numpy_openblas_library():
    """NumPy's bundled ILP64 OpenBLAS (a ctypes library exporting the CBLAS ``ROUTINES``), or None."""
    if os.environ.get("SYMDIFF_BLAS") == "scipy":  # the fallback route, forced (tests, debugging)
        return None
    here = os.path.dirname(np.__file__)
    for pattern in ("../numpy.libs/*openblas64*", ".dylibs/*openblas64*"):
        for path in sorted(glob.glob(os.path.join(here, pattern))):
            try:
                library = ctypes.CDLL(path)
                if all(hasattr(library, f"scipy_cblas_{r}64_") for r in ROUTINES):
                    return library
            except OSError:
                continue
    return None


def _numpy_openblas():
    """Addresses of the CBLAS ``ROUTINES`` in NumPy's bundled ILP64 OpenBLAS (a dict), or None."""
    library = _numpy_openblas_library()
    if library is None:
        return None
    return {r: ctypes.cast(getattr(library, f"scipy_cblas_{r}64_"), ctypes.c_void_p).value for r in ROUTINES}


def openblas_threads():
    """``(get, set)``: the thread count of the OpenBLAS that kernels call, or None when kernels call another BLAS
    (whose threads symdiff leaves alone)."""
    library = _numpy_openblas_library()
    try:
        get, set_threads = library.scipy_openblas_get_num_threads64_, library.scipy_openblas_set_num_threads64_
    except AttributeError:  # no library, or one without the calls
        return None
    get.restype, get.argtypes = ctypes.c_int, []
    set_threads.restype, set_threads.argtypes = None, [ctypes.c_int]
    return get, set_threads


def _scipy_fortran(routine):
    """Address of SciPy's Fortran ``routine`` (column-major, arguments by reference, 32-bit ints)."""
    from scipy.linalg import cython_blas

    capsule = cython_blas.__pyx_capi__[routine]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get_pointer(capsule, get_name(capsule))
