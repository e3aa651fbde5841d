"""Data-parallel calls: a compiled function whose graph treats the rows of a batch dim independently runs a large
call as shards of rows in threads, one core each, then combines what the shards summed.

A training step is the model case: the forward and backward passes work row by row until the weight gradients and
the loss sum over the batch, and the updates read only those sums. Such a graph splits in two (:func:`plan_split`):
the **shard** graph computes, for some rows, every value that sums over the batch (partial sums; maxima and minima
too) and the outputs that keep the batch dim; the **combine** graph takes the shards' partial values, adds them
(or takes their maximum or minimum), and computes the remaining outputs and the updates. Element counts of the
batch dim (a mean's divisor) read the whole call's rows, and random numbers drawn over the batch (dropout's masks)
the whole call's entries from the shard's first row on: a split call draws the one kernel's mask. A graph that mixes
rows otherwise (a batch normalization's statistics read back by every row, ...) is not split: its calls run the one
kernel as before.

The shards run in parallel on a thread pool (each kernel releases the GIL) with OpenBLAS held to one thread, so
each shard's products and loops run on a core of their own: at the sizes of the CNN and LSTM benchmarks a step
takes ~0.55-0.65x the time of the one kernel, whose loops run on one core while OpenBLAS threads only its products.
A call splits only when ``threads`` allows it and its rows times the graph's loop work per row reach
:data:`MIN_LOOP_WORK`: the work one kernel runs on one core (elementwise operations, products short enough for
loops, every step of a recurrent loop), which the shards spread over the cores. Products OpenBLAS threads itself
do not count: a graph made of them (an MLP's step) runs as fast in one kernel, and below that work the threads'
hand-off (~20-40 us) costs more than it saves. Automatic splits also need OpenBLAS allowed two threads or more (the
process's setting: ``OPENBLAS_NUM_THREADS=1`` or a threadpoolctl limit, as in one-process-per-core jobs, keeps every
call on the one kernel) and no other split call running (threads calling compiled functions at once, Dask's local
scheduler say, already share the cores). Partial sums are added in a fixed order, so a
call's results depend on the number of shards (rounding only), never on timing.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .autodiff.scan import substitute
from .ir import Node, inputs_of, toposort
from .ops import OPS, cast, maximum, minimum, tensor
from .ops.registry import make

#: A call splits only when its rows times the graph's loop work per row (elementwise operations and multiply-adds
#: that one kernel runs on one core) reach this: measured, a CNN step on 8 x 8 digits (batch 32, ~4M) ran slower
#: split, an Elman RNN's (~20M) faster.
MIN_LOOP_WORK = 1 << 23
#: Products with at most this many terms per entry are loops of the kernel (codegen/plan.py's SMALL_CONTRACTION).
_LOOP_PRODUCT = 16
#: How the combine graph joins the shards' values of each kind of batch reduction.
_COMBINE: dict[str, Callable[[Node, Node], Node]] = {"sum": lambda a, b: a + b, "max": maximum, "min": minimum}
#: Ops whose every output row is computed from the same rows of their inputs, whatever their attributes.
_ROW_OPS = frozenset({"transpose", "check_index", "concatenate"})


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class SplitPlan:
    """How the calls of one compiled function split over rows of ``dim`` (see the module docstring)."""

    dim: str
    batch_args: list[int]  # positions of the arguments with ``dim`` as axis 0
    reductions: list[tuple[Node, str]]  # the values summed (or maxed, minned) over the batch, with their kind
    row_outputs: dict[int, int]  # output position -> the axis of ``dim`` in it (computed by the shards)
    shard_roots: list[Node]  # the reductions, then the row outputs
    shard_inputs: list[Node]
    combine_roots: list[Node]  # the other outputs, then the update values
    combine_inputs: list[Node]
    combine_updates: list[tuple[Node, Node]]
    combined_outputs: list[int]  # output positions the combine graph computes
    rows_input: Node | None  # the whole call's rows, for element counts of ``dim``
    first_row_input: Node | None  # a shard's first row, for random numbers drawn over the batch
    work_per_row: int  # the loop work of one row (see MIN_LOOP_WORK)


class _UnsplittableError(Exception):
    """The graph mixes rows of the batch dim other than by summing them (or taking their maximum or minimum)."""


def plan_split(inputs: list[Node], outputs: list[Node], updates: list[tuple[Node, Node]], shards: int
               ) -> SplitPlan | None:
    """The split of a compiled function's graph over the rows of its batch dim into ``shards``, or None when no
    named dim of the inputs can split it (see the module docstring)."""
    dims = []
    for node in inputs:
        if node.shape and isinstance(node.shape[0], str) and node.shape[0] not in dims:
            dims.append(node.shape[0])
    for dim in dims:
        if any(dim in n.shape[1:] for n in inputs):
            continue  # an argument with the dim elsewhere: its rows are not a slice of contiguous memory
        try:
            return _split(inputs, outputs, updates, dim, shards)
        except _UnsplittableError:
            continue
    return None


def _split(inputs, outputs, updates, dim, shards) -> SplitPlan:
    roots = outputs + [value for _, value in updates]
    walk = _Walk(dim)
    walk.run(roots)
    reductions = _widest(walk.reductions, roots)
    if any(dim in value.shape for _, value in updates):
        raise _UnsplittableError
    rows = tensor(_fresh("rows", inputs), (), "int64") if walk.counts else None
    first = tensor(_fresh("first_row", inputs), (), "int64") if walk.randoms else None
    counted = {id(c): _whole_count(c, dim, rows) for c in walk.counts}
    drawn = {id(r): _drawn_from(r, first) for r in walk.randoms}
    row_outputs = {k: o.shape.index(dim) for k, o in enumerate(outputs) if dim in o.shape}
    if not reductions and not row_outputs:
        raise _UnsplittableError  # no work on rows to share
    shard_roots = substitute([r for r, _ in reductions] + [outputs[k] for k in row_outputs], {**counted, **drawn})
    partials = {k: [tensor(_fresh(f"part{j}_{k}", inputs), r.shape, r.dtype) for j, (r, _) in enumerate(reductions)]
                for k in range(shards)}
    joined = {}
    for j, (r, kind) in enumerate(reductions):
        value = partials[0][j]
        for k in range(1, shards):
            value = _COMBINE[kind](value, partials[k][j])
        joined[id(r)] = value
    combined_outputs = [k for k in range(len(outputs)) if k not in row_outputs]
    combine_roots = substitute([outputs[k] for k in combined_outputs] + [v for _, v in updates],
                               {**counted, **joined})
    extra = [rows] if rows is not None else []
    own = [first] if first is not None else []
    whole = [n for n in inputs if dim not in n.shape]
    if any(dim in n.shape for n in inputs_of(combine_roots)):
        raise _UnsplittableError  # a value combined from the rows' dims (an element count of another named dim)
    return SplitPlan(
        dim, [k for k, n in enumerate(inputs) if dim in n.shape], reductions, row_outputs, shard_roots,
        inputs + extra + own, combine_roots, whole + [p for k in range(shards) for p in partials[k]] + extra,
        list(zip([t for t, _ in updates], combine_roots[len(combined_outputs):])), combined_outputs, rows, first,
        walk.work)


def _widest(reductions: list[tuple[Node, str]], roots: list[Node]) -> list[tuple[Node, str]]:
    """The reductions, each replaced by the reduction of the same kind that alone reads it, as far as they go: the
    shards then sum a layer's weight gradient over the steps of a sequence too (one product over the flattened
    rows and steps), rather than each step's for the combine graph to add up."""
    users: dict[int, list[Node]] = {}
    for node in toposort(roots):
        for i in node.inputs:
            users.setdefault(id(i), []).append(node)
    rooted = {id(r) for r in roots}
    widest, seen = [], set()
    for node, kind in reductions:
        while id(node) not in rooted and len(readers := users.get(id(node), [])) == 1 and readers[0].op == kind:
            node = readers[0]
        if id(node) not in seen:
            seen.add(id(node))
            widest.append((node, kind))
    return widest


def _fresh(stem: str, inputs: list[Node]) -> str:
    """An input name none of ``inputs`` has."""
    names = {n.name for n in inputs}
    name = f"shard_{stem}"
    while name in names:
        name += "_"
    return name


def _whole_count(node: Node, dim: str, rows: Node) -> Node:
    """An element count over axes that include the batch dim, of the whole call's rows rather than a shard's."""
    x = node.inputs[0]
    rest = [x.shape[a] for a in node.attr("axes") if x.shape[a] != dim]
    if not all(isinstance(d, int) for d in rest):
        raise _UnsplittableError
    return cast(rows, node.attr("dtype")) * float(math.prod(rest))


def _drawn_from(node: Node, first: Node) -> Node:
    """Random numbers over the batch (its first axis) as a shard draws them: the whole call's entries from the
    shard's first row on (symdiff.ops.random numbers entries from a given start), so a split call draws the same
    mask as the one kernel."""
    per_row = math.prod(node.shape[1:])
    start = first * per_row if len(node.inputs) == 1 else node.inputs[1] + first * per_row
    return make("random_uniform", [node.inputs[0], start], **dict(node.attrs))


class _Walk:
    """Classifies a graph's nodes by how they use the rows of ``dim``, or raises :class:`_UnsplittableError`."""

    def __init__(self, dim: str) -> None:
        self.dim = dim
        self.reductions: list[tuple[Node, str]] = []
        self.counts: list[Node] = []
        self.randoms: list[Node] = []  # random numbers drawn over the batch (it is their first axis)
        self.work = 0
        self.body = False  # walking a loop's body (no batch reductions, counts or draws of the call's rows there)
        self.after: set[int] = set()  # nodes reading a batch reduction
        self.loops: set[tuple[int, ...]] = set()  # the bodies of the loops counted (siblings share one)

    def run(self, roots: Sequence[Node], body: bool = False) -> None:
        self.body = body
        for node in toposort(list(roots)):
            if node.op == "count":
                if node.inputs and self.dim in [node.inputs[0].shape[a] for a in node.attr("axes")]:
                    if body:
                        raise _UnsplittableError
                    self.counts.append(node)
                continue
            reads = [i for i in node.inputs if self._rows(i)]
            if any(id(i) in self.after for i in node.inputs):
                if self._rows(node) or reads:
                    raise _UnsplittableError  # a row value reading a batch sum: rows depend on each other
                self.after.add(id(node))
                continue
            if self._rows(node):
                self._check_rows(node)
                self.work += self._work(node, body)
            elif reads:
                if body:
                    raise _UnsplittableError
                self.reductions.append((node, self._reduction(node)))
                self.after.add(id(node))

    def _rows(self, node: Node) -> bool:
        return self.dim in node.shape

    def _check_rows(self, node: Node) -> None:
        """Raise unless each row of ``node`` reads only the same rows of its inputs."""
        kind = node.op
        if kind in ("input", "constant") or kind in _ROW_OPS or OPS[kind].kind == "elementwise":
            return
        axis = self._axis(node)
        if kind == "reshape":
            if axis == 0 and self._axis(node.inputs[0]) == 0:
                return
        elif kind in ("slice", "pad_slice"):
            if node.attr("index")[axis][::2] == (0, 1) and self._axis(node.inputs[0]) == axis:
                return
        elif kind in ("sum", "max", "min"):
            if self._axis(node.inputs[0]) not in node.attr("axes"):
                return
        elif kind == "matmul":
            a, b = node.inputs
            if a.shape[-1] != self.dim and (b.ndim < 2 or b.shape[-2] != self.dim):
                return
        elif kind in ("take_along_axis", "scatter_add"):
            if axis != node.attr("axis"):
                return
        elif kind == "scan":
            self._check_scan(node)
            return
        elif kind == "random_uniform":
            if axis == 0 and all(isinstance(d, int) for d in node.shape[1:]) and not self.body:
                self.randoms.append(node)
                return
        raise _UnsplittableError

    def _check_scan(self, node: Node) -> None:
        attrs = node.attr_dict
        if attrs["length"] == self.dim:
            raise _UnsplittableError
        body = list(attrs["body"]) + [attrs["output"]] * (attrs["mode"] == "residual")
        inner = _Walk(self.dim)
        inner.run(body, body=True)
        if tuple(map(id, attrs["body"])) not in self.loops:
            self.loops.add(tuple(map(id, attrs["body"])))
            self.work += inner.work * (attrs["length"] if isinstance(attrs["length"], int) else 1)

    def _axis(self, node: Node) -> int:
        """The axis of the batch dim in ``node`` (-1 without it)."""
        return node.shape.index(self.dim) if self.dim in node.shape else -1

    def _work(self, node: Node, body: bool) -> int:
        """Loop work per row of ``node``: its elements for an elementwise op, its multiply-adds for a product that
        loops compute (a short one, or any in a recurrent loop, whose small products OpenBLAS runs on one thread)."""
        per_row = math.prod(d for d in node.shape if isinstance(d, int))
        if node.op == "matmul":
            terms = node.inputs[0].shape[-1]
            return per_row * terms if isinstance(terms, int) and (body or terms <= _LOOP_PRODUCT) else 0
        return per_row if OPS[node.op].kind == "elementwise" else 0

    def _reduction(self, node: Node) -> str:
        """The kind of a value without the batch dim computed from rows: a sum, maximum or minimum over them."""
        if node.op in ("sum", "max", "min") and self._axis(node.inputs[0]) in node.attr("axes"):
            return node.op
        if node.op == "matmul":
            a, b = node.inputs
            if a.shape[-1] == self.dim and b.ndim >= 2 and b.shape[-2] == self.dim:
                return "sum"
        raise _UnsplittableError


# ------------------------------------------------------------------------------------------------- running calls
_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The shared workers (made on first use; a forked child makes its own: threads do not survive a fork)."""
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=max(1, usable_cores() - 1), thread_name_prefix="symdiff"))
        return _POOL[0]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOL.clear)


class _OneBlasThread:
    """While any split call runs, OpenBLAS uses one thread (each shard's products then run on its own core); the
    count makes concurrent calls restore the setting once, after the last one."""

    def __init__(self) -> None:
        self.lock, self.active, self.saved = threading.Lock(), 0, 0
        self.control: tuple[Callable, Callable] | None | bool = False  # False: not looked up yet

    def _look_up(self) -> None:
        if self.control is False:
            from .codegen.llvm.blas_symbols import openblas_threads

            self.control = openblas_threads()

    def free(self) -> bool:
        """True when an automatic split may run now: no other split call holds the cores, and OpenBLAS may use two
        threads or more (what the user allows; never when kernels call another BLAS, whose threads symdiff cannot
        hold)."""
        with self.lock:
            self._look_up()
            return bool(self.control) and self.active == 0 and self.control[0]() >= 2

    def __enter__(self) -> None:
        with self.lock:
            self._look_up()
            if self.active == 0 and self.control:
                get, set_threads = self.control
                self.saved = get()
                set_threads(1)
            self.active += 1

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.active -= 1
            if self.active == 0 and self.control:
                self.control[1](self.saved)


_ONE_BLAS_THREAD = _OneBlasThread()


class SplitCall:
    """Calls of a compiled function through its :class:`SplitPlan` when large enough, else ``serial``.

    ``compile_shard(plan)`` and ``compile_combine(plan, shards)`` compile the two graphs (on the first split call:
    a function never called at that size never compiles them)."""

    def __init__(self, plan: SplitPlan, serial: Callable, single: bool, shards: int, automatic: bool,
                 compile_shard: Callable[[SplitPlan], Any], compile_combine: Callable[[SplitPlan], Any]) -> None:
        self.plan, self.serial, self.single, self.shards, self.automatic = plan, serial, single, shards, automatic
        work = MIN_LOOP_WORK if automatic else 0
        self.min_rows = max(shards, -(-work // max(plan.work_per_row, 1)))
        self._compile_shard, self._compile_combine = compile_shard, compile_combine
        self._fns: tuple[Any, Any] | None = None
        self._lock = threading.Lock()
        self.first = plan.batch_args[0]
        self.arity = sum(n is not plan.rows_input and n is not plan.first_row_input for n in plan.shard_inputs)

    def __call__(self, *args: Any) -> Any:
        try:
            rows = args[self.first].shape[0]
        except (AttributeError, IndexError, TypeError):  # not an array of rows: the one kernel converts or explains
            return self.serial(*args)
        if rows < self.min_rows or not self._alike(args, rows) or (self.automatic and not _ONE_BLAS_THREAD.free()):
            return self.serial(*args)  # too small, not arrays of rows, or the cores are not free (see free)
        return self._split(args, rows)

    def _alike(self, args: tuple, rows: int) -> bool:
        """Every batch argument an array of ``rows`` rows (else the serial call converts or explains)."""
        return len(args) == self.arity and all(
            isinstance(args[k], np.ndarray) and args[k].ndim >= 1 and args[k].shape[0] == rows
            for k in self.plan.batch_args)

    def _functions(self) -> tuple[Any, Any]:
        with self._lock:
            if self._fns is None:
                self._fns = (self._compile_shard(self.plan), self._compile_combine(self.plan))
            return self._fns

    def _split(self, args: tuple, rows: int) -> Any:
        shard, combine = self._functions()
        plan, n = self.plan, self.shards
        bounds = [rows * k // n for k in range(n + 1)]
        extra = (rows,) if plan.rows_input is not None else ()
        batch = set(plan.batch_args)
        pieces = [tuple(a[bounds[k]:bounds[k + 1]] if j in batch else a for j, a in enumerate(args)) + extra
                  + ((bounds[k],) if plan.first_row_input is not None else ()) for k in range(n)]
        try:
            with _ONE_BLAS_THREAD:
                others = [_pool().submit(shard, *piece) for piece in pieces[1:]]
                results = [shard(*pieces[0])] + [f.result() for f in others]
        except Exception:  # noqa: BLE001 - a bad argument: the one kernel raises the error a call without shards
            return self.serial(*args)  # raises, naming it with the whole call's shapes (the shards update nothing)
        count = len(plan.reductions)
        whole = [a for j, a in enumerate(args) if j not in batch]
        partials = [r for result in results for r in result[:count]]
        combined = combine(*whole, *partials, *extra) if combine is not None else ()
        outputs: list[Any] = [None] * (len(plan.row_outputs) + len(plan.combined_outputs))
        for j, (k, axis) in enumerate(plan.row_outputs.items()):
            outputs[k] = np.concatenate([result[count + j] for result in results], axis=axis)
        for j, k in enumerate(plan.combined_outputs):
            outputs[k] = combined[j]
        if not outputs:
            return None
        return outputs[0] if self.single else tuple(outputs)
