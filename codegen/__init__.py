"""Lower symdiff graphs to compiled kernels.

Arrays: graph -> schedule (plan.py, rows.py) -> sections of source (emit_*.py) -> workspace plan
(memory.py) -> module text (module.py, wrapper.py, with fastmath.py, blas.py, runtime.py copied in)
-> disk cache and import (cache.py): one Numba kernel per compiled function.
Pointwise graphs (pointwise.py): straight to one LLVM loop over points, no Numba.
Reads the IR and the op table only. Submodules load on first use, so the pointwise path never
imports Numba.
"""

from importlib import import_module

__all__ = ["cache_dir", "generate", "load"]
_HOME = {"cache_dir": "cache", "load": "cache", "generate": "module"}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module 'codegen' has no attribute {name!r}")
