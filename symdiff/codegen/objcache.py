"""Machine code cached on disk for the LLVM backends (native kernels, pointwise kernels).

An entry is ``<cache dir>/<key[:2]>/<key>/`` with ``key`` the SHA-256 of the text the code is built from,
of the source files that turn that text into code, and of this host (CPU name and features) and the
versions involved. An object file is stored as its own SHA-256 followed by the object, written atomically:
a truncated or altered file fails the digest and is rebuilt (loading a damaged object would crash the
process inside LLVM, so nothing is loaded unchecked).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

import llvmlite.binding as llvm

from .cache import cache_dir, versions, write_atomic


def entry_dir(kind: str, text: str, code_files: Iterable[Path]) -> Path:
    """The cache entry for machine code of ``kind`` built from ``text`` by ``code_files``."""
    code = _code_hash(tuple(sorted(code_files)))
    host = _host()
    key = hashlib.sha256(f"{kind}\n{code}\n{host}\n{versions()}\n{text}".encode()).hexdigest()
    return cache_dir() / key[:2] / key


@functools.cache  # the code does not change while the process runs
def _code_hash(files: tuple[Path, ...]) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


@functools.cache
def _host() -> str:
    llvm.initialize_native_target()
    return f"{llvm.get_host_cpu_name()} {llvm.get_host_cpu_features().flatten()}"


def write_object(path: Path, obj: bytes) -> None:
    """Store ``obj`` at ``path`` behind its digest (atomically)."""
    write_atomic(path, hashlib.sha256(obj).digest() + obj)


def read_object(path: Path) -> bytes | None:
    """The object stored at ``path``, or None when missing, truncated or altered."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, body = data[:32], data[32:]
    return body if body and hashlib.sha256(body).digest() == digest else None


def cached_object(path: Path, build: Callable[[], bytes]) -> tuple[bytes, bool]:
    """The object at ``path`` (and True), or a new one from ``build()``, stored there (and False)."""
    obj = read_object(path)
    if obj is not None:
        return obj, True
    obj = build()
    write_object(path, obj)
    return obj, False


def load_engine(obj: bytes, machine: llvm.TargetMachine) -> llvm.ExecutionEngine:
    """An MCJIT engine holding ``obj``, linked and ready (keep it alive while its code may run)."""
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    return engine
