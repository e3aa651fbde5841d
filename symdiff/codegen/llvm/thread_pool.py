"""The process's worker threads for kernels' loop nests (threads.py): one per core this process may use but one,
started when the first native kernel loads, asleep on a condition variable between jobs (never spinning, so they
leave the cores to OpenBLAS's workers and Python threads).

A job is a task ``status = task(frame, lo, hi)`` over ``[start, stop)`` in chunks: ``symdiff_threads_run`` (machine
code, called by kernels) keeps the workers off the caller's core, publishes the job under the pool's mutex, wakes
the workers, and takes chunks itself, as do up to ``seats`` workers (an atomic counter hands out each chunk once);
it then closes the job and waits for the workers still running a chunk. A worker woken late finds the job closed,
or the chunks gone: the calling thread never waits for a thread that has not started. While one kernel holds the
pool, another runs its nest alone. The loops are written once here in LLVM IR and built into the kernel cache.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
from pathlib import Path

import llvmlite.binding as llvm
from llvmlite import ir

from ..llvm_host import target_machine
from ..objcache import cached_object, entry_dir, load_engine
from .dtypes import I8, I32, I64
from .loops import counted_loop, smallest

_P = I8.as_pointer()
#: ``int32 task(void *frame, int64 lo, int64 hi)``: a nest's chunk (threads.py writes one per nest).
TASK = ir.FunctionType(I32, [_P, I64, I64])
#: The symbols kernels and the pool share start with this; ``<prefix>run(task, frame, start, stop, chunk, seats)``
#: runs a job and returns its first nonzero status.
PREFIX = "symdiff_threads_"
RUN = ir.FunctionType(I32, [TASK.as_pointer(), _P, I64, I64, I64, I64])
#: Words of the state's opaque pthread_mutex_t and pthread_cond_t (40 and 48 bytes on x86-64 glibc, 48 and 48 on
#: AArch64), and of a cpu_set_t (1024 cores).
_OPAQUE, _MASK_WORDS = 8, 16
#: At most this many workers.
MAX_WORKERS = 63


class _State(ctypes.Structure):
    _fields_ = [("mutex", ctypes.c_uint64 * _OPAQUE), ("cond", ctypes.c_uint64 * _OPAQUE),
                ("generation", ctypes.c_int64), ("open", ctypes.c_int64), ("seats", ctypes.c_int64),
                ("active", ctypes.c_int64), ("busy", ctypes.c_int64), ("task", ctypes.c_void_p),
                ("frame", ctypes.c_void_p), ("next", ctypes.c_int64), ("stop", ctypes.c_int64),
                ("chunk", ctypes.c_int64), ("status", ctypes.c_int64), ("helps", ctypes.c_int64),
                ("jobs", ctypes.c_int64), ("worker_chunks", ctypes.c_int64),
                # where the workers may run: the process's cores (a cpu_set_t) but the one the last job's caller
                # ran on (-1: none yet), and the workers' thread ids (0 until a worker has started)
                ("cores", ctypes.c_uint64 * _MASK_WORDS), ("placed_away_from", ctypes.c_int64),
                ("registered", ctypes.c_int64), ("tids", ctypes.c_int64 * MAX_WORKERS)]


def _llvm_type(ctype) -> ir.Type:
    if issubclass(ctype, ctypes.Array):
        return ir.ArrayType(I64, ctype._length_)
    return _P if ctype is ctypes.c_void_p else I64


_FIELD = {name: k for k, (name, _) in enumerate(_State._fields_)}
_STATE_TYPE = ir.LiteralStructType([_llvm_type(ctype) for _, ctype in _State._fields_])
#: The C library's functions the pool calls: name -> (result, parameters).
_LIBC = {"pthread_mutex_lock": (I32, [_P]), "pthread_mutex_unlock": (I32, [_P]), "pthread_cond_wait": (I32, [_P, _P]),
         "pthread_cond_broadcast": (I32, [_P]), "sched_yield": (I32, []), "sched_getcpu": (I32, []),
         "sched_setaffinity": (I32, [I32, I64, _P]), "gettid": (I32, [])}

_state = _State()
_lock = threading.Lock()
_pool: dict[str, object] = {}  # "engine", "worker" (address), "workers" (count started)


def _runtime_module() -> ir.Module:
    module = ir.Module("symdiff_threads")
    module.triple = llvm.get_process_triple()
    state = ir.GlobalVariable(module, _STATE_TYPE, PREFIX + "state")
    libc = {name: ir.Function(module, ir.FunctionType(*signature), "symdiff_libc_" + name)
            for name, signature in _LIBC.items()}

    def field(b: ir.IRBuilder, name: str) -> ir.Value:
        return b.gep(state, [I32(0), I32(_FIELD[name])])

    def opaque(b: ir.IRBuilder, name: str) -> ir.Value:
        return b.bitcast(field(b, name), _P)

    claim = ir.Function(module, ir.FunctionType(I64, [TASK.as_pointer(), _P, I64, I64]), PREFIX + "claim")
    claim.linkage = "internal"
    b = ir.IRBuilder(claim.append_basic_block("entry"))
    task, frame, stop, chunk = claim.args
    done = b.alloca(I64)
    b.store(I64(0), done)
    head, body, end = (claim.append_basic_block(n) for n in ("head", "body", "end"))
    b.branch(head)
    b.position_at_end(head)
    lo = b.atomic_rmw("add", field(b, "next"), chunk, "seq_cst")
    b.cbranch(b.icmp_signed("<", lo, stop), body, end)
    b.position_at_end(body)
    hi = b.add(lo, chunk)
    status = b.call(task, [frame, lo, smallest(b, hi, stop)])
    b.cmpxchg(field(b, "status"), I64(0), b.sext(status, I64), "seq_cst", "seq_cst")
    b.store(b.add(b.load(done), I64(1)), done)
    b.branch(head)
    b.position_at_end(end)
    b.ret(b.load(done))

    worker = ir.Function(module, ir.FunctionType(_P, [_P]), PREFIX + "worker")
    b = ir.IRBuilder(worker.append_basic_block("entry"))
    seen = b.alloca(I64)
    b.store(I64(0), seen)
    me = b.atomic_rmw("add", field(b, "registered"), I64(1), "seq_cst")
    b.store_atomic(b.sext(b.call(libc["gettid"], []), I64), b.gep(field(b, "tids"), [I32(0), me]), "seq_cst", 8)
    top, wait, check, take, skip = (worker.append_basic_block(n) for n in ("top", "wait", "check", "take", "skip"))
    b.branch(top)
    b.position_at_end(top)
    b.call(libc["pthread_mutex_lock"], [opaque(b, "mutex")])
    b.branch(check)
    b.position_at_end(check)
    generation = b.load(field(b, "generation"))
    b.cbranch(b.icmp_signed("==", generation, b.load(seen)), wait, take)
    b.position_at_end(wait)
    b.call(libc["pthread_cond_wait"], [opaque(b, "cond"), opaque(b, "mutex")])
    b.branch(check)
    b.position_at_end(take)
    b.store(generation, seen)
    seated = b.icmp_signed("<", b.load_atomic(field(b, "active"), "seq_cst", 8), b.load(field(b, "seats")))
    joins = b.and_(b.icmp_signed("!=", b.load(field(b, "open")), I64(0)), seated)
    run = worker.append_basic_block("run")
    b.cbranch(joins, run, skip)
    b.position_at_end(skip)
    b.call(libc["pthread_mutex_unlock"], [opaque(b, "mutex")])
    b.branch(top)
    b.position_at_end(run)
    b.atomic_rmw("add", field(b, "active"), I64(1), "seq_cst")
    job = [b.load(field(b, name)) for name in ("task", "frame", "stop", "chunk")]
    b.call(libc["pthread_mutex_unlock"], [opaque(b, "mutex")])
    chunks = b.call(claim, [b.bitcast(job[0], TASK.as_pointer()), *job[1:]])
    b.atomic_rmw("add", field(b, "worker_chunks"), chunks, "seq_cst")
    b.atomic_rmw("sub", field(b, "active"), I64(1), "seq_cst")
    b.branch(top)

    run = ir.Function(module, RUN, PREFIX + "run")
    task, frame, start, stop, chunk, seats = run.args
    b = ir.IRBuilder(run.append_basic_block("entry"))
    taken = b.extract_value(b.cmpxchg(field(b, "busy"), I64(0), I64(1), "seq_cst", "seq_cst"), 1)
    with b.if_then(b.not_(taken), likely=False):  # another kernel's job holds the pool: run the nest alone
        b.ret(b.call(task, [frame, start, stop]))
    _place_workers(b, field, libc)
    b.call(libc["pthread_mutex_lock"], [opaque(b, "mutex")])
    for name, value in (("task", b.bitcast(task, _P)), ("frame", frame), ("stop", stop), ("chunk", chunk),
                        ("seats", seats), ("status", I64(0)), ("open", I64(1))):
        b.store(value, field(b, name))
    b.store_atomic(start, field(b, "next"), "seq_cst", 8)
    b.store(b.add(b.load(field(b, "generation")), I64(1)), field(b, "generation"))
    b.store(b.add(b.load(field(b, "jobs")), I64(1)), field(b, "jobs"))
    b.call(libc["pthread_cond_broadcast"], [opaque(b, "cond")])
    b.call(libc["pthread_mutex_unlock"], [opaque(b, "mutex")])
    helps = b.icmp_signed("!=", b.load(field(b, "helps")), I64(0))
    with b.if_else(helps) as (then, otherwise):
        with then:
            b.call(claim, [task, frame, stop, chunk])
        with otherwise:  # (tests) until the workers have taken every chunk
            _spin_while(b, lambda: b.icmp_signed("<", b.load_atomic(field(b, "next"), "seq_cst", 8), stop),
                        libc["sched_yield"])
    b.call(libc["pthread_mutex_lock"], [opaque(b, "mutex")])
    b.store(I64(0), field(b, "open"))
    b.call(libc["pthread_mutex_unlock"], [opaque(b, "mutex")])
    # the workers still running a chunk (they are on a core: it is short)
    _spin_while(b, lambda: b.icmp_signed("!=", b.load_atomic(field(b, "active"), "seq_cst", 8), I64(0)),
                libc["sched_yield"])
    status = b.trunc(b.load_atomic(field(b, "status"), "seq_cst", 8), I32)
    b.store_atomic(I64(0), field(b, "busy"), "seq_cst", 8)
    b.ret(status)
    return module


def _place_workers(b: ir.IRBuilder, field, libc: dict[str, ir.Function]) -> None:
    """When the calling thread runs on another core than at the last job, let the workers run on every core of the
    process but this one. Woken, a worker would otherwise often be queued on the caller's core, behind the caller,
    while OpenBLAS's idle worker spins (yielding) on the other: measured, the forward pass of a 1024x1024x1024x10
    MLP (a 2 ms tanh nest after a threaded product) gained nothing from a second thread, and 13.1-13.5 ->
    11.9-12.5 ms with the worker kept off the caller's core."""
    cpu = b.sext(b.call(libc["sched_getcpu"], []), I64)
    moved = b.and_(b.icmp_signed("!=", cpu, b.load(field(b, "placed_away_from"))),
                   b.icmp_unsigned("<", cpu, I64(64 * _MASK_WORDS)))
    with b.if_then(moved, likely=False):
        mask = b.alloca(ir.ArrayType(I64, _MASK_WORDS))
        for word in range(_MASK_WORDS):
            b.store(b.load(b.gep(field(b, "cores"), [I32(0), I32(word)])), b.gep(mask, [I32(0), I32(word)]))
        at = b.gep(mask, [I64(0), b.lshr(cpu, I64(6))])
        b.store(b.and_(b.load(at), b.not_(b.shl(I64(1), b.and_(cpu, I64(63))))), at)
        registered = b.load_atomic(field(b, "registered"), "seq_cst", 8)

        def place(k: ir.Value) -> None:
            tid = b.load_atomic(b.gep(field(b, "tids"), [I32(0), k]), "seq_cst", 8)
            with b.if_then(b.icmp_signed(">", tid, I64(0))):
                b.call(libc["sched_setaffinity"], [b.trunc(tid, I32), I64(8 * _MASK_WORDS), b.bitcast(mask, _P)])
        counted_loop(b, I64(0), registered, place)
        b.store(cpu, field(b, "placed_away_from"))


def _spin_while(b: ir.IRBuilder, condition, pause: ir.Function) -> None:
    """Loop at ``b`` while ``condition()`` (built in the loop's head) holds, yielding the core each time."""
    head, body, after = (b.function.append_basic_block(n) for n in ("spin", "spin.yield", "spin.end"))
    b.branch(head)
    b.position_at_end(head)
    b.cbranch(condition(), body, after)
    b.position_at_end(body)
    b.call(pause, [])
    b.branch(head)
    b.position_at_end(after)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None)


def _start_workers(count: int) -> None:
    """Initialize the state and start ``count`` workers (detached: they sleep until the process ends)."""
    libc = _libc()
    libc.pthread_mutex_init(ctypes.byref(_state.mutex), None)
    libc.pthread_cond_init(ctypes.byref(_state.cond), None)
    for name in ("generation", "open", "active", "busy", "status", "registered"):
        setattr(_state, name, 0)
    _state.helps, _state.placed_away_from = 1, -1
    ctypes.memset(ctypes.byref(_state.tids), 0, ctypes.sizeof(_state.tids))
    ctypes.memset(ctypes.byref(_state.cores), 0, ctypes.sizeof(_state.cores))
    for cpu in _usable_cpus():
        if cpu < 64 * _MASK_WORDS:
            _state.cores[cpu // 64] |= 1 << (cpu % 64)
    count = min(count, MAX_WORKERS)
    started = 0
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())  # the workers inherit the mask:
    try:  # signals go to Python's threads, never to a worker
        for _ in range(count):
            handle = ctypes.c_uint64()
            if libc.pthread_create(ctypes.byref(handle), None, ctypes.c_void_p(_pool["worker"]), None) != 0:
                break
            libc.pthread_detach(handle)
            started += 1
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    _pool["workers"] = started


def _usable_cpus() -> set[int]:
    """The cores this process may run on."""
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))


def bind_pool() -> int:
    """Build the pool's code, bind ``symdiff_threads_run`` for kernels, start a worker per core this process may run
    on but one (once); the workers started. A C library without one of the calls (``sched_getcpu``, ``gettid``:
    Linux's) gets no workers, so kernels never call the pool, whose missing calls are bound to ``abort``."""
    with _lock:
        if "engine" in _pool:
            return workers()
        libc = _libc()
        llvm.add_symbol(PREFIX + "state", ctypes.addressof(_state))
        missing = [name for name in _LIBC if not hasattr(libc, name)]
        for name in _LIBC:
            function = libc.abort if name in missing else getattr(libc, name)
            llvm.add_symbol("symdiff_libc_" + name, ctypes.cast(function, ctypes.c_void_p).value)
        text = str(_runtime_module())
        entry = entry_dir("threads", text, [Path(__file__), Path(__file__).parents[1] / "llvm_host.py"])
        # cached like kernels: a process that only loads cached kernels never starts LLVM's code generator
        # (~20 MB it keeps), which building this at every start would
        obj, _ = cached_object(entry / "threads.o", lambda: target_machine().emit_object(llvm.parse_assembly(text)))
        engine = load_engine(obj, target_machine())
        # never freed: the workers sleep in its code until the process ends, after Python's teardown
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(engine))
        _pool.update(engine=engine, worker=engine.get_function_address(PREFIX + "worker"))
        llvm.add_symbol(PREFIX + "run", engine.get_function_address(PREFIX + "run"))
        _start_workers(0 if missing else len(_usable_cpus()) - 1)
        return workers()


def _after_fork_in_child() -> None:
    if "engine" in _pool:  # the workers did not survive the fork; the mutex may have been held by one
        _start_workers(_pool["workers"])


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def workers() -> int:
    """Worker threads the pool has (0 before the first native kernel loads)."""
    return int(_pool.get("workers", 0))


def statistics() -> dict[str, int]:
    """Jobs the pool ran and chunks its workers computed, in this process."""
    return {"jobs": _state.jobs, "worker_chunks": _state.worker_chunks}


@contextlib.contextmanager
def calling_thread_idle():
    """Within the block, the thread that runs a job waits for the workers to take every chunk instead of taking
    chunks itself (tests: the workers' chunks must be right). Without workers it takes them as usual."""
    _state.helps = 0 if workers() else 1
    try:
        yield
    finally:
        _state.helps = 1
