"""Lower symdiff graphs to compiled kernels.

graph -> schedule (plan.py, rows.py) -> kernel IR (kir.py, built by emit_*.py over context.py and arrays.py,
workspace by memory.py, assembled by module.py) -> either the LLVM lowering in process (llvm/: machine code, cached
on disk by objcache.py) or the printed Numba module (numba_print.py, printed.py: ``fn.source``, exports, and
``backend="numba"`` through cache.py). Both run the same Python entry (wrapper.py, runtime.py).
Pointwise graphs (pointwise.py) are a schedule of the same IR: one SIMD loop over points.
Reads the IR and the op table only (checked by import-linter). Submodules load on first use; only the Numba
backend imports Numba.
"""

from importlib import import_module

__all__ = ["cache_dir", "generate", "load"]
_HOME = {"cache_dir": "cache", "load": "cache", "generate": "module"}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module 'symdiff.codegen' has no attribute {name!r}")
