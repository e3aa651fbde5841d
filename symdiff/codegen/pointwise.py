"""Pointwise graphs as a schedule of the kernel IR: one loop over points, SIMD lanes, compiled in about a second.

A pointwise graph is one in which every node is elementwise over a single named dim (the points) and every input
is a column over it: what ``sd.compile_sympy`` builds from SymPy expressions and their derivatives. Such a graph is
a scalar program run once per point, so its kernel is one IR loop over the points whose body computes every node
once (kir.py), with ``lanes`` = 4: the LLVM lowering runs it on ``<4 x double>`` values (explicit SIMD, so LLVM
needs no loop vectorizer, whose analysis of a long loop body costs more than the rest of the compile). The kernel's
entry releases the GIL, so chunks of points run on all cores in parallel.

Layout: the points are an ``(n, ninputs)`` C-contiguous float64 array (one row per point) and each output array
``(n, width)``: ``layout[a][p]`` names the graph output stored at position ``p`` of array ``a`` (a Hessian's
``(i, j)`` and ``(j, i)`` can name the same output). Outputs are zero-filled first, so constant zeros are never
stored. The kernel fills points ``start <= i < stop`` (``stop - start`` a multiple of ``LANES``; the caller runs a
zero-padded copy of the last few points), using ``scratch`` (``TILE`` doubles per slot) to pass values between its
parts.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from symdiff.ir import Node, toposort
from symdiff.ops import OPS, constant_value
from symdiff.ops.registry import is_constant

from . import kir
from .scalar import scalar_expr

#: Points per SIMD value (4 doubles: one AVX2 register; narrower CPUs split it in two).
LANES = 4
#: Nodes per generated function (see ``lower``) and points per tile of the scratch buffer.
PART_NODES, TILE = 2000, 256
#: Below this many points per thread, threads cost more than they save.
MIN_POINTS_PER_THREAD = 2048
_HERE = Path(__file__).parent


class PointwiseGraphError(ValueError):
    """The graph has a node that is not an elementwise float64/bool operation over the points."""


def _check(inputs: list[Node], order: list[Node]) -> None:
    position = {id(n) for n in inputs}
    for node in order:
        if node.dtype not in ("float64", "bool"):
            raise PointwiseGraphError(f"pointwise kernel: {node!r} has dtype {node.dtype}; only float64 and bool "
                                      "are supported")
        if node.op == "input" and id(node) not in position:
            raise PointwiseGraphError(f"pointwise kernel: the graph reads {node.name!r}, not in inputs")
        if node.op == "constant" and constant_value(node).size != 1:
            raise PointwiseGraphError(f"pointwise kernel: constant of shape {node.shape} is not a scalar")
        if node.op not in ("input", "constant") and (OPS[node.op].kind != "elementwise" or OPS[node.op].kernel is None):
            raise PointwiseGraphError(f"pointwise kernel: op {node.op!r} ({node!r}) is not supported")


def _is_zero(node: Node) -> bool:
    """A +0.0 constant: zero-filled outputs already hold it."""
    return is_constant(node, 0.0) and not np.signbit(constant_value(node)).any()


class _Part:
    """One bounded function of the kernel: computes ``nodes`` for the points ``lo <= i < hi`` of a tile.

    Values from earlier parts come from the tile's scratch (slot ``s`` of point ``i`` at ``scratch[s*TILE + i -
    lo]``); values later parts need go there. ``stores`` are ``(node, array, position)`` for outputs (``array``
    -1: scratch slot ``position``).
    """

    def __init__(self, nodes: list[Node], columns: dict[int, int], slots: dict[int, int], widths: list[int],
                 stores: list[tuple[Node, int, int]]) -> None:
        self.nodes, self.columns, self.slots, self.widths, self.stores = nodes, columns, slots, widths, stores

    def body(self, points: kir.Array, outs: list[kir.Array], scratch: kir.Array, lo: kir.Var, i: kir.Var,
             out: kir.Builder) -> None:
        values: dict[int, kir.Expr] = {}
        offset = kir.op("sub", i, lo)
        names = itertools.count()

        def scratch_at(slot: int) -> kir.Expr:
            return kir.add(kir.index(slot * TILE), offset)

        def get(node: Node) -> kir.Expr:
            if id(node) not in values:
                if node.op == "constant":
                    values[id(node)] = kir.const(constant_value(node).item(), node.dtype)
                else:  # loaded once per part (a let), from a column of the points' rows or from scratch
                    if node.op == "input":
                        row = kir.mul(i, kir.index(len(self.columns)))
                        value = kir.Load(points, kir.add(row, kir.index(self.columns[id(node)])))
                    else:  # computed by an earlier part
                        value = kir.cast(kir.Load(scratch, scratch_at(self.slots[id(node)])), node.dtype)
                    var = kir.Var(f"_v{next(names)}", node.dtype)
                    out.emit(kir.Let(var, value))
                    values[id(node)] = var
            return values[id(node)]

        expansions: list[Node] = []  # kept alive while ``values`` holds their ids

        def compute(node: Node) -> kir.Var:
            value = scalar_expr(node, [get(a) for a in node.inputs], expand)
            var = kir.Var(f"_v{next(names)}", node.dtype)
            out.emit(kir.Let(var, value))
            values[id(node)] = var
            return var

        def expand(graph: Node) -> kir.Expr:  # an op defined as a graph of others, computed inline
            expansions.append(graph)
            for inner in toposort([graph]):
                if id(inner) not in values and inner.op not in ("input", "constant"):
                    compute(inner)
            return get(graph)

        for node in self.nodes:
            compute(node)
        for node, array, position in self.stores:
            value = kir.cast(get(node), "float64")
            if array < 0:
                out.emit(kir.Store(scratch, scratch_at(position), value))
            else:
                row = kir.mul(i, kir.index(self.widths[array]))
                out.emit(kir.Store(outs[array], kir.add(row, kir.index(position)), value))


def lower(inputs: list[Node], outputs: list[Node], layout: list[list[int]],
          part_nodes: int = PART_NODES) -> tuple[kir.Kernel, int]:
    """The kernel IR of ``kernel(points, out_0 ... out_k, scratch, start, stop)`` computing ``outputs`` at every
    point into the arrays of ``layout``, and the number of scratch slots per point it needs.

    The kernel walks the points in tiles of ``TILE``; per tile it calls one function per part of at most
    ``part_nodes`` nodes, which bounds LLVM's time per function (instruction selection and register allocation
    grow faster than linearly with the length of one block).
    """
    order = toposort(outputs)
    _check(inputs, order)
    computed = [n for n in order if n.op not in ("input", "constant")]
    chunks = [computed[k:k + part_nodes] for k in range(0, len(computed), part_nodes)] or [[]]
    owner = {id(n): c for c, chunk in enumerate(chunks) for n in chunk}
    needed_later = {id(a) for c, chunk in enumerate(chunks) for n in chunk for a in n.inputs
                    if owner.get(id(a), c) < c}
    slots = {id(n): s for s, n in enumerate(n for n in computed if id(n) in needed_later)}  # in graph order
    widths = [len(positions) for positions in layout]
    columns = {id(n): k for k, n in enumerate(inputs)}
    targets = [(outputs[k], a, p) for a, positions in enumerate(layout) for p, k in enumerate(positions)
               if not _is_zero(outputs[k])]
    points, scratch = kir.Array("points", "float64"), kir.Array("scratch", "float64")
    outs = [kir.Array(f"out{a}", "float64") for a in range(len(layout))]
    start, stop = kir.Var("start", "int64"), kir.Var("stop", "int64")
    arrays = [kir.Param(points), *(kir.Param(o, written=True) for o in outs), kir.Param(scratch, written=True)]
    params = [*arrays, kir.Param(start), kir.Param(stop)]
    i = kir.Var("i", "int64")
    parts = []
    for c, chunk in enumerate(chunks):
        stores = [(n, -1, slots[id(n)]) for n in chunk if id(n) in slots]
        stores += [(node, a, p) for node, a, p in targets if owner.get(id(node), 0) == c]
        out = kir.Builder()
        with out.loop(i, start, stop, lanes=LANES):
            _Part(chunk, columns, slots, widths, stores).body(points, outs, scratch, start, i, out)
        parts.append(kir.Function(f"_part{c}", params, out.statements))
    if len(parts) == 1:
        return kir.Kernel([kir.Function("kernel", params, parts[0].body)], distinct=True), len(slots)
    out = kir.Builder()
    tile, hi = kir.Var("_tile", "int64"), kir.Var("_hi", "int64")
    steps = kir.op("add", kir.op("sub", stop, start), kir.index(TILE - 1))
    with out.loop(tile, kir.index(0), _divide(steps, TILE)):
        first = kir.add(start, kir.mul(tile, kir.index(TILE)))
        out.emit(kir.Let(hi, kir.op("min", kir.add(first, kir.index(TILE)), stop)))
        for part in parts:
            out.emit(kir.CallPart(part.name, (points, *outs, scratch, first, hi)))
    return kir.Kernel([kir.Function("kernel", params, out.statements), *parts], distinct=True), len(slots)


def _divide(steps: kir.Expr, tile: int) -> kir.Expr:
    """``steps // tile`` for non-negative ``steps`` and a power-of-two ``tile``."""
    return kir.op("shr", steps, kir.index(tile.bit_length() - 1))


class PointwiseKernel:
    """A compiled pointwise graph: ``kernel(points)`` with ``points`` of shape ``(N, ninputs)`` returns one
    ``(N, width)`` float64 array per entry of ``layout`` (default: one array, output ``k`` in column ``k``).

    ``layout[a][p]`` is the index of the output stored in column ``p`` of array ``a``; ``part_nodes``
    bounds the nodes per generated function (see :func:`lower`). ``threads`` (default: every core)
    split the points. ``llvm_ir`` is the LLVM IR as generated (before optimization), for reading.
    Machine code is cached on disk (objcache.py); ``cache_hit`` says whether it came from there.
    """

    def __init__(self, inputs: list[Node], outputs: list[Node], layout: list[list[int]] | None = None, *,
                 part_nodes: int = PART_NODES) -> None:
        from .llvm.build import STRAIGHT_LINE, llvm_module, load_entry, object_code
        from .llvm_host import COMPILE_LOCK
        from .objcache import cached_object, entry_dir

        self.layout = [list(range(len(outputs)))] if layout is None else [list(a) for a in layout]
        kernel, self.slots = lower(inputs, outputs, self.layout, part_nodes)
        self.ninputs = len(inputs)
        with COMPILE_LOCK:
            module = llvm_module(kernel, "symdiff_pointwise")
            self.llvm_ir = str(module)
            entry = entry_dir("pointwise", self.llvm_ir, [Path(__file__), *(_HERE / "llvm").glob("*.py"),
                                                          _HERE / "llvm_host.py"])
            # The body is SIMD and straight-line already: inlining, combining and CSE give O3's speed; loop
            # passes and vectorizers would only re-analyse a long loop body.
            obj, self.cache_hit = cached_object(entry / "pointwise.o",
                                                lambda: object_code(module, vectorize=False, passes=STRAIGHT_LINE))
            self._run = load_entry(obj, f"symdiff_pointwise_{entry.name[:12]}")

    def __call__(self, points: np.ndarray, threads: int | None = None) -> list[np.ndarray]:
        points = np.ascontiguousarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != self.ninputs:
            raise ValueError(f"pointwise kernel: expected points of shape (N, {self.ninputs}), got {points.shape}")
        n = points.shape[0]
        outs = self._outputs(n)
        whole = n - n % LANES
        steps = whole // LANES
        threads = max(1, min(threads or os.cpu_count() or 1, whole // MIN_POINTS_PER_THREAD))
        bounds = [LANES * (steps * t // threads) for t in range(threads + 1)]
        scratch = np.empty((threads, max(self.slots, 1) * TILE))  # one tile of values between parts per thread

        def run(thread: int) -> None:
            self._launch(points, outs, scratch[thread], bounds[thread], bounds[thread + 1])

        if threads == 1:
            run(0)
        else:  # the kernel's entry drops the GIL for the call, so the chunks run truly in parallel
            list(_pool().map(run, range(threads)))
        if whole < n:  # the last n % LANES points: through a zero-padded copy of LANES rows
            padded = np.zeros((LANES, self.ninputs))
            padded[:n - whole] = points[whole:]
            tail = self._outputs(LANES)
            self._launch(padded, tail, scratch[0], 0, LANES)
            for out, part in zip(outs, tail):
                out[whole:] = part[:n - whole]
        return outs

    def _outputs(self, n: int) -> list[np.ndarray]:
        return [np.zeros((n, len(positions))) for positions in self.layout]  # constant zeros are not stored

    def _launch(self, points: np.ndarray, outs: list[np.ndarray], scratch: np.ndarray, start: int, stop: int) -> None:
        self._run(points, *outs, scratch, start, stop)


_POOL: list[ThreadPoolExecutor] = []


def _pool() -> ThreadPoolExecutor:
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="symdiff-points"))
    return _POOL[0]
