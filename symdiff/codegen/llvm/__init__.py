"""The LLVM backend: a compiled function's kernel IR lowered to machine code in process (no Numba), its object
code cached on disk (objcache.py: ``native.o``, the object; ``native.py``, the Python side: the argument checks and
the public function, which call the kernel's METH_FASTCALL entry). ``native.o``'s digest covers ``native.py`` too:
neither runs unless both are this entry's, whole."""

from __future__ import annotations

import types
import warnings
from pathlib import Path

from ..cache import read_bytes, store

_PACKAGE = Path(__file__).parents[2]
# The whole package's code is part of the cache key: the entry is found from the graph before it is simplified and
# generated, so the rewrite rules, the op table and the code generator all shape what it holds.
_CODE_FILES = tuple(sorted(_PACKAGE.rglob("*.py")))


class NativeUnavailableError(RuntimeError):
    """This process cannot run native kernels (the caller falls back to Numba with a warning naming why)."""


def load_native(generate, key: str) -> tuple[types.ModuleType, Path]:
    """A module whose public function runs natively the kernel that ``generate()`` (codegen.module.GeneratedModule)
    makes for the graph described by ``key``: from the cache when it holds one (without generating), else built
    and stored. Raises NativeUnavailableError when this NumPy's array layout is not the one the entry reads."""
    from ..llvm_host import COMPILE_LOCK
    from ..objcache import entry_dir, read_object, write_object
    from ..printed import runtime_source
    from .build import llvm_module, load_entry, object_code
    from .entry import check_layout

    if not check_layout():
        raise NativeUnavailableError("this NumPy's array struct layout is not the one the native entry reads")
    entry = entry_dir("native", key, _CODE_FILES)
    path = entry / "native.py"
    with COMPILE_LOCK:
        wrapper = read_bytes(path)
        obj = None if wrapper is None else read_object(entry / "native.o", beside=wrapper)
        hit = obj is not None
        if hit:
            text = wrapper.decode()
        else:  # missing, damaged, or either file from another entry: rebuild both
            generated = generate()
            obj = object_code(llvm_module(generated.kernel))
            text = "\n\n".join([f'"""{generated.header.strip()}"""', "import types\n\nimport numpy as np",
                                 runtime_source(generated.native_wrapper).strip(), generated.native_wrapper]) + "\n"
            store(path, text)  # a failed write (disk full) leaves the module to run from memory
            write_object(entry / "native.o", obj, beside=text.encode())  # last: evicting counts the whole entry
        native = load_entry(obj, f"symdiff_native_{entry.name[:12]}")
    module = types.ModuleType(f"symdiff_native_{entry.name[:20]}")
    module.__file__ = str(path)
    module._kernel = native
    module._native_cache_hit = hit
    exec(compile(text, str(path), "exec"), module.__dict__)  # noqa: S102 - symdiff's own generated text
    from .blas_bind import bind_blas

    module.BLAS_ROUTE = bind_blas()[0]  # which BLAS matrix products call (bound by load_entry), as in Numba modules
    return module, path


def fall_back(reason: Exception) -> None:
    """Say why a function is compiled by Numba instead."""
    warnings.warn(f"symdiff: compiling with Numba instead of the native backend: {reason}", RuntimeWarning,
                  stacklevel=3)
