"""Data-parallel evaluation on Dask: a compiled function over a dataset chunked along its batch dim, or a
``compile_sympy`` kernel over chunked points, with the same code on a laptop and on a cluster.

Compiled functions travel by their graph (``pickle``; never machine code) and the ops made at run time they read (as
expressions): each worker loads the kernel from its own cache or compiles it once, unpickling it inside its first
task, so a failure there is that task's error, raised in the driver. Per-chunk results are combined with a tree
reduction: outputs declared ``"sum"`` add up; outputs declared ``"mean"`` (the mean over the batch of per-example
terms, such as a mean loss and its gradient) are weighted by their chunk's rows, so the result equals the
single-process one to rounding. Random numbers drawn over the rows (dropout's masks) are drawn in each chunk as the
whole call draws those rows.

Dask is optional: ``pip install -e ".[distributed]"``.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np

from .compile import CompiledFunction
from .compile import compile as compile_graph
from .compile_sympy import DERIVATIVES, SympyKernel
from .parallel import draws_from_first_row

REDUCTIONS = ("sum", "mean")


def require_dask() -> tuple[Any, Any]:
    """``(dask, dask.array)``, or an ImportError saying what to install (every Dask-using module asks here)."""
    try:
        import dask
        import dask.array as da
    except ImportError:
        raise ImportError('symdiff.distributed needs Dask: pip install -e ".[distributed]" (dask[array] and '
                          "distributed)") from None
    return dask, da


def map_reduce(fn: CompiledFunction, args: Sequence[Any], reduce: str | Sequence[str] = "mean", *,
               split_every: int = 8) -> Any:
    """``fn(*args)`` for a dataset too large for one process: the arguments that are ``dask.array`` s hold the
    batch; each chunk of rows runs ``fn`` on a worker and the chunks' outputs combine per ``reduce`` ("sum" or
    "mean", one for all outputs or one per output) in a tree of at most ``split_every`` children. Other arguments
    (parameters) go whole to every chunk. Dask arrays must be chunked along axis 0 only and alike; ``fn`` must not
    update parameters in place. Random numbers ``fn`` draws over the rows (dropout's masks) are drawn in each chunk
    as the whole call draws that chunk's rows (the numbering split calls use, symdiff/parallel/).
    Returns NumPy results shaped as ``fn``'s."""
    dask, da = require_dask()
    if not isinstance(fn, CompiledFunction):
        raise TypeError(f"map_reduce: fn must be a compiled function (sd.compile), got {type(fn).__name__}")
    if fn.updates:
        raise ValueError("map_reduce: fn updates parameters in place; compile the loss and gradient without "
                         "updates and apply the step to the combined gradient")
    kinds = [reduce] * len(fn.outputs) if isinstance(reduce, str) else list(reduce)
    if len(kinds) != len(fn.outputs) or any(k not in REDUCTIONS for k in kinds):
        raise ValueError(f"map_reduce: reduce must be 'sum' or 'mean', or one of them per output "
                         f"({len(fn.outputs)} outputs), got {reduce!r}")
    if len(args) != len(fn.inputs):
        raise ValueError(f"map_reduce: fn takes {len(fn.inputs)} arguments ({', '.join(n.name for n in fn.inputs)}), "
                         f"got {len(args)}")
    chunked = [k for k, a in enumerate(args) if isinstance(a, da.Array)]
    if not chunked:
        raise ValueError("map_reduce: no argument is a dask.array; pass the batch inputs as dask arrays")
    blocks = args[chunked[0]].chunks[0]
    for k in chunked:
        array = args[k]
        if array.chunks[0] != blocks or any(len(c) != 1 for c in array.chunks[1:]):
            raise ValueError(f"map_reduce: argument {fn.inputs[k].name!r} has chunks {array.chunks}; every dask "
                             f"argument must be chunked along axis 0 only, as {blocks}")
    blob, numbered = _shipped(fn, tuple(sorted({d for k in chunked for d in fn.inputs[k].shape[:1]
                                               if isinstance(d, str)})))
    # the function and the whole arguments enter the task graph once, not once per chunk
    shared = dask.delayed(blob, pure=True)
    whole = {k: dask.delayed(a, pure=True) for k, a in enumerate(args) if k not in chunked}
    pieces = {k: args[k].to_delayed().ravel() for k in chunked}  # one task per block, no per-block array graph
    firsts = np.cumsum((0, *blocks[:-1])).tolist()  # the first row of each block: the kernel's last argument
    parts = []
    for b in range(len(blocks)):
        chunk_args = [pieces[k][b] if k in chunked else whole[k] for k in range(len(args))]
        chunk_args += [firsts[b]] if numbered else []
        parts.append(dask.delayed(_run_chunk)(shared, blocks[b], *chunk_args))
    while len(parts) > 1:
        parts = [dask.delayed(_combine)(parts[i:i + split_every], kinds) for i in range(0, len(parts), split_every)]
    _, outputs = dask.compute(parts[0])[0]
    return outputs[0] if fn.single_output else tuple(outputs)


@functools.lru_cache(maxsize=16)
def _shipped(fn: CompiledFunction, dims: tuple[str, ...]) -> tuple[bytes, bool]:
    """What the chunks' tasks run, pickled here, and whether it takes the chunk's first row: ``fn``, or when it
    draws random numbers over the rows of ``dims``, ``fn`` drawing the whole call's entries from that row on (a
    ValueError names a draw that cannot be split so)."""
    try:
        outputs, first = draws_from_first_row(fn.inputs, fn.outputs, dims)
    except ValueError as exc:
        raise ValueError(f"map_reduce: {exc}") from None
    kernel = fn if first is None else compile_graph([*fn.inputs, first], outputs[0] if fn.single_output else outputs,
                                                    **dict(fn.options, backend=fn.backend))
    return pickle.dumps(kernel), first is not None


@functools.lru_cache(maxsize=16)
def _unpickled(blob: bytes) -> Any:
    """The function (or kernel) of ``blob`` in this worker, unpickled once per process and function. Tasks carry
    functions pickled, so a worker that cannot unpickle one (an op it cannot make) fails that task, whose error
    the driver raises, rather than its connection to the scheduler, which Dask would retry forever."""
    return pickle.loads(blob)  # the driver's own function: as trusted as the tasks Dask unpickles


def _run_chunk(blob: bytes, rows: int, *args: Any) -> tuple[int, list[np.ndarray]]:
    outputs = _unpickled(blob)(*(np.asarray(a) for a in args))
    return rows, [np.asarray(o) for o in (outputs if isinstance(outputs, tuple | list) else [outputs])]


def _run_points(blob: bytes, points: np.ndarray) -> dict[str, np.ndarray]:
    return _unpickled(blob)(points)


def _combine(parts: list[tuple[int, list[np.ndarray]]], kinds: list[str]) -> tuple[int, list[np.ndarray]]:
    rows = sum(r for r, _ in parts)
    combined = []
    for k, kind in enumerate(kinds):
        if kind == "sum":
            combined.append(sum(out[k] for _, out in parts))
        else:  # rows-weighted: mean over all rows of the chunks' means
            combined.append(sum(r * out[k] for r, out in parts) / rows if rows else parts[0][1][k])
    return rows, combined


def map_points(kernel: SympyKernel, points: Any) -> dict[str, Any]:
    """A ``compile_sympy`` kernel applied to a ``dask.array`` of points ``(N, args)`` chunked along the points:
    a dict of lazy dask arrays (``"value"``, ``"grad"``, ``"hessian"`` as requested), one task per chunk."""
    dask, da = require_dask()
    if not isinstance(kernel, SympyKernel):
        raise TypeError(f"map_points: expected a compile_sympy kernel, got {type(kernel).__name__}")
    if not isinstance(points, da.Array) or points.ndim != 2 or len(points.chunks[1]) != 1:
        raise ValueError("map_points: points must be a 2-d dask.array chunked along its rows only")
    results: dict[str, list] = {d: [] for d in DERIVATIVES if d in kernel.derivatives}
    shared = dask.delayed(pickle.dumps(kernel), pure=True)  # in the task graph once, unpickled in the tasks
    for n, block in zip(points.chunks[0], points.to_delayed().ravel()):
        task = dask.delayed(_run_points)(shared, block)
        for key in results:
            shape = _shape(key, n, kernel)
            results[key].append(da.from_delayed(task[key], shape=shape, dtype=np.float64))
    return {key: da.concatenate(parts, axis=0) for key, parts in results.items()}


def _shape(key: str, n: int, kernel: SympyKernel) -> tuple[int, ...]:
    e, a = kernel.nexprs, kernel.nargs
    full = {"value": (n, e), "grad": (n, e, a), "hessian": (n, e, a, a)}[key]
    return full if not kernel.single else (full[0],) + full[2:]
