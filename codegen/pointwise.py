"""Pointwise graphs straight to LLVM: one loop over points, compiled in about a second.

A pointwise graph is one in which every node is elementwise over a single named dim (the points)
and every input is a column over it: what ``sd.compile_sympy`` builds from SymPy expressions and their
derivatives. Such a graph is a scalar program run once per point, so it needs none of the array
machinery of the Numba code generator; and going through Numba would cost ~7 ms of typing and
lowering per statement (a 3,000-node Hessian: minutes). Here the graph is lowered with llvmlite's
IR builder into ``kernel(in, outs, scratch, start, stop)``, written on ``LANES`` points at once
(``<4 x double>`` values: explicit SIMD, so LLVM needs no loop vectorizer, whose analysis of a long
loop body costs more than the rest of the compile; the transcendental functions are fastmath_ir's
branch-free ones, inlined), and called through ctypes, which releases the GIL, so chunks of points
run on all cores in parallel.

Layout: ``in`` is the ``(n, ninputs)`` C-contiguous float64 array of points (one row per point) and
``outs`` an array of pointers to the output arrays, each ``(n, width)`` C-contiguous: ``layout[a][p]``
names the graph output stored at position ``p`` of array ``a`` (a Hessian's ``(i, j)`` and ``(j, i)``
can name the same output). Outputs are zero-filled first, so constant zeros are never stored. The
kernel fills points ``start <= i < stop`` (``stop - start`` a multiple of ``LANES``; the caller runs a
zero-padded copy of the last few points), using ``scratch`` (``TILE`` doubles per slot) to pass values
between its parts.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from symdiff.ir import Node, toposort
from symdiff.ops import constant_value
from symdiff.ops.registry import is_constant

from .fastmath_ir import define_fast_function, math_intrinsic
from .llvm_host import COMPILE_LOCK, target_machine
from .objcache import cached_object, entry_dir, load_engine

#: Points per SIMD value (4 doubles: one AVX2 register; narrower CPUs split it in two).
LANES = 4
F64, I1, I64 = ir.DoubleType(), ir.IntType(1), ir.IntType(64)
VEC, MASK = ir.VectorType(F64, LANES), ir.VectorType(I1, LANES)
#: Nodes per generated function (see ``lower``) and points per tile of the scratch buffer.
PART_NODES, TILE = 2000, 256
#: Below this many points per thread, threads cost more than they save.
MIN_POINTS_PER_THREAD = 2048
_HERE = Path(__file__).parent
_SIGNATURE = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 3, *[ctypes.c_int64] * 2)


class PointwiseGraphError(ValueError):
    """The graph has a node that is not an elementwise float64/bool operation over the points."""


def _intrinsic(name: str) -> Callable:
    def emit(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
        return b.call(math_intrinsic(b.module, name, VEC), [x])
    return emit


def _fast(name: str) -> Callable:
    # fastmath_ir's branch-free algorithm, defined once in the module and always inlined
    def emit(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
        return b.call(define_fast_function(b.module, name, LANES), [x])
    return emit


def _max_min(ordered: str) -> Callable:
    # NumPy's maximum/minimum: a nan in either argument propagates
    def emit(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
        keep = b.or_(b.fcmp_ordered(ordered, x, y), b.fcmp_unordered("uno", x, x))
        return b.select(keep, x, y)
    return emit


def _sign(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    # NumPy's sign: +-1 (also for +-inf), 0.0 for +-0, nan for nan
    zero = VEC(0.0)
    step = b.fsub(b.uitofp(b.fcmp_ordered(">", x, zero), VEC), b.uitofp(b.fcmp_ordered("<", x, zero), VEC))
    return b.select(b.fcmp_unordered("uno", x, x), x, step)


def _power(b: ir.IRBuilder, x: ir.Value, y: ir.Value, exponent: float | None) -> ir.Value:
    # the same special cases as the Numba code generator (emit_loops._POWERS), so both backends round alike
    if exponent == 2.0:
        return b.fmul(x, x)
    if exponent == 3.0:
        return b.fmul(b.fmul(x, x), x)
    if exponent == 0.5:
        return _intrinsic("llvm.sqrt")(b, x)
    if exponent == -1.0:
        return b.fdiv(VEC(1.0), x)
    return b.call(math_intrinsic(b.module, "llvm.pow", VEC, 2), [x, y])


_UNARY: dict[str, Callable] = {
    "negative": lambda b, x: b.fneg(x),
    "sqrt": _intrinsic("llvm.sqrt"), "sin": _intrinsic("llvm.sin"), "cos": _intrinsic("llvm.cos"),
    "abs": _intrinsic("llvm.fabs"), "sign": _sign,
    **{name: _fast(name) for name in ("exp", "log", "log1p", "expm1", "tanh", "sigmoid", "softplus")},
}
_BINARY: dict[str, Callable] = {
    "add": lambda b, x, y: b.fadd(x, y), "subtract": lambda b, x, y: b.fsub(x, y),
    "multiply": lambda b, x, y: b.fmul(x, y), "divide": lambda b, x, y: b.fdiv(x, y),
    "maximum": _max_min(">"), "minimum": _max_min("<"),
}
#: Comparisons as LLVM predicates: ordered (false on nan) except !=, which nan satisfies, as in NumPy.
_COMPARE = {"less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">=", "equal": "==",
            "not_equal": "!="}
_IDENTITY = frozenset({"stop_gradient", "broadcast_to"})


def _emit_node(b: ir.IRBuilder, node: Node, args: list[ir.Value]) -> ir.Value:
    op = node.op
    if op in _IDENTITY:
        return args[0]
    if op in _UNARY:
        return _UNARY[op](b, args[0])
    if op in _BINARY:
        return _BINARY[op](b, *args)
    if op in _COMPARE:
        predicate = _COMPARE[op]
        compare = b.fcmp_unordered if predicate == "!=" else b.fcmp_ordered
        return compare(predicate, *args)
    if op == "power":
        exponent = constant_value(node.inputs[1])
        scalar = float(exponent.flat[0]) if exponent is not None and exponent.size == 1 else None
        return _power(b, *args, scalar)
    if op == "where":
        return b.select(*args)
    if op == "cast":
        source = node.inputs[0].dtype
        if node.dtype == "bool":
            return args[0] if source == "bool" else b.fcmp_unordered("!=", args[0], VEC(0.0))
        return b.uitofp(args[0], VEC) if source == "bool" else args[0]
    raise PointwiseGraphError(f"pointwise kernel: op {op!r} ({node!r}) is not supported")


def _constant(node: Node) -> ir.Value:
    value = constant_value(node)
    if value.size != 1:
        raise PointwiseGraphError(f"pointwise kernel: constant of shape {value.shape} is not a scalar")
    item = value.flat[0]
    return MASK(int(bool(item))) if node.dtype == "bool" else VEC(float(item))


def _check(inputs: list[Node], order: list[Node]) -> None:
    position = {id(n) for n in inputs}
    for node in order:
        if node.dtype not in ("float64", "bool"):
            raise PointwiseGraphError(f"pointwise kernel: {node!r} has dtype {node.dtype}; only float64 and bool "
                                      "are supported")
        if node.op == "input" and id(node) not in position:
            raise PointwiseGraphError(f"pointwise kernel: the graph reads {node.name!r}, not in inputs")


def _loop(function: ir.Function, lo: ir.Value, hi: ir.Value, body: Callable) -> None:
    """``for i in range(lo, hi): body(builder, i)`` as the whole of ``function``."""
    entry, loop, done = (function.append_basic_block(name) for name in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed("<", lo, hi), loop, done)
    b.position_at_end(loop)
    i = b.phi(I64, "i")
    i.add_incoming(lo, entry)
    step = body(b, i)
    i.add_incoming(step, b.block)
    b.cbranch(b.icmp_signed("<", step, hi), loop, done)
    b.position_at_end(done)
    b.ret_void()


class _Part:
    """One bounded function of the kernel: computes ``nodes`` for the points ``lo <= i < hi`` of a tile,
    ``LANES`` points per step.

    Values from earlier parts come from the tile's scratch (slot ``s`` of point ``i`` at
    ``scratch[s*TILE + i - lo]``); values later parts need go there. ``stores`` are
    ``(node, array, position)`` for outputs (``array`` -1: scratch slot ``position``).
    """

    def __init__(self, function: ir.Function, nodes: list[Node], columns: dict[int, int], slots: dict[int, int],
                 widths: list[int], stores: list[tuple[Node, int, int]]) -> None:
        self.function, self.nodes, self.columns, self.slots = function, nodes, columns, slots
        self.widths, self.stores = widths, stores

    def emit(self) -> None:
        columns = self.columns
        source, outs, scratch, lo, hi = self.function.args

        def body(b: ir.IRBuilder, i: ir.Value) -> ir.Value:
            values: dict[int, ir.Value] = {}
            offset = b.sub(i, lo)
            rows: dict[tuple[int, int], ir.Value] = {}

            def row(array: int, lane: int) -> ir.Value:  # start of point i + lane's row (-1: the input)
                if (array, lane) not in rows:
                    base = source if array < 0 else b.load(b.gep(outs, [I64(array)]))  # hoisted by LLVM
                    width = len(columns) if array < 0 else self.widths[array]
                    rows[array, lane] = b.gep(base, [b.mul(b.add(i, I64(lane)), I64(width))])
                return rows[array, lane]

            def tile(slot: int) -> ir.Value:  # the LANES scratch doubles of this step, as a vector
                return b.bitcast(b.gep(scratch, [b.add(I64(slot * TILE), offset)]), VEC.as_pointer())

            def get(node: Node) -> ir.Value:
                if id(node) not in values:
                    if node.op == "constant":
                        values[id(node)] = _constant(node)
                    elif node.op == "input":  # one column of LANES consecutive rows: a strided gather
                        vector = VEC(ir.Undefined)
                        for lane in range(LANES):
                            element = b.load(b.gep(row(-1, lane), [I64(columns[id(node)])]))
                            vector = b.insert_element(vector, element, I64(lane))
                        values[id(node)] = vector
                    else:  # computed by an earlier part
                        value = b.load(tile(self.slots[id(node)]), align=8)
                        values[id(node)] = b.fcmp_unordered("!=", value, VEC(0.0)) if node.dtype == "bool" else value
                return values[id(node)]

            for node in self.nodes:
                values[id(node)] = _emit_node(b, node, [get(a) for a in node.inputs])
            for node, array, position in self.stores:
                value = get(node)
                value = b.uitofp(value, VEC) if node.dtype == "bool" else value
                if array < 0:
                    b.store(value, tile(position), align=8)
                    continue
                for lane in range(LANES):  # points-first rows: one scalar store per lane
                    b.store(b.extract_element(value, I64(lane)), b.gep(row(array, lane), [I64(position)]))
            return b.add(i, I64(LANES))

        _loop(self.function, lo, hi, body)


def _is_zero(node: Node) -> bool:
    """A +0.0 constant: zero-filled outputs already hold it."""
    return is_constant(node, 0.0) and not np.signbit(constant_value(node)).any()


def lower(inputs: list[Node], outputs: list[Node], layout: list[list[int]],
          part_nodes: int = PART_NODES) -> tuple[ir.Module, int]:
    """The LLVM module of ``kernel(in, outs, scratch, start, stop)`` computing ``outputs`` at every point
    into the arrays of ``layout``, and the number of scratch slots per point it needs.

    The kernel walks the points in tiles of ``TILE``; per tile it calls one function per part of at most
    ``part_nodes`` nodes, which bounds LLVM's time per function (instruction selection and register
    allocation grow faster than linearly with the length of one block).
    """
    order = toposort(outputs)
    _check(inputs, order)
    computed = [n for n in order if n.op not in ("input", "constant")]
    chunks = [computed[k:k + part_nodes] for k in range(0, len(computed), part_nodes)] or [[]]
    owner = {id(n): c for c, chunk in enumerate(chunks) for n in chunk}
    needed_later = {id(a) for c, chunk in enumerate(chunks) for n in chunk for a in n.inputs
                    if owner.get(id(a), c) < c}
    slots = {id(n): s for s, n in enumerate(n for n in computed if id(n) in needed_later)}  # in graph order
    module = ir.Module(name="symdiff_pointwise")
    module.triple = llvm.get_process_triple()
    pointer = F64.as_pointer()
    signature = ir.FunctionType(ir.VoidType(), [pointer, pointer.as_pointer(), pointer, I64, I64])
    kernel = ir.Function(module, signature, "kernel")
    widths = [len(positions) for positions in layout]
    columns = {id(n): k for k, n in enumerate(inputs)}
    targets = [(outputs[k], a, p) for a, positions in enumerate(layout) for p, k in enumerate(positions)
               if not _is_zero(outputs[k])]
    functions = []
    for c, chunk in enumerate(chunks):
        function = kernel if len(chunks) == 1 else ir.Function(module, signature, f"part{c}")
        for arg in function.args[:3]:
            arg.add_attribute("noalias")  # no store feeds a load of another array: values stay in registers
        if function is not kernel:
            function.linkage = "internal"
            function.attributes.add("noinline")  # the point of parts: LLVM works on each separately
        stores = [(n, -1, slots[id(n)]) for n in chunk if id(n) in slots]
        stores += [(node, a, p) for node, a, p in targets if owner.get(id(node), 0) == c]
        _Part(function, chunk, columns, slots, widths, stores).emit()
        functions.append(function)
    if len(chunks) > 1:
        _tile_driver(kernel, functions)
    return module, len(slots)


def _tile_driver(kernel: ir.Function, parts: list[ir.Function]) -> None:
    """``kernel``: for each tile of points, call every part in order."""
    start, stop = kernel.args[3], kernel.args[4]

    def body(b: ir.IRBuilder, t: ir.Value) -> ir.Value:
        end = b.add(t, I64(TILE))
        hi = b.select(b.icmp_signed("<", end, stop), end, stop)
        for part in parts:
            b.call(part, [*kernel.args[:3], t, hi])
        return hi

    _loop(kernel, start, stop, body)


def _machine_code(text: str) -> bytes:
    machine = target_machine()
    parsed = llvm.parse_assembly(text)
    # the IR is SIMD and straight-line already: O1 (inlining, instcombine, CSE) runs as fast as O3's
    # code and compiles faster; LLVM's vectorizers would only re-analyse a long loop body
    options = llvm.create_pipeline_tuning_options(speed_level=1)
    options.loop_vectorization = options.slp_vectorization = False
    builder = llvm.create_pass_builder(machine, options)
    builder.getModulePassManager().run(parsed, builder)
    return machine.emit_object(parsed)


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
        self.layout = [list(range(len(outputs)))] if layout is None else [list(a) for a in layout]
        module, self.slots = lower(inputs, outputs, self.layout, part_nodes)
        self.llvm_ir, self.ninputs = str(module), len(inputs)
        entry = entry_dir("pointwise", self.llvm_ir, [Path(__file__), _HERE / "llvm_host.py"])
        with COMPILE_LOCK:
            obj, self.cache_hit = cached_object(entry / "pointwise.o", lambda: _machine_code(self.llvm_ir))
            self._engine = load_engine(obj, target_machine())  # owns the machine code: keep it alive
            address = self._engine.get_function_address("kernel")
        if not address:
            raise RuntimeError(f"pointwise kernel: the cached object {entry} has no kernel; delete it")
        self._run = _SIGNATURE(address)

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
        else:  # ctypes drops the GIL for the call, so the chunks run truly in parallel
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
        pointers = np.array([a.ctypes.data for a in outs], dtype=np.uintp)
        self._run(points.ctypes.data, pointers.ctypes.data, scratch.ctypes.data, start, stop)


_POOL: list[ThreadPoolExecutor] = []


def _pool() -> ThreadPoolExecutor:
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="symdiff-points"))
    return _POOL[0]
