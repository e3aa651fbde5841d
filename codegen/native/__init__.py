"""The native backend: a generated module's kernel compiled straight to machine code with llvmlite.

The generated module (Numba source) stays what ``fn.source`` shows and ``sd.export`` writes. In process,
its kernel text is lowered to LLVM IR by this package instead of by Numba (lower.py), so compiling skips
Numba's typing and lowering, and a warm start loads cached object code without importing Numba at all.
Cache entry (objcache.py): ``native.o``, the object behind its SHA-256, and ``native.py``, the pure-Python
side (argument checks, workspaces, the call), both written atomically.
"""

from __future__ import annotations

import types
from pathlib import Path

from ..cache import write_atomic
from ..module import _HERE, GeneratedModule
from .kinds import NativeUnsupportedError

__all__ = ["NativeUnsupportedError", "load_native"]
# The lowering's own code is part of the cache key: a changed translator never reuses objects an older one built.
_LOWERING_FILES = [*Path(__file__).parent.glob("*.py"), _HERE / "fastmath_ir.py", _HERE / "llvm_host.py"]


def load_native(generated: GeneratedModule) -> tuple[types.ModuleType, Path]:
    """Import ``generated`` with its kernel compiled natively (from the cache when possible); the module has
    the same public function as the Numba one. Raises NativeUnsupportedError for kernels outside the subset."""
    from ..llvm_host import COMPILE_LOCK
    from ..objcache import cached_object, entry_dir
    from .build import build_object, split_kernel
    from .entry import check_layout

    if not check_layout():
        raise NativeUnsupportedError("this NumPy's array struct layout is not the one the native entry reads")
    with COMPILE_LOCK:  # also around ast.parse: CPython 3.11's parser is not thread-safe (gh-106905)
        split, parts, kernel_args = split_kernel(generated.kernel)
        entry = entry_dir("native", generated.source, _LOWERING_FILES)
        obj, hit = cached_object(entry / "native.o", lambda: build_object(generated, split, parts))
        module = _import(generated, split, kernel_args, obj, entry / "native.py", entry.name)
    module._native_cache_hit = hit
    return module, entry / "native.py"


def _import(generated: GeneratedModule, split, kernel_args: list[str], obj: bytes, path: Path,
            key: str) -> types.ModuleType:
    from ..llvm_host import target_machine
    from ..objcache import load_engine
    from .blas_bind import bind_blas
    from .calls import bind_libm
    from .entry import ENTRY_SYMBOL, bind_python_symbols, python_function

    bind_python_symbols()
    bind_libm()
    route = bind_blas()[0] if "gemm(" in generated.kernel else None
    engine = load_engine(obj, target_machine())
    address = engine.get_function_address(ENTRY_SYMBOL)
    if not address:
        raise RuntimeError(f"native kernel: the cached object in {path.parent} has no entry; delete it")
    native = python_function(address, f"symdiff_native_{key[:12]}", engine)
    text = "\n\n".join([generated.header.rstrip(), (_HERE / "runtime.py").read_text().strip(),
                        split.shim_source(kernel_args).strip(), generated.wrapper.strip()]) + "\n"
    try:
        current = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if current != text:
        write_atomic(path, text)
    module = types.ModuleType(f"symdiff_native_{key[:20]}")
    module.__file__ = str(path)
    module._native = native
    if route is not None:
        module.BLAS_ROUTE = route
    exec(compile(text, str(path), "exec"), module.__dict__)  # noqa: S102 - symdiff's own generated text
    return module
