"""The LLVM backend: a compiled function's kernel IR lowered to machine code in process (no Numba), its object
code cached on disk (objcache.py: ``native.o``, the object behind its SHA-256; ``native.py``, the Python side: the
argument checks and the public function, which call the kernel's METH_FASTCALL entry)."""

from __future__ import annotations

import types
import warnings
from pathlib import Path

from .. import kir
from ..cache import write_atomic

_HERE = Path(__file__).parent
# The lowering's own code is part of the cache key: a changed lowering never reuses objects an older one built.
_LOWERING_FILES = [*_HERE.glob("*.py"), _HERE.parent / "kir.py", _HERE.parent / "fastlib.py",
                   _HERE.parent / "llvm_host.py"]


class NativeUnavailableError(RuntimeError):
    """This process cannot run native kernels (the caller falls back to Numba with a warning naming why)."""


def load_native(generated) -> tuple[types.ModuleType, Path]:
    """A module whose public function runs ``generated`` (codegen.module.GeneratedModule) natively, from the
    cache when possible. Raises NativeUnavailableError when this NumPy's array layout is not the one the entry
    reads."""
    from ..llvm_host import COMPILE_LOCK
    from ..objcache import cached_object, entry_dir
    from ..printed import runtime_source
    from .build import llvm_module, load_entry, object_code
    from .entry import check_layout

    if not check_layout():
        raise NativeUnavailableError("this NumPy's array struct layout is not the one the native entry reads")
    with COMPILE_LOCK:
        entry = entry_dir("native", generated.source, _LOWERING_FILES)
        obj, hit = cached_object(entry / "native.o", lambda: object_code(llvm_module(generated.kernel)))
        native = load_entry(obj, f"symdiff_native_{entry.name[:12]}")
    path = entry / "native.py"
    text = "\n\n".join([f'"""{generated.header.strip()}"""', "import types\n\nimport numpy as np",
                         runtime_source().strip(), generated.wrapper]) + "\n"
    try:
        current = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if current != text:
        write_atomic(path, text)
    module = types.ModuleType(f"symdiff_native_{entry.name[:20]}")
    module.__file__ = str(path)
    module._kernel = native
    module._native_cache_hit = hit
    if any(isinstance(s, kir.Gemm) for f in generated.kernel.functions for s in kir.walk(f.body)):
        from .blas_bind import bind_blas

        module.BLAS_ROUTE = bind_blas()[0]  # which BLAS the products call, as a Numba module says
    exec(compile(text, str(path), "exec"), module.__dict__)  # noqa: S102 - symdiff's own generated text
    return module, path


def fall_back(reason: Exception) -> None:
    """Say why a function is compiled by Numba instead."""
    warnings.warn(f"symdiff: compiling with Numba instead of the native backend: {reason}", RuntimeWarning,
                  stacklevel=3)
