"""Machine code cached on disk for the LLVM backends (native kernels, pointwise kernels).

An entry is a cache entry directory (cache.py: where it lives, who may write it, eviction) named by the
SHA-256 of the text the code is built from, of the source files that turn that text into code, and of this
host (CPU name and features) and the versions involved. An object file is stored behind the SHA-256 of the
entry's key, its own name, the files it runs with (a native kernel's ``native.py``) and the object, written
atomically. Nothing is loaded unchecked, since loading a bad object crashes the process inside LLVM (an abort
for another machine's object, a segfault for a damaged one) or runs another kernel's code (wrong numbers, or
writes past an output's end): a truncated or altered file, or one copied from another entry or beside another
entry's files, fails the digest, and on an ELF host an object must be a relocatable ELF file of this host's
class, byte order and machine whose section table lies within the file. Either failure rebuilds the object.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

import llvmlite.binding as llvm

from .cache import entry_digest, entry_for, evict, read_bytes, store, touch, versions
from .llvm_host import host_features

_ELF_MAGIC = b"\x7fELF"
_ET_REL = 1
_SHT_NOBITS = 8
# Header fields after e_ident (16 bytes), by ELF class (1: 32-bit, 2: 64-bit):
# e_type e_machine e_version e_entry e_phoff e_shoff e_flags e_ehsize e_phentsize e_phnum e_shentsize e_shnum
# e_shstrndx; and a section header's sh_type, sh_offset and sh_size as (format, offset in the section header).
_HEADER = {1: "HHIIIIIHHHHHH", 2: "HHIQQQIHHHHHH"}
_SECTION = {1: (("I", 4), ("I", 16), ("I", 20)), 2: (("I", 4), ("Q", 24), ("Q", 32))}


def entry_dir(kind: str, text: str, code_files: Iterable[Path]) -> Path:
    """The cache entry for machine code of ``kind`` built from ``text`` by ``code_files`` (created)."""
    code = _code_hash(tuple(sorted(code_files)))
    host = _host()
    key = hashlib.sha256(f"{kind}\n{code}\n{host}\n{versions()}\n{text}".encode()).hexdigest()
    return entry_for(key)


@functools.cache  # the code does not change while the process runs
def _code_hash(files: tuple[Path, ...]) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


@functools.cache
def _host() -> str:
    llvm.initialize_native_target()
    return f"{llvm.get_host_cpu_name()} {host_features()}"


@functools.cache
def host_object() -> bytes:
    """An (empty) object file as this host's target machine writes them: the reference for loaded objects."""
    from .llvm_host import target_machine

    return target_machine().emit_object(llvm.parse_assembly(""))


def object_problem(obj: bytes, host: bytes | None = None) -> str | None:
    """Why ``obj`` is not an object file this host can load (None: it looks loadable), compared with ``host``
    (default :func:`host_object`). Only ELF objects are checked; other formats pass."""
    host = host_object() if host is None else host
    if host[:4] != _ELF_MAGIC:
        return None
    if obj[:4] != _ELF_MAGIC:
        return "not an ELF object file"
    if obj[4:7] != host[4:7]:
        return f"ELF class/byte order/version {tuple(obj[4:7])}, this host's is {tuple(host[4:7])}"
    elf_class, order = host[4], "<" if host[5] == 1 else ">"
    header = order + _HEADER[elf_class]
    if len(obj) < 16 + struct.calcsize(header):
        return "truncated ELF header"
    (kind, machine, _, _, _, shoff, _, ehsize, _, _, shentsize, shnum, shstrndx) = struct.unpack_from(header, obj, 16)
    host_machine = struct.unpack_from(order + "H", host, 18)[0]
    if kind != _ET_REL or machine != host_machine:
        return f"ELF type {kind} for machine {machine}, expected a relocatable object (1) for machine {host_machine}"
    fields = _SECTION[elf_class]
    size_format, size_at = fields[-1]
    if ehsize != 16 + struct.calcsize(header) or shentsize < size_at + struct.calcsize(size_format) \
            or shstrndx >= shnum or shoff + shnum * shentsize > len(obj):
        return "ELF section table outside the file"
    for start in range(shoff, shoff + shnum * shentsize, shentsize):
        sh_type, offset, size = (struct.unpack_from(order + f, obj, start + at)[0] for f, at in fields)
        if sh_type != _SHT_NOBITS and offset + size > len(obj):
            return "ELF section outside the file"
    return None


def write_object(path: Path, obj: bytes, beside: bytes = b"") -> bool:
    """Store ``obj`` at ``path`` behind :func:`object_digest` (atomically), then keep the cache within its bound; False
    (with a warning) when it cannot be written: the caller runs ``obj`` from memory."""
    if not store(path, object_digest(path, obj, beside) + obj):
        return False
    evict(keep=path.parent)
    return True


def read_object(path: Path, beside: bytes = b"") -> bytes | None:
    """The object stored at ``path`` with the files ``beside`` (their bytes, as written with it; its entry marked
    used), or None when missing, truncated, altered or not loadable on this host (a file copied from another entry,
    or beside another entry's files, is altered: its digest covers the entry's key and those files)."""
    data = read_bytes(path)
    if data is None:
        return None
    digest, body = data[:32], data[32:]
    if not body or object_digest(path, body, beside) != digest or object_problem(body) is not None:
        return None
    touch(path.parent)
    return body


def object_digest(path: Path, obj: bytes, beside: bytes = b"") -> bytes:
    """What the object file ``path`` is stored behind: the digest of its entry's key, its name, the files it runs
    with (``beside``) and ``obj``."""
    return entry_digest(path.parent, path.name.encode(), beside, obj)


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
