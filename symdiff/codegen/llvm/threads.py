"""Loop nests on threads. A ``For`` marked ``threads`` (kir.py: its iterations are independent) is lowered as a
function of that loop's range, with the loops enclosing it in its nest: the kernel calls it once over the whole
range, or, when the nest's work pays for threads, hands chunks of the range to the process's thread pool
(thread_pool.py), the calling thread taking chunks too. Every element is computed by the same instructions in the
same order either way (a joined leading sum adds its rows in order: its nest is split along an axis it keeps), so
the results are the same bits on any number of threads, and the Numba printer writes the plain loop.

A run of a nest uses as many threads as OpenBLAS may (threadpoolctl limits, ``OPENBLAS_NUM_THREADS``, a split call
holding it to one), at most the cores this process may run on, one per ``MIN_WORK`` units of estimated work and
one per ``CHUNK`` iterations of the split loop; ``min_work`` changes the last two at run time (tests put every nest
on the pool). A nest whose extents are all constants and too small for two threads by the defaults is lowered inline,
as any loop (outlining it would cost compile time for nothing).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import math

import llvmlite.binding as llvm
from llvmlite import ir

from .. import kir
from ..kir_walks import expressions, free_names, sub_expressions, walk
from .dtypes import I8, I32, I64
from .loops import smallest
from .thread_pool import PREFIX, RUN, TASK, bind_pool
from .unit import declare, external

#: At most this many threads share one loop nest.
MAX_THREADS = 64
#: Chunks are multiples of this many iterations (64 bytes of float32 when the split loop is innermost: two threads
#: never write one cache line of a row), and no thread gets fewer.
CHUNK = 16
#: Estimated work per thread below which a nest is not worth another thread: a unit is about 0.07 ns here (a fast
#: function's call counts ``_CALL_WORK`` units, a load or store ``_MEMORY_WORK``, other operations one), so a thread
#: takes a share of at least ~0.5 ms. A job of the pool costs a few microseconds, but after a matrix product a
#: nest shares the cores with OpenBLAS's idle workers, which spin for a while: measured, nests of 50-150 us in the
#: MLP step 128x784x256x10 and the CNN step on 8x8 digits ran 10-25 us slower on two threads, while the 1-2 ms
#: nests of the 1024x1024x1024x10 step ran ~1.8x faster.
MIN_WORK = 1 << 23
_CALL_WORK, _MEMORY_WORK = 16, 4

#: Process globals the kernels read: the cores this process may use, the work per thread, the chunk step.
_values = {"cores": ctypes.c_int64(0), "min_work": ctypes.c_int64(MIN_WORK), "chunk": ctypes.c_int64(CHUNK)}


def threaded_nest(s: kir.For) -> list[kir.For] | None:
    """The loops from ``s`` down to the loop marked ``threads`` in its nest, when each encloses only the next
    and the nest holds only lets, stores and loops with bounds the nest does not change; else None."""
    path = [s]
    while not path[-1].threads:
        inner = [t for t in path[-1].body if not isinstance(t, kir.Comment)]
        if len(inner) != 1 or not isinstance(inner[0], kir.For):
            return None
        path.append(inner[0])
    if path[-1].lanes != 1 or not all(isinstance(t, kir.Let | kir.Store | kir.For | kir.Comment) for t in walk([s])):
        return None
    counters = {loop.var.name for loop in path}
    bounds = [e for loop in path for bound in (loop.start, loop.stop) for e in sub_expressions(bound)]
    if any(isinstance(e, kir.Var) and e.name in counters for e in bounds):
        return None
    trips = [_extent(loop) for loop in path]
    if None not in trips and (trips[-1] < 2 * CHUNK or work(path[-1].body) * math.prod(trips) < 2 * MIN_WORK):
        return None  # known extents too small for two threads: inline, as any loop (outlining costs compile time)
    return path


def _extent(loop: kir.For) -> int | None:
    """The loop's iteration count when its bounds are constants."""
    if isinstance(loop.start, kir.Const) and isinstance(loop.stop, kir.Const):
        return max(loop.stop.value - loop.start.value, 0)
    return None


def work(statements) -> int:
    """Estimated operations of one run of ``statements`` (a loop of unknown extent counted once)."""
    total = 0
    for s in statements:
        if isinstance(s, kir.For):
            total += max(_extent(s) or 1, 1) * work(s.body)
        else:
            total += _MEMORY_WORK * isinstance(s, kir.Store) + sum(
                _CALL_WORK if isinstance(e, kir.Call) else _MEMORY_WORK if isinstance(e, kir.Load) else 1
                for expr in expressions(s) for e in sub_expressions(expr))
    return total


def lower_threaded(lowering, s: kir.For, path: list[kir.For]) -> None:
    """Lower the nest ``s`` (``path`` down to its marked loop) at ``lowering``'s position: a function of the marked
    loop's range, called over the whole range or over chunks on threads."""
    unit, b = lowering.unit, lowering.b
    marked = path[-1]
    lo, hi = kir.Var("_thread_lo", "int64"), kir.Var("_thread_hi", "int64")
    nest: kir.Stmt = dataclasses.replace(marked, start=lo, stop=hi, threads=False)
    for outer, inner in zip(reversed(path[:-1]), reversed(path[1:])):  # the enclosing loops around the new one
        nest = dataclasses.replace(outer, body=tuple(nest if t is inner else t for t in outer.body))
    arrays, free = free_names([s])
    params = [kir.Param(a) for name, a in sorted(arrays.items()) if name not in unit.kernel.constants]
    params += [kir.Param(v) for _, v in sorted(free.items())] + [kir.Param(lo), kir.Param(hi)]
    name = f"{lowering.fn.name}_nest{len(unit.functions)}"
    function = kir.Function(name, params, [nest])
    fn = declare(unit, function, name)
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    type(lowering)(unit, function, fn)
    args = [lowering.array(p.value) if isinstance(p.value, kir.Array) else lowering.expr(p.value)
            for p in params[:-2]]
    start, stop = lowering.expr(marked.start), lowering.expr(marked.stop)
    threads = _thread_count(lowering, path, start, stop)
    with b.if_else(b.icmp_signed(">", threads, I64(1))) as (many, one):
        with many:
            lowering.stop_on_error(_run_on_pool(lowering, fn, args, start, stop, threads))
        with one:
            lowering.stop_on_error(b.call(fn, [*args, start, stop]))


def _thread_count(lowering, path: list[kir.For], start: ir.Value, stop: ir.Value) -> ir.Value:
    """Threads for this run of the nest: OpenBLAS's count, the cores, one per ``min_work`` units of work and one per
    chunk step of the split loop's iterations."""
    b, module = lowering.b, lowering.unit.module
    elements = I64(work(path[-1].body))
    trips = [b.sub(lowering.expr(loop.stop), lowering.expr(loop.start)) for loop in path[:-1]] + [b.sub(stop, start)]
    for trip in trips:
        elements = b.mul(elements, b.select(b.icmp_signed(">", trip, I64(0)), trip, I64(0)))
    allowed = b.sext(b.call(external(module, PREFIX + "blas_threads", ir.FunctionType(I32, [])), []), I64)
    by_work = b.sdiv(elements, b.load(_global(module, "min_work")))
    by_chunks = b.sdiv(trips[-1], b.load(_global(module, "chunk")))
    return smallest(b, allowed, b.load(_global(module, "cores")), by_work, by_chunks, I64(MAX_THREADS))


def _run_on_pool(lowering, fn: ir.Function, args: list[ir.Value], start: ir.Value, stop: ir.Value,
                 threads: ir.Value) -> ir.Value:
    """The nest over ``[start, stop)`` as a job of the pool (thread_pool.py) for ``threads`` threads: this one and
    ``threads - 1`` workers take chunks of about a quarter of a thread's share; the first nonzero status."""
    b, module = lowering.b, lowering.unit.module
    frame = ir.LiteralStructType([a.type for a in args])
    at = lowering.allocas.alloca(frame, name="nest.frame")
    for field, value in enumerate(args):
        b.store(value, b.gep(at, [I32(0), I32(field)]))
    step = b.load(_global(module, "chunk"))
    share = b.sdiv(b.sub(stop, start), b.mul(threads, I64(4)))
    chunk = b.mul(b.sdiv(b.add(share, b.sub(step, I64(1))), step), step)  # rounded up to a multiple of the step
    chunk = b.select(b.icmp_signed("<", chunk, step), step, chunk)
    run = external(module, PREFIX + "run", RUN)
    task = _task(module, fn, frame)
    return b.call(run, [task, b.bitcast(at, I8.as_pointer()), start, stop, chunk, b.sub(threads, I64(1))])


def _task(module: ir.Module, fn: ir.Function, frame: ir.LiteralStructType) -> ir.Function:
    """``status = task(frame, lo, hi)``: ``fn`` over one chunk, its other arguments read from the frame."""
    task = ir.Function(module, TASK, f"{fn.name}_task")
    task.linkage = "internal"
    b = ir.IRBuilder(task.append_basic_block("entry"))
    at = b.bitcast(task.args[0], frame.as_pointer())
    values = [b.load(b.gep(at, [I32(0), I32(k)])) for k in range(len(frame.elements))]
    b.ret(b.call(fn, [*values, task.args[1], task.args[2]]))
    return task


def _global(module: ir.Module, name: str) -> ir.GlobalVariable:
    """One of the process globals of ``_values``."""
    return external(module, PREFIX + name, I64)


# ---------------------------------------------------------------- the process side
def bind_threads() -> None:
    """Point the kernels' thread symbols at this process (the pool, OpenBLAS's thread count or the cores, the
    globals above), starting the pool's workers on the first call (the cores set: binding is done)."""
    if _values["cores"].value:
        return
    from .blas_symbols import openblas_threads

    for name, value in _values.items():
        llvm.add_symbol(PREFIX + name, ctypes.addressof(value))
    control = openblas_threads()
    # another BLAS, whose threads symdiff leaves alone: the cores decide (the kernel takes the smaller count)
    count = control[0] if control is not None else ctypes.CDLL(None).get_nprocs
    llvm.add_symbol(PREFIX + "blas_threads", ctypes.cast(count, ctypes.c_void_p).value)
    _values["cores"].value = 1 + bind_pool()  # the calling thread and the workers (none: no jobs)


@contextlib.contextmanager
def min_work(units: int, chunk: int = CHUNK):
    """Within the block, a nest takes a thread per ``units`` of estimated work and per ``chunk`` iterations of its
    split loop, whose chunks are multiples of ``chunk`` (tests: ``min_work(1, 1)`` puts every nest of two
    iterations or more on the pool, in chunks of one iteration)."""
    previous = _values["min_work"].value, _values["chunk"].value
    _values["min_work"].value, _values["chunk"].value = max(units, 1), max(chunk, 1)
    try:
        yield
    finally:
        _values["min_work"].value, _values["chunk"].value = previous
