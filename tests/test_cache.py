"""The kernel cache on disk: private directories, roots other users can write or we cannot, failed writes,
object files for another machine or damaged behind a valid digest, the size bound (LRU eviction) and
``symdiff cache info|clear``."""

import errno
import hashlib
import os
import pickle
import shutil
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
import pytest

import symdiff as sd
from symdiff.codegen import cache, objcache

ROOT = Path(__file__).resolve().parents[1]
KEY = "ab" + "0" * 62


@pytest.fixture
def root(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(path))
    monkeypatch.delenv(cache.MAX_BYTES_VARIABLE, raising=False)
    monkeypatch.setattr(cache, "_WARNED", set())  # every test sees its own warnings
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(script: str, cache_root: Path, *, unprivileged: bool = False, **env) -> subprocess.CompletedProcess:
    """``script`` in a new process using ``cache_root``; ``unprivileged``: without root's power to write
    anywhere (as root: the capabilities that bypass file permissions are dropped)."""
    prefix = []
    if unprivileged and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a directory read-only for this test")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]
    environment = dict(os.environ, SYMDIFF_CACHE_DIR=str(cache_root), PYTHONPATH=str(ROOT), **env)
    return subprocess.run([*prefix, sys.executable, "-W", "always", "-c", script], capture_output=True, text=True,
                          timeout=600, env=environment)


def _compile_small(backend="native", scale=1.0):
    x = sd.tensor("x", ("n",))
    return sd.compile([x], sd.sum(sd.tanh(x) * scale), backend=backend)


def test_directories_are_created_private(root):
    entry = cache.entry_for(KEY)
    assert entry == root / "ab" / KEY
    assert [_mode(p) for p in (root, root / "ab", entry)] == [0o700] * 3
    fn = _compile_small()
    assert fn.path.parent.parent.parent == root and _mode(fn.path.parent) == 0o700
    assert all(_mode(f) == 0o600 for f in fn.path.parent.iterdir())


@pytest.mark.parametrize("where", ["root", "shard", "entry"])
def test_a_directory_other_users_can_write_is_never_used(root, where):
    target = {"root": root, "shard": root / "ab", "entry": root / "ab" / KEY}[where]
    target.mkdir(parents=True, mode=0o700)
    target.chmod(0o777)
    with pytest.warns(cache.CacheWarning, match=f"not using the kernel cache \\({target} can be written by other "
                                                "users \\(mode 0777\\)\\); compiling into a private temporary"):
        entry = cache.entry_for(KEY)
    assert entry == cache.private_root() / "ab" / KEY and _mode(cache.private_root()) == 0o700


def test_a_sticky_root_of_ours_is_used_and_its_shards_checked(root):
    root.mkdir(mode=0o700)
    root.chmod(0o1777)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.entry_for(KEY) == root / "ab" / KEY


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_root_of_another_user_is_never_used(root):
    root.mkdir(mode=0o700)
    os.chown(root, 65534, 65534)
    with pytest.warns(cache.CacheWarning, match="belongs to another user \\(uid 65534\\)"):
        assert cache.entry_for(KEY).is_relative_to(cache.private_root())


def test_a_symlink_planted_as_an_entry_is_not_followed(root, tmp_path):
    (root / "ab").mkdir(parents=True, mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (root / "ab" / KEY).symlink_to(elsewhere)
    with pytest.warns(cache.CacheWarning, match="is not a directory"):
        assert cache.entry_for(KEY).is_relative_to(cache.private_root())


_READ_ONLY_SCRIPT = """
import warnings, numpy as np, symdiff as sd
from symdiff.codegen import cache
x = sd.tensor("x", ("n",))
for backend in ("native", "numba"):
    fn = sd.compile([x], sd.sum(sd.tanh(x) * 2), backend=backend)
    print(backend, float(fn(np.arange(3.0))), fn.path.is_relative_to(cache.private_root()))
print(cache.private_root())
"""


def test_a_read_only_cache_compiles_into_a_private_directory_for_both_backends(root):
    root.mkdir(mode=0o700)
    root.chmod(0o500)
    result = _run(_READ_ONLY_SCRIPT, root, unprivileged=True)
    assert result.returncode == 0, result.stderr
    *lines, private = result.stdout.splitlines()
    expected = 2 * float(np.sum(np.tanh(np.arange(3.0))))
    assert [line.split()[0] for line in lines] == ["native", "numba"]
    assert all(float(line.split()[1]) == pytest.approx(expected) and line.split()[2] == "True" for line in lines)
    assert result.stderr.count(f"not using the kernel cache ({root} is read-only)") == 1
    assert "PermissionError" not in result.stderr
    assert list(root.iterdir()) == [] and not Path(private).exists()  # removed at exit


def _full(*args):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_write_warns_and_runs_from_memory(root, monkeypatch):
    monkeypatch.setattr(cache, "write_atomic", _full)
    with pytest.warns(cache.CacheWarning, match="cannot write to the kernel cache .*No space left on device"):
        fn = _compile_small(scale=3.0)
    assert fn(np.zeros(2)) == 0.0 and not fn.module._native_cache_hit
    assert list(fn.path.parent.iterdir()) == []


def test_a_failed_write_of_numbas_cache_warns_and_runs_from_memory(root, monkeypatch):
    from numba.core.caching import IndexDataCacheFile

    monkeypatch.setattr(IndexDataCacheFile, "_save_data", _full)  # kernel.py fits, Numba's machine code does not
    with pytest.warns(cache.CacheWarning, match="cannot write to the kernel cache .*No space left on device"):
        fn = _compile_small(backend="numba", scale=11.0)
    assert fn(np.zeros(2)) == 0.0


def _aarch64_object() -> bytes:
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    machine = llvm.Target.from_triple("aarch64-unknown-linux-gnu").create_target_machine()
    return machine.emit_object(llvm.parse_assembly("define i64 @f(i64 %x) {\n  ret i64 %x\n}\n"))


def test_object_files_are_checked_against_this_host():
    host = objcache.host_object()
    if host[:4] != b"\x7fELF":
        pytest.skip("object files are checked on ELF hosts only")
    assert objcache.object_problem(host) is None
    assert "for machine 183" in objcache.object_problem(_aarch64_object())
    assert objcache.object_problem(b"\x00" * 500) == "not an ELF object file"
    assert objcache.object_problem(host[:40]) == "truncated ELF header"
    assert objcache.object_problem(host[:-8]) == "ELF section table outside the file"
    other_class = host[:4] + bytes([3 - host[4]]) + host[5:]
    assert objcache.object_problem(other_class).startswith("ELF class/byte order/version")


_FOREIGN_OBJECT_SCRIPT = """
import sys, numpy as np, symdiff as sd
from symdiff.codegen.cache import cache_dir
from symdiff.codegen.objcache import object_digest
from symdiff.codegen.pointwise import PointwiseKernel
bad = {{"aarch64": bytes.fromhex({aarch64!r}), "garbage": b"garbage " * 60}}
x = sd.tensor("x", ("n",)); X = sd.tensor("X", ("n",))
def native():
    fn = sd.compile([x], sd.sum(sd.exp(x) * 5.0))
    return fn.module._native_cache_hit, float(fn(np.arange(3.0))), fn.path.with_name("native.o")
def pointwise():
    kernel = PointwiseKernel([X], [sd.exp(X) * 7.0])
    return kernel.cache_hit, float(kernel(np.arange(3.0)[:, None])[0].sum()), None
for build in (native, pointwise):
    hit, value, obj = build()
    if obj is None:
        (obj,) = cache_dir().glob("*/*/pointwise.o")
    good = obj.read_bytes()
    beside = obj.with_name("native.py").read_bytes() if obj.name == "native.o" else b""
    bad["damaged"] = good[32:96] + b"\\xff" * 400  # this host's ELF header, then garbage
    for name, body in bad.items():
        obj.write_bytes(object_digest(obj, body, beside) + body)  # a valid digest over a body this host cannot load
        again = build()
        print(build.__name__, name, again[0], again[1] == value, obj.read_bytes() == good)
    print(build.__name__, "hit", build()[0])
"""


def test_an_object_for_another_machine_or_damaged_behind_a_valid_digest_is_rebuilt(tmp_path):
    if objcache.host_object()[:4] != b"\x7fELF":
        pytest.skip("object files are checked on ELF hosts only")
    result = _run(_FOREIGN_OBJECT_SCRIPT.format(aarch64=_aarch64_object().hex()), tmp_path / "cache")
    assert result.returncode == 0, result.stderr  # an abort (LLVM) or a segfault would end the process here
    assert result.stdout.splitlines() == [f"{kind} {line}" for kind in ("native", "pointwise") for line in (
        "aarch64 False True True", "garbage False True True", "damaged False True True", "hit True")]


def test_an_object_copied_from_another_entry_is_not_loaded(root):
    obj = objcache.host_object()
    first, second = (cache.entry_for(key) / "pointwise.o" for key in (KEY, "cd" + "0" * 62))
    assert objcache.write_object(first, obj) and objcache.read_object(first) == obj
    shutil.copy(first, second)  # undamaged, but built for another key
    assert objcache.read_object(second) is None


def test_a_native_object_copied_into_another_entry_is_rebuilt(root):
    a, b = _compile_small(scale=2.0), _compile_small(scale=3.0)
    shutil.copy(a.path.with_name("native.o"), b.path.with_name("native.o"))
    again = _compile_small(scale=3.0)
    assert not again.module._native_cache_hit and again(np.ones(2)) == b(np.ones(2)) != a(np.ones(2))


@pytest.mark.parametrize("damage", [lambda text: text[:text.index("\ndef fn(")], lambda text: text[:-40],
                                    lambda text: ""], ids=["cut at a line", "cut mid-line", "empty"])
def test_a_damaged_native_wrapper_is_rebuilt(root, damage):
    fn = _compile_small(scale=4.0)
    text = fn.path.read_text()
    fn.path.write_text(damage(text))  # native.o is intact: only its digest, which covers native.py, can tell
    again = _compile_small(scale=4.0)
    assert not again.module._native_cache_hit and again(np.ones(2)) == fn(np.ones(2)) and again.path.read_text() == text
    assert _compile_small(scale=4.0).module._native_cache_hit


_NUMBA_SCRIPT = """
import numpy as np, symdiff as sd
x = sd.tensor("x", ("n",))
fn = sd.compile([x], sd.sum(sd.tanh(x) * 2.0), backend="numba")
print(float(fn(np.ones(2))), fn.path.parent)
"""


class _Planted:
    """Unpickling this makes the directory ``marker``: a pickle that shows it was read."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_a_numba_cache_this_entry_did_not_write_is_never_read(tmp_path):
    import numba

    first = _run(_NUMBA_SCRIPT, tmp_path / "cache")
    assert first.returncode == 0, first.stderr
    value, entry = first.stdout.split()
    marker = tmp_path / "unpickled"
    for index in Path(entry, "__pycache__").glob("*.nbi"):  # as if copied from elsewhere: Numba unpickles indexes
        index.write_bytes(pickle.dumps(numba.__version__, protocol=-1) + pickle.dumps(_Planted(marker)))
    again = _run(_NUMBA_SCRIPT, tmp_path / "cache")
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == [value, entry] and not marker.exists()


def _fake_entry(root: Path, index: int, nbytes: int, age: float, *, temp: bool = False) -> Path:
    key = hashlib.sha256(str(index).encode()).hexdigest()
    entry = root / key[:2] / key
    entry.mkdir(parents=True)
    (entry / (".tmp-native.o" if temp else "native.o")).write_bytes(b"\0" * nbytes)
    os.utime(entry, (time.time() - age, time.time() - age))
    return entry


def test_eviction_removes_least_recently_used_entries_but_never_recent_or_unfinished_ones(root, monkeypatch):
    monkeypatch.setenv(cache.MAX_BYTES_VARIABLE, "2500")
    hour = 3600
    oldest, old, unfinished, recent, newer = (_fake_entry(root, 1, 1000, 5 * hour), _fake_entry(root, 2, 1000, 4 * hour),
                                              _fake_entry(root, 3, 1000, 6 * hour, temp=True),
                                              _fake_entry(root, 4, 1000, 60), _fake_entry(root, 5, 1000, 2 * hour))
    (root / "notes.txt").write_text("not an entry")  # never counted nor removed
    assert [e.path for e in cache.entries()] == [unfinished, oldest, old, newer, recent]
    assert cache.evict(keep=newer) == [oldest, old]  # 5000 bytes: down to 3000, then nothing else may go
    assert [e.path for e in cache.entries()] == [unfinished, newer, recent] and (root / "notes.txt").exists()
    monkeypatch.setenv(cache.MAX_BYTES_VARIABLE, "1K")
    assert cache.evict(keep=recent) == [newer]


def test_a_new_entry_evicts_old_ones_and_a_hit_marks_its_entry_used(root, monkeypatch):
    stale = _fake_entry(root, 1, 4000, 3600)
    fn = _compile_small(scale=5.0)
    assert stale.exists()  # within the default 1 GiB
    monkeypatch.setenv(cache.MAX_BYTES_VARIABLE, "1")
    os.utime(fn.path.parent, (0, 0))
    again = _compile_small(scale=5.0)
    assert again.module._native_cache_hit and time.time() - fn.path.parent.stat().st_mtime < IN_USE
    _compile_small(scale=6.0)  # a new entry: the cache is over its bound, the stale entry goes
    assert not stale.exists() and fn.path.parent.exists()  # used just now: kept


IN_USE = cache.IN_USE_SECONDS


@pytest.mark.parametrize(("text", "value"), [("", 1 << 30), ("1073741824", 1 << 30), ("512M", 512 << 20),
                                             ("2G", 2 << 30), ("3 KiB", 3072), ("0", 0)])
def test_the_size_bound_setting(monkeypatch, text, value):
    monkeypatch.setenv(cache.MAX_BYTES_VARIABLE, text)
    assert cache.max_bytes() == value


@pytest.mark.parametrize("text", ["-1", "1.5G", "lots", "9" * 30])
def test_a_bad_size_bound_is_named(monkeypatch, text):
    monkeypatch.setenv(cache.MAX_BYTES_VARIABLE, text)
    with pytest.raises(ValueError, match=f"SYMDIFF_CACHE_MAX_BYTES: expected a number of bytes .*got '{text}'"):
        cache.max_bytes()


def _cli(*args, cache_root: Path, **env):
    environment = dict(os.environ, SYMDIFF_CACHE_DIR=str(cache_root), PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "symdiff.cli", *args], capture_output=True, text=True, timeout=600,
                          env=environment)


def test_cache_info_and_clear(root):
    for index in range(3):
        _fake_entry(root, index, 1000, 3600)
    _fake_entry(root, 7, 10, 0, temp=True)
    (root / "notes.txt").write_text("mine")
    info = _cli("cache", "info", cache_root=root, SYMDIFF_CACHE_MAX_BYTES="2G")
    assert info.returncode == 0, info.stderr
    assert info.stdout.splitlines() == [f"path: {root}", "entries: 4", "size: 3010 bytes (2.9 KiB)",
                                        "limit: 2147483648 bytes (2.0 GiB; SYMDIFF_CACHE_MAX_BYTES)"]
    cleared = _cli("cache", "clear", cache_root=root)
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.strip() == (f"removed 3 entries (3000 bytes) from {root}; kept 1 entry being written")
    assert [e.nbytes for e in cache.entries()] == [10] and (root / "notes.txt").read_text() == "mine"


def test_cache_info_says_why_a_cache_is_not_used(root):
    root.mkdir(mode=0o700)
    root.chmod(0o777)
    info = _cli("cache", "info", cache_root=root)
    assert info.returncode == 0, info.stderr
    assert info.stdout.splitlines()[1] == (f"not used: {root} can be written by other users (mode 0777); kernels "
                                           "compile into a private temporary directory")
    missing = _cli("cache", "info", cache_root=root / "none")
    assert missing.stdout.splitlines()[:2] == [f"path: {root / 'none'} (not created yet)", "entries: 0"]
    bad = _cli("cache", "info", cache_root=root, SYMDIFF_CACHE_MAX_BYTES="lots")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "SYMDIFF_CACHE_MAX_BYTES: expected a number of bytes" in bad.stderr


def test_symlinks_in_the_cache_are_never_counted_or_followed_by_clear(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    outside = _fake_entry(elsewhere, 1, 100, 3600)  # looks like an entry, but lives outside the cache
    root.mkdir(mode=0o700)
    (root / outside.parent.name).symlink_to(outside.parent)  # a shard that is a link
    (root / "ab").mkdir(mode=0o700)
    (root / "ab" / KEY).symlink_to(outside)  # an entry that is a link
    kept = _fake_entry(root, 2, 10, 3600)
    assert [e.path for e in cache.entries()] == [kept]
    assert cache.clear() == (1, 10, 0) and outside.exists() and (outside / "native.o").exists()


def test_a_bad_size_bound_fails_every_compile_before_anything_is_written(root, monkeypatch):
    _compile_small(scale=8.0)
    before = cache.entries()
    monkeypatch.setenv(cache.MAX_BYTES_VARIABLE, "1.5G")
    for scale in (8.0, 9.0):  # a hit and a miss fail alike: the cache's state must not decide
        with pytest.raises(ValueError, match="SYMDIFF_CACHE_MAX_BYTES: expected a number of bytes"):
            _compile_small(scale=scale)
    assert cache.entries() == before
