"""On-disk compile cache: where entries live, who may write them, how big the cache grows; and the Numba
backend's entries (generated source imported from its file, so Numba's own cache works).

Layout: ``<root>/<key[:2]>/<key>/`` per entry (``key``: 64 hex digits), holding ``kernel.py`` plus Numba's
``__pycache__`` and ``pycache.sha256`` (Numba backend), or ``native.o``/``native.py``/``pointwise.o``
(objcache.py). Directories are created ``0700``. The root is used only when it is ours alone: owned by this
user, writable by us, and not writable by other users (a world-writable root must be sticky and ours); every
shard and entry directory must be ours and private too. Otherwise, or when the root is read-only, kernels
compile into a private temporary root removed at exit, with one warning (nothing is read from a directory
others can write: Numba's cache index is a pickle). Writes are atomic (temp file + rename); a write that fails
(disk full), ours or Numba's, warns and the kernel is used from memory. An entry whose text does not match
its key is rewritten. Numba's ``__pycache__`` (pickles, and machine code it runs) is read only when
``pycache.sha256`` holds the digest of the entry's key and of every file in it, as recorded after the import
that wrote them; else it is wiped first, so files copied from another entry are never read. An entry whose
Numba cache fails to load is wiped and rebuilt once.

Size: after each new entry, the least recently used entries (by the entry directory's mtime, touched on every
use) are removed until the cache holds at most ``$SYMDIFF_CACHE_MAX_BYTES`` (default 1 GiB; suffixes K, M, G,
T; any other value fails every compile before anything is written). Entries used in the last ``IN_USE_SECONDS``
are never removed: another process may be writing them.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import os
import platform
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

#: Default bound on the cache's size in bytes (``$SYMDIFF_CACHE_MAX_BYTES`` overrides it).
DEFAULT_MAX_BYTES = 1 << 30
MAX_BYTES_VARIABLE = "SYMDIFF_CACHE_MAX_BYTES"
#: Entries used (or written) this recently are never evicted.
IN_USE_SECONDS = 600
_TEMP_PREFIX = ".tmp-"
_PYCACHE_DIGEST = "pycache.sha256"
_KEY = re.compile(r"[0-9a-f]{64}")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class CacheWarning(RuntimeWarning):
    """The disk cache cannot be used (kernels still compile, into a private temporary directory)."""


def cache_dir() -> Path:
    """``$SYMDIFF_CACHE_DIR``, else ``$XDG_CACHE_HOME/symdiff``, else ``~/.cache/symdiff``."""
    explicit = os.environ.get("SYMDIFF_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symdiff"


def max_bytes() -> int:
    """The cache's size bound: ``$SYMDIFF_CACHE_MAX_BYTES`` (``1073741824``, ``512M``, ``2G``), else 1 GiB."""
    text = os.environ.get(MAX_BYTES_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    match = re.fullmatch(r"(\d{1,15})\s*([KMGT]?)(?:i?B)?", text, re.IGNORECASE)
    if match is None:
        raise ValueError(f"{MAX_BYTES_VARIABLE}: expected a number of bytes such as 1073741824, 512M or 2G, "
                         f"got {text!r}")
    return int(match[1]) * _UNITS[match[2].upper()]


def versions() -> str:
    """The versions every compiled artefact depends on (Numba's cache adds Numba's, native code the CPU's)."""
    import llvmlite
    import numpy

    from symdiff._version import __version__

    return f"symdiff={__version__} llvmlite={llvmlite.__version__} numpy={numpy.__version__} " \
           f"python={sys.version} machine={platform.machine()}"


# -- where entries live --------------------------------------------------------------------------------------

def directory_problem(path: Path, *, root: bool = False) -> str | None:
    """Why the existing directory ``path`` cannot hold cache entries (None: it can). It must be a directory we
    own and can write that no other user can write (only a ``root`` may be group/world-writable, when sticky)."""
    try:
        info = os.stat(path) if root else os.lstat(path)  # below the root, a symlink is never ours to follow
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory"
    if os.name == "posix":
        if info.st_uid != os.geteuid():
            return f"{path} belongs to another user (uid {info.st_uid})"
        shared = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if shared and not (root and info.st_mode & stat.S_ISVTX):
            return f"{path} can be written by other users (mode {info.st_mode & 0o7777:04o})"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"{path} is read-only"
    return None


def _private_dir(path: Path, *, root: bool = False) -> str | None:
    """Create ``path`` (mode 0700) if missing; then :func:`directory_problem`."""
    try:
        if root:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700)
        os.chmod(path, 0o700)  # exactly 0700 whatever the umask
    except FileExistsError:
        pass
    except OSError as exc:
        return f"cannot create {path}: {exc.strerror or exc}"
    return directory_problem(path, root=root)


_LOCK = threading.Lock()
_PRIVATE: list[Path] = []
_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    with _LOCK:
        if message in _WARNED:
            return
        _WARNED.add(message)
    warnings.warn(f"symdiff: {message}", CacheWarning, stacklevel=4)


def private_root() -> Path:
    """This process's own temporary cache root (mode 0700, removed at exit), created on first use."""
    with _LOCK:
        if not _PRIVATE:
            path = Path(tempfile.mkdtemp(prefix="symdiff-cache-"))
            atexit.register(shutil.rmtree, path, True)
            _PRIVATE.append(path)
        return _PRIVATE[0]


def entry_for(key: str) -> Path:
    """The directory of the entry ``key`` (created): in the cache root when that root, its shard and the entry
    are ours alone; else in :func:`private_root` (with one warning saying why). A bad :func:`max_bytes` setting
    raises here, so that every compile fails alike (not only a miss, half-way through writing its entry)."""
    max_bytes()
    root = cache_dir()
    entry = root / key[:2] / key
    problem = (_private_dir(root, root=True) or _private_dir(entry.parent) or _private_dir(entry))
    if problem is None:
        return entry
    _warn_once(f"not using the kernel cache ({problem}); compiling into a private temporary directory instead")
    entry = private_root() / key[:2] / key
    entry.mkdir(mode=0o700, parents=True, exist_ok=True)
    return entry


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` (its directory exists) so that readers see the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX, suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store(path: Path, data: str | bytes) -> bool:
    """:func:`write_atomic` into a cache entry; False, with one warning, when the write fails (disk full, the
    entry removed meanwhile): the caller uses what it built from memory."""
    try:
        write_atomic(path, data)
    except OSError as exc:
        _write_failed(path.parent, exc)
        return False
    return True


def _write_failed(entry: Path, exc: OSError) -> None:
    _warn_once(f"cannot write to the kernel cache ({entry}: {exc.strerror or exc}); using the compiled kernel from "
               "memory")


def read_bytes(path: Path) -> bytes | None:
    """The bytes of the cached file ``path``, or None when it cannot be read (missing, removed meanwhile)."""
    try:
        return path.read_bytes()
    except OSError:
        return None


def entry_digest(entry: Path, *parts: bytes) -> bytes:
    """SHA-256 of the entry's key (its directory's name) and ``parts``: what a cached file is stored behind, so that
    a file copied from another entry fails the check (its own digest only proves it undamaged)."""
    hasher = hashlib.sha256(entry.name.encode())
    for part in parts:
        hasher.update(len(part).to_bytes(8, "little") + part)  # lengths first: parts never run into each other
    return hasher.digest()


def touch(entry: Path) -> None:
    """Mark ``entry`` as just used (its mtime orders eviction)."""
    try:
        os.utime(entry)
    except OSError:
        pass  # removed meanwhile: nothing to keep fresh


# -- size: eviction, info, clear ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """A cache entry: its directory, bytes on disk, when last used (epoch seconds), and whether a temp file
    in it shows a write in progress."""

    path: Path
    nbytes: int
    used: float
    writing: bool


def _entry(path: Path) -> Entry | None:
    nbytes, writing = 0, False
    try:
        used = path.lstat().st_mtime
        for folder, _, files in os.walk(path):
            for name in files:
                writing = writing or name.startswith(_TEMP_PREFIX)
                nbytes += os.lstat(os.path.join(folder, name)).st_size
    except OSError:
        return None  # removed meanwhile
    return Entry(path, nbytes, used, writing)


def entries(root: Path | None = None) -> list[Entry]:
    """The entries under ``root`` (default: the cache root), least recently used first. Only directories named
    like entries count: nothing else in the root is ever read, counted or removed."""
    root = cache_dir() if root is None else root
    found = []
    for shard in sorted(root.glob("[0-9a-f][0-9a-f]")):
        for path in sorted(shard.glob(f"{shard.name}*")) if not shard.is_symlink() else ():
            entry = _entry(path) if _KEY.fullmatch(path.name) and path.is_dir() and not path.is_symlink() else None
            if entry is not None:
                found.append(entry)
    return sorted(found, key=lambda e: e.used)


def evict(keep: Path) -> list[Path]:
    """After writing the entry ``keep``: remove least recently used entries of its cache root until the cache
    fits in :func:`max_bytes`, except ``keep`` and entries used in the last ``IN_USE_SECONDS``. The removed."""
    root = keep.parent.parent
    if root != cache_dir():
        return []  # the private root lives as long as the process
    limit, now = max_bytes(), time.time()
    found = entries(root)
    total = sum(e.nbytes for e in found)
    removed = []
    for entry in found:
        if total <= limit:
            break
        if entry.path == keep or entry.writing or now - entry.used < IN_USE_SECONDS:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        total -= entry.nbytes
        removed.append(entry.path)
    return removed


def clear(root: Path | None = None) -> tuple[int, int, int]:
    """Remove every entry under ``root`` (default: the cache root) except those being written:
    ``(entries removed, bytes removed, entries skipped)``."""
    removed = nbytes = skipped = 0
    for entry in entries(root):
        if entry.writing:
            skipped += 1
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed, nbytes = removed + 1, nbytes + entry.nbytes
    return removed, nbytes, skipped


# -- the Numba backend's entries ----------------------------------------------------------------------------

def cache_key(source: str) -> str:
    """Hash of the source and of every version that changes what Numba compiles it to."""
    import numba

    return hashlib.sha256(f"{versions()} numba={numba.__version__}\n{source}".encode()).hexdigest()


def _import(path: Path, name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Numba's cached code re-imports its module by name
    try:
        with _numba_writes_may_fail(path.parent):
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@contextlib.contextmanager
def _numba_writes_may_fail(entry: Path):
    """While a kernel module is imported, a write of Numba's cache that fails (disk full) warns as :func:`store`
    does and the kernel runs from memory: Numba would raise it from the import (``cache=True`` in the source)."""
    from numba.core.caching import Cache

    save = Cache.save_overload

    def save_or_warn(self, sig, data):
        try:
            save(self, sig, data)
        except OSError as exc:
            _write_failed(entry, exc)

    Cache.save_overload = save_or_warn
    try:
        yield
    finally:
        Cache.save_overload = save


def load(source: str) -> tuple[ModuleType, Path]:
    """Import ``source`` from the cache (writing it first if missing or damaged); one thread at a time, so no
    thread sees another's half-executed module."""
    from .llvm_host import COMPILE_LOCK

    with COMPILE_LOCK:
        return _load(source)


def _pycache_digest(entry: Path) -> bytes | None:
    """The digest of ``entry``'s key and of the names and bytes of every file in its ``__pycache__`` (None: none,
    or one cannot be read)."""
    try:
        files = sorted((entry / "__pycache__").iterdir())
        return entry_digest(entry, *(part for file in files for part in (file.name.encode(), file.read_bytes())))
    except OSError:
        return None


def _source_file(entry: Path, source: str) -> tuple[Path, bool]:
    """``entry/kernel.py`` holding ``source`` (and whether it was written now), in the private root if the entry
    cannot be written. Numba's ``__pycache__`` beside it is wiped unless :func:`_pycache_digest` matches the one
    recorded, and created private."""
    path = entry / "kernel.py"
    try:
        current = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    written = current != source
    if written or read_bytes(entry / _PYCACHE_DIGEST) != _pycache_digest(entry):  # not what this entry wrote
        shutil.rmtree(entry / "__pycache__", ignore_errors=True)
    if written:  # missing, truncated or edited: (re)write it
        if not store(path, source):
            path = private_root() / entry.parent.name / entry.name / "kernel.py"
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(path, source)
    _private_dir(path.parent / "__pycache__")
    return path, written


def _load(source: str) -> tuple[ModuleType, Path]:
    key = cache_key(source)
    entry = entry_for(key)
    touch(entry)
    path, written = _source_file(entry, source)
    name = f"symdiff_kernel_{key[:20]}"
    try:
        module = _import(path, name)
    except Exception:  # noqa: BLE001 - a damaged Numba cache entry: wipe it and build from source once
        shutil.rmtree(path.parent / "__pycache__", ignore_errors=True)
        path, _ = _source_file(path.parent, source)
        module, written = _import(path, name), True
    digest = _pycache_digest(path.parent)
    if digest is not None and digest != read_bytes(path.parent / _PYCACHE_DIGEST):  # written by this import
        store(path.parent / _PYCACHE_DIGEST, digest)
    if written:  # the entry grew (source and Numba's machine code): keep the cache within its bound
        evict(keep=path.parent)
    return module, path
