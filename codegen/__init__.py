"""Lower symdiff graphs to one Numba kernel per compiled function.

Graph -> schedule (plan.py) -> sections of source (emit_*.py) -> workspace plan (memory.py)
-> module text (module.py, wrapper.py) -> disk cache and import (cache.py).
Reads the IR and the op table only.
"""

from .cache import cache_dir, load
from .module import generate

__all__ = ["cache_dir", "generate", "load"]
