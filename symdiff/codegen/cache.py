"""On-disk compile cache: generated source keyed by its hash, imported so Numba's own cache works.

Layout: ``<cache dir>/<hash[:2]>/<hash>/kernel.py`` plus Numba's ``__pycache__`` beside it.
Writes are atomic (temp file + rename). An entry whose text does not match its key is rewritten;
an entry whose Numba cache fails to load is wiped and rebuilt once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType


def cache_dir() -> Path:
    """``$SYMDIFF_CACHE_DIR``, else ``$XDG_CACHE_HOME/symdiff``, else ``~/.cache/symdiff``."""
    explicit = os.environ.get("SYMDIFF_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symdiff"


def versions() -> str:
    """The versions every compiled artefact depends on (Numba's cache adds Numba's, native code the CPU's)."""
    import llvmlite
    import numpy

    from symdiff._version import __version__

    return f"symdiff={__version__} llvmlite={llvmlite.__version__} numpy={numpy.__version__} " \
           f"python={sys.version} machine={platform.machine()}"


def cache_key(source: str) -> str:
    """Hash of the source and of every version that changes what Numba compiles it to."""
    import numba

    return hashlib.sha256(f"{versions()} numba={numba.__version__}\n{source}".encode()).hexdigest()


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _import(path: Path, name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Numba's cached code re-imports its module by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load(source: str) -> tuple[ModuleType, Path]:
    """Import ``source`` from the cache (writing it first if missing or damaged); one thread at a time, so no
    thread sees another's half-executed module."""
    from .llvm_host import COMPILE_LOCK

    with COMPILE_LOCK:
        return _load(source)


def _load(source: str) -> tuple[ModuleType, Path]:
    key = cache_key(source)
    entry = cache_dir() / key[:2] / key
    path = entry / "kernel.py"
    try:
        current = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        current = None
    if current != source:  # missing, truncated or edited: (re)write it
        shutil.rmtree(entry / "__pycache__", ignore_errors=True)
        write_atomic(path, source)
    name = f"symdiff_kernel_{key[:20]}"
    try:
        return _import(path, name), path
    except Exception:  # noqa: BLE001 - a damaged Numba cache entry: wipe it and build from source once
        shutil.rmtree(entry / "__pycache__", ignore_errors=True)
        if path.read_text(encoding="utf-8") != source:
            write_atomic(path, source)
        return _import(path, name), path
