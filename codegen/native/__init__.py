"""The native backend: a generated module's kernel compiled straight to machine code with llvmlite.

The generated module (Numba source) stays what ``fn.source`` shows and ``sd.export`` writes. In process,
its kernel text is lowered to LLVM IR by this package instead of by Numba (lower.py), so compiling skips
Numba's typing and lowering, and a warm start loads cached object code without importing Numba at all.
Cache entry: ``<cache dir>/<key[:2]>/<key>/native.o`` (SHA-256 of the object, then the object) and
``native.py`` (the pure-Python side: argument checks, workspaces, the call), written atomically.
"""

from __future__ import annotations

import hashlib
import platform
import sys
import types
from pathlib import Path

from ..cache import cache_dir, write_atomic
from ..module import _HERE, GeneratedModule
from .kinds import NativeUnsupportedError

__all__ = ["NativeUnsupportedError", "load_native", "native_key"]
_FORMAT = "native-1"  # bump when the object layout or the entry ABI changes
_LOWERING_FILES = [*Path(__file__).parent.glob("*.py"), _HERE / "fastmath_ir.py", _HERE / "llvm_host.py"]


def native_key(source: str) -> str:
    """Hash of the module source and of everything the object code depends on (versions, CPU)."""
    import llvmlite
    import llvmlite.binding as llvm
    import numpy

    from symdiff import __version__

    llvm.initialize_native_target()
    host = f"{llvm.get_host_cpu_name()} {llvm.get_host_cpu_features().flatten()}"
    # the lowering's own code: a changed translator never reuses objects an older one built
    lowering = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(_LOWERING_FILES))).hexdigest()
    versions = f"{_FORMAT} lowering={lowering} symdiff={__version__} llvmlite={llvmlite.__version__} " \
               f"numpy={numpy.__version__} python={sys.version} machine={platform.machine()} cpu={host}"
    return hashlib.sha256((versions + "\n" + source).encode()).hexdigest()


def _read_object(path: Path) -> bytes | None:
    """The cached object, or None when missing, truncated or altered (its digest does not match)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, body = data[:32], data[32:]
    return body if body and hashlib.sha256(body).digest() == digest else None


def load_native(generated: GeneratedModule) -> tuple[types.ModuleType, Path]:
    """Import ``generated`` with its kernel compiled natively (from the cache when possible); the module
    has the same public function as the Numba one. Raises NativeUnsupportedError for kernels outside the subset."""
    from .build import build_object, split_kernel
    from .entry import check_layout

    if not check_layout():
        raise NativeUnsupportedError("this NumPy's array struct layout is not the one the native entry reads")
    split, parts, kernel_args = split_kernel(generated.kernel)
    key = native_key(generated.source)
    entry = cache_dir() / key[:2] / key
    obj = _read_object(entry / "native.o")
    for attempt in range(2):
        hit = obj is not None
        if not hit:
            obj = build_object(generated, split, parts)
            write_atomic(entry / "native.o", hashlib.sha256(obj).digest() + obj)
        try:
            module = _import(generated, split, kernel_args, obj, entry / "native.py", key)
            module._native_cache_hit = hit
            return module, entry / "native.py"
        except RuntimeError:  # object code that does not load or lacks the entry: rebuild it once
            if attempt:
                raise
            obj = None
    raise AssertionError("unreachable")


def _import(generated: GeneratedModule, split, kernel_args: list[str], obj: bytes, path: Path,
            key: str) -> types.ModuleType:
    import llvmlite.binding as llvm

    from ..llvm_host import target_machine
    from .blas_bind import bind_blas
    from .calls import bind_libm
    from .entry import ENTRY_SYMBOL, bind_python_symbols, python_function

    bind_python_symbols()
    bind_libm()
    route = bind_blas(target_machine()) if "gemm(" in generated.kernel else None
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), target_machine())
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    address = engine.get_function_address(ENTRY_SYMBOL)
    if not address:
        raise RuntimeError("native object code without its entry")
    native = python_function(address, f"symdiff_native_{key[:12]}", engine)
    text = "\n\n".join([generated.header.rstrip(), (_HERE / "runtime.py").read_text().strip(),
                        split.shim_source(kernel_args, generated.constants).strip(), generated.wrapper.strip()]) + "\n"
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
